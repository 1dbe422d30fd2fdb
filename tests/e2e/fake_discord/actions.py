"""What a test does as Discord's users, and what it reads back: :class:`FakeDiscord`.

Post messages (in channels, threads and DMs, as the intents allow), invoke slash commands and ask
for autocompletion (checked against the synced schema as Discord's client checks them: an
invocation Discord would never send raises :class:`FakeDiscordError`), click buttons, pick select
options, submit modals; then wait for a request or for the bot's message, and read the files it
attached.
"""

# The helpers take a `timeout` (bounded waits are the point of this package).
# ruff: noqa: ASYNC109

from __future__ import annotations

import fnmatch
import math
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from tests.e2e.fake_discord.protocol import (
    ADMINISTRATOR,
    ATTACHMENT_SIZE_LIMIT,
    DIRECT_MESSAGES,
    GUILD_MESSAGES,
    LOADING,
    MEMBER_PERMISSIONS,
    MESSAGE_CONTENT,
    FakeDiscordError,
)
from tests.e2e.fake_discord.rest import Rest
from tests.e2e.fake_discord.state import FakeInteraction, Request
from tests.e2e.fake_discord.validation import walk


class FakeDiscord(Rest):
    """One guild's worth of Discord (two with ``second_guild``) on 127.0.0.1, on ``shard_count``
    shards; see the package docstring, and :class:`State` for the world it plays."""

    def __init__(
        self,
        token: str = "test-token",
        *,
        interaction_window: float = 3.0,
        second_guild: bool = False,
        shard_count: int = 1,
    ) -> None:
        super().__init__(token, interaction_window=interaction_window, second_guild=second_guild)
        self.shard_count = shard_count  # what GET /gateway/bot recommends and IDENTIFY must say
        self._submitted_modals: set[int] = set()  # interactions whose modal was submitted

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
                {
                    **self.bot_user,
                    **(
                        {"member": self._member(self.bot_user, with_user=False, guild_id=self.guild_of(channel))}
                        if not dm
                        else {}
                    ),
                }
            ]
        seen = dict(msg)
        if not dm and not mentions_bot and not self._intent(MESSAGE_CONTENT):
            seen.update(content="", embeds=[], attachments=[], components=[])
        if self._intent(DIRECT_MESSAGES if dm else GUILD_MESSAGES):
            await self.dispatch("MESSAGE_CREATE", seen)
        return seen

    def _find_command(self, name: str, guild: bool, guild_id: int | None = None) -> tuple[dict[str, Any], list[str]]:
        top, *path = name.split()
        scopes = [guild_id or self.guild_id, None] if guild else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == top and command.get("type", 1) == 1:
                    return command, path
        where = "this guild" if guild else "DMs"
        raise FakeDiscordError(
            f"/{top} is not a synced slash command usable in {where}; synced: "
            f"{ {k: [c['name'] for c in v] for k, v in self.commands.items()} }"
        )

    def _check_access(
        self, command: dict[str, Any], user: dict[str, Any], guild: bool, guild_id: int | None = None
    ) -> None:
        contexts = command.get("contexts")
        if guild:
            if contexts is not None and 0 not in contexts:
                raise FakeDiscordError(f"/{command['name']} is not available in guilds (contexts={contexts})")
            required = command.get("default_member_permissions")
            perms = self.permissions_of(int(user["id"]), guild_id)
            hidden = required is not None and (int(required) == 0 or perms & int(required) != int(required))
            granted = {rid for name, rid in self.granted if name == command["name"]}
            hidden = hidden and not granted.intersection(self._members.get(int(user["id"]), []))
            if hidden and not perms & ADMINISTRATOR:
                raise FakeDiscordError(
                    f"/{command['name']} is hidden from {user['username']} (default_member_permissions={required})"
                )
        elif command.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
            raise FakeDiscordError(f"/{command['name']} is not available in DMs")

    def _command_data(
        self,
        name: str,
        options: dict[str, Any],
        user: dict[str, Any],
        guild: bool,
        focused: str | None = None,
        guild_id: int | None = None,
    ) -> dict[str, Any]:
        command, path = self._find_command(name, guild, guild_id)
        self._check_access(command, user, guild, guild_id)
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
        }
        if guild:
            channel = self._known_channel(channel_id or self.general_id)
            gid = self.guild_of(channel) or self.guild_id
            payload.update(
                guild_id=str(gid),
                guild={"id": str(gid), "locale": "en-US", "features": []},
                member=self._member(user, guild_id=gid),
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": str(gid)},
                app_permissions=str(self.channel_permissions_of(self.application_id, int(channel["id"]))),
            )
        else:
            channel = self.dm_channel(user)
            payload.update(
                user=user,
                context=1,
                authorizing_integration_owners={"0": str(self.guild_id)},
                app_permissions=str(self.permissions_of(self.application_id)),
            )
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
            created=self.clock.now(),
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
        gid = self.guild_of(self._known_channel(channel_id or self.general_id)) if guild else None
        data = self._command_data(name, options or {}, user, guild, guild_id=gid)
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
        found = [c for c in walk(msg.get("components", [])) if c.get("custom_id") == custom_id]
        if not found:
            ids = [c.get("custom_id") for c in walk(msg.get("components", [])) if c.get("custom_id")]
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
        inputs = {c["custom_id"]: c for c in walk(modal.get("components", [])) if c.get("type") == 4}
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

    # -- reading what the bot did -----------------------------------------------------------------

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
