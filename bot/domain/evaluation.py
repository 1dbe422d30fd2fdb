"""Retrieval quality on a labelled question set: Recall@k, MRR and how well "not covered" works.

Used by ``bench/eval.py`` (which prints the figures) and by the regression test. Each question is
embedded and searched once; every mode, fusion and threshold is then computed from those scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.domain.confidence import DEFAULT_RULE, ConfidenceRule
from bot.domain.retrieval import MAX_QUESTION_CHARS, Retriever, fuse, reciprocal_rank_fusion


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    question: str
    slide: int | None  # the gold slide; None for a question the deck does not cover


def load_questions(path: Path, split: str | None = None) -> list[EvalQuestion]:
    """The labelled questions; with ``split`` ("tune" or "test"), only that half."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if split is None or row.get("split") == split:
                questions.append(EvalQuestion(row["question"], row["slide"]))
        except (json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"{path.name}:{number}: {error}") from None
    return questions


@dataclass(frozen=True, slots=True)
class Evidence:
    """One question's raw scores: per-passage dense cosine and BM25."""

    text: str
    dense: np.ndarray
    lexical: np.ndarray
    elsewhere: float  # best cosine with a subject that is not the course's


Ranker = Callable[[Evidence], np.ndarray]
# Decides whether the deck answers, given the evidence and the ranking.
Decider = Callable[[Evidence, np.ndarray], bool]

RANKERS: dict[str, Ranker] = {
    "hybrid": lambda e: fuse(e.dense, e.lexical),
    "dense": lambda e: e.dense,
    "bm25": lambda e: e.lexical,
}


class Evaluation:
    def __init__(self, retriever: Retriever, questions: list[EvalQuestion], kinds: frozenset[str] | None = None):
        self.retriever = retriever
        self.questions = questions
        self.slide_of = np.asarray([p.slide for p in retriever.passages])
        self.evidence = []
        for item in questions:
            text = " ".join(item.question.split())[:MAX_QUESTION_CHARS]
            text = retriever.prepare(text)
            vector = retriever.query_vector(text)
            dense, _ = retriever.dense_scores(vector, kinds)
            self.evidence.append(Evidence(text, dense, retriever.lexical_scores(text), retriever.elsewhere(vector)))

    def by_evidence(self, rule: ConfidenceRule = DEFAULT_RULE) -> Decider:
        """The answering service's own rule (bot.domain.confidence)."""

        def decide(evidence: Evidence, ranking: np.ndarray) -> bool:
            top = [int(i) for i in np.argsort(-ranking, kind="stable")[: rule.passages]]
            coverage = self.retriever.coverage(evidence.text, top)
            return rule.judge(float(evidence.dense[top].max()), coverage, evidence.elsewhere) == "answer"

        return decide

    def metrics(self, rank: Ranker, decide: Decider) -> dict[str, float]:
        """Recall@1, Recall@3 and MRR over covered questions; decline rates on both kinds."""
        hits1 = hits3 = reciprocal = 0.0
        covered = declined_wrongly = off_topic = declined_rightly = 0
        for item, evidence in zip(self.questions, self.evidence, strict=True):
            ranking = rank(evidence)
            sure = decide(evidence, ranking)
            if item.slide is None:
                off_topic += 1
                declined_rightly += not sure
                continue
            covered += 1
            declined_wrongly += not sure
            order = slide_ranking(ranking, self.slide_of)
            position = order.index(item.slide) if item.slide in order else len(order)
            hits1 += position == 0
            hits3 += position < 3
            reciprocal += 1.0 / (position + 1) if item.slide in order else 0.0
        return {
            "recall@1": round(hits1 / max(covered, 1), 4),
            "recall@3": round(hits3 / max(covered, 1), 4),
            "mrr": round(reciprocal / max(covered, 1), 4),
            "off_topic_declined": round(declined_rightly / max(off_topic, 1), 4),
            "on_topic_declined": round(declined_wrongly / max(covered, 1), 4),
        }

    def modes(self) -> dict[str, dict]:
        """Hybrid, dense-only and BM25-only side by side. BM25 alone has no score comparable to a
        cosine, so it declines only when no passage shares a term with the question."""
        shares_a_term: Decider = lambda evidence, ranking: float(evidence.lexical.max()) > 0  # noqa: E731
        return {
            "hybrid": self.metrics(RANKERS["hybrid"], self.by_evidence()),
            "dense": self.metrics(RANKERS["dense"], self.by_evidence()),
            "bm25": self.metrics(RANKERS["bm25"], shares_a_term),
        }

    def fusions(self) -> dict[str, dict]:
        """Ranking quality of candidate fusions, to choose one by measurement."""
        candidates: dict[str, Ranker] = {"rrf-60": lambda e: reciprocal_rank_fusion(e.dense, e.lexical)}
        for weight in (0.1, 0.2, 0.25, 0.3, 0.4, 0.5):
            candidates[f"weighted-{weight}"] = lambda e, w=weight: fuse(e.dense, e.lexical, w)
        keep = {"recall@1", "recall@3", "mrr"}
        return {
            name: {k: v for k, v in self.metrics(rank, self.by_evidence()).items() if k in keep}
            for name, rank in candidates.items()
        }

    def thresholds(self) -> list[dict]:
        """Decline rates over a grid of coverage weights and thresholds."""
        rows = []
        for weight in (0.0, 0.1, 0.2, 0.3):
            for threshold in np.arange(0.36, 0.62, 0.02):
                m = self.metrics(
                    RANKERS["hybrid"],
                    self.by_evidence(DEFAULT_RULE.with_(threshold=float(threshold), coverage_weight=weight)),
                )
                rows.append(
                    {
                        "weight": weight,
                        "threshold": round(float(threshold), 2),
                        "off_topic_declined": m["off_topic_declined"],
                        "on_topic_declined": m["on_topic_declined"],
                    }
                )
        return rows


def slide_ranking(scores: np.ndarray, slide_of: np.ndarray) -> list[int]:
    """Slides in the order of their best passage."""
    seen: dict[int, None] = {}
    for position in np.argsort(-scores, kind="stable"):
        seen.setdefault(int(slide_of[position]), None)
    return list(seen)


def records_study(retriever: Retriever, questions: list[EvalQuestion]) -> dict[str, dict]:
    """Does indexing FAQ questions alone and section blocks alone help? Hybrid quality per choice."""
    choices = {
        "passages": frozenset({"passage"}),
        "passages+questions": frozenset({"passage", "question"}),
        "passages+questions+blocks": None,
    }
    results = {}
    for name, kinds in choices.items():
        evaluation = Evaluation(retriever, questions, kinds)
        results[name] = evaluation.metrics(RANKERS["hybrid"], evaluation.by_evidence())
    return results
