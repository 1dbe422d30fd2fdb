"""Helpers shared by the benchmarks: settings in a scratch folder, percentiles, JSON output."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import Settings  # noqa: E402

EVAL_SET = ROOT / "tests" / "eval" / "questions.jsonl"


def scratch_settings(fresh: bool = False, **overrides) -> Settings:
    """Settings for a benchmark: the real deck, and data in data/bench (kept between runs, so the
    index is only re-embedded when the deck changed) or, with ``fresh``, in a new folder."""
    data_dir = Path(tempfile.mkdtemp(prefix="slide-tutor-bench-")) if fresh else ROOT / "data" / "bench"
    values = {
        "knowledge_dir": ROOT / "knowledge",
        "data_dir": data_dir,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000, q)), 2)


def emit(result: dict) -> None:
    print(json.dumps(result))


def floor_seconds(tutor, question: str) -> float:
    """The floor for anything that answers from the deck: one query embedding plus one vector
    search (``VectorIndex.query``, one Chroma query), timed."""
    started = time.perf_counter()
    tutor.index.query(tutor.embedder.encode_one(question), 5)
    return time.perf_counter() - started
