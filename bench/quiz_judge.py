"""Choose the quiz judge's thresholds by measurement on the labelled answers.

    .venv/bin/python bench/quiz_judge.py [--data tests/data/quiz_answers.jsonl] [--errors]

Each labelled answer is embedded once (``QuizJudge.measure``); then the settings are swept with
``QuizJudge.classify``, the very decision code the bot runs. Accuracy is 3-way (right / partly /
not_yet, where the labels "wrong" and "offtopic" both mean not_yet) and binary (accepted = right).

To avoid fitting noise, every setting is scored by the mean 3-way accuracy of its neighbourhood
(right and partly thresholds each +-0.05), so the choice sits in a flat region; a two-fold
cross-validation (fit on the odd slides, test on the even ones and back) says how well the
procedure does on questions it has not seen. Prints one JSON line; ``--errors`` lists the
misjudged answers on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the `bot` package importable
    sys.path.insert(0, str(ROOT))

from bot.domain.quiz import (  # noqa: E402
    Measurement,
    QuizJudge,
    QuizQuestion,
    VerdictName,
    key_terms,
)

GOLD = {"right": "right", "partly": "partly", "wrong": "not_yet", "offtopic": "not_yet"}
VERDICTS: tuple[VerdictName, ...] = ("right", "partly", "not_yet")
STEP = 0.05
THRESHOLDS = [round(0.20 + STEP * i, 2) for i in range(15)]  # 0.20 .. 0.90
SENTENCE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
TERM_WEIGHTS = (0.0, 0.1, 0.2, 0.3)


def load_rows(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in GOLD:
            raise ValueError(f"{path}:{number}: label must be one of {sorted(GOLD)}")
        rows.append(row)
    return rows


def question_of(row: dict) -> QuizQuestion:
    return QuizQuestion(
        slide=int(row["slide"]),
        title="",
        question=row["question"],
        answer=row["expected"],
        key_terms=key_terms(row["expected"], row["question"]),
        source="faq",
    )


def evaluate(judge: QuizJudge, measured: list[Measurement], gold: list[str], keep: list[bool] | None = None) -> dict:
    """3-way and binary accuracy and the confusion matrix (gold -> predicted counts)."""
    confusion = {g: Counter() for g in VERDICTS}
    right3 = right2 = n = 0
    for index, (m, g) in enumerate(zip(measured, gold, strict=True)):
        if keep is not None and not keep[index]:
            continue
        p = judge.classify(m)
        confusion[g][p] += 1
        right3 += p == g
        right2 += (p == "right") == (g == "right")
        n += 1
    return {
        "accuracy3": right3 / n,
        "binary": right2 / n,
        "confusion": {g: {p: confusion[g][p] for p in VERDICTS} for g in VERDICTS},
    }


def sweep(base: QuizJudge, measured, gold, keep=None) -> list[dict]:
    """Every setting with its raw and neighbourhood-smoothed accuracy on the kept rows."""
    raw: dict[tuple, tuple[float, float]] = {}
    for sw, tw in itertools.product(SENTENCE_WEIGHTS, TERM_WEIGHTS):
        for right, partly in itertools.product(THRESHOLDS, THRESHOLDS):
            if partly > right:
                continue
            judge = base.with_thresholds(
                sentence_weight=sw, term_weight=tw, right_threshold=right, partly_threshold=partly
            )
            result = evaluate(judge, measured, gold, keep)
            raw[(sw, tw, right, partly)] = (result["accuracy3"], result["binary"])
    settings = []
    for (sw, tw, right, partly), (acc3, acc2) in raw.items():
        near = [
            raw[key][0]
            for dr, dp in itertools.product((-STEP, 0, STEP), repeat=2)
            if (key := (sw, tw, round(right + dr, 2), round(partly + dp, 2))) in raw
        ]
        settings.append(
            {
                "sentence_weight": sw,
                "term_weight": tw,
                "right_threshold": right,
                "partly_threshold": partly,
                "accuracy3": acc3,
                "binary": acc2,
                "smoothed3": sum(near) / len(near),
            }
        )
    return settings


def choose(settings: list[dict]) -> dict:
    """Best smoothed 3-way accuracy; ties go to better binary accuracy, then simpler settings."""
    return max(
        settings,
        key=lambda s: (
            round(s["smoothed3"], 4),
            round(s["binary"], 4),
            -s["term_weight"],
            -abs(s["sentence_weight"] - 0.5),
        ),
    )


def judge_for(base: QuizJudge, setting: dict) -> QuizJudge:
    return base.with_thresholds(
        sentence_weight=setting["sentence_weight"],
        term_weight=setting["term_weight"],
        right_threshold=setting["right_threshold"],
        partly_threshold=setting["partly_threshold"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "quiz_answers.jsonl")
    parser.add_argument("--errors", action="store_true", help="list misjudged answers on stderr")
    args = parser.parse_args(argv)

    from bot.domain.embedding import Embedder

    rows = load_rows(args.data)
    started = time.perf_counter()
    embedder = Embedder()
    defaults = QuizJudge(embedder)
    measured = defaults.measure_many([(question_of(row), row["answer"]) for row in rows])
    gold = [GOLD[row["label"]] for row in rows]
    measure_s = time.perf_counter() - started

    settings = sweep(defaults, measured, gold)
    chosen = choose(settings)
    chosen_judge = judge_for(defaults, chosen)
    result = evaluate(chosen_judge, measured, gold)

    # Two-fold cross-validation by slide parity: how the whole procedure does on unseen questions.
    folds = []
    for parity in (0, 1):
        train = [row["slide"] % 2 == parity for row in rows]
        test = [not t for t in train]
        picked = choose(sweep(defaults, measured, gold, train))
        folds.append(evaluate(judge_for(defaults, picked), measured, gold, test))

    line = {
        "bench": "quiz_judge",
        "model": embedder.name,
        "n": len(rows),
        "questions": len({row["question"] for row in rows}),
        "labels": dict(Counter(row["label"] for row in rows)),
        "chosen": {k: chosen[k] for k in ("right_threshold", "partly_threshold", "term_weight", "sentence_weight")},
        "accuracy3": round(result["accuracy3"], 3),
        "binary_accuracy": round(result["binary"], 3),
        "smoothed_accuracy3": round(chosen["smoothed3"], 3),
        "best_raw_accuracy3": round(max(s["accuracy3"] for s in settings), 3),
        "cv_accuracy3": round(sum(f["accuracy3"] for f in folds) / 2, 3),
        "cv_binary_accuracy": round(sum(f["binary"] for f in folds) / 2, 3),
        "defaults": {
            "right_threshold": defaults.right_threshold,
            "partly_threshold": defaults.partly_threshold,
            "term_weight": defaults.term_weight,
            "sentence_weight": defaults.sentence_weight,
            **{k: round(v, 3) for k, v in evaluate(defaults, measured, gold).items() if k != "confusion"},
        },
        "confusion_gold_to_predicted": result["confusion"],
        "measure_s": round(measure_s, 1),
    }
    print(json.dumps(line))

    if args.errors:
        for row, m, g in zip(rows, measured, gold, strict=True):
            p = defaults.classify(m)
            if p != g:
                print(
                    f"{row['label']:>8} -> {p:<7} score={defaults.score(m):.2f} sim={m.similarity:.2f} "
                    f"sent={m.sentence_similarity:.2f} q={m.question_similarity:.2f} problem={m.problem} | "
                    f"{row['question'][:40]} | {row['answer'][:60]}",
                    file=sys.stderr,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
