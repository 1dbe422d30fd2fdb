"""GenerationService: a fair queue in front of one backend, with time and length limits."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.domain import metrics

from ._types import (
    Chunk,
    EventCallback,
    Finished,
    GenerationBackend,
    GenerationEvent,
    GenerationRequest,
    GenerationStats,
    GenerationTimeout,
    PredictionUnavailable,
    Queued,
    QueueFull,
    Started,
)

if TYPE_CHECKING:
    from bot.settings import Settings

    from ._predict import SamplingView

log = logging.getLogger(__name__)

_GRACE_S = 10.0  # how long past its deadline a backend may take to notice before we stop waiting


class _LinkedEvent(threading.Event):
    """Set when set itself or when the caller's cancel event is (without touching the caller's)."""

    def __init__(self, other: threading.Event | None) -> None:
        super().__init__()
        self._other = other

    def is_set(self) -> bool:
        return super().is_set() or (self._other is not None and self._other.is_set())


class GenerationService:
    """Runs generations on ``backend``, at most ``backend.max_concurrency`` at once (one for a
    local model), first come first served. At most ``queue_size`` requests wait; one more
    raises :class:`QueueFull`. Each generation may run ``timeout_s`` (time in the queue does
    not count) and write at most ``max_new_tokens`` tokens, whatever the request asks."""

    def __init__(
        self,
        backend: GenerationBackend,
        *,
        queue_size: int = 8,
        timeout_s: float = 120.0,
        max_new_tokens: int = 200,
    ) -> None:
        if queue_size < 0 or timeout_s <= 0 or max_new_tokens < 1:
            raise ValueError("queue_size >= 0, timeout_s > 0 and max_new_tokens >= 1 are required")
        self.backend = backend
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.max_new_tokens = max_new_tokens
        self.concurrency = max(1, int(getattr(backend, "max_concurrency", 1)))
        self._waiting: list[object] = []  # tickets, first in line first
        self._running = 0
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, progress: bool = True) -> GenerationService:
        """Build the configured backend and the service. Blocking (loads a local model):
        call it off the event loop, e.g. ``await asyncio.to_thread(...)``."""
        backend: GenerationBackend
        if settings.generation_backend == "openai":
            from ._openai import OpenAIBackend

            backend = OpenAIBackend(settings.openai_base_url, settings.openai_model, settings.openai_api_key)
        else:
            from ._local import LocalBackend

            backend = LocalBackend.load(settings.generation_model, settings.models_dir, progress=progress)
        return cls(
            backend,
            queue_size=settings.generation_queue_size,
            timeout_s=settings.generation_timeout_s,
            max_new_tokens=settings.generation_max_new_tokens,
        )

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn (not counting the running ones)."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        return self._running

    @property
    def is_full(self) -> bool:
        return len(self._waiting) >= self.queue_size and self._running >= self.concurrency

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            if self._waiting or self._running:
                raise RuntimeError("a GenerationService is in use on another event loop")
            self._changed = asyncio.Condition()
            self._loop = loop
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    async def events(
        self,
        request: GenerationRequest,
        cancel: threading.Event | asyncio.Event | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """``Queued(position)``* (whenever the place in line changes), ``Started``,
        ``Chunk``*, then ``Finished(stats)``. Raises :class:`QueueFull` on the first step when
        the queue is full, and :class:`GenerationTimeout` (with the partial stats) when the
        time limit cuts the generation. Setting ``cancel`` ends it early with
        ``finish_reason == "cancelled"``; so does closing this iterator. A caller that may
        stop iterating early should close it (``contextlib.aclosing``) so the slot frees at once."""
        changed = self._condition()
        if self._running < self.concurrency and not self._waiting:
            ticket = None  # a free slot and nobody in line: straight in
        elif len(self._waiting) >= self.queue_size:
            raise QueueFull(len(self._waiting))
        else:
            ticket = object()
            self._waiting.append(ticket)
            metrics.set_generation_queue(len(self._waiting))
        enqueued = time.monotonic()
        try:
            last_position = 0
            while ticket is not None:
                index = self._waiting.index(ticket)
                if index == 0 and self._running < self.concurrency:
                    self._waiting.pop(0)
                    metrics.set_generation_queue(len(self._waiting))
                    ticket = None
                    break
                position = index + 1
                if position != last_position:
                    last_position = position
                    yield Queued(position)
                    continue  # the line may have moved while the caller handled the event
                async with changed:
                    await changed.wait()
        except BaseException:
            if ticket is not None and ticket in self._waiting:
                self._waiting.remove(ticket)
                metrics.set_generation_queue(len(self._waiting))
                await asyncio.shield(self._notify())
            raise
        self._running += 1
        run = self._run(request, cancel, time.monotonic() - enqueued)
        try:
            async for event in run:
                yield event
        finally:
            try:
                await run.aclose()  # now, so the backend has stopped before the next one starts
            finally:
                self._running -= 1
                await asyncio.shield(self._notify())

    async def _run(
        self,
        request: GenerationRequest,
        cancel: threading.Event | asyncio.Event | None,
        queued_s: float,
    ) -> AsyncIterator[GenerationEvent]:
        if request.max_new_tokens > self.max_new_tokens or request.min_new_tokens > self.max_new_tokens:
            request = replace(
                request,
                max_new_tokens=min(request.max_new_tokens, self.max_new_tokens),
                min_new_tokens=min(request.min_new_tokens, self.max_new_tokens),
            )
        stop = _LinkedEvent(cancel if isinstance(cancel, threading.Event) else None)
        started = time.monotonic()
        deadline = started + self.timeout_s
        yield Started(self.model_name)
        pieces: list[str] = []
        first_chunk_at: float | None = None
        timed_out_hard = False
        watcher: asyncio.Task[None] | None = None
        if isinstance(cancel, asyncio.Event):

            async def relay(source: asyncio.Event = cancel) -> None:
                await source.wait()
                stop.set()

            watcher = asyncio.create_task(relay())
        stream = self.backend.stream(request, stop, deadline)
        try:
            while True:
                try:
                    async with asyncio.timeout(max(0.0, deadline + _GRACE_S - time.monotonic())):
                        piece = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    timed_out_hard = True  # the backend did not stop by itself
                    break
                if first_chunk_at is None:
                    first_chunk_at = time.monotonic()
                pieces.append(piece)
                yield Chunk(piece)
        finally:
            if watcher is not None:
                watcher.cancel()
            if timed_out_hard:
                stop.set()
            await stream.aclose()

        seconds = time.monotonic() - started
        outcome = stream.outcome
        finish = "timeout" if timed_out_hard else outcome.finish_reason
        tokens = outcome.new_tokens
        stats = GenerationStats(
            text="".join(pieces),
            tokens=tokens,
            seconds=seconds,
            tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
            model=self.model_name,
            time_to_first_chunk_s=None if first_chunk_at is None else first_chunk_at - started,
            finish_reason=finish,
            queued_s=queued_s,
        )
        metrics.record_generation(tokens, seconds)
        log.info(
            "generated %d tokens in %.2f s (%.1f tokens/s, %s) with %s",
            stats.tokens,
            stats.seconds,
            stats.tokens_per_second,
            finish,
            self.model_name,
        )
        if finish == "timeout":
            raise GenerationTimeout(self.timeout_s, stats)
        yield Finished(stats)

    async def generate(
        self,
        request: GenerationRequest,
        cancel: threading.Event | asyncio.Event | None = None,
        on_event: EventCallback | None = None,
    ) -> GenerationStats:
        """Run ``request`` to the end and return its stats; ``on_event`` (plain or async
        function) sees every event on the way."""
        stats: GenerationStats | None = None
        events = self.events(request, cancel)
        try:
            async for event in events:
                if on_event is not None:
                    result = on_event(event)
                    if inspect.isawaitable(result):
                        await result
                if isinstance(event, Finished):
                    stats = event.stats
        finally:
            await events.aclose()
        if stats is None:  # only if the backend ended without a result
            raise RuntimeError("generation ended without a result")
        return stats

    # --- next-token predictions (local backend only) ----------------------------------------
    def _local(self):
        from ._local import LocalBackend

        if not isinstance(self.backend, LocalBackend):
            raise PredictionUnavailable(
                "next-token predictions need the local backend (a remote server does not expose logits)"
            )
        return self.backend

    async def predict_next(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        """Off the event loop; one forward pass (tens of milliseconds)."""
        backend = self._local()
        return await asyncio.to_thread(backend.predict_next, text, top_k)

    async def sampling_view(
        self, text: str, top_k: int = 10, temperatures: tuple[float, ...] = (0.2, 1.0, 1.5)
    ) -> SamplingView:
        backend = self._local()
        return await asyncio.to_thread(backend.sampling_view, text, top_k, temperatures)

    async def aclose(self) -> None:
        await self.backend.aclose()
