"""Answering speed against the floor (one query embedding plus one Chroma query).

Prints one JSON line: {"p50_ms", "p95_ms", "floor_p50_ms", "ratio", ...}. The first questions
warm the tutor up and are not timed; every timed question is asked once.
"""

from __future__ import annotations

import time

from _common import EVAL_SET, emit, floor_seconds, percentile_ms, scratch_settings

from bot.domain.evaluation import load_questions
from bot.domain.tutor import Tutor

WARMUP = 10


def main() -> None:
    tutor, _ = Tutor.load(scratch_settings())
    questions = [item.question for item in load_questions(EVAL_SET)]
    # Warm-up: first calls pay for lazy initialisation. These questions are not timed: asked
    # again they would hit the retriever's cache of query terms.
    warmup, questions = questions[:WARMUP], questions[WARMUP:]
    for question in warmup:
        tutor.ask(question)

    answer_s, floor_s = [], []
    for question in questions:
        floor_s.append(floor_seconds(tutor, question))

        started = time.perf_counter()
        tutor.ask(question)
        answer_s.append(time.perf_counter() - started)
    p50, floor = percentile_ms(answer_s, 50), percentile_ms(floor_s, 50)
    emit(
        {
            "questions": len(questions),
            "warmup_questions": len(warmup),
            "p50_ms": p50,
            "p95_ms": percentile_ms(answer_s, 95),
            "floor_p50_ms": floor,
            "ratio": round(p50 / floor, 3),
        }
    )


if __name__ == "__main__":
    main()
