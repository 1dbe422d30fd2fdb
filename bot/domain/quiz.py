"""Quiz questions drawn from a slide, and a judge that marks free-text answers by meaning.

Questions come from the slide's FAQ pairs and from its key concepts (the ``### Name`` blocks of the
"Key Concepts" section). The judge embeds the learner's answer and the expected answer and compares
them (cosine similarity), nudged by how many of the answer's key terms the learner used. Its
default thresholds were chosen by ``bench/quiz_judge.py`` on the labelled answers in
``tests/data/quiz_answers.jsonl``; rerun it after changing the model or the rules.

No Discord here: the cogs, the command-line interface and the bench all use this module.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.domain.deck import Slide

if TYPE_CHECKING:
    from bot.domain.embedding import Embedder

Source = Literal["faq", "concept"]
VerdictName = Literal["right", "partly", "not_yet"]

KEY_CONCEPTS_HEADING = "Key Concepts"
MAX_KEY_TERMS = 6

# Chosen by bench/quiz_judge.py (see its output in the commit message and the module docstring).
DEFAULT_RIGHT_THRESHOLD = 0.60
DEFAULT_PARTLY_THRESHOLD = 0.40
DEFAULT_TERM_WEIGHT = 0.10
# An answer this close to the question itself, and no closer to the expected answer, is an echo.
ECHO_THRESHOLD = 0.85
MIN_WORDS = 2

# fmt: off
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each either else etc even ever every few for from further get gets getting
give given gives go goes had hadn't has hasn't have haven't having he her here hers herself him
himself his how however i i'd i'll i'm i've if in into is isn't it it's its itself just let like
lot lots made make makes making many may me might more most much must my myself no nor not now of
off often on once one only or other others otherwise our ours ourselves out over own per rather
really same see seem seems she should shouldn't so some something such than that that's the their
theirs them themselves then there there's these they they're thing things this those though
through thus to too under until up upon us use used uses using usually very via was wasn't way
ways we we're well were weren't what what's when where whether which while who whom whose why will
with within without won't would wouldn't yes you you're your yours yourself yourselves
able allow allows allowed help helps helped instead kind kinds mean means new often part parts
particular several simply specific still take takes thereby various versus vs within
ai model models
""".split())
# fmt: on

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_MARKDOWN = re.compile(r"\*\*|__|`|^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_SUFFIXES = (
    ("ational", "ate"), ("ations", ""), ("ation", ""), ("ities", ""), ("ity", ""), ("ings", ""),
    ("ing", ""), ("ions", ""), ("ion", ""), ("ives", ""), ("ive", ""), ("ers", ""), ("er", ""),
    ("ies", "y"), ("ied", "y"), ("ed", ""), ("es", ""), ("ly", ""), ("al", ""), ("s", ""), ("e", ""),
)  # fmt: skip
_DONT_KNOW = re.compile(
    r"^(?:(?:i|we)\s+)?(?:(?:really|honestly|just)\s+)?"
    r"(?:idk|dunno|no\s+idea|no\s+clue|not\s+sure|unsure|pass|skip|next|nothing|none|n/?a|"
    r"(?:do\s*n[o']?t|dont|don't|do\s+not)\s+know|(?:have\s+)?no\s+(?:idea|clue)|forgot|"
    r"can'?t\s+remember|(?:do\s*n[o']?t|dont|don't)\s+remember|\?+)"
    r"(?:\s+(?:sorry|really|tbh|honestly|at\s+all|the\s+answer|this\s+one|either))*$"
)


# --------------------------------------------------------------------------- words


def words(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated and slashed compounds split into their parts."""
    text = text.casefold().replace("\u2019", "'").replace("-", " ").replace("/", " ")
    return _WORD.findall(text)


def stem(word: str) -> str:
    """A crude suffix-stripping stem, enough to match "embedding"/"embeddings"/"embedded"."""
    word = word.casefold().removesuffix("'s")
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: len(word) - len(suffix)] + replacement
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # embedd -> embed, modell -> model
    return word


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and (len(w) >= 3 or w.isdigit())]


def key_terms(answer: str, question: str = "", limit: int = MAX_KEY_TERMS) -> tuple[str, ...]:
    """The content words of ``answer`` that the question does not already give away.

    Longer words win when there are more than ``limit`` (a fair proxy for the specific ones);
    the result keeps the order of the answer.
    """
    given = {stem(w) for w in content_words(question)}
    seen: dict[str, str] = {}
    for w in content_words(answer):
        s = stem(w)
        if s not in given and s not in seen and not w.isdigit():
            seen[s] = w
    chosen = sorted(seen.values(), key=len, reverse=True)[:limit]
    return tuple(w for w in seen.values() if w in chosen)


def plain(text: str) -> str:
    """Markdown emphasis, bullets and list numbers removed; whitespace collapsed."""
    return re.sub(r"\s+", " ", _MARKDOWN.sub("", text)).strip()


# --------------------------------------------------------------------------- questions


@dataclass(frozen=True, slots=True)
class QuizQuestion:
    slide: int
    title: str
    question: str
    answer: str
    key_terms: tuple[str, ...]
    source: Source


def key_concepts(slide: Slide) -> list[tuple[str, str]]:
    """``(name, text)`` for each ``### Name`` block of the slide's "Key Concepts" section."""
    section = slide.section(KEY_CONCEPTS_HEADING)
    if section is None:
        return []
    concepts: list[tuple[str, str]] = []
    name: str | None = None
    body: list[str] = []
    for line in section.text.split("\n") + ["### "]:  # the sentinel closes the last block
        if line.startswith("### "):
            text = plain("\n".join(body))
            if name and text:
                concepts.append((name, text))
            name, body = plain(line[4:]).rstrip(":"), []
        elif name is not None:
            body.append(line)
    return concepts


def _concept_question(name: str, index: int) -> str:
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        name = name[0].lower() + name[1:]  # "Rule-based systems" reads as a phrase; "GANs" stays
    if index % 2:
        return f"Explain {name} in your own words."
    last = name.split()[-1] if name.split() else name
    plural = last.endswith("s") and not last.endswith(("ss", "is", "us", "ics"))
    return f"What {'are' if plural else 'is'} {name}?"


def questions_for(slide: Slide) -> list[QuizQuestion]:
    """Every quiz question the slide offers: its FAQ pairs, then one per key concept."""
    questions = [
        QuizQuestion(
            slide=slide.number,
            title=slide.title,
            question=pair.q.strip(),
            answer=plain(pair.a),
            key_terms=key_terms(pair.a, pair.q),
            source="faq",
        )
        for pair in slide.faq
        if pair.q.strip() and pair.a.strip()
    ]
    for index, (name, text) in enumerate(key_concepts(slide)):
        question = _concept_question(name, index)
        # The concept's name is in the question, so it cannot count as evidence of understanding.
        questions.append(
            QuizQuestion(
                slide=slide.number,
                title=slide.title,
                question=question,
                answer=text,
                key_terms=key_terms(text, question),
                source="concept",
            )
        )
    return questions


def pick_question(
    slide: Slide,
    rng: random.Random | int | None = None,
    exclude: Iterable[str | QuizQuestion] = (),
) -> QuizQuestion | None:
    """A random question from the slide, avoiding ``exclude`` (questions or their text) while any
    other is left; None if the slide has no questions at all."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    questions = questions_for(slide)
    if not questions:
        return None
    asked = {(q.question if isinstance(q, QuizQuestion) else q).strip().casefold() for q in exclude}
    fresh = [q for q in questions if q.question.casefold() not in asked]
    return rng.choice(fresh or questions)


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the judge sees in an answer, before any threshold is applied."""

    similarity: float  # cosine similarity of the answer to the expected answer
    question_similarity: float  # ... and to the question
    matched_terms: tuple[str, ...]
    missing_terms: tuple[str, ...]
    problem: str | None = None  # why the answer cannot be right whatever it means ("empty", ...)

    @property
    def coverage(self) -> float | None:
        total = len(self.matched_terms) + len(self.missing_terms)
        return len(self.matched_terms) / total if total else None


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: VerdictName
    similarity: float
    matched_terms: tuple[str, ...]
    missing_terms: tuple[str, ...]
    feedback: str
    score: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.verdict == "right"


def _normalised(text: str) -> str:
    text = text.casefold().replace("\u2019", "'")
    text = re.sub(r"[^\w\s'?/]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def blank_reason(question: str, answer: str) -> str | None:
    """Why an answer is not an attempt at all: "empty", "dont_know", "too_short", "echo"."""
    if not answer or not answer.strip():
        return "empty"
    if _DONT_KNOW.match(_normalised(answer)):
        return "dont_know"
    tokens = words(answer)
    if len(tokens) < MIN_WORDS or sum(len(w) for w in tokens) < 6:
        return "too_short"
    asked = {stem(w) for w in words(question)}
    if not {stem(w) for w in content_words(answer)} - asked:
        return "echo"  # nothing said beyond the words of the question
    return None


class QuizJudge:
    """Marks an answer "right", "partly" or "not_yet" by meaning.

    ``score = similarity + term_weight * (coverage - 0.5)``, where similarity is the cosine of the
    answer to the expected answer and coverage the share of key terms the learner used (0.5 when
    the answer has none). ``score >= right_threshold`` is right, ``>= partly_threshold`` partly.
    """

    def __init__(
        self,
        embedder: Embedder,
        right_threshold: float = DEFAULT_RIGHT_THRESHOLD,
        partly_threshold: float = DEFAULT_PARTLY_THRESHOLD,
        term_weight: float = DEFAULT_TERM_WEIGHT,
        echo_threshold: float = ECHO_THRESHOLD,
    ) -> None:
        if partly_threshold > right_threshold:
            raise ValueError("partly_threshold must not be above right_threshold")
        self.embedder = embedder
        self.right_threshold = right_threshold
        self.partly_threshold = partly_threshold
        self.term_weight = term_weight
        self.echo_threshold = echo_threshold

    def with_thresholds(self, **changes: float) -> QuizJudge:
        """The same judge (and model) with other thresholds; used by the bench's sweep."""
        params = {
            "right_threshold": self.right_threshold,
            "partly_threshold": self.partly_threshold,
            "term_weight": self.term_weight,
            "echo_threshold": self.echo_threshold,
        }
        params.update(changes)
        return QuizJudge(self.embedder, **params)

    def measure(self, question: QuizQuestion, answer: str) -> Measurement:
        """Embed and compare; blocking (runs the model), so call it off the event loop."""
        answer = answer or ""
        learner = {stem(w) for w in content_words(answer)}
        matched = tuple(t for t in question.key_terms if stem(t) in learner)
        missing = tuple(t for t in question.key_terms if stem(t) not in learner)
        problem = blank_reason(question.question, answer)
        if problem in ("empty", "dont_know", "too_short"):
            return Measurement(0.0, 0.0, (), question.key_terms, problem)
        vectors = self.embedder.encode([answer.strip(), question.answer, question.question])
        similarity = float(vectors[0] @ vectors[1])
        question_similarity = float(vectors[0] @ vectors[2])
        return Measurement(similarity, question_similarity, matched, missing, problem)

    def score(self, measurement: Measurement) -> float:
        coverage = measurement.coverage
        return measurement.similarity + self.term_weight * ((0.5 if coverage is None else coverage) - 0.5)

    def classify(self, measurement: Measurement) -> VerdictName:
        """The verdict for a measurement under this judge's thresholds (no model call)."""
        if measurement.problem is not None or self._echoes(measurement):
            return "not_yet"
        score = self.score(measurement)
        if score >= self.right_threshold:
            return "right"
        if score >= self.partly_threshold:
            return "partly"
        return "not_yet"

    def _echoes(self, m: Measurement) -> bool:
        return m.question_similarity >= self.echo_threshold and m.question_similarity >= m.similarity

    def judge(self, question: QuizQuestion, answer: str) -> Verdict:
        measurement = self.measure(question, answer)
        verdict = self.classify(measurement)
        return Verdict(
            verdict=verdict,
            similarity=round(measurement.similarity, 4),
            matched_terms=measurement.matched_terms,
            missing_terms=measurement.missing_terms,
            feedback=self._feedback(verdict, measurement),
            score=round(self.score(measurement), 4),
        )

    def _feedback(self, verdict: VerdictName, m: Measurement) -> str:
        problem = "echo" if m.problem is None and self._echoes(m) else m.problem
        if problem == "empty":
            return "No answer yet: have a go in a sentence or two."
        if problem == "dont_know":
            return "No problem: here is the answer. Try this question again later."
        if problem == "too_short":
            return "That is too short to mark: say it in a sentence."
        if problem == "echo":
            return "That repeats the question; say what the answer is in your own words."
        hint = ", ".join(m.missing_terms[:3])
        if verdict == "right":
            return "Right: that captures the idea."
        if verdict == "partly":
            return f"Partly right. A fuller answer would also touch on: {hint}." if hint else (
                "Partly right: you are on the way, but something is missing."
            )
        return "Not yet: that misses the main idea. Compare it with the answer."
