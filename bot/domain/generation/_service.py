"""GenerationService: a fair queue in front of one backend, with time and length limits."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from bot.domain import metrics

from ._quality import clean_text, quality
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
    Retrying,
    Started,
)

if TYPE_CHECKING:
    from bot.settings import Settings

    from ._predict import SamplingView

log = logging.getLogger(__name__)

_GRACE_S = 10.0  # how long past its deadline a backend may take to notice before we stop waiting
RETRIES = 2  # a degenerate text is written again at most this many times, with other seeds
_RETRY_SEED_STEP = 1000
# Which of several degenerate texts is shown when every attempt was one (higher is better).
_PROBLEM_RANK = {"mostly numbers or punctuation": 0, "a line repeated": 1, "repetitive wording": 2, None: 3}

T = TypeVar("T")


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
    not count) and write at most ``max_new_tokens`` tokens, whatever the request asks.

    A request of a /generate kind (not "custom") is checked: the text is cleaned for the learner
    (``clean_text``) and, when it is degenerate (mostly numbers or punctuation, a repeated line,
    repetitive wording), written again with another seed up to ``retries`` times, all within the
    one time limit. Next-token predictions wait in the same line and run on the same model
    thread, so they never overlap a generation."""

    def __init__(
        self,
        backend: GenerationBackend,
        *,
        queue_size: int = 8,
        timeout_s: float = 120.0,
        max_new_tokens: int = 200,
        retries: int = RETRIES,
    ) -> None:
        if queue_size < 0 or timeout_s <= 0 or max_new_tokens < 1 or retries < 0:
            raise ValueError("queue_size >= 0, timeout_s > 0, max_new_tokens >= 1 and retries >= 0 are required")
        self.backend = backend
        self.retries = retries
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.max_new_tokens = max_new_tokens
        self.concurrency = max(1, int(getattr(backend, "max_concurrency", 1)))
        self._waiting: list[object] = []  # tickets, first in line first
        self._running = 0
        # The event loop that front ends with a long-lived loop (the bot) run generations on;
        # ``generate_from_thread`` sends work there. None: each call brings its own loop.
        self.home_loop: asyncio.AbstractEventLoop | None = None
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
            retries=settings.generation_retries,
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

    async def _admit(self) -> AsyncIterator[Queued]:
        """Wait for a free slot, first come first served: ``Queued(position)`` whenever the place
        in line changes. When it ends, the caller holds a slot (``_release`` gives it back).
        Raises :class:`QueueFull` at once when the line is full. Close it (``aclosing``) so that
        a caller giving up leaves the line at once."""
        changed = self._condition()
        if self._running < self.concurrency and not self._waiting:
            self._running += 1  # a free slot and nobody in line: straight in
            return
        if len(self._waiting) >= self.queue_size:
            raise QueueFull(len(self._waiting))
        ticket = object()
        self._waiting.append(ticket)
        metrics.set_generation_queue(len(self._waiting))
        try:
            last_position = 0
            while True:
                index = self._waiting.index(ticket)
                if index == 0 and self._running < self.concurrency:
                    self._waiting.pop(0)
                    metrics.set_generation_queue(len(self._waiting))
                    self._running += 1
                    return
                position = index + 1
                if position != last_position:
                    last_position = position
                    yield Queued(position)
                    continue  # the line may have moved while the caller handled the event
                async with changed:
                    await changed.wait()
        except BaseException:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                metrics.set_generation_queue(len(self._waiting))
                await asyncio.shield(self._notify())
            raise

    async def _release(self) -> None:
        self._running -= 1
        await asyncio.shield(self._notify())

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Hold a slot for the body: the same line and limit as a generation."""
        async with contextlib.aclosing(self._admit()) as admit:
            async for _ in admit:
                pass
        try:
            yield
        finally:
            await self._release()

    async def events(
        self,
        request: GenerationRequest,
        cancel: threading.Event | asyncio.Event | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """``Queued(position)``* (whenever the place in line changes), ``Started``,
        ``Chunk``*, then ``Finished(stats)``; a checked request may interpose ``Retrying`` (the
        chunks so far are dropped, and the text starts again). Raises :class:`QueueFull` on the
        first step when the queue is full, and :class:`GenerationTimeout` (with the partial
        stats) when the time limit cuts the generation. Setting ``cancel`` ends it early with
        ``finish_reason == "cancelled"``; so does closing this iterator. A caller that may
        stop iterating early should close it (``contextlib.aclosing``) so the slot frees at once."""
        enqueued = time.monotonic()
        async with contextlib.aclosing(self._admit()) as admit:
            async for queued in admit:
                yield queued
        run = self._run(request, cancel, time.monotonic() - enqueued)
        try:
            async for event in run:
                yield event
        finally:
            try:
                await run.aclose()  # now, so the backend has stopped before the next one starts
            finally:
                await self._release()

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
        checked = request.kind != "custom"
        attempts = 1 + (self.retries if checked else 0)
        first_chunk_at: float | None = None
        tokens = 0
        best: tuple[int, float, str, str] | None = None  # rank, distinct-2, text, finish reason
        text, finish = "", "stop"
        watcher: asyncio.Task[None] | None = None
        if isinstance(cancel, asyncio.Event):

            async def relay(source: asyncio.Event = cancel) -> None:
                await source.wait()
                stop.set()

            watcher = asyncio.create_task(relay())
        try:
            for attempt in range(1, attempts + 1):
                attempt_request = request if attempt == 1 else replace(request, seed=_retry_seed(request.seed, attempt))
                pieces: list[str] = []
                timed_out_hard = False
                stream = self.backend.stream(attempt_request, stop, deadline)
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
                    if timed_out_hard:
                        stop.set()
                    await stream.aclose()
                tokens += stream.outcome.new_tokens
                finish = "timeout" if timed_out_hard else stream.outcome.finish_reason
                text = "".join(pieces)
                if not checked:
                    break
                if finish in ("cancelled", "timeout"):
                    if finish == "timeout" and best is not None:
                        _, _, text, finish = best  # out of time on a retry: show the best earlier text
                    break
                # Judged as written (a repeated line is a reason to write again, even though the
                # clean-up would drop the repeats); ranked as the learner would see it.
                problem = quality(text).problem
                text = clean_text(text, request.kind, finish)
                shown = quality(text)
                problem = problem or shown.problem
                candidate = (_PROBLEM_RANK[shown.problem], shown.distinct_2, text, finish)
                best = candidate if best is None or candidate[:2] > best[:2] else best
                if problem is None:
                    break
                if attempt < attempts:
                    log.info("degenerate text (%s); writing it again with another seed", problem)
                    yield Retrying(problem, attempt + 1)
                else:
                    _, _, text, finish = best
        finally:
            if watcher is not None:
                watcher.cancel()

        seconds = time.monotonic() - started
        stats = GenerationStats(
            text=text,
            tokens=tokens,
            seconds=seconds,
            tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
            model=self.model_name,
            time_to_first_chunk_s=None if first_chunk_at is None else first_chunk_at - started,
            finish_reason=finish,
            queued_s=queued_s,
            attempts=attempt,
        )
        metrics.record_generation(tokens, seconds)
        log.info(
            "generated %d tokens in %.2f s (%.1f tokens/s, %s, %d attempt%s) with %s",
            stats.tokens,
            stats.seconds,
            stats.tokens_per_second,
            finish,
            attempt,
            "" if attempt == 1 else "s",
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

    def generate_from_thread(self, request: GenerationRequest, *, timeout_s: float | None = None) -> GenerationStats:
        """Blocking ``generate`` for code running in a worker thread (answering off the event
        loop, the terminal): on ``home_loop`` when one runs (the bot's: the same line and lock as
        every other generation), else on an event loop of its own. ``timeout_s`` bounds the
        whole call, its wait in line included (:class:`GenerationTimeout`)."""

        async def run() -> GenerationStats:
            if timeout_s is None:
                return await self.generate(request)
            try:
                async with asyncio.timeout(timeout_s):
                    return await self.generate(request)
            except TimeoutError as error:
                raise GenerationTimeout(timeout_s) from error

        home = self.home_loop
        if home is not None and home.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is home:
                raise RuntimeError("generate_from_thread blocks: call it off the event loop")
            return asyncio.run_coroutine_threadsafe(run(), home).result()
        return asyncio.run(run())

    # --- next-token predictions (local backend only) ----------------------------------------
    def _local(self):
        from ._local import LocalBackend

        if not isinstance(self.backend, LocalBackend):
            raise PredictionUnavailable(
                "next-token predictions need the local backend (a remote server does not expose logits)"
            )
        return self.backend

    async def _on_model(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on the local model's own thread, after waiting in line like a
        generation (:class:`QueueFull` when the line is full)."""
        backend = self._local()
        async with self._turn():
            return await backend.call(work, *args)

    async def predict_next(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        """Queued like a generation, then one forward pass (tens of milliseconds) on the model's thread."""
        backend = self._local()
        return await self._on_model(backend.predict_next, text, top_k)

    async def sampling_view(
        self, text: str, top_k: int = 10, temperatures: tuple[float, ...] = (0.2, 1.0, 1.5)
    ) -> SamplingView:
        backend = self._local()
        return await self._on_model(backend.sampling_view, text, top_k, temperatures)

    async def aclose(self) -> None:
        await self.backend.aclose()


def _retry_seed(seed: int | None, attempt: int) -> int | None:
    """Another seed for a retry, itself reproducible (none stays none: the generator moved on)."""
    return None if seed is None else seed + _RETRY_SEED_STEP * (attempt - 1)
