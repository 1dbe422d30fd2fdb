"""A small HTTP server for monitoring, on the bot's own event loop: ``/healthz`` and ``/metrics``.

Off unless ``HEALTH_PORT`` is set; it listens on ``HEALTH_HOST`` (127.0.0.1 by default). Each check
is an async callable that returns when the thing is usable and raises when not; checks run
concurrently, each bounded by ``CHECK_TIMEOUT_S``, so a hung dependency shows as a failure rather
than a hung probe. Blocking checks are the caller's to move off the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from bot.domain import metrics

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0
Check = Callable[[], Awaitable[None]]


async def _run_check(check: Check) -> dict[str, object]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:g} s"}
    except Exception as error:  # noqa: BLE001 - any failure means "not healthy"; say which
        return {"ok": False, "error": " ".join(str(error).split())[:300] or type(error).__name__}
    return {"ok": True}


async def health(checks: Mapping[str, Check]) -> tuple[bool, dict[str, object]]:
    """Run every check; (all passed, the JSON body)."""
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    healthy = all(result["ok"] for result in results)
    return healthy, {"status": "ok" if healthy else "unavailable", "checks": dict(zip(names, results, strict=True))}


class HealthServer:
    """``GET /healthz`` (200 or 503, JSON) and ``GET /metrics`` (Prometheus text)."""

    def __init__(self, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self.host = host
        self.requested_port = port
        self.checks = dict(checks)
        self.port: int | None = None  # the bound port, once started
        self._runner: web.AppRunner | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await health(self.checks)
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for
        log.info("health and metrics on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
