"""The gateway: the websocket discord.py connects to (HELLO, IDENTIFY -> READY and GUILD_CREATE,
heartbeats, RESUME with replay, member chunks), one session per shard, dispatching each event to
the shard its guild is on, and the test's levers on the connection (RECONNECT, a dropped socket,
INVALID_SESSION)."""

# The helpers take a `timeout` (bounded waits are the point of this package).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class Session:
    """One shard's gateway session."""

    shard: int
    ws: web.WebSocketResponse | None
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # dispatches, for RESUME replay


class Gateway(State):
    """The websocket side of the fake: one session per shard.

    ``shard_count`` is what ``GET /gateway/bot`` recommends and what IDENTIFY must say (``shard:
    [id, count]``; no ``shard`` means ``[0, 1]``); any other count or an id out of range is closed
    with 4010 (Invalid shard), as Discord does. Each guild's events go to the session of shard
    ``(guild_id >> 22) % shard_count``, DMs to shard 0; READY and GUILD_CREATE name only that
    shard's guilds. The test's levers (``reconnect``, ``disconnect``, ``invalidate_session``) take
    the shard (default 0)."""

    def __init__(
        self, token: str = "test-token", *, interaction_window: float = 3.0, second_guild: bool = False
    ) -> None:
        super().__init__(token, interaction_window=interaction_window, second_guild=second_guild)
        self.shard_count = 1
        self.identifies: list[dict[str, Any]] = []  # IDENTIFY payloads, in order
        self.resumes = 0
        self.intents: int | None = None
        # False: the app has not enabled the Message Content intent in the developer portal, so
        # an IDENTIFY asking for it is closed with 4014, as Discord does.
        self.message_content_allowed = True
        self._sockets: set[web.WebSocketResponse] = set()
        self._send_lock = asyncio.Lock()
        self._sessions: dict[int, Session] = {}  # shard id -> its session

    @property
    def _session_id(self) -> str | None:
        """Some session's id: None while no shard is connected."""
        return next((s.id for s in self._sessions.values()), None)

    def shard_of(self, guild_id: int | None) -> int:
        """The shard that receives a guild's events (DMs: shard 0)."""
        return 0 if guild_id is None else (int(guild_id) >> 22) % self.shard_count

    def connected_shards(self) -> list[int]:
        return sorted(shard for shard, s in self._sessions.items() if s.ws is not None and not s.ws.closed)

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
            for session in self._sessions.values():
                if session.ws is ws:
                    session.ws = None
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
            shard, count = d.get("shard") or [0, 1]
            if count != self.shard_count or not 0 <= shard < count:
                await ws.close(code=4010, message=b"Invalid shard.")
                return
            self.identifies.append(d)
            self.intents = int(d.get("intents", 0))
            async with self._send_lock:
                session = self._sessions[shard] = Session(shard, ws, secrets.token_hex(16))
                guilds = [gid for gid in self.guild_ids if self.shard_of(gid) == shard]
                ready = {
                    "v": 10,
                    "user": self.bot_user,
                    "guilds": [{"id": str(gid), "unavailable": True} for gid in guilds],
                    "session_id": session.id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.application_id), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "presences": [],
                    "user_settings": {},
                    "shard": [shard, count],
                    "_trace": ["fake-discord"],
                }
                await self._dispatch_locked(session, "READY", ready)
                for gid in guilds:
                    await self._dispatch_locked(session, "GUILD_CREATE", self.guild_payload(gid))
        elif op == 6:  # resume
            async with self._send_lock:
                session = next((s for s in self._sessions.values() if s.id == d.get("session_id")), None)
                if session is None or d.get("token") != self.token:
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
                    return
                session.ws = ws
                for event in session.events:
                    if event["s"] > (d.get("seq") or 0):
                        await ws.send_str(json.dumps(event))
                await self._dispatch_locked(session, "RESUMED", {"_trace": ["fake-discord"]})
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

    async def _dispatch_locked(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        ws = session.ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionResetError):  # the bot is reconnecting: RESUME replays it
                await ws.send_str(json.dumps(frame))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway dispatch (op 0) to the session of the shard the event's guild is on;
        kept for replay if the bot is reconnecting."""
        guild_id = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
        shard = self.shard_of(None if guild_id is None else int(guild_id))
        session = self._sessions.get(shard)
        if session is None:
            raise FakeDiscordError(f"no gateway session on shard {shard} to dispatch {event} to: is the bot connected?")
        async with self._send_lock:
            await self._dispatch_locked(session, event, data)

    async def reconnect(self, timeout: float = 5.0, *, shard: int = 0) -> None:
        """Send RECONNECT (op 7) and wait until the bot has resumed. Events dispatched meanwhile are
        replayed on RESUME."""
        await self._force_resume(lambda ws: ws.send_str(json.dumps({"op": 7, "d": None})), timeout, shard)

    async def disconnect(self, code: int = 4000, timeout: float = 5.0, *, shard: int = 0) -> None:
        """Close the gateway socket with a resumable close code and wait until the bot has resumed."""
        await self._force_resume(lambda ws: ws.close(code=code), timeout, shard)

    def _connected(self, shard: int) -> Session:
        session = self._sessions.get(shard)
        if session is None or session.ws is None:
            raise FakeDiscordError(f"the bot is not connected to the gateway on shard {shard}")
        return session

    async def _force_resume(self, action: Callable[[web.WebSocketResponse], Any], timeout: float, shard: int) -> None:
        async with self._send_lock:
            session = self._connected(shard)
            ws, session.ws = session.ws, None
            resumes = self.resumes
            await action(ws)
        await self._wait(lambda: self.resumes > resumes, timeout, "the bot to RESUME")

    async def invalidate_session(self, timeout: float = 10.0, *, shard: int = 0) -> None:
        """Send INVALID_SESSION (op 9, not resumable) and wait until the bot has identified again
        (discord.py's ``Client.before_identify_hook`` waits 5 s before a non-initial IDENTIFY)."""
        async with self._send_lock:
            session = self._connected(shard)
            ws = session.ws
            del self._sessions[shard]
            count = len(self.identifies)
            await ws.send_str(json.dumps({"op": 9, "d": False}))
        await self._wait(
            lambda: len(self.identifies) > count and shard in self.connected_shards(), timeout, "a new IDENTIFY"
        )

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
