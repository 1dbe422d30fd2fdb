"""The REST API on loopback: the routes discord.py calls (login, commands sync, messages, typing,
threads, DMs, interaction callbacks, followups and webhook edits), the request record, token
checks, injected 429s, and 404 for anything else (listed in ``unexpected``). What Discord would
refuse is answered as Discord answers it and listed in ``violations``.

The same aiohttp server also serves the gateway's websocket (``/gateway``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import math
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from aiohttp import web

from tests.e2e.fake_discord.gateway import Gateway
from tests.e2e.fake_discord.protocol import (
    API,
    CALLBACKS_ALLOWED,
    EPHEMERAL,
    LOADING,
    DiscordHTTPError,
    json_response,
    now_iso,
)
from tests.e2e.fake_discord.spec import spec_problems
from tests.e2e.fake_discord.state import RECORD, FakeInteraction, RecordedFile, Request, Violation
from tests.e2e.fake_discord.validation import (
    check_message,
    choices_problems,
    commands_problems,
    modal_problems,
    raise_problems,
)

_log = logging.getLogger(__name__)


class Rest(Gateway):
    """The HTTP server: it serves the REST routes and the gateway's websocket."""

    def __init__(
        self, token: str = "test-token", *, interaction_window: float = 3.0, second_guild: bool = False
    ) -> None:
        super().__init__(token, interaction_window=interaction_window, second_guild=second_guild)
        self._rate_limits: list[tuple[str, str, float]] = []
        self.spec_checked = 0  # request bodies validated against Discord's OpenAPI description
        self._runner: web.AppRunner | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> Self:
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

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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
            response = json_response(exc.body(), exc.status)
        except Exception as exc:  # a bug in the fake: fail the test through `unexpected`, quickly
            _log.exception("fake Discord failed on %s %s", record.method, record.path)
            self.unexpected.append(record)
            response = json_response({"code": 0, "message": f"fake Discord failed: {exc!r}"}, 400)
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
                return json_response(body, 429, headers)
        return None

    async def _authorized(self, request: web.Request, record: Request, handler: Callable) -> web.StreamResponse:
        # Interaction callbacks and webhooks authenticate with their token in the path, not a header.
        bot_route = request.path.startswith(API + "/") and not record.path.startswith(("/webhooks/", "/interactions/"))
        if bot_route and request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordHTTPError(401, 0, "401: Unauthorized")
        if record.method in ("POST", "PUT", "PATCH"):
            self.spec_checked += 1
            raise_problems(spec_problems(record.method, record.path, record.json))
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
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _download(self, request: web.Request) -> web.Response:
        data = self._blobs.get(int(request.match_info["aid"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _me(self, request: web.Request) -> web.Response:
        return json_response({**self.bot_user, "verified": True, "mfa_enabled": False})

    async def _gateway_info(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit})

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(int(request.match_info["cid"])))

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(
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
        return json_response(self.dm_channel(self._users[uid]))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel(int(request.match_info["cid"]))
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        record = request[RECORD]
        channel = self._channel(int(request.match_info["cid"]))
        if int(channel["id"]) == self.readonly_id:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        body = record.json or {}
        check_message(body, record.files, creating=True)
        msg = self._new_message(channel, self.bot_user, body, files=record.files)
        await self._echo("MESSAGE_CREATE", msg)
        return json_response(msg)

    async def _edit(
        self, msg: dict[str, Any], body: dict[str, Any], files: Sequence[RecordedFile], prefix: str = ""
    ) -> dict[str, Any]:
        if msg["author"]["id"] != self.bot_user["id"]:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        check_message(body, files, creating=False, prefix=prefix)
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
        msg["edited_timestamp"] = now_iso()
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
            return json_response(msg)
        if request.method == "PATCH":
            record = request[RECORD]
            return json_response(await self._edit(msg, record.json or {}, record.files))
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
        return json_response(thread, 201)

    async def _commands(self, request: web.Request) -> web.Response:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        gid = int(request.match_info["gid"]) if "gid" in request.match_info else None
        if gid is not None and gid not in self.guild_ids:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        if request.method == "PUT":
            body = request[RECORD].json or []
            raise_problems(commands_problems(body))
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
        return json_response(self.commands.get(gid, []))

    def _interaction(self, token: str) -> FakeInteraction:
        """The interaction whose token a followup or webhook edit uses; Discord refuses a token
        older than 15 minutes (401, 50027)."""
        ix = next((ix for ix in self.interactions if ix.token == token), None)
        if ix is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        if self.clock.now() - ix.created > self.token_life:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
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
        if ix is None or self.clock.now() - ix.created > self.interaction_window:
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
            check_message(data, record.files, creating=True, prefix="data")
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
            raise_problems(choices_problems(data.get("choices", [])))
        elif kind == 9:
            raise_problems(modal_problems(data))
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
        return json_response(
            {"interaction": info, "resource": {"type": kind, **({"message": message} if message else {})}}
        )

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        record = request[RECORD]
        ix = self._interaction(request.match_info["token"])
        if int(request.match_info["app"]) != self.application_id or ix.callback_type is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        body = record.json or {}
        original = self.messages.get(ix.original_message_id or 0)
        if original is not None and original["flags"] & LOADING:
            # Discord fills the "thinking..." message of a deferred response with the first followup.
            check_message(body, record.files, creating=True)
            msg = await self._edit(original, body, record.files)
        else:
            check_message(body, record.files, creating=True)
            msg = self._new_message(self._channel(ix.channel_id), self.bot_user, body, files=record.files, webhook=True)
            await self._echo("MESSAGE_CREATE", msg)
        ix.followup_message_ids.append(int(msg["id"]))
        if request.query.get("wait") not in ("1", "true", "True"):
            return web.Response(status=204)
        return json_response(msg)

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
            return json_response(msg)
        if request.method == "PATCH":
            record = request[RECORD]
            return json_response(await self._edit(msg, record.json or {}, record.files))
        if request.method == "DELETE":
            return await self._delete(msg)
        return await self._unexpected(request)
