"""Speed of the teaching tools: tokenizing, /similar's nearest slides, and the latent-space map.

Prints one JSON line: p50 ms of tokenizing a 2,000-character text with each tokenizer; of the
nearest-slides call (``Similarity.neighbours``, what ``/similar`` with one text runs) next to its
floor (one query embedding plus one Chroma query), with their ratio; and of drawing the map.
"""

from __future__ import annotations

import time

from _common import EVAL_SET, emit, floor_seconds, percentile_ms, scratch_settings

from bot.domain.evaluation import load_questions
from bot.domain.services import Services
from bot.domain.similarity import MAX_TEXT_CHARS
from bot.domain.tokenizers import TOKENIZER_NAMES

TOKENIZE_RUNS = 30
MAP_RUNS = 10


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    services = Services.load(scratch_settings())
    tutor, similarity, tokenizers = services.tutor, services.similarity, services.tokenizers
    questions = [item.question for item in load_questions(EVAL_SET)]
    tokenizers.preload()

    # A long, mixed text: prose from the deck, with accents and emoji, cut to 2,000 characters.
    prose = " ".join(p.text for p in tutor.knowledge.passages[:30]) + " naïve café 😀 日本語 "
    text = (prose * (1 + MAX_TEXT_CHARS // len(prose)))[:MAX_TEXT_CHARS]
    result: dict[str, object] = {"text_chars": len(text)}
    for name in TOKENIZER_NAMES:
        tokenizers.tokenize(text, name)  # warm-up
        result[f"tokenize_{name}_p50_ms"] = percentile_ms(
            [timed(tokenizers.tokenize, text, name) for _ in range(TOKENIZE_RUNS)], 50
        )

    for question in questions[:10]:  # warm-up: first calls pay for lazy initialisation
        similarity.neighbours(question)
    similar_s, floor_s = [], []
    for question in questions:
        floor_s.append(floor_seconds(tutor, question))
        similar_s.append(timed(similarity.neighbours, question, 5))
    similar, floor = percentile_ms(similar_s, 50), percentile_ms(floor_s, 50)
    result.update(
        {
            "questions": len(questions),
            "similar_p50_ms": similar,
            "similar_floor_p50_ms": floor,
            "similar_ratio": round(similar / floor, 3),
        }
    )

    first_map_s = timed(similarity.map_png, [questions[0]])  # imports matplotlib, fits the map
    map_s = [timed(similarity.map_png, [question]) for question in questions[1 : MAP_RUNS + 1]]
    result.update({"map_first_ms": round(first_map_s * 1000, 1), "map_p50_ms": percentile_ms(map_s, 50)})
    services.close()
    emit(result)


if __name__ == "__main__":
    main()
