"""The fake's world and what it keeps: one guild with its roles, members, channels and a thread,
DM channels, messages and attachments, interactions, and the record of every request.

:class:`State` is the base of :class:`~tests.e2e.fake_discord.FakeDiscord`; the gateway, the REST
routes and the test-facing actions build on it.
"""

# The helpers take a `timeout` (bounded waits are the point of this package).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.e2e.fake_discord.protocol import (
    ADMINISTRATOR,
    API,
    DISCORD_EPOCH_MS,
    INTERACTION_TOKEN_LIFE,
    MEMBER_PERMISSIONS,
    SEND_MESSAGES,
    DiscordHTTPError,
    FakeDiscordError,
    now_iso,
)


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
    created: float  # the fake's clock (Clock.now) when dispatched
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


class Clock:
    """The fake's sense of time: the event loop's clock plus whatever a test moved it on by, so
    a test can let 15 minutes pass at once (interaction tokens expire, rate limits reset)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Seconds, on the event loop's clock moved by ``offset``."""
        return asyncio.get_running_loop().time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def utcnow(self) -> dt.datetime:
        """The wall clock moved by ``offset`` (for the bot's own sense of time, in tests)."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)


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


class State:
    """One guild's worth of Discord (two with ``second_guild``): the world and the records.

    The world: ``bot_user``; ``user`` (a member, the default actor), ``teacher`` (a member with the
    Teacher role), ``other_bot``; guild ``guild_id`` with text channels ``general_id``,
    ``slides_id`` (holds the public thread ``thread_id``) and ``readonly_id`` (the bot may not send
    there); roles ``guild_id`` (@everyone) and ``teacher_role_id``. With ``second_guild``, every
    user is also a member of guild ``other_guild_id`` (only its @everyone role) with one text
    channel, ``other_general_id``; acting in a channel acts in that channel's guild.
    """

    def __init__(
        self, token: str = "test-token", *, interaction_window: float = 3.0, second_guild: bool = False
    ) -> None:
        self.token = token
        self.interaction_window = interaction_window  # seconds the bot has for its first response
        self.token_life = INTERACTION_TOKEN_LIFE  # seconds an interaction token works for followups
        self.clock = Clock()
        self._last_id = 0
        self.requests: list[Request] = []
        self.unexpected: list[Request] = []
        self.violations: list[Violation] = []
        self.interactions: list[FakeInteraction] = []
        self.messages: dict[int, dict[str, Any]] = {}  # every live message, by id
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # synced schema; None = global
        self._blobs: dict[int, bytes] = {}
        self._changed = asyncio.Event()
        self.port = 0
        self._members: dict[int, list[int]] = {}  # user id -> role ids
        self._users: dict[int, dict[str, Any]] = {}
        self.application_id = self._snowflake()  # also the bot user's id
        self.guild_id = self._snowflake()
        self.teacher_role_id, bot_role_id = self._snowflake(), self._snowflake()
        self.roles: dict[int, dict[str, Any]] = {}
        self._role_guild: dict[int, int] = {}  # role id -> its guild
        self.granted: set[tuple[str, int]] = set()  # (command, role id) allowed in Integrations
        # The second guild's id is one millisecond on, so with shards it is on the next shard after
        # the first guild's ((guild_id >> 22) % shard_count, as Discord routes guilds).
        self.other_guild_id = self._snowflake_a_ms_after(self.guild_id) if second_guild else None
        roles = [
            (self.guild_id, "@everyone", MEMBER_PERMISSIONS, None),
            (self.teacher_role_id, "Teacher", MEMBER_PERMISSIONS, None),
            (bot_role_id, "Slide Tutor", 0, {"bot_id": str(self.application_id)}),
        ]
        if self.other_guild_id is not None:
            roles.append((self.other_guild_id, "@everyone", MEMBER_PERMISSIONS, None))
        for rid, name, perms, tags in roles:
            self._role_guild[rid] = self.other_guild_id if rid == self.other_guild_id else self.guild_id
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
        self.other_general_id = (
            self._add_channel("other-general", guild_id=self.other_guild_id) if self.other_guild_id else None
        )

    @property
    def guild_ids(self) -> list[int]:
        return [self.guild_id] + ([self.other_guild_id] if self.other_guild_id else [])

    def guild_of(self, channel: dict[str, Any]) -> int | None:
        return int(channel["guild_id"]) if "guild_id" in channel else None

    # -- addresses --------------------------------------------------------------------------------

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

    def _snowflake_a_ms_after(self, snowflake: int) -> int:
        self._last_id = max(self._last_id + 1, ((snowflake >> 22) + 1) << 22)
        return self._last_id

    def _add_channel(
        self, name: str, *, overwrites: list[dict[str, Any]] | None = None, guild_id: int | None = None
    ) -> int:
        cid = self._snowflake()
        self.channels[cid] = {
            "id": str(cid),
            "type": 0,
            "guild_id": str(guild_id or self.guild_id),
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
                "archive_timestamp": now_iso(),
            },
        }
        return tid

    def add_role(self, name: str, permissions: int, *, guild_id: int | None = None) -> int:
        """Make a role in a guild (before the bot connects, to have it in GUILD_CREATE)."""
        rid = self._snowflake()
        self._role_guild[rid] = guild_id or self.guild_id
        self.roles[rid] = {
            "id": str(rid),
            "name": name,
            "permissions": str(permissions),
            "position": len(self.roles),
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return rid

    def grant_command(self, command: str, role_id: int) -> None:
        """What a server does in Server Settings → Integrations: lets a role use a command that its
        ``default_member_permissions`` would hide from them."""
        self.granted.add((command, role_id))

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

    def _roles_in(self, user_id: int, guild_id: int) -> list[int]:
        return [rid for rid in self._members.get(user_id, []) if self._role_guild.get(rid) == guild_id]

    def permissions_of(self, user_id: int, guild_id: int | None = None) -> int:
        """Guild-level permissions of a member (channel overwrites aside)."""
        guild_id = guild_id or self.guild_id
        perms = 0
        for rid in [guild_id, *self._roles_in(user_id, guild_id)]:
            perms |= int(self.roles[rid]["permissions"])
        return perms

    def channel_permissions_of(self, user_id: int, channel_id: int) -> int:
        """A member's permissions in a channel: guild-level, then the channel's (or, for a thread,
        its parent's) overwrites for @everyone and the member's roles, as Discord computes them."""
        channel = self.channels.get(channel_id) or {}
        if channel.get("parent_id") and int(channel["parent_id"]) in self.channels:
            channel = self.channels[int(channel["parent_id"])]
        guild_id = self.guild_of(channel) or self.guild_id
        perms = self.permissions_of(user_id, guild_id)
        if perms & ADMINISTRATOR:
            return perms
        roles = {str(guild_id), *(str(r) for r in self._roles_in(user_id, guild_id))}
        for overwrite in channel.get("permission_overwrites") or []:
            if overwrite["id"] in roles:
                perms = (perms & ~int(overwrite["deny"])) | int(overwrite["allow"])
        return perms

    def _member(self, user: dict[str, Any], *, with_user: bool = True, guild_id: int | None = None) -> dict[str, Any]:
        guild_id = guild_id or self.guild_id
        member = _member_of(user, self._roles_in(int(user["id"]), guild_id))
        member["permissions"] = str(self.permissions_of(int(user["id"]), guild_id))
        if not with_user:
            del member["user"]
        return member

    def guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        """The GUILD_CREATE payload (of the first guild by default)."""
        guild_id = guild_id or self.guild_id
        members = [self._member(u, guild_id=guild_id) for uid, u in self._users.items() if uid in self._members]
        channels = [c for c in self.channels.values() if int(c["guild_id"]) == guild_id]
        return {
            "id": str(guild_id),
            "name": "Slide Tutor Test" if guild_id == self.guild_id else "Another Server",
            "icon": None,
            "splash": None,
            "owner_id": self.teacher["id"],
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r for rid, r in self.roles.items() if self._role_guild[rid] == guild_id],
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
            "channels": [c for c in channels if c["type"] != 11],
            "threads": [c for c in channels if c["type"] == 11],
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
            "timestamp": now_iso(),
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
            msg["member"] = self._member(author, with_user=False, guild_id=int(channel["guild_id"]))
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

    def _message(self, message_id: int, channel_id: int | None = None) -> dict[str, Any]:
        msg = self.messages.get(message_id)
        if msg is None or (channel_id is not None and int(msg["channel_id"]) != channel_id):
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return msg

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
