"""A Discord REST and gateway server on loopback, for end-to-end tests of the bot.

The real discord.py client talks to :class:`FakeDiscord` as it would to Discord (the redirection is
in ``conftest.start_client``). The fake plays one guild with a few channels and users, and:

* records every request (:attr:`FakeDiscord.requests`), answers routes it does not implement with
  404 and lists them in :attr:`FakeDiscord.unexpected`;
* rejects what Discord would reject (message and embed limits, components, empty messages, replies
  to unknown messages, late or double interaction responses...) and lists it in
  :attr:`FakeDiscord.violations`;
* lets a test act as Discord's users: post messages, invoke slash commands (checked against the
  schema the bot synced, as Discord's client would: an invocation Discord would never send raises
  :class:`FakeDiscordError`), ask for autocompletion, click buttons, pick select options and
  submit modals;
* applies the gateway intents the bot identified with, echoes the bot's own messages back as
  gateway events, replays missed events on RESUME, and can inject 429s and reconnects.

Everything listens on 127.0.0.1 only and every wait is bounded. A test, with the ``fake_discord``
fixture and ``start_client`` from ``tests/e2e/conftest.py``::

    async def test_reply(fake_discord):
        async with start_client(fake_discord, make_bot()):
            sent = await fake_discord.send_message(fake_discord.general_id, "hi")
            reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
            ix = await fake_discord.invoke_command("page", {"number": 3})
            assert await ix.wait_response(2) == 4  # CHANNEL_MESSAGE_WITH_SOURCE
        assert fake_discord.violations == []
"""

# The helpers take a `timeout` (bounded waits are the point of this module).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fnmatch
import json
import logging
import math
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

_log = logging.getLogger(__name__)

API = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15

# Permission bits.
ADMINISTRATOR = 1 << 3
MEMBER_PERMISSIONS = sum(
    1 << bit
    for bit in (6, 10, 11, 14, 15, 16, 18, 31, 35, 38)
    # add reactions, view channel, send messages, embed links, attach files, read history,
    # external emojis, use application commands, create public threads, send in threads
)
SEND_MESSAGES = 1 << 11

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15

SELECT_TYPES = {3, 5, 6, 7, 8}
# Interaction type -> callback types Discord accepts for it.
CALLBACKS_ALLOWED = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


class FakeDiscordError(AssertionError):
    """The test asked the fake for something Discord would never send, or a wait timed out."""


class DiscordHTTPError(Exception):
    """An error answer as Discord gives it: status, JSON error code, message, per-field errors."""

    def __init__(self, status: int, code: int, message: str, problems: Sequence[tuple[str, str]] = ()):
        super().__init__(f"{status} {code} {message} {list(problems)}")
        self.status, self.code, self.message, self.problems = status, code, message, list(problems)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        for path, text in self.problems:
            node = body.setdefault("errors", {})
            for key in path.split(".") if path else []:
                node = node.setdefault(key, {})
            node.setdefault("_errors", []).append({"code": "INVALID", "message": text})
        return body


@dataclass
class RecordedFile:
    field: str
    filename: str
    size: int
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class Request:
    """One HTTP request to the fake. ``path`` is relative to /api/v10 for API routes."""

    method: str
    path: str
    query: dict[str, str]
    json: Any  # the JSON body, or the multipart ``payload_json``; None without a body
    files: list[RecordedFile]
    headers: dict[str, str]
    time: float  # loop.time() when received
    status: int | None = None  # set once answered


RECORD = web.RequestKey("record", Request)  # the Request record of an aiohttp request


@dataclass
class Violation:
    """A request Discord would have refused; the fake answered it with ``status``/``code``."""

    request: Request
    status: int
    code: int
    message: str
    problems: list[tuple[str, str]]


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete, 5 modal submit
    user: dict[str, Any]
    channel_id: int
    payload: dict[str, Any]  # as dispatched in INTERACTION_CREATE
    created: float  # loop.time()
    message_id: int | None = None  # the message a component sits on
    callback_type: int | None = None  # 4 message, 5 deferred, 6 deferred update, 7 update, 8, 9
    callback_data: dict[str, Any] | None = None
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)
    responded: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def wait_response(self, timeout: float = 5.0) -> int:
        """Wait for the bot's callback and return its type."""
        try:
            await asyncio.wait_for(self.responded.wait(), timeout)
        except TimeoutError:
            raise FakeDiscordError(f"interaction {self.id} got no response within {timeout} s") from None
        assert self.callback_type is not None
        return self.callback_type


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py compares the content type to exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _member_of(user: dict[str, Any], roles: Iterable[int] = ()) -> dict[str, Any]:
    return {
        "user": user,
        "roles": [str(r) for r in roles],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "avatar": None,
    }


class FakeDiscord:
    """One guild's worth of Discord on 127.0.0.1; see the module docstring.

    The world: ``bot_user``; ``user`` (a member, the default actor), ``teacher`` (a member with the
    Teacher role), ``other_bot``; guild ``guild_id`` with text channels ``general_id``,
    ``slides_id`` (holds the public thread ``thread_id``) and ``readonly_id`` (the bot may not send
    there); roles ``guild_id`` (@everyone) and ``teacher_role_id``.
    """

    def __init__(self, token: str = "test-token", *, interaction_window: float = 3.0) -> None:
        self.token = token
        self.interaction_window = interaction_window  # seconds the bot has for its first response
        self._last_id = 0
        self.requests: list[Request] = []
        self.unexpected: list[Request] = []
        self.violations: list[Violation] = []
        self.interactions: list[FakeInteraction] = []
        self.messages: dict[int, dict[str, Any]] = {}  # every live message, by id
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # synced schema; None = global
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads, in order
        self.resumes = 0
        self.intents: int | None = None
        self._rate_limits: list[tuple[str, str, float]] = []
        self._blobs: dict[int, bytes] = {}
        self._changed = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._send_lock = asyncio.Lock()
        self._session_id: str | None = None
        self._seq = 0
        self._events: list[dict[str, Any]] = []  # this session's dispatches, for RESUME replay
        self._runner: web.AppRunner | None = None
        self._submitted_modals: set[int] = set()  # interactions whose modal was submitted
        self.port = 0
        self._members: dict[int, list[int]] = {}  # user id -> role ids
        self._users: dict[int, dict[str, Any]] = {}
        self.application_id = self._snowflake()  # also the bot user's id
        self.guild_id = self._snowflake()
        self.teacher_role_id, bot_role_id = self._snowflake(), self._snowflake()
        self.roles: dict[int, dict[str, Any]] = {}
        for rid, name, perms, tags in (
            (self.guild_id, "@everyone", MEMBER_PERMISSIONS, None),
            (self.teacher_role_id, "Teacher", MEMBER_PERMISSIONS, None),
            (bot_role_id, "Slide Tutor", 0, {"bot_id": str(self.application_id)}),
        ):
            self.roles[rid] = {
                "id": str(rid),
                "name": name,
                "permissions": str(perms),
                "position": len(self.roles),
                "color": 0,
                "hoist": False,
                "managed": tags is not None,
                "mentionable": False,
                "flags": 0,
                **({"tags": tags} if tags else {}),
            }
        self.bot_user = self.add_user("Slide Tutor", roles=[bot_role_id], bot=True, user_id=self.application_id)
        self.user, self.other_bot = self.add_user("alice"), self.add_user("Other Bot", bot=True)
        self.teacher = self.add_user("teacher", roles=[self.teacher_role_id])
        self.channels: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, dict[str, Any]] = {}  # user id -> DM channel
        self.general_id = self._add_channel("general")
        self.slides_id = self._add_channel("slides")
        deny = [{"id": str(self.guild_id), "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)}]
        self.readonly_id = self._add_channel("announcements", overwrites=deny)
        self.thread_id = self._add_thread(self.slides_id, "deck-questions", owner_id=int(self.user["id"]))

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- world ------------------------------------------------------------------------------------

    def _snowflake(self) -> int:
        self._last_id = max(self._last_id + 1, (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        return self._last_id

    def _add_channel(self, name: str, *, overwrites: list[dict[str, Any]] | None = None) -> int:
        cid = self._snowflake()
        self.channels[cid] = {
            "id": str(cid),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": overwrites or [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        return cid

    def _add_thread(self, parent_id: int, name: str, *, owner_id: int) -> int:
        tid = self._snowflake()
        self.channels[tid] = {
            "id": str(tid),
            "type": 11,
            "guild_id": str(self.guild_id),
            "name": name,
            "parent_id": str(parent_id),
            "owner_id": str(owner_id),
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "last_message_id": None,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "locked": False,
                "archive_timestamp": _now_iso(),
            },
        }
        return tid

    def add_user(
        self, name: str, *, roles: Sequence[int] = (), bot: bool = False, user_id: int | None = None
    ) -> dict[str, Any]:
        """Make a guild member and return its user payload. Add users before the bot connects to have
        them in GUILD_CREATE (later ones reach it only through the payloads that carry them)."""
        uid = user_id or self._snowflake()
        user = {
            "id": str(uid),
            "username": name,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "flags": 0,
        }
        self._users[uid], self._members[uid] = user, list(roles)
        return user

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member (channel overwrites aside)."""
        perms = 0
        for rid in [self.guild_id, *self._members.get(user_id, [])]:
            perms |= int(self.roles[rid]["permissions"])
        return perms

    def _member(self, user: dict[str, Any], *, with_user: bool = True) -> dict[str, Any]:
        member = _member_of(user, self._members.get(int(user["id"]), []))
        member["permissions"] = str(self.permissions_of(int(user["id"])))
        if not with_user:
            del member["user"]
        return member

    def guild_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE payload."""
        members = [self._member(u) for uid, u in self._users.items() if uid in self._members]
        return {
            "id": str(self.guild_id),
            "name": "Slide Tutor Test",
            "icon": None,
            "splash": None,
            "owner_id": self.teacher["id"],
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(self.general_id),
            "preferred_locale": "en-US",
            "premium_tier": 0,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": [c for c in self.channels.values() if c["type"] != 11],
            "threads": [c for c in self.channels.values() if c["type"] == 11],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "max_members": 500000,
        }

    def _channel(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            channel = next((c for c in self._dm_channels.values() if int(c["id"]) == channel_id), None)
        if channel is None:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        return channel

    def _known_channel(self, channel_id: int | None) -> dict[str, Any]:
        """A channel named by a test: unknown ones are the test's mistake."""
        try:
            return self._channel(int(channel_id or 0))
        except DiscordHTTPError:
            raise FakeDiscordError(f"no channel {channel_id} in the fake") from None

    def dm_channel(self, user: dict[str, Any]) -> dict[str, Any]:
        """The DM channel between ``user`` and the bot (made on first use)."""
        uid = int(user["id"])
        if uid not in self._dm_channels:
            self._dm_channels[uid] = {
                "id": str(self._snowflake()),
                "type": 1,
                "recipients": [user],
                "last_message_id": None,
                "flags": 0,
            }
        return self._dm_channels[uid]

    def bot_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Live messages the bot sent (channel posts, interaction responses, followups), oldest first."""
        return [
            m
            for m in self.messages.values()
            if m["author"]["id"] == self.bot_user["id"] and (channel_id is None or int(m["channel_id"]) == channel_id)
        ]

    def file(self, attachment: dict[str, Any]) -> bytes:
        """The bytes behind an attachment payload of a message."""
        return self._blobs[int(attachment["id"])]

    def _attachment(self, channel_id: int, filename: str, data: bytes, content_type: str | None = None) -> dict:
        aid = self._snowflake()
        self._blobs[aid] = data
        url = f"{self.base_url}/attachments/{channel_id}/{aid}/{filename}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            **({"content_type": content_type} if content_type else {}),
        }

    def _new_message(
        self,
        channel: dict[str, Any],
        author: dict[str, Any],
        body: dict[str, Any],
        *,
        files: Sequence[RecordedFile] = (),
        flags: int = 0,
        webhook: bool = False,
    ) -> dict:
        cid = int(channel["id"])
        msg: dict[str, Any] = {
            "id": str(self._snowflake()),
            "channel_id": str(cid),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [self._attachment(cid, f.filename, f.data, f.content_type) for f in files],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": flags | (body.get("flags") or 0),
        }
        if "guild_id" in channel:
            msg["guild_id"] = channel["guild_id"]
            msg["member"] = self._member(author, with_user=False)
        if webhook:
            msg["webhook_id"] = msg["application_id"] = str(self.application_id)
        ref = body.get("message_reference")
        if ref and ref.get("message_id"):
            target = self.messages.get(int(ref["message_id"]))
            if target is None:
                if ref.get("fail_if_not_exists", True):
                    raise DiscordHTTPError(400, 50035, "Invalid Form Body", [("message_reference", "Unknown message")])
            else:
                msg["type"] = 19
                msg["message_reference"] = {
                    "type": 0,
                    "message_id": target["id"],
                    "channel_id": target["channel_id"],
                    **({"guild_id": target["guild_id"]} if "guild_id" in target else {}),
                }
                msg["referenced_message"] = {k: v for k, v in target.items() if k != "referenced_message"}
        self.messages[int(msg["id"])] = msg
        channel["last_message_id"] = msg["id"]
        return msg

    # -- gateway ----------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._on_gateway_op(ws, json.loads(frame.data))
        finally:
            self._sockets.discard(ws)
            if self._ws is ws:
                self._ws = None
            self._notify()
        return ws

    async def _on_gateway_op(self, ws: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        if op == 1:  # heartbeat
            await ws.send_str(json.dumps({"op": 11}))
        elif op == 2:  # identify
            if d.get("token") != self.token:
                await ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identifies.append(d)
            self.intents = int(d.get("intents", 0))
            async with self._send_lock:
                self._ws, self._session_id, self._seq, self._events = ws, secrets.token_hex(16), 0, []
                ready = {
                    "v": 10,
                    "user": self.bot_user,
                    "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                    "session_id": self._session_id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.application_id), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "presences": [],
                    "user_settings": {},
                    "_trace": ["fake-discord"],
                }
                await self._dispatch_locked("READY", ready)
                await self._dispatch_locked("GUILD_CREATE", self.guild_payload())
        elif op == 6:  # resume
            async with self._send_lock:
                if d.get("session_id") != self._session_id or d.get("token") != self.token:
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
                    return
                self._ws = ws
                for event in self._events:
                    if event["s"] > (d.get("seq") or 0):
                        await ws.send_str(json.dumps(event))
                await self._dispatch_locked("RESUMED", {"_trace": ["fake-discord"]})
                self.resumes += 1
        elif op == 8:  # request guild members
            members = [self._member(u) for uid, u in self._users.items() if uid in self._members]
            await self.dispatch(
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": d["guild_id"],
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": d.get("nonce"),
                },
            )
        self._notify()

    async def _dispatch_locked(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._events.append(frame)
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionResetError):  # the bot is reconnecting: RESUME replays it
                await ws.send_str(json.dumps(frame))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway dispatch (op 0) to the bot; kept for replay if the bot is reconnecting."""
        if self._session_id is None:
            raise FakeDiscordError(f"no gateway session to dispatch {event} to: is the bot connected?")
        async with self._send_lock:
            await self._dispatch_locked(event, data)

    async def reconnect(self, timeout: float = 5.0) -> None:
        """Send RECONNECT (op 7) and wait until the bot has resumed. Events dispatched meanwhile are
        replayed on RESUME."""
        await self._force_resume(lambda ws: ws.send_str(json.dumps({"op": 7, "d": None})), timeout)

    async def disconnect(self, code: int = 4000, timeout: float = 5.0) -> None:
        """Close the gateway socket with a resumable close code and wait until the bot has resumed."""
        await self._force_resume(lambda ws: ws.close(code=code), timeout)

    async def _force_resume(self, action: Callable[[web.WebSocketResponse], Any], timeout: float) -> None:
        async with self._send_lock:
            ws, self._ws = self._ws, None
            if ws is None:
                raise FakeDiscordError("the bot is not connected to the gateway")
            resumes = self.resumes
            await action(ws)
        await self._wait(lambda: self.resumes > resumes, timeout, "the bot to RESUME")

    async def invalidate_session(self, timeout: float = 10.0) -> None:
        """Send INVALID_SESSION (op 9, not resumable) and wait until the bot has identified again
        (discord.py's ``Client.before_identify_hook`` waits 5 s before a non-initial IDENTIFY)."""
        async with self._send_lock:
            ws, self._ws, self._session_id = self._ws, None, None
            if ws is None:
                raise FakeDiscordError("the bot is not connected to the gateway")
            count = len(self.identifies)
            await ws.send_str(json.dumps({"op": 9, "d": False}))
        await self._wait(lambda: len(self.identifies) > count and self._ws is not None, timeout, "a new IDENTIFY")

    def _intent(self, bit: int) -> bool:
        return self.intents is not None and bool(self.intents & bit)

    async def _echo(self, event: str, msg: dict[str, Any]) -> None:
        """Tell the bot about its own message as Discord does (not for ephemeral messages)."""
        if self._session_id is None or msg.get("flags", 0) & EPHEMERAL:
            return
        if self._intent(GUILD_MESSAGES if "guild_id" in msg else DIRECT_MESSAGES):
            data = (
                msg if event != "MESSAGE_DELETE" else {k: msg[k] for k in ("id", "channel_id", "guild_id") if k in msg}
            )
            await self.dispatch(event, data)

    # -- acting as users --------------------------------------------------------------------------

    async def send_message(
        self,
        channel_id: int | None,
        content: str = "",
        *,
        author: dict[str, Any] | None = None,
        mentions_bot: bool = False,
        dm: bool = False,
        bot_author: bool = False,
        thread: bool = False,
        reply_to: int | None = None,
        attachments: Sequence[tuple[str, bytes]] = (),
    ) -> dict[str, Any]:
        """Post a message as a user and dispatch MESSAGE_CREATE; return the payload the bot was sent.

        ``dm``: in the author's DM channel with the bot (``channel_id`` ignored). ``thread``: in a thread
        of ``channel_id`` (its first, made with THREAD_CREATE if none). ``mentions_bot``: mention the
        bot (``<@id>`` is prefixed to ``content`` unless there). ``bot_author``: from ``other_bot``
        (or ``author`` flagged as a bot). ``attachments``: (filename, bytes) the bot can download.
        As Discord does, guild messages reach the bot only with the GUILD_MESSAGES intent, DMs only with
        DIRECT_MESSAGES; without MESSAGE_CONTENT, content, embeds and attachments of guild messages that
        do not mention the bot arrive blank.
        """
        author = author or (self.other_bot if bot_author else self.user)
        if bot_author:
            author = {**author, "bot": True}
        if dm:
            channel = self.dm_channel(author)
        elif thread:
            parent = self._known_channel(channel_id)
            channel = next((c for c in self.channels.values() if c.get("parent_id") == parent["id"]), None)
            if channel is None:
                channel = self.channels[self._add_thread(int(parent["id"]), "thread", owner_id=int(author["id"]))]
                if self._session_id is not None:
                    await self.dispatch("THREAD_CREATE", {**channel, "newly_created": True})
        else:
            channel = self._known_channel(channel_id)
        if reply_to is not None and reply_to not in self.messages:
            raise FakeDiscordError(f"no message {reply_to} to reply to")
        mention = f"<@{self.bot_user['id']}>"
        mentions_bot = mentions_bot or mention in content or f"<@!{self.bot_user['id']}>" in content
        if mentions_bot and mention not in content and f"<@!{self.bot_user['id']}>" not in content:
            content = f"{mention} {content}"
        body: dict[str, Any] = {"content": content}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to)}
        msg = self._new_message(channel, author, body)
        msg["attachments"] = [self._attachment(int(channel["id"]), name, data) for name, data in attachments]
        if mentions_bot:
            msg["mentions"] = [
                {**self.bot_user, **({"member": self._member(self.bot_user, with_user=False)} if not dm else {})}
            ]
        seen = dict(msg)
        if not dm and not mentions_bot and not self._intent(MESSAGE_CONTENT):
            seen.update(content="", embeds=[], attachments=[], components=[])
        if self._intent(DIRECT_MESSAGES if dm else GUILD_MESSAGES):
            await self.dispatch("MESSAGE_CREATE", seen)
        return seen

    def _find_command(self, name: str, guild: bool) -> tuple[dict[str, Any], list[str]]:
        top, *path = name.split()
        scopes = [self.guild_id, None] if guild else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == top and command.get("type", 1) == 1:
                    return command, path
        where = "this guild" if guild else "DMs"
        raise FakeDiscordError(
            f"/{top} is not a synced slash command usable in {where}; synced: "
            f"{ {k: [c['name'] for c in v] for k, v in self.commands.items()} }"
        )

    def _check_access(self, command: dict[str, Any], user: dict[str, Any], guild: bool) -> None:
        contexts = command.get("contexts")
        if guild:
            if contexts is not None and 0 not in contexts:
                raise FakeDiscordError(f"/{command['name']} is not available in guilds (contexts={contexts})")
            required = command.get("default_member_permissions")
            perms = self.permissions_of(int(user["id"]))
            hidden = required is not None and (int(required) == 0 or perms & int(required) != int(required))
            if hidden and not perms & ADMINISTRATOR:
                raise FakeDiscordError(
                    f"/{command['name']} is hidden from {user['username']} (default_member_permissions={required})"
                )
        elif command.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
            raise FakeDiscordError(f"/{command['name']} is not available in DMs")

    def _command_data(
        self, name: str, options: dict[str, Any], user: dict[str, Any], guild: bool, focused: str | None = None
    ) -> dict[str, Any]:
        command, path = self._find_command(name, guild)
        self._check_access(command, user, guild)
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": [], "resolved": {}}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        schema, container = command.get("options", []), data["options"]
        for sub in path:
            opt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if opt is None:
                raise FakeDiscordError(f"/{name}: /{command['name']} has no subcommand {sub!r}")
            entry = {"name": sub, "type": opt["type"], "options": []}
            container.append(entry)
            schema, container = opt.get("options", []), entry["options"]
        if any(o["type"] in (1, 2) for o in schema):
            raise FakeDiscordError(f"/{name} needs a subcommand: {[o['name'] for o in schema]}")
        unknown = set(options) - {o["name"] for o in schema}
        if unknown:
            raise FakeDiscordError(f"/{name} has no option(s) {sorted(unknown)}; it has {[o['name'] for o in schema]}")
        for opt in schema:
            if opt["name"] not in options:
                if opt.get("required") and focused is None:
                    raise FakeDiscordError(f"/{name}: required option {opt['name']!r} missing")
                continue
            value = options[opt["name"]]
            if opt["name"] == focused:
                if not opt.get("autocomplete"):
                    raise FakeDiscordError(f"/{name}: option {focused!r} has no autocomplete")
                container.append({"name": focused, "type": opt["type"], "value": str(value), "focused": True})
            else:
                wire = self._option_value(f"/{name} {opt['name']}", opt, value, data["resolved"], guild)
                container.append({"name": opt["name"], "type": opt["type"], "value": wire})
        if focused is not None and focused not in options:
            raise FakeDiscordError(f"/{name}: focused option {focused!r} must be given (its typed text)")
        return data

    def _option_value(self, where: str, opt: dict[str, Any], value: Any, resolved: dict[str, Any], guild: bool) -> Any:
        """Check one option value as Discord's client would; return it as Discord sends it."""
        kind = opt["type"]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            3: isinstance(value, str),
            4: isinstance(value, int) and number,
            5: isinstance(value, bool),
            10: number and math.isfinite(value),
        }.get(kind, True)
        if not ok:
            raise FakeDiscordError(f"{where}: {value!r} is not valid for option type {kind}")
        low, high = max(1, opt.get("min_length", 1)), opt.get("max_length", 6000)  # Discord sends no ""
        if kind == 3 and not low <= len(value) <= high:
            raise FakeDiscordError(f"{where}: length {len(value)} outside [{low}, {high}]")
        if kind in (4, 10):
            low, high = opt.get("min_value", -(2**53)), opt.get("max_value", 2**53)
            if not low <= value <= high:
                raise FakeDiscordError(f"{where}: {value} outside [{low}, {high}]")
        if "choices" in opt and value not in [c["value"] for c in opt["choices"]]:
            raise FakeDiscordError(
                f"{where}: {value!r} is not one of the choices {[c['value'] for c in opt['choices']]}"
            )
        if kind in (3, 4, 5, 10):
            return value
        if kind == 11:  # attachment: (filename, bytes)
            if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes)):
                raise FakeDiscordError(f"{where}: give an attachment as (filename, bytes), not {value!r}")
            filename, data = value
            att = self._attachment(self.general_id, filename, data)
            resolved.setdefault("attachments", {})[att["id"]] = att
            return att["id"]
        sid = int(value["id"]) if isinstance(value, dict) else int(value)
        if kind in (6, 9) and sid in self._users:
            resolved.setdefault("users", {})[str(sid)] = self._users[sid]
            if guild and sid in self._members:
                resolved.setdefault("members", {})[str(sid)] = self._member(self._users[sid], with_user=False)
        elif kind in (8, 9) and sid in self.roles and guild:
            resolved.setdefault("roles", {})[str(sid)] = self.roles[sid]
        elif kind == 7 and sid in self.channels and guild:
            channel = self.channels[sid]
            if "channel_types" in opt and channel["type"] not in opt["channel_types"]:
                raise FakeDiscordError(f"{where}: channel type {channel['type']} not in {opt['channel_types']}")
            resolved.setdefault("channels", {})[str(sid)] = {**channel, "permissions": str(MEMBER_PERMISSIONS)}
        else:
            raise FakeDiscordError(f"{where}: {value!r} is no user, role or channel Discord would offer")
        return str(sid)

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        user: dict[str, Any] | None,
        *,
        guild: bool,
        channel_id: int | None = None,
        message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        user = user or self.user
        payload: dict[str, Any] = {
            "id": str(self._snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": secrets.token_urlsafe(48),
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "app_permissions": str(self.permissions_of(self.application_id)),
        }
        if guild:
            channel = self._known_channel(channel_id or self.general_id)
            payload.update(
                guild_id=str(self.guild_id),
                guild={"id": str(self.guild_id), "locale": "en-US", "features": []},
                member=self._member(user),
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": str(self.guild_id)},
            )
        else:
            channel = self.dm_channel(user)
            payload.update(user=user, context=1, authorizing_integration_owners={"0": str(self.guild_id)})
        payload.update(channel=channel, channel_id=channel["id"])
        if message is not None:
            payload["message"] = message
        ix = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=kind,
            user=user,
            channel_id=int(channel["id"]),
            payload=payload,
            created=asyncio.get_running_loop().time(),
            message_id=int(message["id"]) if message else None,
        )
        self.interactions.append(ix)
        await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    async def invoke_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: dict[str, Any] | None = None,
        guild: bool = True,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        """Invoke a slash command as a user (``name`` may be "group sub"), in ``channel_id`` (default
        general) or, with ``guild=False``, in the user's DMs. Options are checked against the synced
        schema (existence, required, type, min/max value and length, choices, channel types); user,
        role and channel options take ids or payloads, attachments (filename, bytes). Refused
        invocations raise FakeDiscordError."""
        user = user or self.user
        data = self._command_data(name, options or {}, user, guild)
        return await self._interact(2, data, user, guild=guild, channel_id=channel_id)

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: dict[str, Any] | None = None,
        guild: bool = True,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Ask for autocompletion of option ``focused`` (its typed text is ``options[focused]``) and
        return the choices the bot answered with."""
        user = user or self.user
        data = self._command_data(name, options, user, guild, focused=focused)
        ix = await self._interact(4, data, user, guild=guild)
        await ix.wait_response(timeout)
        return (ix.callback_data or {}).get("choices", [])

    def _component(self, message_id: int, custom_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        msg = self.messages.get(message_id)
        if msg is None or msg["author"]["id"] != self.bot_user["id"]:
            raise FakeDiscordError(f"no message {message_id} from the bot")
        found = [c for c in _walk(msg.get("components", [])) if c.get("custom_id") == custom_id]
        if not found:
            ids = [c.get("custom_id") for c in _walk(msg.get("components", [])) if c.get("custom_id")]
            raise FakeDiscordError(f"message {message_id} has no component {custom_id!r}; it has {ids}")
        if found[0].get("disabled"):
            raise FakeDiscordError(f"component {custom_id!r} is disabled")
        return msg, found[0]

    async def click_button(
        self, message_id: int, custom_id: str, *, user: dict[str, Any] | None = None
    ) -> FakeInteraction:
        """Click a button of a message the bot sent (refused if missing, disabled or not a button)."""
        msg, button = self._component(message_id, custom_id)
        if button["type"] != 2:
            raise FakeDiscordError(f"component {custom_id!r} is not a button")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(
            3, data, user, guild="guild_id" in msg, channel_id=int(msg["channel_id"]), message=msg
        )

    async def select(
        self, message_id: int, custom_id: str, values: Sequence[str], *, user: dict[str, Any] | None = None
    ) -> FakeInteraction:
        """Pick options of a string select menu of a message the bot sent."""
        msg, menu = self._component(message_id, custom_id)
        if menu["type"] != 3:
            raise FakeDiscordError(f"component {custom_id!r} is not a string select (type {menu['type']})")
        offered = [o["value"] for o in menu.get("options", [])]
        if any(v not in offered for v in values) or not menu.get("min_values", 1) <= len(values) <= menu.get(
            "max_values", 1
        ):
            raise FakeDiscordError(f"select {custom_id!r}: cannot pick {list(values)} of {offered}")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return await self._interact(
            3, data, user, guild="guild_id" in msg, channel_id=int(msg["channel_id"]), message=msg
        )

    async def submit_modal(
        self, custom_id: str, values: dict[str, str], *, user: dict[str, Any] | None = None
    ) -> FakeInteraction:
        """Submit the latest modal the bot opened with ``custom_id``; ``values`` maps text input
        custom ids to text (checked for required and min/max length)."""
        opener = next(
            (
                ix
                for ix in reversed(self.interactions)
                if ix.callback_type == 9
                and (ix.callback_data or {}).get("custom_id") == custom_id
                and ix.id not in self._submitted_modals
            ),
            None,
        )
        if opener is None:
            raise FakeDiscordError(f"the bot opened no (unsubmitted) modal {custom_id!r}")
        modal = opener.callback_data or {}
        inputs = {c["custom_id"]: c for c in _walk(modal.get("components", [])) if c.get("type") == 4}
        if set(values) - set(inputs):
            raise FakeDiscordError(f"modal {custom_id!r} has no input(s) {sorted(set(values) - set(inputs))}")
        for cid, spec in inputs.items():
            text = values.get(cid, "")
            if (spec.get("required", True) and not text) or (
                text and not spec.get("min_length", 0) <= len(text) <= spec.get("max_length", 4000)
            ):
                raise FakeDiscordError(f"modal {custom_id!r}: {text!r} is not valid for input {cid!r}")

        def answer(component: dict[str, Any]) -> dict[str, Any]:
            if component["type"] == 1:
                return {"type": 1, "components": [answer(c) for c in component["components"]]}
            if component["type"] == 18:
                return {"type": 18, "component": answer(component["component"])}
            if component["type"] != 4:
                raise FakeDiscordError(f"modal component type {component['type']} is not supported by the fake")
            return {"type": 4, "custom_id": component["custom_id"], "value": values.get(component["custom_id"], "")}

        data = {"custom_id": custom_id, "components": [answer(c) for c in modal["components"]]}
        self._submitted_modals.add(opener.id)
        return await self._interact(
            5,
            data,
            user or opener.user,
            guild="guild_id" in opener.payload,
            channel_id=opener.channel_id,
            message=opener.payload.get("message"),
        )

    # -- waiting ----------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]]
                raise FakeDiscordError(f"timed out after {timeout} s waiting for {what}; last requests: {recent}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return result

    async def wait_for_request(
        self,
        predicate: Callable[[Request], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        start: int = 0,
        timeout: float = 10.0,
    ) -> Request:
        """The first answered request (from index ``start`` of ``requests``) matching ``method``, the glob
        ``path`` (relative to /api/v10, e.g. "/channels/*/messages") and ``predicate``."""

        def match() -> Request | None:
            return next(
                (
                    r
                    for r in self.requests[start:]
                    if r.status is not None
                    and (method is None or r.method == method.upper())
                    and (path is None or fnmatch.fnmatchcase(r.path, path))
                    and (predicate is None or predicate(r))
                ),
                None,
            )

        return await self._wait(match, timeout, f"a request {method or ''} {path or ''}".rstrip())

    async def wait_for_bot_message(
        self,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        channel_id: int | None = None,
        after: int | str = 0,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first live bot message with an id above ``after`` (in ``channel_id``) that satisfies
        ``predicate``; edits count, so this also waits for a deferred message to be filled."""

        def match() -> dict[str, Any] | None:
            return next(
                (
                    m
                    for m in self.bot_messages(channel_id)
                    if int(m["id"]) > int(after) and not m["flags"] & LOADING and (predicate is None or predicate(m))
                ),
                None,
            )

        return await self._wait(match, timeout, "a message from the bot")

    def rate_limit_next(self, method: str, path_pattern: str, retry_after: float = 0.05) -> None:
        """Answer the next request matching ``method`` ("*" for any) and the glob ``path_pattern``
        with a 429 (non-global, with ``Via`` and rate-limit headers), so discord.py retries it."""
        self._rate_limits.append((method.upper(), path_pattern, retry_after))

    # -- HTTP -------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        path = request.path.removeprefix(API) if request.path.startswith(API + "/") else request.path
        record = Request(
            request.method,
            path,
            dict(request.query),
            None,
            [],
            dict(request.headers),
            asyncio.get_running_loop().time(),
        )
        self.requests.append(record)
        request[RECORD] = record
        try:
            await self._read_body(request, record)
            response = self._take_rate_limit(record)
            if response is None:  # (a Response with no state is falsy: compare to None)
                response = await self._authorized(request, record, handler)
        except DiscordHTTPError as exc:
            self.violations.append(Violation(record, exc.status, exc.code, exc.message, exc.problems))
            response = _json(exc.body(), exc.status)
        except Exception as exc:  # a bug in the fake: fail the test through `unexpected`, quickly
            _log.exception("fake Discord failed on %s %s", record.method, record.path)
            self.unexpected.append(record)
            response = _json({"code": 0, "message": f"fake Discord failed: {exc!r}"}, 400)
        record.status = response.status
        self._notify()
        return response

    async def _read_body(self, request: web.Request, record: Request) -> None:
        try:
            if request.content_type == "multipart/form-data":
                async for part in await request.multipart():
                    data = bytes(await part.read())  # type: ignore[union-attr]
                    if part.name == "payload_json":
                        record.json = json.loads(data)
                    elif part.filename is not None:
                        record.files.append(
                            RecordedFile(
                                part.name or "", part.filename, len(data), part.headers.get("Content-Type"), data
                            )
                        )
            elif request.can_read_body and (raw := await request.read()):
                record.json = json.loads(raw)
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None

    def _take_rate_limit(self, record: Request) -> web.Response | None:
        for index, (method, pattern, retry_after) in enumerate(self._rate_limits):
            if method in ("*", record.method) and fnmatch.fnmatchcase(record.path, pattern):
                del self._rate_limits[index]
                headers = {
                    "Via": "1.1 google",
                    "Retry-After": str(math.ceil(retry_after)),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "user",
                }
                body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
                return _json(body, 429, headers)
        return None

    async def _authorized(self, request: web.Request, record: Request, handler: Callable) -> web.StreamResponse:
        # Interaction callbacks and webhooks authenticate with their token in the path, not a header.
        bot_route = request.path.startswith(API + "/") and not record.path.startswith(("/webhooks/", "/interactions/"))
        if bot_route and request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordHTTPError(401, 0, "401: Unauthorized")
        return await handler(request)

    def _routes(self, app: web.Application) -> None:
        a, cid, mid = API, "{cid:\\d+}", "{mid:\\d+}"
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{cid}/{aid:\\d+}/{filename}", self._download)
        app.router.add_get(a + "/users/@me", self._me)
        app.router.add_get(a + "/oauth2/applications/@me", self._application)
        app.router.add_get(a + "/gateway", self._gateway_info)
        app.router.add_get(a + "/gateway/bot", self._gateway_info)
        app.router.add_post(a + "/users/@me/channels", self._create_dm)
        app.router.add_get(a + f"/channels/{cid}", self._get_channel)
        app.router.add_post(a + f"/channels/{cid}/typing", self._typing)
        app.router.add_post(a + f"/channels/{cid}/messages", self._post_message)
        app.router.add_route("*", a + f"/channels/{cid}/messages/{mid}", self._channel_message)
        app.router.add_route("*", a + f"/channels/{cid}/messages/{mid}/reactions/{{emoji}}/@me", self._reaction)
        app.router.add_post(a + f"/channels/{cid}/threads", self._create_thread)
        app.router.add_post(a + f"/channels/{cid}/messages/{mid}/threads", self._create_thread)
        for prefix in (
            a + "/applications/{app:\\d+}/commands",
            a + "/applications/{app:\\d+}/guilds/{gid:\\d+}/commands",
        ):
            app.router.add_get(prefix, self._commands)
            app.router.add_put(prefix, self._commands)
        app.router.add_post(a + "/interactions/{iid:\\d+}/{token}/callback", self._callback)
        app.router.add_post(a + "/webhooks/{app:\\d+}/{token}", self._followup)
        app.router.add_route(
            "*", a + "/webhooks/{app:\\d+}/{token}/messages/{mid:\\d+|@original}", self._webhook_message
        )
        app.router.add_route("*", "/{tail:.*}", self._unexpected)

    async def _unexpected(self, request: web.Request) -> web.Response:
        self.unexpected.append(request[RECORD])
        return _json({"message": "404: Not Found", "code": 0}, 404)

    async def _download(self, request: web.Request) -> web.Response:
        data = self._blobs.get(int(request.match_info["aid"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot_user, "verified": True, "mfa_enabled": False})

    async def _gateway_info(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel(int(request.match_info["cid"])))

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Slide Tutor",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.teacher,
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "rpc_origins": [],
                "interactions_endpoint_url": None,
                "bot": self.bot_user,
            }
        )

    async def _create_dm(self, request: web.Request) -> web.Response:
        uid = int((request[RECORD].json or {}).get("recipient_id", 0))
        if uid not in self._users:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", [("recipient_id", "Unknown user")])
        return _json(self.dm_channel(self._users[uid]))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel(int(request.match_info["cid"]))
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        record = request[RECORD]
        channel = self._channel(int(request.match_info["cid"]))
        if int(channel["id"]) == self.readonly_id:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        body = record.json or {}
        _check_message(body, record.files, creating=True)
        msg = self._new_message(channel, self.bot_user, body, files=record.files)
        await self._echo("MESSAGE_CREATE", msg)
        return _json(msg)

    def _message(self, message_id: int, channel_id: int | None = None) -> dict[str, Any]:
        msg = self.messages.get(message_id)
        if msg is None or (channel_id is not None and int(msg["channel_id"]) != channel_id):
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return msg

    async def _edit(
        self, msg: dict[str, Any], body: dict[str, Any], files: Sequence[RecordedFile], prefix: str = ""
    ) -> dict[str, Any]:
        if msg["author"]["id"] != self.bot_user["id"]:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        _check_message(body, files, creating=False, prefix=prefix)
        for key in ("content", "embeds", "components"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep]
        msg["attachments"] += [
            self._attachment(int(msg["channel_id"]), f.filename, f.data, f.content_type) for f in files
        ]
        if body.get("flags") is not None:
            msg["flags"] = (msg["flags"] & ~4) | (body["flags"] & 4)  # only SUPPRESS_EMBEDS may change
        msg["flags"] &= ~LOADING
        msg["edited_timestamp"] = _now_iso()
        await self._echo("MESSAGE_UPDATE", msg)
        return msg

    async def _delete(self, msg: dict[str, Any]) -> web.Response:
        if msg["author"]["id"] != self.bot_user["id"]:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        del self.messages[int(msg["id"])]
        await self._echo("MESSAGE_DELETE", msg)
        return web.Response(status=204)

    async def _channel_message(self, request: web.Request) -> web.StreamResponse:
        cid, mid = int(request.match_info["cid"]), int(request.match_info["mid"])
        self._channel(cid)
        msg = self._message(mid, cid)
        if request.method == "GET":
            return _json(msg)
        if request.method == "PATCH":
            record = request[RECORD]
            return _json(await self._edit(msg, record.json or {}, record.files))
        if request.method == "DELETE":
            return await self._delete(msg)
        return await self._unexpected(request)

    async def _reaction(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("PUT", "DELETE"):
            return await self._unexpected(request)
        self._message(int(request.match_info["mid"]), int(request.match_info["cid"]))
        return web.Response(status=204)

    async def _create_thread(self, request: web.Request) -> web.Response:
        parent = self._channel(int(request.match_info["cid"]))
        name = (request[RECORD].json or {}).get("name", "")
        if parent["type"] != 0 or not 1 <= len(name) <= 100:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", [("name", "Must be 1 to 100 in length.")])
        thread = self.channels[self._add_thread(int(parent["id"]), name, owner_id=self.application_id)]
        if self._session_id is not None:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    async def _commands(self, request: web.Request) -> web.Response:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        gid = int(request.match_info["gid"]) if "gid" in request.match_info else None
        if gid not in (None, self.guild_id):
            raise DiscordHTTPError(403, 50001, "Missing Access")
        if request.method == "PUT":
            body = request[RECORD].json or []
            problems = [p for i, c in enumerate(body) for p in _command_problems(c, str(i))]
            if problems:
                raise DiscordHTTPError(400, 50035, "Invalid Form Body", problems)
            old = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(gid, [])}
            self.commands[gid] = [
                {
                    "type": 1,
                    "default_member_permissions": None,
                    "nsfw": False,
                    **c,
                    "application_id": str(self.application_id),
                    "id": old.get((c["name"], c.get("type", 1))) or str(self._snowflake()),
                    "version": str(self._snowflake()),
                    **({"guild_id": str(gid)} if gid else {}),
                }
                for c in body
            ]
        return _json(self.commands.get(gid, []))

    def _interaction(self, token: str) -> FakeInteraction:
        ix = next((ix for ix in self.interactions if ix.token == token), None)
        if ix is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        return ix

    async def _callback(self, request: web.Request) -> web.Response:
        record = request[RECORD]
        ix = next(
            (
                ix
                for ix in self.interactions
                if str(ix.id) == request.match_info["iid"] and ix.token == request.match_info["token"]
            ),
            None,
        )
        loop_time = asyncio.get_running_loop().time()
        if ix is None or loop_time - ix.created > self.interaction_window:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if ix.callback_type is not None:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        body = record.json or {}
        kind, data = body.get("type"), body.get("data") or {}
        if kind not in CALLBACKS_ALLOWED[ix.type] or (kind in (6, 7) and ix.message_id is None):
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", [("type", f"Not valid for interaction {ix.type}")])
        channel = self._channel(ix.channel_id)
        message = None
        if kind == 4:
            _check_message(data, record.files, creating=True, prefix="data")
            message = self._new_message(channel, self.bot_user, data, files=record.files, webhook=True)
            message["type"] = 20 if ix.type == 2 else 0
            await self._echo("MESSAGE_CREATE", message)
        elif kind == 5:
            message = self._new_message(
                channel, self.bot_user, {}, flags=LOADING | (data.get("flags", 0) & EPHEMERAL), webhook=True
            )
            message["type"] = 20 if ix.type == 2 else 0
            await self._echo("MESSAGE_CREATE", message)
        elif kind in (6, 7):
            message = self._message(ix.message_id or 0)
            if kind == 7:
                await self._edit(message, data, record.files, prefix="data")
        elif kind == 8:
            _raise_problems(_choices_problems(data.get("choices", [])))
        elif kind == 9:
            _raise_problems(_modal_problems(data))
        ix.callback_type, ix.callback_data = kind, data
        ix.original_message_id = int(message["id"]) if message else None
        ix.responded.set()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        flags = message["flags"] if message else 0
        info = {
            "id": str(ix.id),
            "type": ix.type,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
            **({"response_message_id": message["id"]} if message else {}),
        }
        return _json({"interaction": info, "resource": {"type": kind, **({"message": message} if message else {})}})

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        record = request[RECORD]
        ix = self._interaction(request.match_info["token"])
        if int(request.match_info["app"]) != self.application_id or ix.callback_type is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        body = record.json or {}
        original = self.messages.get(ix.original_message_id or 0)
        if original is not None and original["flags"] & LOADING:
            # Discord fills the "thinking..." message of a deferred response with the first followup.
            _check_message(body, record.files, creating=True)
            msg = await self._edit(original, body, record.files)
        else:
            _check_message(body, record.files, creating=True)
            msg = self._new_message(self._channel(ix.channel_id), self.bot_user, body, files=record.files, webhook=True)
            await self._echo("MESSAGE_CREATE", msg)
        ix.followup_message_ids.append(int(msg["id"]))
        if request.query.get("wait") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json(msg)

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        ix = self._interaction(request.match_info["token"])
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        own = [ix.original_message_id, *ix.followup_message_ids]
        message_id = ix.original_message_id if mid == "@original" else int(mid)
        if message_id is None or message_id not in own:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        msg = self._message(message_id)
        if request.method == "GET":
            return _json(msg)
        if request.method == "PATCH":
            record = request[RECORD]
            return _json(await self._edit(msg, record.json or {}, record.files))
        if request.method == "DELETE":
            return await self._delete(msg)
        return await self._unexpected(request)


# -- Discord's validation ---------------------------------------------------------------------------


def _walk(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Every component, nested ones included (rows, labels, sections, containers)."""
    for c in components:
        yield c
        yield from _walk(c.get("components") or [])
        if isinstance(c.get("component"), dict):
            yield from _walk([c["component"]])
        if isinstance(c.get("accessory"), dict):
            yield from _walk([c["accessory"]])


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise DiscordHTTPError(400, 50035, "Invalid Form Body", problems)


def _too_long(problems: list[tuple[str, str]], path: str, value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        problems.append((path, f"Must be {limit} or fewer in length."))


def _check_message(body: dict[str, Any], files: Sequence[RecordedFile], *, creating: bool, prefix: str = "") -> None:
    """Raise what Discord answers to a message create or edit body that breaks its limits."""
    p = f"{prefix}." if prefix else ""
    problems: list[tuple[str, str]] = []
    _too_long(problems, p + "content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems.append((p + "embeds", "Must be 10 or fewer in length."))
    total = 0
    for i, embed in enumerate(embeds):
        e = f"{p}embeds.{i}."
        texts = [
            (e + "title", embed.get("title"), 256),
            (e + "description", embed.get("description"), 4096),
            (e + "footer.text", (embed.get("footer") or {}).get("text"), 2048),
            (e + "author.name", (embed.get("author") or {}).get("name"), 256),
        ]
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append((e + "fields", "Must be 25 or fewer in length."))
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                if not f.get(key):
                    problems.append((f"{e}fields.{j}.{key}", "This field is required"))
                texts.append((f"{e}fields.{j}.{key}", f.get(key), limit))
        for path, text, limit in texts:
            _too_long(problems, path, text, limit)
            total += len(text) if isinstance(text, str) else 0
    if total > 6000:
        problems.append((p + "embeds", "Embed size exceeds maximum size of 6000"))
    components = body.get("components") or []
    problems += _component_problems(components, body.get("flags") or 0, p)
    if len(files) > 10:
        problems.append((p + "files", "Must be 10 or fewer in length."))
    _raise_problems(problems)
    if sum(f.size for f in files) > ATTACHMENT_SIZE_LIMIT:
        raise DiscordHTTPError(413, 40005, "Request entity too large")
    if creating and not (
        body.get("content") or embeds or files or components or body.get("sticker_ids") or body.get("poll")
    ):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _component_problems(components: list[dict[str, Any]], flags: int, p: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    ids = [c["custom_id"] for c in _walk(components) if "custom_id" in c]
    for cid in ids:
        _too_long(problems, p + "components.custom_id", cid, 100)
    if len(set(ids)) != len(ids):
        problems.append((p + "components", "Component custom id cannot be duplicated"))
    if flags & IS_COMPONENTS_V2:
        if len(list(_walk(components))) > 40:
            problems.append((p + "components", "Must be 40 or fewer in total."))
        return problems
    if len(components) > 5:
        problems.append((p + "components", "Must be 5 or fewer in length."))
    for r, row in enumerate(components):
        path, children = f"{p}components.{r}", row.get("components") or []
        if row.get("type") != 1:
            problems.append((path + ".type", "Top-level components must be action rows"))
        elif not 1 <= len(children) <= 5:
            problems.append((path + ".components", "Must be between 1 and 5 in length."))
        elif any(c["type"] in SELECT_TYPES for c in children) and len(children) > 1:
            problems.append((path + ".components", "A select menu must be alone in its action row"))
        for c, item in enumerate(children):
            cpath = f"{path}.components.{c}"
            _too_long(problems, cpath + ".label", item.get("label"), 80)
            _too_long(problems, cpath + ".placeholder", item.get("placeholder"), 150)
            if item["type"] == 2 and (item.get("style") == 5) != ("url" in item):
                problems.append((cpath, "Link buttons need a url, other buttons none"))
            if item["type"] == 2 and item.get("style") not in (5, 6) and "custom_id" not in item:
                problems.append((cpath + ".custom_id", "This field is required"))
            if item["type"] == 3 and not 1 <= len(item.get("options") or []) <= 25:
                problems.append((cpath + ".options", "Must be between 1 and 25 in length."))
    return problems


def _choices_problems(choices: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems = [("data.choices", "Must be 25 or fewer in length.")] if len(choices) > 25 else []
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            problems.append((f"data.choices.{i}.name", "Must be between 1 and 100 in length."))
        _too_long(problems, f"data.choices.{i}.value", choice.get("value"), 100)
    return problems


def _modal_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not 1 <= len(data.get("title") or "") <= 45:
        problems.append(("data.title", "Must be between 1 and 45 in length."))
    _too_long(problems, "data.custom_id", data.get("custom_id"), 100)
    if not 1 <= len(data.get("components") or []) <= 5:
        problems.append(("data.components", "Must be between 1 and 5 in length."))
    for c in _walk(data.get("components") or []):
        _too_long(problems, "data.components.label", c.get("label"), 45)
        _too_long(problems, "data.components.value", c.get("value"), 4000)
    return problems


def _command_problems(command: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """What Discord refuses in a synced command: names, descriptions, option counts and order."""
    problems: list[tuple[str, str]] = []
    name, chat = command.get("name", ""), command.get("type", 1) == 1
    if not 1 <= len(name) <= 32 or (chat and (name != name.lower() or " " in name)):
        problems.append((f"{path}.name", "Invalid command name"))
    if chat and not 1 <= len(command.get("description", "")) <= 100:
        problems.append((f"{path}.description", "Must be between 1 and 100 in length."))
    options = command.get("options") or []
    if len(options) > 25:
        problems.append((f"{path}.options", "Must be 25 or fewer in length."))
    required = [bool(o.get("required")) for o in options if o.get("type") not in (1, 2)]
    if required != sorted(required, reverse=True):
        problems.append((f"{path}.options", "Required options must be placed before non-required options"))
    for i, opt in enumerate(options):
        if len(opt.get("choices") or []) > 25:
            problems.append((f"{path}.options.{i}.choices", "Must be 25 or fewer in length."))
        problems += _command_problems({**opt, "type": 1}, f"{path}.options.{i}")
    return problems
