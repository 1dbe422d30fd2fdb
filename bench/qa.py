"""Answering speed against the floor (one query embedding plus one Chroma query) as the deck grows,
conversation handling included: every question goes through ``Tutoring.respond`` as a learner's
message would.

Sizes (``--sizes``, default ``real,200``; the goal is measured with ``real,200,2000``): ``real`` is
the deck in knowledge/; a number N is a deck of N slides made from it in a scratch folder: the real
slides as they are, then copies renumbered, retitled and reworded (sentences reordered, words
swapped, a lead-in added), so each copy is new text to search. Not every record of a copy is new
text: a sentence without a swapped word, and every FAQ question (a heading), repeat verbatim
(2,000 slides: 192,336 records, 119,324 distinct texts; the real deck's records are all distinct but
one), and ingest embeds each record as it comes, as it would a real deck. Each size is ingested cold
into its own embedded Chroma (``ingest_s``), then the evaluation questions are asked. Embedding is
nearly all of the ingest time: about 190,000 records at 2,000 slides, hours on 2 shared cores.

Prints one JSON line: {"sizes": [{"slides", "passages", "records", "ingest_s", "p50_ms", "p95_ms",
"floor_p50_ms", "ratio", "follow_up_p50_ms", "questions"}, ...], "goal_ratio": 1.5}. The first
questions warm the tutor up and are not timed; every timed question is asked once, each in its own
conversation, followed by one timed follow-up ("why?").
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import EVAL_SET, ROOT, emit, floor_seconds, percentile_ms, scratch_settings

from bot.domain.conversation import Key, Tutoring
from bot.domain.embedding import Embedder
from bot.domain.evaluation import load_questions
from bot.domain.tutor import Tutor, open_index

WARMUP = 10
GOAL_RATIO = 1.5

SWAPS = (
    ("model", "system"),
    ("learns", "picks up"),
    ("text", "writing"),
    ("example", "instance"),
    ("uses", "relies on"),
    ("large", "big"),
    ("quickly", "fast"),
    ("produces", "creates"),
    ("important", "key"),
    ("answer", "reply"),
    ("words", "terms"),
    ("picture", "image"),
)
LEAD_INS = ("In practice, ", "Put simply, ", "For instance, ", "Typically, ", "As a rule, ", "In this unit, ")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def reword(line: str, rng: random.Random) -> str:
    """The same meaning in other words: sentences reordered, some words swapped, a lead-in added."""
    sentences = SENTENCE.split(line)
    if len(sentences) > 1:
        rng.shuffle(sentences)
    for old, new in rng.sample(SWAPS, k=4):
        sentences = [re.sub(rf"\b{old}\b", new, s) for s in sentences]
    first = sentences[0]
    if first[:1].isupper() and not first.startswith(("-", "*", "|")):
        sentences[0] = rng.choice(LEAD_INS) + first[0].lower() + first[1:]
    return " ".join(sentences)


def grown_deck(size: int, folder: Path) -> Path:
    """A deck of ``size`` slides in ``folder``: the real slides, then reworded copies of them."""
    sources = sorted((ROOT / "knowledge").glob("*.md"))
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, size + 1):
        source = sources[(number - 1) % len(sources)]
        text = source.read_text(encoding="utf-8")
        if number <= len(sources):
            (folder / source.name).write_text(text, encoding="utf-8")
            continue
        copy = (number - 1) // len(sources)
        rng = random.Random(number)
        _, front, body = text.split("---\n", 2)
        meta = yaml.safe_load(front)
        meta.update(number=number, title=f"{meta['title']} (part {copy + 1})")
        front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
        lines = [line if not line.strip() or line.startswith("#") else reword(line, rng) for line in body.splitlines()]
        (folder / f"{number:04d}-{source.stem[3:]}.md").write_text(
            f"---\n{front}---\n" + "\n".join(lines) + "\n", encoding="utf-8"
        )
    return folder


def measure(tutor: Tutor, questions: list[str]) -> dict:
    warmup, timed = questions[:WARMUP], questions[WARMUP:]
    tutoring = Tutoring(tutor)
    for n, question in enumerate(warmup):
        tutoring.respond(Key("bench", "warmup", str(n)), question)
    answer_s, floor_s, follow_up_s = [], [], []
    for n, question in enumerate(timed):
        floor_s.append(floor_seconds(tutor, question))
        key = Key("bench", "qa", str(n))
        started = time.perf_counter()
        tutoring.respond(key, question)
        answer_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        tutoring.respond(key, "why?")
        follow_up_s.append(time.perf_counter() - started)
    p50, floor = percentile_ms(answer_s, 50), percentile_ms(floor_s, 50)
    return {
        "questions": len(timed),
        "p50_ms": p50,
        "p95_ms": percentile_ms(answer_s, 95),
        "floor_p50_ms": floor,
        "ratio": round(p50 / floor, 3),
        "follow_up_p50_ms": percentile_ms(follow_up_s, 50),
    }


def run_size(size: str, embedder: Embedder, questions: list[str], scratch: Path) -> dict:
    knowledge = ROOT / "knowledge" if size == "real" else grown_deck(int(size), scratch / f"deck-{size}")
    settings = scratch_settings(knowledge_dir=knowledge, data_dir=scratch / f"data-{size}")
    settings.data_dir.mkdir(parents=True)
    tutor = Tutor(settings, embedder, open_index(settings))
    started = time.perf_counter()
    report = tutor.reload(progress=True)  # cold: a new, empty index (a progress bar on stderr)
    ingest_s = time.perf_counter() - started
    records = sum(len(passage.records()) for passage in tutor.knowledge.passages)
    result = {
        "size": size,
        "slides": report.slides,
        "passages": report.passages,
        "records": records,
        "ingest_s": round(ingest_s, 1),
    }
    print(
        f"{size}: {report.slides} slides, {records} records ingested in {ingest_s:.0f} s"
        f" ({records / ingest_s:.1f} records/s)",
        file=sys.stderr,
    )
    result.update(measure(tutor, questions))
    print(f"{size}: {json.dumps(result)}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="real,200",
        help="comma-separated deck sizes: real (the deck in knowledge/) or a number of slides "
        "(default real,200; the goal is measured with real,200,2000)",
    )
    args = parser.parse_args()
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    for size in sizes:
        if size != "real" and not (size.isdigit() and int(size) >= 1):
            parser.error(f"--sizes: {size!r} is neither 'real' nor a number of slides")
    embedder = Embedder()  # loaded once, untimed
    questions = [item.question for item in load_questions(EVAL_SET)]
    scratch = Path(tempfile.mkdtemp(prefix="slide-tutor-qa-"))
    try:
        results = [run_size(size, embedder, questions, scratch) for size in sizes]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    emit({"sizes": results, "goal_ratio": GOAL_RATIO})


if __name__ == "__main__":
    main()
