"""/insights over a big question log: the figures (SQL and the gaps' grouping), the picture and the
CSV over 100,000 logged questions (goal: under 2 s together), and the grouping's time as the log of
failed questions grows (10k, 100k).

The log is synthetic but its vectors are real: a pool of questions from many topics, phrased several
ways, is embedded once with the project's model; each logged question takes one of them with a small
random change (so no two vectors are equal and nothing is grouped for free), as learners reword.

    python bench/insights.py [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit

from bot.domain.embedding import Embedder
from bot.domain.feedback import Feedback
from bot.domain.gaps import cluster
from bot.domain.insights import csv_within, gather, picture
from bot.domain.learners import LearnerStore

TOPICS = [
    "GPUs for running local models",
    "fine-tuning a model on my own data",
    "the cost of the OpenAI API",
    "installing Python on Windows",
    "diffusion models making videos",
    "copyright of generated images",
    "speech recognition with Whisper",
    "vector databases like Pinecone",
    "agents that browse the web",
    "the exam date for this course",
    "quantization to 4 bits",
    "running models on a phone",
    "AI detectors for essays",
    "training a model from scratch",
    "the context window of GPT-4",
    "multimodal models reading images",
    "reinforcement learning from human feedback",
    "ethics of deepfakes",
    "prompt injection attacks",
    "the best laptop for AI",
]
PHRASINGS = [
    "what about {}?",
    "can you explain {}",
    "how does {} work?",
    "tell me about {}",
    "is there a slide on {}?",
    "I don't get {}",
    "{}: where do I start?",
    "any tips on {}?",
]
NOISE = 0.015  # per dimension: rewordings stay about 0.9 cosine from their pool question


def pool(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    texts = [phrase.format(topic) for topic in TOPICS for phrase in PHRASINGS]
    return texts, embedder.encode(texts)


def noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    changed = vectors + rng.normal(scale=NOISE, size=vectors.shape).astype(np.float32)
    return changed / np.linalg.norm(changed, axis=1, keepdims=True)


def fill(feedback: Feedback, learners: LearnerStore, rows: int, texts, vectors, rng) -> float:
    started = time.perf_counter()
    now = time.time()
    kinds = rng.choice(["answer", "partial", "decline"], size=rows, p=[0.7, 0.1, 0.2])
    picks = rng.integers(0, len(texts), rows)
    declined = kinds == "decline"
    row_vectors = np.zeros((rows, vectors.shape[1]), dtype=np.float32)
    row_vectors[declined] = noisy(vectors[picks[declined]], rng)
    slides = rng.integers(1, 23, rows)

    def generate():
        for i in range(rows):
            kind = str(kinds[i])
            yield (
                str(100 + i % 3),
                "555",
                f"learner{rng.integers(0, 800)}",
                f"{texts[picks[i]]} #{i}",
                kind,
                [] if kind == "decline" else [int(slides[i])],
                row_vectors[i] if kind == "decline" else None,
                now - rng.uniform(0, 60 * 86_400),
            )

    feedback.log_many(generate())
    ids = [
        row[0]
        for row in feedback.db.query("SELECT id FROM question_log WHERE kind <> 'decline' LIMIT ?", (rows // 10,))
    ]
    with feedback.db.transaction() as tx:
        for n, qid in enumerate(ids):
            tx.execute(
                "INSERT INTO votes (question_id, learner, vote, voted_at) VALUES (?, ?, ?, ?)",
                (qid, f"learner{n % 800}", -1 if n % 3 == 0 else 1, now),
            )
            if n % 3 == 0:
                tx.execute(
                    "UPDATE question_log SET vector = ? WHERE id = ?",
                    (noisy(vectors[[n % len(texts)]], rng)[0].astype(np.float16).tobytes(), qid),
                )
    for n in range(2000):
        learners.record_quiz("guild:100", f"learner{n % 800}", int(slides[n]), ["right", "partly", "not_yet"][n % 3])
    return time.perf_counter() - started


CPU: dict[str, float] = {}


def timed(function, runs: int, name: str = "") -> tuple[float, object]:
    """Median wall seconds of ``runs`` calls (and, under ``name`` in CPU, the median CPU seconds of
    this process: on a shared machine the wall time mostly measures the neighbours)."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = function()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if name:
        CPU[name] = statistics.median(cpu)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    embedder = Embedder()
    texts, vectors = pool(embedder)

    grouping = {}
    for size in (10_000, 100_000):
        batch = noisy(vectors[rng.integers(0, len(texts), size)], rng)
        seconds, labels = timed(lambda batch=batch: cluster(batch), args.runs, "grouping")
        grouping[str(size)] = {
            "seconds": round(seconds, 3),
            "cpu_s": round(CPU.pop("grouping"), 3),
            "groups": int(labels.max() + 1),
        }

    folder = Path(tempfile.mkdtemp(prefix="slide-tutor-insights-"))
    learners = LearnerStore(folder / "state.sqlite3")
    feedback = Feedback(learners.database, retention_days=90)
    fill_s = fill(feedback, learners, args.rows, texts, vectors, rng)
    picture(gather(feedback, learners, None))  # warm: matplotlib's first import and fonts

    figures_s, insights = timed(lambda: gather(feedback, learners, None), args.runs, "figures")
    picture_s, png = timed(lambda: picture(insights), args.runs, "picture")
    csv_s, (data, since) = timed(lambda: csv_within(feedback, None, 10 * 1024 * 1024 - 64 * 1024), args.runs, "csv")
    server_s, _ = timed(lambda: gather(feedback, learners, "100"), args.runs)
    total = figures_s + picture_s + csv_s
    emit(
        {
            "bench": "insights",
            "rows": args.rows,
            "failed_grouped": len(feedback.failed(None)[0]),
            "figures_s": round(figures_s, 3),
            "one_server_figures_s": round(server_s, 3),
            "picture_s": round(picture_s, 3),
            "csv_s": round(csv_s, 3),
            "csv_bytes": len(data),
            "csv_from": "all" if since is None else "a date range",
            "insights_total_s": round(total, 3),
            "insights_total_cpu_s": round(sum(CPU.values()), 3),
            "cpu_s": {name: round(value, 3) for name, value in CPU.items()},
            "load_average": round(os.getloadavg()[0], 1),
            "goal_s": 2.0,
            "met": total < 2.0,
            "png_bytes": len(png),
            "top_gap": insights.gaps[0].summary if insights.gaps else None,
            "grouping": grouping,
            "fill_s": round(fill_s, 1),
        }
    )
    learners.close()


if __name__ == "__main__":
    main()
