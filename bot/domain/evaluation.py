"""Retrieval quality on a labelled question set: Recall@k, MRR and how well "not covered" works.

Used by ``bench/eval.py`` (which prints the figures) and by the regression test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.domain.retrieval import MAX_QUESTION_CHARS, Retriever, fuse, reciprocal_rank_fusion


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    question: str
    slide: int | None  # the gold slide; None for a question the deck does not cover


def load_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(EvalQuestion(row["question"], row["slide"]))
        except (json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"{path.name}:{number}: {error}") from None
    return questions


@dataclass(frozen=True, slots=True)
class Scores:
    """One question's raw evidence: per-passage dense cosine and BM25 score."""

    dense: np.ndarray
    lexical: np.ndarray


def collect(retriever: Retriever, questions: list[EvalQuestion]) -> list[Scores]:
    """Embed and search each question once; every fusion is then computed from the same scores."""
    out = []
    for item in questions:
        text = " ".join(item.question.split())[:MAX_QUESTION_CHARS]
        dense, _ = retriever.dense_scores(retriever._embed_one(text))
        out.append(Scores(dense, retriever.lexical_scores(text)))
    return out


Ranker = Callable[[Scores], np.ndarray]

RANKERS: dict[str, Ranker] = {
    "hybrid": lambda s: fuse(s.dense, s.lexical),
    "dense": lambda s: s.dense,
    "bm25": lambda s: s.lexical,
}


def slide_ranking(scores: np.ndarray, slide_of: np.ndarray) -> list[int]:
    """Slides in the order of their best passage."""
    seen: dict[int, None] = {}
    for position in np.argsort(-scores, kind="stable"):
        seen.setdefault(int(slide_of[position]), None)
    return list(seen)


def metrics(
    questions: list[EvalQuestion],
    scores: list[Scores],
    slide_of: np.ndarray,
    rank: Ranker,
    confident: Callable[[Scores, int], bool],
) -> dict[str, float]:
    """Recall@1, Recall@3 and MRR over covered questions; decline rates on both kinds."""
    hits1 = hits3 = reciprocal = 0.0
    covered = declined_wrongly = off_topic = declined_rightly = 0
    for item, evidence in zip(questions, scores, strict=True):
        fused = rank(evidence)
        best = int(np.argmax(fused))
        sure = confident(evidence, best)
        if item.slide is None:
            off_topic += 1
            declined_rightly += not sure
            continue
        covered += 1
        declined_wrongly += not sure
        order = slide_ranking(fused, slide_of)
        if item.slide in order:
            position = order.index(item.slide)
            hits1 += position == 0
            hits3 += position < 3
            reciprocal += 1.0 / (position + 1)
    return {
        "recall@1": round(hits1 / max(covered, 1), 4),
        "recall@3": round(hits3 / max(covered, 1), 4),
        "mrr": round(reciprocal / max(covered, 1), 4),
        "off_topic_declined": round(declined_rightly / max(off_topic, 1), 4),
        "on_topic_declined": round(declined_wrongly / max(covered, 1), 4),
    }


def evaluate(retriever: Retriever, questions: list[EvalQuestion], dense_threshold: float) -> dict[str, dict]:
    """Hybrid, dense-only and BM25-only side by side on the same questions.

    Hybrid and dense decline below ``dense_threshold`` best cosine; BM25 alone has no comparable
    scale, so it declines when no passage shares a term with the question.
    """
    slide_of = np.asarray([p.slide for p in retriever.passages])
    scores = collect(retriever, questions)
    by_dense = lambda s, best: float(s.dense.max()) >= dense_threshold  # noqa: E731
    by_terms = lambda s, best: float(s.lexical.max()) > 0  # noqa: E731
    return {
        "hybrid": metrics(questions, scores, slide_of, RANKERS["hybrid"], by_dense),
        "dense": metrics(questions, scores, slide_of, RANKERS["dense"], by_dense),
        "bm25": metrics(questions, scores, slide_of, RANKERS["bm25"], by_terms),
    }


def fusion_study(retriever: Retriever, questions: list[EvalQuestion]) -> dict[str, dict]:
    """Recall of candidate fusions, to choose one by measurement (printed by bench/eval.py)."""
    slide_of = np.asarray([p.slide for p in retriever.passages])
    scores = collect(retriever, questions)
    candidates: dict[str, Ranker] = {"rrf-60": lambda s: reciprocal_rank_fusion(s.dense, s.lexical)}
    for weight in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5):
        candidates[f"weighted-{weight}"] = lambda s, w=weight: fuse(s.dense, s.lexical, w)
    always = lambda s, best: True  # noqa: E731
    return {name: metrics(questions, scores, slide_of, rank, always) for name, rank in candidates.items()}


def threshold_study(retriever: Retriever, questions: list[EvalQuestion]) -> list[dict]:
    slide_of = np.asarray([p.slide for p in retriever.passages])
    scores = collect(retriever, questions)
    rows = []
    for threshold in np.arange(0.30, 0.61, 0.02):
        sure = lambda s, best, t=threshold: float(s.dense.max()) >= t  # noqa: E731
        m = metrics(questions, scores, slide_of, RANKERS["hybrid"], sure)
        rows.append({"threshold": round(float(threshold), 2), **m})
    return rows
