"""Ingestion speed on a synthetic deck of about 5,000 passages, next to the raw embedding rate.

Prints one JSON line: cold ingest seconds, unchanged re-ingest seconds, passages per second, and
the embedding model's own rate on the same texts in the same run. Then what reading each file in
a worker process (the time and memory limits, bot.domain.isolation) costs on the real deck:
``deck_read_*_s`` (best of 5) read here and in the workers, ``workers_start_s`` their start.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, scratch_settings

from bot.domain import isolation
from bot.domain.embedding import Embedder
from bot.domain.loaders import load_deck, load_file
from bot.domain.passages import passages_from_deck
from bot.domain.tutor import Tutor, open_index

WORDS = (
    "model token embedding vector attention layer training data loss gradient prompt sample image audio "
    "video latent space diffusion noise decoder encoder context window weight bias neuron learning rate "
    "batch epoch dataset label bias fairness copyright safety evaluation benchmark score metric retrieval "
    "search index document passage answer question user teacher student lesson course example story"
).split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."


def write_synthetic_deck(folder: Path, slides: int, seed: int = 7) -> None:
    """Slides in our Markdown format: 4 sections and 16 FAQ pairs each (20 passages)."""
    rng = random.Random(seed)
    for number in range(1, slides + 1):
        lines = ["---", f"number: {number}", f"title: Synthetic topic {number}", "subtitle: generated", "---"]
        for heading in ("Overview", "Key Concepts", "How It Works", "Applications"):
            lines += ["", f"## {heading}", " ".join(sentence(rng) for _ in range(3))]
        lines += ["", "## FAQ"]
        for _ in range(16):
            lines += [f"### {sentence(rng)[:-1]}?", sentence(rng)]
        (folder / f"{number:04d}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def deck_read_cost() -> dict:
    """Reading the real deck here and in the worker processes; the workers' start apart."""
    deck = ROOT / "knowledge"
    isolation.shared("bot.domain.loaders").close()
    started = time.perf_counter()
    load_deck(deck)
    first = time.perf_counter() - started

    def best(**kwargs) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            load_deck(deck, **kwargs)
            times.append(time.perf_counter() - started)
        return min(times)

    here, workers = best(read=load_file), best()
    return {
        "deck_files": len(list(deck.glob("*.md"))),
        "deck_read_here_s": round(here, 3),
        "deck_read_in_workers_s": round(workers, 3),
        "workers_start_s": round(first - workers, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slides", type=int, default=250, help="synthetic slides (20 passages each)")
    args = parser.parse_args()
    knowledge = Path(tempfile.mkdtemp(prefix="slide-tutor-deck-"))
    write_synthetic_deck(knowledge, args.slides)
    settings = scratch_settings(fresh=True, knowledge_dir=knowledge)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tutor = Tutor(settings, Embedder(settings.embedding_model), open_index(settings))  # models load untimed
    started = time.perf_counter()
    cold = tutor.reload()
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    unchanged = tutor.reload()
    unchanged_s = time.perf_counter() - started

    passages = passages_from_deck(load_deck(knowledge).deck)
    texts = [record.text for p in passages for record in p.records()]
    started = time.perf_counter()
    tutor.embedder.encode(texts)
    raw_s = time.perf_counter() - started
    emit(
        {
            "passages": cold.passages,
            "records": len(texts),
            "cold_ingest_s": round(cold_s, 2),
            "unchanged_reingest_s": round(unchanged_s, 3),
            "unchanged_embedded": unchanged.embedded,
            "passages_per_s": round(cold.passages / cold_s, 1),
            "raw_embedding_passages_per_s": round(len(passages) / raw_s, 1),
            "ratio": round(raw_s / cold_s, 3),
            **deck_read_cost(),
        }
    )


if __name__ == "__main__":
    main()
