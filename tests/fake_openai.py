"""A small OpenAI-compatible chat server for tests (and for trying the bot without a GPU):
``python -m tests.fake_openai --port 8080`` then GENERATION_BACKEND=openai."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    """Streams ``chunks`` as server-sent events (or one JSON answer when the request says
    ``"stream": false`` or ``force_json`` is set). With ``api_key``, requests without
    ``Authorization: Bearer <key>`` get 401. ``fail_status`` makes every completion fail."""

    chunks: tuple[str, ...] = ("Once", " upon", " a", " time", ",", " a", " robot", " painted", ".")
    api_key: str | None = None
    fail_status: int | None = None
    force_json: bool = False
    chunk_delay_s: float = 0.0
    send_usage: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the random port picked
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _authorised(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "invalid api key", "invalid_request_error")
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(RecordedRequest(request.path, dict(request.headers), body))
        if not self._authorised(request):
            return _error(401, "Incorrect API key provided", "invalid_request_error")
        if self.fail_status is not None:
            return _error(self.fail_status, "the model crashed", "server_error")
        if not body.get("messages"):
            return _error(400, "messages is required", "invalid_request_error")
        limit = int(body.get("max_tokens") or len(self.chunks))
        chunks = list(self.chunks[:limit])
        finish = "length" if limit < len(self.chunks) else "stop"
        model = body.get("model", "fake-model")
        created = int(time.time())

        if not body.get("stream") or self.force_json:
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(chunks)},
                            "finish_reason": finish,
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": len(chunks), "total_tokens": 10 + len(chunks)},
                }
            )

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model}
        await response.write(b": keep-alive comment\n\n")
        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for piece in chunks:
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            await send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if self.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            await send(
                {
                    **base,
                    "choices": [],
                    "usage": {"prompt_tokens": 10, "completion_tokens": len(chunks), "total_tokens": 10 + len(chunks)},
                }
            )
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api-key")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between streamed chunks")
    args = parser.parse_args()
    server = FakeOpenAI(api_key=args.api_key, host=args.host, port=args.port, chunk_delay_s=args.delay)
    web.run_app(server.app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
