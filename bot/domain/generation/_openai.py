"""The openai backend: any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server,
LM Studio...) reached by base URL, streamed with the official ``openai`` SDK. The SDK is
imported on the first generation, not when this module is (it takes about a second)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from ._types import BackendError, GenerationRequest, GenerationStream, StreamOutcome

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

_POLL_S = 0.25  # how often a silent server is checked for cancellation and the deadline
_NO_KEY = "unused"  # the SDK insists on a key; without one the Authorization header is omitted

T = TypeVar("T")


def _error_message(body: object) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            return text.strip()[:300] or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return str(body).strip()[:300] or "(empty body)"


async def _until_stopped(awaitable: Awaitable[T], stop_reason: Callable[[], str | None]) -> tuple[T | None, str | None]:
    """``(result, stop_reason())`` once the awaitable is done, or ``(None, reason)`` as soon as
    ``stop_reason()`` gives one (the awaitable is then cancelled). Checked every ``_POLL_S``
    while the server is silent, and again when a result arrives (a stop requested meanwhile
    wins over it)."""
    task = asyncio.ensure_future(awaitable)
    try:
        while (reason := stop_reason()) is None:
            done, _ = await asyncio.wait({task}, timeout=_POLL_S)
            if done:
                return task.result(), stop_reason()
        return None, reason
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task


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

    def _client(self) -> openai.AsyncOpenAI:
        """A client for one generation, so the backend works from any event loop (the bot's,
        or the CLI's ``asyncio.run``). No retries: a failed generation fails at once, and the
        service's deadline bounds the rest (reads may be silent for as long as the model thinks)."""
        import openai

        return openai.AsyncOpenAI(
            api_key=self._api_key.get_secret_value() if self._api_key else _NO_KEY,
            base_url=self.base_url,
            timeout=openai.Timeout(None, connect=self._connect_timeout_s),
            max_retries=0,
            default_headers={"Accept": "text/event-stream"},
        )

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.as_dict() for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
        }
        if not request.greedy:
            arguments["top_p"] = request.top_p
        if request.seed is not None:
            arguments["seed"] = request.seed
        if self._api_key is None:
            import openai

            arguments["extra_headers"] = {"Authorization": openai.Omit()}  # the placeholder key is never sent
        return arguments

    async def aclose(self) -> None:
        """Nothing to release: each generation opens (and closes) its own client."""

    def stream(
        self, request: GenerationRequest, cancel: threading.Event, deadline: float | None = None
    ) -> GenerationStream:
        return GenerationStream(lambda outcome: self._stream(request, cancel, deadline, outcome))

    def _backend_error(self, exc: Exception) -> BackendError:
        """The SDK's typed errors as this package's :class:`BackendError`, key redacted."""
        import openai

        url = self.chat_url
        if isinstance(exc, openai.APIStatusError):
            message = f"{url} answered HTTP {exc.status_code}: {_error_message(exc.body)}"
        elif isinstance(exc, openai.APITimeoutError):
            message = f"{url} did not answer in time"
        elif isinstance(exc, openai.APIConnectionError):
            message = f"could not talk to {url}: {exc.__cause__ or exc}"
        elif isinstance(exc, openai.APIError):
            message = f"{url} reported: {_error_message(exc.body) if exc.body else exc.message}"
        elif isinstance(exc, ValueError):  # an event that is not JSON
            message = f"{url} sent a malformed stream event"
        else:
            message = f"{url} failed: {exc}"
        return BackendError(self._redact(message))

    async def _stream(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        deadline: float | None,
        outcome: StreamOutcome,
    ) -> AsyncIterator[str]:
        import openai

        log.debug("POST %s (model %s, max_tokens %d)", self.chat_url, self.model_name, request.max_new_tokens)

        def stop_reason() -> str | None:
            if cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            return None

        chunks = 0
        usage_tokens: int | None = None
        finish: str | None = None
        client = self._client()
        stream: openai.AsyncStream[Any] | None = None
        try:
            try:
                stream, finish = await _until_stopped(
                    client.chat.completions.create(**self._arguments(request)), stop_reason
                )
                if stream is None or finish is not None:
                    pass  # stopped before the server answered
                elif "text/event-stream" not in stream.response.headers.get("content-type", ""):
                    # A server that ignored "stream": one JSON answer.
                    try:
                        data = json.loads(await stream.response.aread())
                    except ValueError as exc:
                        raise BackendError(f"{self.chat_url} answered neither an event stream nor JSON") from exc
                    text, finish, usage_tokens = self._parse_completion(data)
                    if text:
                        chunks = 1
                        yield text
                else:
                    while True:
                        # A bare StopAsyncIteration cannot cross a task boundary, hence the default.
                        chunk, reason = await _until_stopped(anext(stream, None), stop_reason)
                        if reason is not None:
                            finish = reason
                            break
                        if chunk is None:
                            break
                        for choice in chunk.choices or []:
                            finish = choice.finish_reason or finish
                            piece = choice.delta.content if choice.delta is not None else None
                            if piece:
                                chunks += 1
                                yield piece
                        if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                            usage_tokens = int(chunk.usage.completion_tokens)
            except (openai.OpenAIError, ValueError) as exc:
                raise self._backend_error(exc) from exc
        finally:
            # Runs on cancellation and when the caller closes us early: the response and the
            # connection are released at once, so the server stops generating.
            with suppress(Exception):
                if stream is not None:
                    await stream.close()
            with suppress(Exception):
                await client.close()

        outcome.new_tokens = usage_tokens if usage_tokens is not None else chunks
        outcome.finish_reason = finish or "stop"
        outcome.extra["tokens_exact"] = usage_tokens is not None

    def _parse_completion(self, data: Any) -> tuple[str, str | None, int | None]:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.chat_url} sent an answer without choices[0].message") from exc
        usage = data.get("usage") or {}
        tokens = usage.get("completion_tokens")
        return text, choice.get("finish_reason"), None if tokens is None else int(tokens)
