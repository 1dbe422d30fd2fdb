"""Discord's numbers (API prefix, intents, permission bits, message flags, interaction callback
types) and its error answers, as the fake speaks them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

API = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # per file
INTERACTION_TOKEN_LIFE = 15 * 60  # seconds an interaction's token is valid for followups and edits

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
MANAGE_GUILD = 1 << 5

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


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py compares the content type to exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
