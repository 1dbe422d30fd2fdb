"""FAQ-style answers from the slides, with citations, and an honest "not covered".

Nothing here generates text: every sentence of an answer is a sentence of the deck. The
generative model is never used for facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.deck import chat_markdown
from bot.domain.errors import UserError
from bot.domain.index import Passage
from bot.domain.retrieval import MAX_QUESTION_CHARS, Mode, Retriever, ScoredPassage
from bot.domain.text import shorten

# When does the deck answer a question? Best cosine + COVERAGE_WEIGHT x coverage of the question's
# rarity-weighted terms by the top 3 passages must reach CONFIDENCE_THRESHOLD. Chosen on the
# evaluation set (bench/eval.py --study): cosine alone declined 12% of covered questions to decline
# 91% of off-topic ones; with coverage, 6.6% for the same 91%.
COVERAGE_WEIGHT = 0.3
CONFIDENCE_THRESHOLD = 0.56
EVIDENCE_PASSAGES = 3
# A second slide is cited when its fused score is this close to the best one's.
SECOND_SOURCE_RATIO = 0.95
MAX_PASSAGE_CHARS = 700


def evidence_score(best_dense: float, coverage: float, weight: float = COVERAGE_WEIGHT) -> float:
    return best_dense + weight * coverage


class EmptyQuestion(UserError, ValueError):
    def __init__(self) -> None:
        super().__init__("The question is empty: type a question about the slides.")


@dataclass(frozen=True, slots=True)
class Source:
    slide: int
    title: str
    section: str
    score: float

    def to_dict(self) -> dict:
        return {"slide": self.slide, "title": self.title, "section": self.section, "score": round(self.score, 4)}

    @property
    def citation(self) -> str:
        return f"Slide {self.slide} · {self.title} — {self.section}"


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    text: str
    confident: bool
    sources: list[Source] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "confident": self.confident,
            "sources": [source.to_dict() for source in self.sources],
        }

    @property
    def slides(self) -> list[int]:
        """Cited slide numbers, best first, without repeats."""
        return list(dict.fromkeys(source.slide for source in self.sources))


def excerpt(scored: ScoredPassage) -> str:
    """The part of a passage that answers: an FAQ answer whole, else the matching block and the
    one after it when that keeps it short (a step and the next, a concept and its example)."""
    passage = scored.passage
    if passage.question:
        return passage.text
    blocks = passage.blocks()
    if scored.block is None or len(blocks) <= 1:
        text = passage.text
    else:
        chosen = [blocks[scored.block]]
        following = scored.block + 1
        if following < len(blocks) and len(chosen[0]) + len(blocks[following]) < MAX_PASSAGE_CHARS // 2:
            chosen.append(blocks[following])
        text = "\n".join(chosen)
    return shorten(chat_markdown(text).strip(), MAX_PASSAGE_CHARS)


class Answerer:
    """Turns a question into an :class:`Answer`. One instance serves every front end."""

    def __init__(self, retriever: Retriever, threshold: float = CONFIDENCE_THRESHOLD) -> None:
        self.retriever = retriever
        self.threshold = threshold

    def answer(self, question: str, mode: Mode = "hybrid") -> Answer:
        question = " ".join(question.split())
        if not question:
            raise EmptyQuestion()
        results = self.retriever.search(question[:MAX_QUESTION_CHARS], k=8, mode=mode)
        if not results:
            return Answer(question, "The slide deck is empty, so there is nothing to answer from yet.", False)
        if self.evidence(question, results) < self.threshold:
            return self._decline(question, results)
        chosen = [results[0]]
        for other in results[1:]:
            if (
                other.passage.slide != chosen[0].passage.slide
                and other.score >= SECOND_SOURCE_RATIO * results[0].score
                and other.dense >= chosen[0].dense - 0.05
            ):
                chosen.append(other)
                break
        parts = [_cited(scored.passage, excerpt(scored)) for scored in chosen]
        if len(chosen) > 1:
            parts.insert(0, f"Slides {chosen[0].passage.slide} and {chosen[1].passage.slide} both cover this.")
        return Answer(question, "\n\n".join(parts), True, [_source(scored) for scored in chosen])

    def evidence(self, question: str, results: list[ScoredPassage]) -> float:
        """How strongly the deck answers: compared with the threshold to decide."""
        top = results[:EVIDENCE_PASSAGES]
        return evidence_score(
            max(scored.dense for scored in top), self.retriever.coverage(question, [s.position for s in top])
        )

    def _decline(self, question: str, results: list[ScoredPassage]) -> Answer:
        nearest: list[ScoredPassage] = []
        for scored in results:
            if all(scored.passage.slide != other.passage.slide for other in nearest):
                nearest.append(scored)
            if len(nearest) == 3:
                break
        names = ", ".join(f"slide {s.passage.slide} ({s.passage.title})" for s in nearest)
        text = (
            "The slides don't cover that, so I won't guess. "
            f"The nearest slides to look at are {names}. Try rephrasing, or ask about a topic from the deck."
        )
        return Answer(question, text, False, [_source(scored) for scored in nearest])


def _cited(passage: Passage, body: str) -> str:
    label = f"**{passage.question}**\n" if passage.question else ""
    return f"{label}{body}\n— *Slide {passage.slide} · {passage.title} — {passage.section}*"


def _source(scored: ScoredPassage) -> Source:
    passage = scored.passage
    return Source(passage.slide, passage.title, passage.section, scored.score)
