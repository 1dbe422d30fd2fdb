"""Quiz questions drawn from a slide, and a judge that marks free-text answers by meaning.

Questions come from the slide's FAQ pairs and from its key concepts (the ``### Name`` blocks of the
"Key Concepts" section). The judge embeds the learner's answer and the expected answer and compares
them (cosine similarity), nudged by how many of the answer's key terms the learner used. Its
default thresholds were chosen by ``bench/quiz_judge.py`` on the labelled answers in
``tests/data/quiz_answers.jsonl``; rerun it after changing the model or the rules.

No Discord here: the cogs, the command-line interface and the bench all use this module.

Why one long module: picking questions and judging answers share the key-term rules that the
judge's accuracy was measured with (bench/quiz_judge.py).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.domain.deck import Slide
from bot.domain.text import STOPWORDS, stem, words

if TYPE_CHECKING:
    from bot.domain.embedding import Embedder

Source = Literal["faq", "concept"]
VerdictName = Literal["right", "partly", "not_yet"]

KEY_CONCEPTS_HEADING = "Key Concepts"
MAX_KEY_TERMS = 6

# Chosen by bench/quiz_judge.py on tests/data/quiz_answers.jsonl (179 answers to 75 questions of
# the real deck), with all-MiniLM-L6-v2 and bot.domain.text's words and Snowball stems: 3-way
# accuracy 0.821, binary (accepted or not) 0.933; two-fold cross-validation by slide, 0.749 and
# 0.911 (the judge's own crude stemmer gave 0.816/0.933, cross-validated 0.726/0.877). The surface
# is flat around these values (right 0.50-0.60 and partly 0.35-0.40 all score 0.82-0.83). Rerun
# the bench after changing the model, the rules below or the labelled set.
DEFAULT_RIGHT_THRESHOLD = 0.55
DEFAULT_PARTLY_THRESHOLD = 0.35
DEFAULT_TERM_WEIGHT = 0.2
DEFAULT_SENTENCE_WEIGHT = 0.5
# An answer this close to the question itself, and no closer to the expected answer, is an echo.
ECHO_THRESHOLD = 0.85

# The judge's stopwords: the shared ones (bot.domain.text) plus words that are filler in an answer
# about this deck ("model", "usually", "example"; "isn", "didn" are what is left of "isn't" and
# "didn't"). They decide the key terms, which the feedback names as hints: without them a fifth
# of the deck's key terms (228 of 1,194) were such words ("would also touch on: one, model").
# Accuracy on the labelled set is the same with or without them (bench/quiz_judge.py).
# fmt: off
QUIZ_STOPWORDS = STOPWORDS | frozenset("""
able actually against ai allow allowed allows almost already always another anyone anything around
ask asked below best better big cannot deal either else etc even ever every exactly example
examples far first five four generally gets getting give given gives go goes good great help
helped helps herself high himself however huge imagine instance instead keep keeps kinds large last
let lets like long look lot lots low made make makes making many may might model models mostly much
must myself nearly new none often one others otherwise ours ourselves part particular parts per
rather right say says see seem seems several simply small something sometimes soon specific still
take takes theirs themselves thereby though three thus try two upon us use used uses using usually
various via way ways well whether whole whose within without yes yourself yourselves
aren couldn didn doesn hadn hasn haven isn shouldn wasn weren won wouldn
""".split())
# fmt: on

_MARKDOWN = re.compile(r"\*\*|__|`|^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_DONT_KNOW = re.compile(
    r"^(?:(?:i|we)\s+)?(?:(?:really|honestly|just)\s+)?"
    r"(?:idk|dunno|no\s+idea|no\s+clue|not\s+sure|unsure|pass|skip|n/?a|"
    r"(?:do\s*n[o']?t|dont|don't|do\s+not)\s+know|(?:have\s+)?no\s+(?:idea|clue)|forgot|"
    r"can'?t\s+remember|(?:do\s*n[o']?t|dont|don't)\s+remember|\?+)"
    r"(?:\s+(?:sorry|really|tbh|honestly|at\s+all|the\s+answer|this\s+one|either))*$"
)


# --------------------------------------------------------------------------- words


def content_words(answer: str) -> list[str]:
    """The words that can carry an answer's meaning: no stopwords, at least three letters."""
    return [w for w in words(answer, QUIZ_STOPWORDS) if len(w) >= 3 or w.isdigit()]


_QUOTED = re.compile(r"\"[^\"]*\"|\u201c[^\u201d]*\u201d|\((?:see )?slides? \d+[^)]*\)", re.IGNORECASE)


def key_terms(answer: str, question: str = "", limit: int = MAX_KEY_TERMS) -> tuple[str, ...]:
    """The first ``limit`` content words of ``answer`` that the question does not give away.

    Quoted examples and "(slide N)" references are skipped: the definition comes first in our
    answers, so the earliest distinct content words are the ones a good answer uses.
    """
    given = {stem(w) for w in content_words(question)}
    seen: dict[str, str] = {}
    for w in content_words(_QUOTED.sub(" ", answer)):
        s = stem(w)
        if s not in given and s not in seen and not any(ch.isdigit() for ch in w):
            seen[s] = w
            if len(seen) == limit:
                break
    return tuple(seen.values())


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


_WH_WORDS = ("what ", "why ", "how ", "who ", "when ", "where ", "which ")
_HEAD_STOP = {"of", "in", "for", "from", "with", "on", "as", "at", "by", "to"}
_IRREGULAR_PLURALS = {"corpora", "criteria", "phenomena"}


def _concept_question(name: str, index: int) -> str:
    """'What is X?' for a simple name on even positions, else 'Explain X in your own words.'"""
    name_words = name.split()
    first_word = name_words[0].rstrip(",:;") if name_words else ""
    if re.fullmatch(r"[A-Z][a-z'-]*", first_word) and (
        first_word.casefold() + " " in _WH_WORDS or not any(w[:1].isupper() for w in name_words[1:])
    ):
        name = name[0].lower() + name[1:]  # "Rule-based systems"; but "Latent Space", "LoRA", "GANs" stay
    folded = name.casefold()
    compound = (
        folded.startswith(_WH_WORDS)
        or re.search(r"\band\b|\bvs\.?\b|[:,\"]", folded) is not None
        or len(name_words) > 4
    )
    if compound or index % 2:
        return f"Explain {name} in your own words."
    head = []
    for w in re.sub(r"\([^)]*\)", "", folded).split():
        if head and (w in _HEAD_STOP or w.endswith("ed")):
            break
        head.append(w)
    last = head[-1] if head else folded
    plural = last in _IRREGULAR_PLURALS or (last.endswith("s") and not last.endswith(("ss", "is", "us", "ics")))
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


_YES_NO_START = re.compile(
    r"^(?:is|are|am|was|were|does|do|did|can|could|will|would|should|shall|has|have|had|may|might|must)\b"
)
_YES = re.compile(r"^(?:yes|yeah|yep|yup|sure|absolutely|definitely|of course|correct|true|it can|they can)\b")
_NO = re.compile(r"^(?:no|nope|nah|not|never|mostly no|mostly not|only|false|it cannot|it can't|they can't)\b")


def polarity(text: str) -> int:
    """+1 for an answer that opens with "yes", -1 for "no"/"not"/"only", 0 otherwise (hedged)."""
    opening = _normalised(text)
    if _YES.match(opening):
        return 1
    if _NO.match(opening):
        return -1
    return 0


def is_yes_no(question: str) -> bool:
    return _YES_NO_START.match(_normalised(question)) is not None


def sentences(text: str) -> list[str]:
    """The answer's sentences (and semicolon clauses) of three words or more; the text if none."""
    parts = [p.strip() for p in re.split(r"(?<=[.;!?])\s+", text)]
    return [p for p in parts if len(p.split()) >= 3] or [text]


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the judge sees in an answer, before any threshold is applied."""

    similarity: float  # cosine similarity of the answer to the whole expected answer
    sentence_similarity: float  # ... to its closest sentence (a short answer may cover one point)
    question_similarity: float  # ... to the question
    matched_terms: tuple[str, ...]
    missing_terms: tuple[str, ...]
    problem: str | None = None  # see `problem_of`; None for an answer to be marked on meaning
    agrees: bool | None = None  # yes/no question: does the answer open the same way? None: n/a

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
    text = re.sub(r"[^\w\s'?/+]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def problem_of(question: QuizQuestion, answer: str) -> str | None:
    """Why an answer cannot be marked on its meaning alone.

    "empty", "dont_know" ("idk", "no idea"), "too_short" (a single character): no attempt.
    "contradicts": a yes/no answer opening the opposite way to the expected one.
    "no_content": only filler words ("yes it can"); "echo": nothing beyond the question's words.
    """
    if not answer or not answer.strip():
        return "empty"
    if _DONT_KNOW.match(_normalised(answer)):
        return "dont_know"
    if sum(len(w) for w in words(answer, frozenset())) < 2:
        return "too_short"
    if is_yes_no(question.question) and polarity(answer) * polarity(question.answer) < 0:
        return "contradicts"
    said = {stem(w) for w in content_words(answer)}
    if not said:
        return "no_content"
    if not said - {stem(w) for w in words(question.question, frozenset())}:
        return "echo"
    return None


class QuizJudge:
    """Marks an answer "right", "partly" or "not_yet" by meaning.

    ``similarity = (1 - sentence_weight) * cos(answer, expected) + sentence_weight * cos(answer,
    closest expected sentence)``; ``score = similarity + term_weight * (coverage - 0.5)``, where
    coverage is the share of the key terms the learner used (0.5 when there are none).
    ``score >= right_threshold`` is right, ``>= partly_threshold`` partly. Before that, rules:
    no attempt or a contradicted yes/no is not yet; a yes/no answered the right way round is at
    least partly right, even bare ("yes it can") or restating the question; otherwise a bare or
    restated answer is not yet, and so is one much closer to the question than to the expected
    answer (an echo).
    """

    def __init__(
        self,
        embedder: Embedder,
        right_threshold: float = DEFAULT_RIGHT_THRESHOLD,
        partly_threshold: float = DEFAULT_PARTLY_THRESHOLD,
        term_weight: float = DEFAULT_TERM_WEIGHT,
        sentence_weight: float = DEFAULT_SENTENCE_WEIGHT,
        echo_threshold: float = ECHO_THRESHOLD,
    ) -> None:
        if partly_threshold > right_threshold:
            raise ValueError("partly_threshold must not be above right_threshold")
        if not 0.0 <= sentence_weight <= 1.0:
            raise ValueError("sentence_weight must be between 0 and 1")
        self.embedder = embedder
        self.right_threshold = right_threshold
        self.partly_threshold = partly_threshold
        self.term_weight = term_weight
        self.sentence_weight = sentence_weight
        self.echo_threshold = echo_threshold

    def with_thresholds(self, **changes: float) -> QuizJudge:
        """The same judge (and model) with other settings; used by the bench's sweep."""
        params = {
            "right_threshold": self.right_threshold,
            "partly_threshold": self.partly_threshold,
            "term_weight": self.term_weight,
            "sentence_weight": self.sentence_weight,
            "echo_threshold": self.echo_threshold,
        }
        params.update(changes)
        return QuizJudge(self.embedder, **params)

    def measure(self, question: QuizQuestion, answer: str) -> Measurement:
        """Embed and compare; blocking (runs the model), so call it off the event loop."""
        return self.measure_many([(question, answer)])[0]

    def measure_many(self, items: list[tuple[QuizQuestion, str]]) -> list[Measurement]:
        """``measure`` for many answers, with every distinct text embedded once, in batches."""
        prepared = []
        texts: dict[str, int] = {}
        for question, answer in items:
            answer = (answer or "").strip()
            problem = problem_of(question, answer)
            agrees = None
            if is_yes_no(question.question) and polarity(question.answer) and polarity(answer):
                agrees = polarity(answer) == polarity(question.answer)
            needed = problem not in ("empty", "dont_know", "too_short")
            if needed:
                for text in (answer, question.question, question.answer, *sentences(question.answer)):
                    texts.setdefault(text, len(texts))
            prepared.append((question, answer, problem, agrees, needed))
        vectors = self.embedder.encode(list(texts))

        results = []
        for question, answer, problem, agrees, needed in prepared:
            if not needed:
                results.append(Measurement(0.0, 0.0, 0.0, (), question.key_terms, problem, agrees))
                continue
            said = {stem(w) for w in content_words(answer)}
            mine = vectors[texts[answer]]
            results.append(
                Measurement(
                    similarity=float(mine @ vectors[texts[question.answer]]),
                    sentence_similarity=max(float(mine @ vectors[texts[p]]) for p in sentences(question.answer)),
                    question_similarity=float(mine @ vectors[texts[question.question]]),
                    matched_terms=tuple(t for t in question.key_terms if stem(t) in said),
                    missing_terms=tuple(t for t in question.key_terms if stem(t) not in said),
                    problem=problem,
                    agrees=agrees,
                )
            )
        return results

    def score(self, m: Measurement) -> float:
        coverage = 0.5 if m.coverage is None else m.coverage
        blended = (1 - self.sentence_weight) * m.similarity + self.sentence_weight * m.sentence_similarity
        return blended + self.term_weight * (coverage - 0.5)

    def _echoes(self, m: Measurement) -> bool:
        return m.question_similarity >= self.echo_threshold and m.question_similarity > m.similarity

    def classify(self, m: Measurement) -> VerdictName:
        """The verdict for a measurement under this judge's settings (no model call)."""
        if m.problem in ("no_content", "echo"):
            return "partly" if m.agrees else "not_yet"
        if m.problem is not None or self._echoes(m):
            return "not_yet"
        score = self.score(m)
        if score >= self.right_threshold:
            return "right"
        if score >= self.partly_threshold or m.agrees:
            return "partly"  # a yes/no answered the right way round is partly right at least
        return "not_yet"

    def judge(self, question: QuizQuestion, answer: str) -> Verdict:
        """Measure and classify an answer; blocking (runs the model)."""
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
            return "No problem: compare with the answer and try this one again later."
        if problem == "too_short":
            return "That is too short to mark: say it in a sentence."
        if problem == "contradicts":
            return "Not quite: the answer is the other way round."
        if problem in ("no_content", "echo"):
            if verdict == "partly":
                return "Right direction, but say why: explain it in a sentence."
            if problem == "echo":
                return "That repeats the question; say what the answer is in your own words."
            return "Say a little more: what is the answer, and why?"
        hint = ", ".join(m.missing_terms[:3])
        if verdict == "right":
            return "Right: that captures the idea."
        if verdict == "partly":
            if hint:
                return f"Partly right. A fuller answer would also touch on: {hint}."
            return "Partly right: you are on the way, but something is missing."
        return "Not yet: that misses the main idea. Compare it with the answer."
