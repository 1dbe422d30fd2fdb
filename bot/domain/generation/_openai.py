"""The openai backend: any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server,
LM Studio...) reached by base URL, streamed over server-sent events."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from pydantic import SecretStr

from ._types import BackendError, GenerationRequest, GenerationStream, StreamOutcome

log = logging.getLogger(__name__)

_POLL_S = 0.25  # how often a silent stream checks for cancellation and the deadline


def _error_message(body: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return body.strip()[:300]


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server. The API key is held as a
    ``SecretStr`` and sent only in the Authorization header; it is never logged."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None = None,
        *,
        max_concurrency: int = 4,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.max_concurrency = max_concurrency
        if isinstance(api_key, str):
            api_key = SecretStr(api_key)
        self._api_key: SecretStr | None = api_key if api_key and api_key.get_secret_value() else None
        self._connect_timeout_s = connect_timeout_s

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model_name!r}, key={key})"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _redact(self, text: str) -> str:
        if self._api_key:
            return text.replace(self._api_key.get_secret_value(), "**********")
        return text

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.as_dict() for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
        }
        if not request.greedy:
            payload["top_p"] = request.top_p
        if request.seed is not None:
            payload["seed"] = request.seed
        return payload

    async def aclose(self) -> None:
        """Nothing to release: each generation opens its own HTTP session, so the backend
        works from any event loop (the bot's, or the CLI's ``asyncio.run``)."""

    def stream(
        self, request: GenerationRequest, cancel: threading.Event, deadline: float | None = None
    ) -> GenerationStream:
        return GenerationStream(lambda outcome: self._stream(request, cancel, deadline, outcome))

    async def _stream(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        deadline: float | None,
        outcome: StreamOutcome,
    ) -> AsyncIterator[str]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s)
        url = self.chat_url
        log.debug("POST %s (model %s, max_tokens %d)", url, self.model_name, request.max_new_tokens)

        def stop_reason() -> str | None:
            if cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            return None

        chunks = 0
        usage_tokens: int | None = None
        finish: str | None = None
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=self._payload(request), headers=self._headers()) as resp,
            ):
                if resp.status != 200:
                    body = await resp.text(errors="replace")
                    raise BackendError(self._redact(f"{url} answered HTTP {resp.status}: {_error_message(body)}"))
                if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                    # A server that ignored "stream": one JSON answer.
                    try:
                        data = await resp.json(content_type=None)
                    except ValueError as exc:
                        raise BackendError(f"{url} answered neither an event stream nor JSON") from exc
                    text, finish, usage_tokens = self._parse_completion(data)
                    if text:
                        chunks = 1
                        yield text
                else:
                    pending: asyncio.Future[bytes] | None = None
                    data_lines: list[str] = []
                    try:
                        while (reason := stop_reason()) is None:
                            if pending is None:
                                pending = asyncio.ensure_future(resp.content.readline())
                            done, _ = await asyncio.wait({pending}, timeout=_POLL_S)
                            if not done:
                                continue
                            raw = pending.result()
                            pending = None
                            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                            if raw and line.startswith("data:"):
                                data_lines.append(line[5:].removeprefix(" "))
                                continue
                            if line and raw:
                                continue  # comments (":"), "event:", "id:", "retry:"
                            # A blank line (or the end of the body) ends an event.
                            if data_lines:
                                data = "\n".join(data_lines)
                                data_lines = []
                                if data.strip() == "[DONE]":
                                    break
                                for piece, event_finish, tokens in self._parse_event(data):
                                    finish = event_finish or finish
                                    usage_tokens = tokens if tokens is not None else usage_tokens
                                    if piece:
                                        chunks += 1
                                        yield piece
                            if not raw:
                                break  # end of body without [DONE]
                        else:
                            finish = reason
                    finally:
                        if pending is not None:
                            pending.cancel()
        except aiohttp.ClientError as exc:
            raise BackendError(self._redact(f"could not talk to {url}: {exc}")) from exc
        except TimeoutError as exc:
            raise BackendError(f"{url} did not answer in time") from exc

        outcome.new_tokens = usage_tokens if usage_tokens is not None else chunks
        outcome.finish_reason = finish or "stop"
        outcome.extra["tokens_exact"] = usage_tokens is not None

    def _parse_event(self, data: str) -> list[tuple[str, str | None, int | None]]:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise BackendError(f"{self.chat_url} sent a malformed stream event") from exc
        if not isinstance(obj, dict):
            return []
        if obj.get("error"):
            raise BackendError(self._redact(f"{self.chat_url} reported: {_error_message(data)}"))
        usage = obj.get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        out: list[tuple[str, str | None, int | None]] = []
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") or {}
            out.append((delta.get("content") or "", choice.get("finish_reason"), None))
        if tokens is not None:
            out.append(("", None, int(tokens)))
        return out

    def _parse_completion(self, data: Any) -> tuple[str, str | None, int | None]:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.chat_url} sent an answer without choices[0].message") from exc
        usage = data.get("usage") or {}
        tokens = usage.get("completion_tokens")
        return text, choice.get("finish_reason"), None if tokens is None else int(tokens)
