"""The one rule that decides how strongly the deck answers a question.

Evidence = the best dense cosine among the top passages + ``coverage_weight`` x how much of the
question's rarity-weighted vocabulary the best of them contains. At or above ``threshold`` the deck
answers; from ``partial_threshold`` up to it, the deck covers part of the question. A question much
closer to a subject that is not the course's (``bot.domain.elsewhere``) than to any passage is
declined whatever its evidence; one the deck would answer only in part, when it is closer at all.
Answering, the conversation layer and the evaluation all use this object, so tuning changes one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Coverage = Literal["answer", "partial", "decline"]


@dataclass(frozen=True, slots=True)
class ConfidenceRule:
    # Chosen on the tune half of tests/eval/questions.jsonl (bench/eval.py --study): cosine alone
    # declined 12% of covered questions to decline 91% of off-topic ones; with coverage, 6.6%.
    threshold: float = 0.56
    coverage_weight: float = 0.3
    passages: int = 3  # how many of the best passages count as evidence
    # Below the threshold but this close, a question shares its subject with a slide: say what the
    # slides say about that part and what they don't.
    partial_threshold: float = 0.5
    # A question that names a tool or place the deck never mentions ("... with Elasticsearch") is
    # answered in part when the rest of it is answered and means this much to a slide on its own
    # (chosen on our own probes: "what tools do I need" for woodworking stays declined).
    outside_core_dense: float = 0.43
    # Advice, a fix or a price about a tool the deck names ("ChatGPT Plus or Claude Pro?") or about the
    # subject of the slide found ("quit my job to become a prompt engineer?") is answered in part from
    # this far below the partial threshold (chosen on our own probes: the product
    # questions sit from 0.33; trips to Paris and Python homework are closer to other subjects)
    named_advice: float = 0.33
    # How much closer a question must be to another subject than to the deck to be declined. Chosen on
    # the tune half and our own probes: the homonyms ("bake bread at what temperature", "fine tune my
    # guitar") sit 0.13 or more closer to their subject; real questions at most 0.04 ("what's stable
    # diffusion" against the diffusion of gases).
    elsewhere_margin: float = 0.08

    def evidence(self, best_dense: float, coverage: float) -> float:
        return best_dense + self.coverage_weight * coverage

    def judge(self, best_dense: float, coverage: float, elsewhere: float = -1.0) -> Coverage:
        """``elsewhere``: the question's best cosine with the subjects that are not the course's.
        It counts only when the question has words the best passages lack: "what is diffusion?"
        means the course's sense; "the diffusion of gases" and "fine tune my guitar" say which."""
        if self.meant_elsewhere(best_dense, coverage, elsewhere):
            return "decline"
        score = self.evidence(best_dense, coverage)
        if score >= self.threshold:
            return "answer"
        return "partial" if score >= self.partial_threshold else "decline"

    def meant_elsewhere(self, best_dense: float, coverage: float, elsewhere: float) -> bool:
        """The question is about another subject that shares the deck's words."""
        # A question the deck would answer only in part needs no margin: closer to another subject at
        # all is enough ("the bias-variance tradeoff in linear regression")
        partly = self.evidence(best_dense, coverage) < self.threshold
        return coverage < 1.0 and (elsewhere >= best_dense if partly else self.clearly_elsewhere(best_dense, elsewhere))

    def clearly_elsewhere(self, best_dense: float, elsewhere: float) -> bool:
        """Closer to another subject than to the deck by the margin: "best restaurants in Paris",
        whatever else it shares with the slides."""
        return elsewhere >= best_dense + self.elsewhere_margin

    def with_(self, **changes: float) -> ConfidenceRule:
        """A variant for the evaluation's sweeps."""
        return replace(self, **changes)


DEFAULT_RULE = ConfidenceRule()
