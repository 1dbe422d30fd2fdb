"""The gateway: the websocket discord.py connects to (HELLO, IDENTIFY -> READY and GUILD_CREATE,
heartbeats, RESUME with replay, member chunks), dispatching events to the bot, and the test's
levers on the connection (RECONNECT, a dropped socket, INVALID_SESSION)."""

# The helpers take a `timeout` (bounded waits are the point of this package).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.e2e.fake_discord.protocol import (
    DIRECT_MESSAGES,
    EPHEMERAL,
    GUILD_MESSAGES,
    MESSAGE_CONTENT,
    FakeDiscordError,
)
from tests.e2e.fake_discord.state import State


class Gateway(State):
    """The websocket side of the fake (one session at a time, like one shard)."""

    def __init__(
        self, token: str = "test-token", *, interaction_window: float = 3.0, second_guild: bool = False
    ) -> None:
        super().__init__(token, interaction_window=interaction_window, second_guild=second_guild)
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads, in order
        self.resumes = 0
        self.intents: int | None = None
        # False: the app has not enabled the Message Content intent in the developer portal, so
        # an IDENTIFY asking for it is closed with 4014, as Discord does.
        self.message_content_allowed = True
        self._ws: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._send_lock = asyncio.Lock()
        self._session_id: str | None = None
        self._seq = 0
        self._events: list[dict[str, Any]] = []  # this session's dispatches, for RESUME replay

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
            if not self.message_content_allowed and int(d.get("intents", 0)) & MESSAGE_CONTENT:
                await ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            self.identifies.append(d)
            self.intents = int(d.get("intents", 0))
            async with self._send_lock:
                self._ws, self._session_id, self._seq, self._events = ws, secrets.token_hex(16), 0, []
                ready = {
                    "v": 10,
                    "user": self.bot_user,
                    "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guild_ids],
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
                for gid in self.guild_ids:
                    await self._dispatch_locked("GUILD_CREATE", self.guild_payload(gid))
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
