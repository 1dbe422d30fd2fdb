"""Grounded synthesis (``ANSWER_STYLE=synthesis``): a fluent answer, still only what the slides say.

The configured generation backend writes the answer from the passages the retriever chose for the
quoted answer, citing them as ``[slide N]``. Every sentence it writes is then checked against
those passages: close in meaning (MiniLM cosine) to one of their sentences, its key terms and
every number found in them, and no negation the slide lacks (or the other way round). Sentences
that fail are removed; each kept one cites the slide that supports it. When too little survives,
or the model fails or runs out of time, the quoted answer stands. Either way the reply says which
it is. Off by default: quoting is the right default offline (a 135M model words poorly).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from bot.domain.conversation import Conversations, Key, Reply, Tutoring
from bot.domain.courses import CourseTutoring
from bot.domain.generation import ChatMessage, GenerationError, GenerationRequest, GenerationTimeout
from bot.domain.text import sentences, shorten, terms

if TYPE_CHECKING:
    from bot.domain.generation import GenerationService, GenerationStats
    from bot.domain.passages import Passage
    from bot.domain.tutor import Tutor

log = logging.getLogger(__name__)

ANSWER_STYLES = ("quote", "synthesis")
# A sentence is supported when its cosine with one of the passages' sentences reaches MIN_COSINE
# and at least MIN_TERM_SHARE of its key terms (every number among them) occur in the passages.
MIN_COSINE = 0.6
MIN_TERM_SHARE = 0.75
# Fall back to the quote unless at least this share of the written sentences survives.
MIN_KEPT_SHARE = 0.5
MAX_NEW_TOKENS = 200
MAX_PASSAGE_CHARS = 1200
MAX_ANSWER_CHARS = 900
TEMPERATURE = 0.3

SYSTEM = (
    "You are a tutor for a course on generative AI. Answer the student's question using only the "
    "numbered slide passages given. Write two to four plain sentences. End every sentence with the "
    "slide it comes from, like [slide 3]. Never add facts that are not in the passages."
)
SYNTHESIS_NOTE = "_Worded by {model} from the slides cited; every sentence was checked against them{removed}._"
FALLBACK_NOTE = "_Quoted from the slides: {why}._"

_CITATION = re.compile(r"\[\s*(?:slides?|s\.)?\s*#?\s*(\d{1,4}(?:\s*(?:,|and|&)\s*\d{1,4})*)\s*\]", re.IGNORECASE)
_MOVE_CITATION = re.compile(r"\s*([.!?])\s*((?:\[[^\]]{1,40}\]\s*)+)")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_NEGATION = re.compile(r"\b(?:not|no|never|none|cannot|without|neither|nor)\b|n't\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True, slots=True)
class Checked:
    """One sentence the model wrote, and whether the passages support it."""

    text: str  # without its citations
    cited: tuple[int, ...]  # the slides the model cited for it
    slide: int | None  # the slide of the passage sentence that supports it best
    cosine: float
    term_share: float
    reason: str | None  # why it is unsupported; None when supported

    @property
    def supported(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class Synthesis:
    """The outcome: ``used`` when the worded answer is shown, else the quote stands (``why``)."""

    used: bool
    text: str  # the worded answer with its citations ("" when not used)
    checked: tuple[Checked, ...] = ()
    why: str = ""
    model: str = ""

    @property
    def removed(self) -> int:
        return sum(not c.supported for c in self.checked)


def split_claims(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The model's answer as sentences, each with the slides it cites: "A [slide 3]. B." ->
    [("A.", (3,)), ("B.", ())]. A citation after the full stop belongs to the sentence before."""
    claims: list[tuple[str, tuple[int, ...]]] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        line = _MOVE_CITATION.sub(lambda m: f" {m.group(2).strip()}{m.group(1)} ", line).strip()
        for sentence in sentences(line):
            cited = tuple(
                dict.fromkeys(int(n) for match in _CITATION.finditer(sentence) for n in re.findall(r"\d+", match[1]))
            )
            bare = " ".join(_CITATION.sub("", sentence).split())
            bare = re.sub(r"\s+([.!?,;:])", r"\1", bare)
            if re.search(r"[A-Za-z]{2}", bare):
                claims.append((bare, cited))
    return claims


def _key_terms(text: str) -> list[str]:
    return [t for t in terms(text) if len(t) > 2 or t.isdigit()]


class Synthesizer:
    """Words answers with a generation backend and checks them against the passages.

    ``generate`` runs one request to the end, blocking (``GenerationService.generate_from_thread``
    fits); ``embed`` gives unit vectors for a list of texts (``Embedder.encode``)."""

    def __init__(
        self,
        generate: Callable[[GenerationRequest], GenerationStats],
        embed: Callable[[list[str]], np.ndarray],
        *,
        max_new_tokens: int = MAX_NEW_TOKENS,
    ) -> None:
        self.generate = generate
        self.embed = embed
        self.max_new_tokens = max_new_tokens

    @staticmethod
    def messages(question: str, passages: list[Passage]) -> tuple[ChatMessage, ...]:
        blocks = [f"[slide {p.slide}] {p.title} — {p.section}:\n{shorten(p.text, MAX_PASSAGE_CHARS)}" for p in passages]
        user = "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\nAnswer:"
        return (ChatMessage("system", SYSTEM), ChatMessage("user", user))

    def request(self, question: str, passages: list[Passage]) -> GenerationRequest:
        return GenerationRequest(
            self.messages(question, passages),
            max_new_tokens=self.max_new_tokens,
            temperature=TEMPERATURE,
            top_p=0.9,
            seed=0,
            kind="custom",  # checked here, against the passages, not by the generic checks
            repetition_penalty=1.1,
            no_repeat_ngram_size=4,
            natural_end=True,
        )

    def check(self, text: str, passages: list[Passage]) -> list[Checked]:
        """Each sentence of ``text`` against the passages' own sentences."""
        claims = split_claims(text)
        if not claims or not passages:
            return [Checked(t, c, None, 0.0, 0.0, "no passages") for t, c in claims]
        units = [(p.slide, unit.text) for p in passages for unit in p.units()]
        units = [u for u in units if u[1].strip()] or [(p.slide, p.text) for p in passages]
        vectors = self.embed([t for t, _ in claims] + [u[1] for u in units])
        claim_vectors, unit_vectors = vectors[: len(claims)], vectors[len(claims) :]
        cosines = claim_vectors @ unit_vectors.T
        passage_terms = {t for p in passages for t in _key_terms(f"{p.title} {p.section} {p.text}")}
        passage_numbers = {n for p in passages for n in _NUMBER.findall(p.text)}
        slides = {p.slide for p in passages}
        checked = []
        for (text_, cited), row in zip(claims, cosines, strict=True):
            best = int(np.argmax(row))
            slide, support = units[best]
            key = _key_terms(text_)
            share = sum(t in passage_terms for t in key) / len(key) if key else 0.0
            reason = None
            if float(row[best]) < MIN_COSINE:
                reason = "not close in meaning to any passage"
            elif share < MIN_TERM_SHARE:
                reason = "words the passages don't use"
            elif any(n not in passage_numbers for n in _NUMBER.findall(text_)):
                reason = "a number the passages don't give"
            elif bool(_NEGATION.search(text_)) != bool(_NEGATION.search(support)):
                reason = "negation the passage doesn't have"
            elif cited and not set(cited) & slides:
                reason = "cites a slide that was not given"
            checked.append(Checked(text_, cited, slide, float(row[best]), share, reason))
        return checked

    def synthesize(self, question: str, passages: list[Passage]) -> Synthesis:
        """The worded answer, checked; ``used`` is False (with ``why``) when the quote should stand."""
        if not passages:
            return Synthesis(False, "", why="there were no passages to word an answer from")
        try:
            stats = self.generate(self.request(question, passages))
        except GenerationError as error:
            log.info("synthesis failed, the quote stands: %s", error.one_line)
            timed_out = isinstance(error, GenerationTimeout)
            why = "the language model ran out of time" if timed_out else "the language model could not answer"
            return Synthesis(False, "", why=why)
        checked = self.check(stats.text, passages)
        kept = [c for c in checked if c.supported]
        if not checked:
            return Synthesis(False, "", why="the language model wrote nothing usable", model=stats.model)
        if not kept or len(kept) < MIN_KEPT_SHARE * len(checked):
            return Synthesis(
                False, "", tuple(checked), "the language model's answer did not hold up against them", stats.model
            )
        text = " ".join(f"{_with_citation(c)}" for c in kept)
        return Synthesis(True, shorten(text, MAX_ANSWER_CHARS), tuple(checked), model=stats.model)


def _with_citation(claim: Checked) -> str:
    """The sentence ending in the slide that supports it: "A transformer ... words [slide 8]."."""
    body = claim.text.rstrip()
    end = body[-1] if body[-1] in ".!?" else "."
    body = body.rstrip(".!?")
    return f"{body} [slide {claim.slide}]{end}"


def passages_for(tutor: Tutor, reply: Reply) -> list[Passage]:
    """The passages behind a reply's sources (the ones the retriever chose), in its order."""
    by_key = {(p.slide, p.section): p for p in tutor.knowledge.passages}
    found = [by_key.get((s.slide, s.section)) for s in reply.sources]
    return list(dict.fromkeys(p for p in found if p is not None))


def _model_label(model: str) -> str:
    return model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or model


def worded_reply(reply: Reply, synthesis: Synthesis) -> Reply:
    """The reply as the learner sees it: the worded answer with the slides' citation lines kept
    (the quote's last lines), or the quote with a note saying why it was not worded."""
    if not synthesis.used:
        return replace(reply, text=f"{reply.text}\n\n{FALLBACK_NOTE.format(why=synthesis.why)}")
    citations = [line for line in reply.text.splitlines() if line.startswith("— *Slide")]
    removed = synthesis.removed
    note = SYNTHESIS_NOTE.format(
        model=_model_label(synthesis.model) or "a language model",
        removed=f" ({removed} unsupported sentence{'s' if removed != 1 else ''} removed)" if removed else "",
    )
    return replace(reply, text="\n".join([synthesis.text, *dict.fromkeys(citations), "", note]))


class SynthesizingTutoring(Tutoring):
    """``Tutoring`` whose answers are worded by the generation backend (``ANSWER_STYLE=synthesis``).
    Only full answers are worded; partial answers, declines, small talk and requests stay as
    they are (blocking, like ``respond``)."""

    def __init__(self, tutor: Tutor, synthesizer: Synthesizer, conversations: Conversations | None = None) -> None:
        super().__init__(tutor, conversations)
        self.synthesizer = synthesizer

    def respond(self, key: Key, message: str) -> Reply:
        reply = super().respond(key, message)
        if reply.kind != "answer" or reply.request is not None or not reply.sources:
            return reply
        conversation = self.conversations.peek(key)
        question = " ".join(message.split())
        if conversation is not None and conversation.question and len(question.split()) <= 4:
            question = conversation.question  # "why?", "tell me more": the question under discussion
        synthesis = self.synthesizer.synthesize(question, passages_for(self.tutor, reply))
        return worded_reply(reply, synthesis)


class SynthesizingCourseTutoring(CourseTutoring):
    """``CourseTutoring`` whose places answer through :class:`SynthesizingTutoring` (each server's
    own course, the same conversations and question log)."""

    def __init__(self, courses, synthesizer: Synthesizer, recorder=None) -> None:
        super().__init__(courses, recorder)
        self.synthesizer = synthesizer

    def for_place(self, place: str | int | None) -> Tutoring:
        plain = super().for_place(place)
        return SynthesizingTutoring(plain.tutor, self.synthesizer, plain.conversations)


def synthesizer_for(service: Callable[[], GenerationService], embed, timeout_s: float) -> Synthesizer:
    """A synthesizer on the bot's generation service (loaded on first use), each answer limited
    to ``timeout_s`` including its wait in line."""

    def generate(request: GenerationRequest) -> GenerationStats:
        return service().generate_from_thread(request, timeout_s=timeout_s)

    return Synthesizer(generate, embed)


__all__ = [
    "ANSWER_STYLES",
    "Checked",
    "Synthesis",
    "Synthesizer",
    "SynthesizingCourseTutoring",
    "SynthesizingTutoring",
    "passages_for",
    "split_claims",
    "synthesizer_for",
    "worded_reply",
]
