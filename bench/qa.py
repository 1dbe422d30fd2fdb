"""Answering speed against the floor (one query embedding plus one Chroma query), conversation
handling included: every question goes through ``Tutoring.respond`` as a learner's message would.

Prints one JSON line: {"p50_ms", "p95_ms", "floor_p50_ms", "ratio", "follow_up_p50_ms", ...}. The
first questions warm the tutor up and are not timed; every timed question is asked once, each in
its own conversation, followed by one timed follow-up ("why?").
"""

from __future__ import annotations

import time

from _common import EVAL_SET, emit, floor_seconds, percentile_ms, scratch_settings

from bot.domain.conversation import Key, Tutoring
from bot.domain.evaluation import load_questions
from bot.domain.tutor import Tutor

WARMUP = 10


def main() -> None:
    tutor, _ = Tutor.load(scratch_settings())
    questions = [item.question for item in load_questions(EVAL_SET)]
    # Warm-up: first calls pay for lazy initialisation. These questions are not timed: asked
    # again they would hit the retriever's cache of query terms.
    warmup, questions = questions[:WARMUP], questions[WARMUP:]
    tutoring = Tutoring(tutor)
    for n, question in enumerate(warmup):
        tutoring.respond(Key("bench", "warmup", str(n)), question)

    answer_s, floor_s, follow_up_s = [], [], []
    for n, question in enumerate(questions):
        floor_s.append(floor_seconds(tutor, question))
        key = Key("bench", "qa", str(n))
        started = time.perf_counter()
        tutoring.respond(key, question)
        answer_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        tutoring.respond(key, "why?")
        follow_up_s.append(time.perf_counter() - started)
    p50, floor = percentile_ms(answer_s, 50), percentile_ms(floor_s, 50)
    emit(
        {
            "questions": len(questions),
            "warmup_questions": len(warmup),
            "p50_ms": p50,
            "p95_ms": percentile_ms(answer_s, 95),
            "floor_p50_ms": floor,
            "ratio": round(p50 / floor, 3),
            "follow_up_p50_ms": percentile_ms(follow_up_s, 50),
        }
    )


if __name__ == "__main__":
    main()
