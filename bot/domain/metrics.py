"""The bot's numbers, in Prometheus form: cheap to record from anywhere (a lock and an addition),
read by ``/metrics`` (``bot.health``).

One registry for the process. The names, as Prometheus shows them:

- ``slide_tutor_questions_total`` / ``slide_tutor_declines_total``: messages answered from the deck
  (answers, partial answers and declines; small talk and commands are not questions), and of those
  the declines;
- ``slide_tutor_answer_seconds``: a histogram of the time to answer one question;
- ``slide_tutor_generation_queue_length``: generation requests waiting for their turn;
- ``slide_tutor_generation_tokens_per_second``: the speed of the last generation, with
  ``slide_tutor_generated_tokens_total`` and ``slide_tutor_generation_seconds_total`` for rates;
- ``slide_tutor_errors_total{logger}``: every log record at ERROR or above (every unexpected error
  is logged once, on the one error path or by discord.py), by the logger that wrote it.
"""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

QUESTIONS = Counter(
    "slide_tutor_questions", "Messages answered from the deck (answers, partial answers, declines)", registry=REGISTRY
)
DECLINES = Counter("slide_tutor_declines", "Questions the deck does not cover (declined)", registry=REGISTRY)
ANSWER_SECONDS = Histogram(
    "slide_tutor_answer_seconds",
    "Time to answer one question, retrieval and composing included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
GENERATION_QUEUE = Gauge(
    "slide_tutor_generation_queue_length", "Generation requests waiting for their turn", registry=REGISTRY
)
GENERATION_TOKENS_PER_SECOND = Gauge(
    "slide_tutor_generation_tokens_per_second", "Tokens per second of the last generation", registry=REGISTRY
)
GENERATED_TOKENS = Counter("slide_tutor_generated_tokens", "Tokens generated", registry=REGISTRY)
GENERATION_SECONDS = Counter("slide_tutor_generation_seconds", "Time spent generating", registry=REGISTRY)
ERRORS = Counter("slide_tutor_errors", "Errors logged, by logger", ["logger"], registry=REGISTRY)

ANSWER_KINDS = frozenset({"answer", "partial", "decline"})


def record_reply(kind: str, seconds: float) -> None:
    """One message handled: counted (and timed) as a question when it was answered from the deck."""
    if kind not in ANSWER_KINDS:
        return
    QUESTIONS.inc()
    ANSWER_SECONDS.observe(seconds)
    if kind == "decline":
        DECLINES.inc()


def set_generation_queue(waiting: int) -> None:
    GENERATION_QUEUE.set(waiting)


def record_generation(tokens: int, seconds: float) -> None:
    GENERATED_TOKENS.inc(tokens)
    GENERATION_SECONDS.inc(seconds)
    GENERATION_TOKENS_PER_SECOND.set(tokens / seconds if seconds > 0 else 0.0)


class ErrorCounter(logging.Handler):
    """Counts log records at ERROR and above in ``slide_tutor_errors_total``."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(logger=record.name.split(".")[0] if record.name.startswith("discord") else record.name).inc()


def count_logged_errors() -> None:
    """Install the error counter on the root logger (once; later calls do nothing)."""
    root = logging.getLogger()
    if not any(isinstance(handler, ErrorCounter) for handler in root.handlers):
        root.addHandler(ErrorCounter())


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
