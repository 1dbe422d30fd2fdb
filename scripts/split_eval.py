"""Assign a seeded tune/test split to the evaluation sets.

Two files under ``tests/eval/`` get a ``"split": "tune" | "test"`` field:

* ``conversations.jsonl`` -- one conversation per line. Conversations are kept
  whole and stratified by their ``category``: each category's conversations
  are sorted by id, shuffled and alternately assigned test/tune. If the test
  half of a category then holds fewer than ``--min-test-turns`` judged turns
  (every turn is judged), conversations move from tune to test until it does.
* ``questions.jsonl`` -- one question per line (``question``, ``slide``).
  Stratified by ``slide`` (a missing/``null`` slide is its own stratum); each
  stratum is shuffled and alternately assigned test/tune, so about half of
  each slide's questions land in each split.

Line order and all other fields are preserved. The split depends only on the
content of the files (any existing ``split`` field is ignored and recomputed),
and one ``random.Random(20261128)`` drives everything, so running the script
again gives the same result.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SEED = 20261128
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONVERSATIONS = ROOT / "tests" / "eval" / "conversations.jsonl"
DEFAULT_QUESTIONS = ROOT / "tests" / "eval" / "questions.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def split_conversations(rows: list[dict], rng: random.Random, min_test_turns: int) -> list[str]:
    """Return one split label per conversation (same order as ``rows``)."""
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_category[row["category"]].append(index)
    labels = [""] * len(rows)
    for category in sorted(by_category):
        members = sorted(by_category[category], key=lambda i: rows[i]["id"])
        rng.shuffle(members)
        test = members[0::2]
        tune = members[1::2]
        turns = lambda idx: len(rows[idx]["turns"])  # noqa: E731 - every turn is judged
        while sum(turns(i) for i in test) < min_test_turns and tune:
            test.append(tune.pop())
        for i in test:
            labels[i] = "test"
        for i in tune:
            labels[i] = "tune"
    return labels


def split_questions(rows: list[dict], rng: random.Random) -> list[str]:
    """Return one split label per question, stratified by slide."""
    by_slide: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_slide[json.dumps(row.get("slide"))].append(index)
    labels = [""] * len(rows)
    for stratum in sorted(by_slide):
        members = list(by_slide[stratum])
        rng.shuffle(members)
        for position, i in enumerate(members):
            labels[i] = "test" if position % 2 == 0 else "tune"
    return labels


def apply(rows: list[dict], labels: list[str]) -> None:
    for row, label in zip(rows, labels, strict=True):
        row["split"] = label  # replaces an existing value in place, else appends


def summary(rows: list[dict], key: str, weight) -> str:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tune": 0, "test": 0})
    for row in rows:
        counts[str(row.get(key))][row["split"]] += weight(row)
    return "\n".join(
        f"  {name:>12}: tune {c['tune']:4d}  test {c['test']:4d}"
        for name, c in sorted(counts.items(), key=lambda kv: (len(kv[0]) if kv[0].isdigit() else 99, kv[0]))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--conversations", type=Path, default=DEFAULT_CONVERSATIONS, help="conversations JSONL (default: %(default)s)"
    )
    parser.add_argument(
        "--questions",
        type=Path,
        default=DEFAULT_QUESTIONS,
        help="questions JSONL (default: %(default)s); skipped if missing",
    )
    parser.add_argument(
        "--min-test-turns",
        type=int,
        default=20,
        help="minimum judged turns in the test split per category (default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the files' split fields are not what this script would write",
    )
    args = parser.parse_args(argv)

    rng = random.Random(SEED)
    stale = False

    conversations = read_jsonl(args.conversations)
    labels = split_conversations(conversations, rng, args.min_test_turns)
    stale |= [c.get("split") for c in conversations] != labels
    apply(conversations, labels)
    for category in sorted({c["category"] for c in conversations}):
        test_turns = sum(len(c["turns"]) for c in conversations if c["category"] == category and c["split"] == "test")
        if test_turns < args.min_test_turns:
            print(f"warning: category {category!r} has only {test_turns} test turns", file=sys.stderr)
    print(f"{args.conversations}: judged turns per category")
    print(summary(conversations, "category", lambda c: len(c["turns"])))

    questions: list[dict] | None = None
    if args.questions.exists():
        questions = read_jsonl(args.questions)
        labels = split_questions(questions, rng)
        stale |= [q.get("split") for q in questions] != labels
        apply(questions, labels)
        print(f"{args.questions}: questions per slide")
        print(summary(questions, "slide", lambda q: 1))

    if args.check:
        print("stale" if stale else "up to date")
        return 1 if stale else 0
    write_jsonl(args.conversations, conversations)
    if questions is not None:
        write_jsonl(args.questions, questions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
