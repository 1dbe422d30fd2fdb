"""Requests, results, events and errors shared by every generation backend."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.domain.errors import UserError


class GenerationError(Exception):
    """Base class of every error this package raises on purpose. ``str(error)`` is one line for
    an operator (it may name a server); ``for_learner`` is one line fit to show a learner."""

    @property
    def for_learner(self) -> str:
        return "The text generator failed. Please try again later."

    @property
    def one_line(self) -> str:
        """The operator's message on one line."""
        return " ".join(str(self).split()) or type(self).__name__


class QueueFull(GenerationError, UserError):
    """Too many requests are already waiting; try again later. (A learner may see its message.)"""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"the generation queue is full ({waiting} waiting)")
        self.waiting = waiting

    @property
    def for_learner(self) -> str:
        plural = "s" if self.waiting != 1 else ""
        return f"The text generator is busy ({self.waiting} request{plural} waiting). Please try again in a minute."


class GenerationTimeout(GenerationError, UserError):
    """The generation ran past its time limit; ``stats`` holds what was produced until then.
    (A learner may see its message.)"""

    def __init__(self, timeout_s: float, stats: GenerationStats | None = None) -> None:
        super().__init__(f"generation stopped after its time limit of {timeout_s:g} s")
        self.timeout_s = timeout_s
        self.stats = stats

    @property
    def for_learner(self) -> str:
        return f"The text generator ran out of time (its limit is {self.timeout_s:g} s). Please try something shorter."


class BackendError(GenerationError):
    """The backend failed (server unreachable, answered an error, model failed)."""

    @property
    def for_learner(self) -> str:
        return "The text generator is not answering right now (its server is down or failed). Please try again later."


class ModelUnavailable(GenerationError):
    """The configured model cannot be found or converted."""

    @property
    def for_learner(self) -> str:
        return "The text generator's model is not available on this bot. The bot's operator can set one up."


class PredictionUnavailable(GenerationError, UserError):
    """Next-token predictions need logits, which only the local backend exposes. (A learner may
    see its message.)"""

    @property
    def for_learner(self) -> str:
        return "Next-token predictions need the local model; this bot uses a remote text generator."


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate. ``temperature == 0`` means greedy decoding (the seed is then irrelevant).

    ``repetition_penalty`` (1 = none), ``no_repeat_ngram_size`` (0 = off) and ``natural_end``
    (past ``NATURAL_END_SHARE`` of the token budget, stop at the next sentence or line end) are
    honoured by the local backend, which also starts the answer with ``opening`` (shown as its first chunk; a
    small model keeps to a topic its answer already names); an OpenAI-compatible server gets the standard parameters only.
    A ``kind`` other than "custom" gets the service's checks: the text a learner sees is cleaned
    and a degenerate one is written again with another seed."""

    messages: tuple[ChatMessage, ...]
    max_new_tokens: int = 200
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    min_new_tokens: int = 0
    kind: str = "custom"
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    natural_end: bool = False
    opening: str = ""  # the answer's first words, written for the model (local backend only)

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a generation request needs at least one message")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0 or self.no_repeat_ngram_size < 0:
            raise ValueError("repetition_penalty must be > 0 and no_repeat_ngram_size >= 0")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class GenerationStats:
    """The outcome of one generation. ``tokens`` counts new tokens only."""

    text: str
    tokens: int
    seconds: float
    tokens_per_second: float
    model: str
    time_to_first_chunk_s: float | None
    finish_reason: str  # "stop" (end of text), "length", "cancelled", "timeout"
    queued_s: float = 0.0
    attempts: int = 1  # more than one when a degenerate text was written again (tokens count them all)

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "model": self.model,
            "time_to_first_chunk_s": (
                None if self.time_to_first_chunk_s is None else round(self.time_to_first_chunk_s, 3)
            ),
            "finish_reason": self.finish_reason,
            "attempts": self.attempts,
        }


# Events a learner's request goes through, in this order: Queued* Started (Chunk* Retrying)* Chunk* Finished.
@dataclass(frozen=True)
class Queued:
    position: int  # 1 = next in line


@dataclass(frozen=True)
class Started:
    model: str


@dataclass(frozen=True)
class Chunk:
    text: str


@dataclass(frozen=True)
class Retrying:
    """The text so far was degenerate (``reason``); it is written again from the start, so a
    front end showing it live clears what it has."""

    reason: str
    attempt: int  # 2 for the first retry


@dataclass(frozen=True)
class Finished:
    stats: GenerationStats


GenerationEvent = Queued | Started | Chunk | Retrying | Finished
EventCallback = Callable[[GenerationEvent], Awaitable[None] | None]


@dataclass
class StreamOutcome:
    """Filled in by a backend when its stream ends (read it after the iteration)."""

    new_tokens: int = 0
    finish_reason: str = "stop"
    extra: dict[str, object] = field(default_factory=dict)


class GenerationStream(AsyncIterator[str]):
    """Text chunks of one generation; ``outcome`` is complete once the iteration has ended."""

    def __init__(self, factory: Callable[[StreamOutcome], AsyncIterator[str]]) -> None:
        self.outcome = StreamOutcome()
        self._agen = factory(self.outcome)

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> str:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        aclose = getattr(self._agen, "aclose", None)
        if aclose is not None:
            await aclose()


@runtime_checkable
class GenerationBackend(Protocol):
    """A text generator. ``stream`` must stop soon after ``cancel`` is set or ``deadline``
    (a ``time.monotonic()`` value) passes, ending with ``outcome.finish_reason`` set to
    "cancelled" / "timeout"; closing the stream early must stop the work too."""

    name: str  # "local" | "openai"
    model_name: str
    max_concurrency: int  # generations the service may run at once on this backend

    def stream(
        self, request: GenerationRequest, cancel: threading.Event, deadline: float | None = None
    ) -> GenerationStream: ...

    async def aclose(self) -> None: ...
