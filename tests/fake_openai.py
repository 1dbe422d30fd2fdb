"""A small OpenAI-compatible chat server for tests (and for trying the bot without a GPU):
``python -m tests.fake_openai --port 8080`` then GENERATION_BACKEND=openai."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Callable
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
    ``Authorization: Bearer <key>`` get 401. ``fail_status`` makes every completion fail.
    ``respond``, when set, writes each answer from the request body instead (its text is streamed
    word by word)."""

    chunks: tuple[str, ...] = ("Once", " upon", " a", " time", ",", " a", " robot", " painted", ".")
    api_key: str | None = None
    fail_status: int | None = None
    force_json: bool = False
    chunk_delay_s: float = 0.0
    send_usage: bool = True
    respond: Callable[[dict[str, Any]], str] | None = None
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
        written = tuple(re.findall(r"\S+\s*|\s+", self.respond(body))) if self.respond else self.chunks
        limit = int(body.get("max_tokens") or len(written))
        chunks = list(written[:limit])
        finish = "length" if limit < len(written) else "stop"
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


# --- Scripted answers for grounded synthesis (bot.domain.synthesis) -------------------------------
_PASSAGE = re.compile(r"^\[slide (\d+)\] (.+?) — (.+?):\n(.*?)(?=\n\n\[slide |\n\nQuestion: |\Z)", re.S | re.M)


def passages_in(body: dict[str, Any]) -> list[tuple[int, str, list[str]]]:
    """(slide, title, sentences) of each passage in a synthesis prompt, in order."""
    from bot.domain.text import sentences

    prompt = body["messages"][-1]["content"]
    found = []
    for match in _PASSAGE.finditer(prompt):
        lines = [re.sub(r"^(?:###\s+|[-*]\s+|\d+[.)]\s+)", "", line).replace("**", "") for line in match[4].split("\n")]
        said = [s for line in lines if line.strip() for s in sentences(line.strip()) if len(s.split()) >= 5]
        found.append((int(match[1]), match[2], said))
    return found


def faithful_answer(body: dict[str, Any]) -> str:
    """Two sentences taken from the passages, each citing its own slide."""
    passages = [p for p in passages_in(body) if p[2]]
    picked = [(passages[0][0], s) for s in passages[0][2][:2]]
    if len(passages) > 1:
        picked[1:] = [(passages[1][0], passages[1][2][0])]
    return " ".join(f"{s.rstrip('.')} [slide {n}]." for n, s in picked)


INVENTED = (
    "It was invented in 1987 by a team at IBM",
    "Today it only runs on quantum computers and never needs any training data",
)


def unfaithful_answer(body: dict[str, Any]) -> str:
    """One sentence from the passages, then two invented claims citing the same slide."""
    slide, _, said = next(p for p in passages_in(body) if p[2])
    return " ".join([f"{said[0].rstrip('.')} [slide {slide}]."] + [f"{c} [slide {slide}]." for c in INVENTED])


def mostly_faithful_answer(body: dict[str, Any]) -> str:
    """Two sentences from the passages and one invented claim between them."""
    slide, _, said = next(p for p in passages_in(body) if p[2])
    first, second = said[0], said[1] if len(said) > 1 else said[0]
    return f"{first.rstrip('.')} [slide {slide}]. {INVENTED[0]} [slide {slide}]. {second.rstrip('.')} [slide {slide}]."
