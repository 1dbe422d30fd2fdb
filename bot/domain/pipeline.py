"""Slide 13's pipeline run on the learner's own text: input, tokens, embedding, generation.

:func:`build_pipeline` runs the four steps (blocking: the embedding model, Chroma, the tokenizers
and the generator's predictions; call it off the event loop); :class:`Pipeline` is what the front
ends show, step by step, or as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bot.domain.similarity import prepare

if TYPE_CHECKING:
    from bot.domain.similarity import Neighbour, Similarity
    from bot.domain.tokenizers import Tokenization, Tokenizers

log = logging.getLogger(__name__)

Predict = Callable[[str, int], Sequence[tuple[str, float]]]
FIRST_VALUES = 8
TOP_CONCEPTS = 3
TOP_NEXT_TOKENS = 5
UNCOVERED_BELOW = 0.3  # nearest passage below this: the text is about something the deck does not cover
TOKEN_LIST_CHARS = 280  # how much of each tokenizer's "token=id" list step 2 shows


@dataclass(frozen=True)
class PipelineStep:
    """One step as a learner reads it: a title, what happens in plain words, and what happened here."""

    number: int
    title: str
    explanation: str
    details: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.explanation, *self.details])


@dataclass(frozen=True)
class Pipeline:
    """Slide 13's four steps (input, tokens, embedding, generation) for one text."""

    text: str  # as the models read it (cut to MAX_TEXT_CHARS)
    chars: int  # characters as given
    utf8_bytes: int
    wordpiece: Tokenization
    smollm2: Tokenization
    embedding_max_tokens: int
    dimensions: int
    first_values: list[float]
    norm: float
    concepts: list[Neighbour]
    next_tokens: list[tuple[str, float]]
    generation_note: str | None  # why step 4 has no predictions, when it has none

    @property
    def clipped(self) -> bool:
        return self.chars > len(self.text)

    def steps(self) -> list[PipelineStep]:
        return [self._input_step(), self._token_step(), self._embedding_step(), self._generation_step()]

    def _input_step(self) -> PipelineStep:
        details = [f"Your text: {self.chars:,} characters ({self.utf8_bytes:,} bytes as UTF-8)."]
        if self.utf8_bytes > len(self.text):
            details.append("Accents, emoji and non-Latin letters take 2-4 bytes each; byte-level tokenizers see bytes.")
        if self.clipped:
            details.append(f"Only the first {len(self.text):,} characters go further: that is all these models read.")
        return PipelineStep(
            1, "Input", "The model never sees letters, only numbers. First, your text arrives.", details
        )

    def _token_step(self) -> PipelineStep:
        details = []
        for tok, role in (
            (self.wordpiece, "the embedding model (step 3)"),
            (self.smollm2, "the text generator (step 4)"),
        ):
            details.append(f"{tok.label}, read by {role}: {tok.count} tokens\n`{_token_list(tok, TOKEN_LIST_CHARS)}`")
        if self.wordpiece.count > self.embedding_max_tokens:
            details.append(f"The embedding model reads only the first {self.embedding_max_tokens} word pieces.")
        return PipelineStep(
            2,
            "Tokens",
            "The text is cut into tokens, and each token is swapped for its ID number in the model's vocabulary. "
            "Each model has its own tokenizer, so the same text gives different tokens (· is a space, "
            "## glues a word piece to the one before).",
            details,
        )

    def _embedding_step(self) -> PipelineStep:
        values = ", ".join(f"{value:+.3f}" for value in self.first_values)
        details = [
            f"{self.dimensions} numbers; the first {len(self.first_values)}: `{values}, …`",
            f"Length (norm): {self.norm:.3f}. The model scales every vector to length 1, so only its direction "
            "carries meaning, and comparing two texts is just the cosine of the angle between them.",
        ]
        if self.concepts:
            details.append("Nearest ideas in the deck:")
            details += [f"• {c.citation} ({c.score:.2f})" for c in self.concepts]
            if self.concepts[0].score < UNCOVERED_BELOW:
                details.append("All low: the deck doesn't talk about this. A sentence about AI lands near its slide.")
        return PipelineStep(
            3,
            "Embedding",
            "The tokens are turned into one list of numbers that captures what the whole text means: "
            "texts with similar meanings get similar lists.",
            details,
        )

    def _generation_step(self) -> PipelineStep:
        if self.generation_note:
            return PipelineStep(
                4,
                "Generation",
                "Here a generator would score every token in its vocabulary as the next one.",
                [self.generation_note],
            )
        details = ["Most likely next tokens after your text:"]
        details += [f"• `{_code(token)}` {probability:.1%}" for token, probability in self.next_tokens]
        details.append(
            "Sampling picks one (slide 10), adds it to the text, and repeats: that is how replies are written."
        )
        return PipelineStep(
            4,
            "Generation",
            f"The generator reads its own tokens from step 2 and gives every one of its "
            f"{self.smollm2.vocab_size:,} tokens a probability of coming next.",
            details,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "input": {"chars": self.chars, "utf8_bytes": self.utf8_bytes, "clipped": self.clipped},
            "tokens": {"wordpiece": self.wordpiece.to_dict(), "smollm2": self.smollm2.to_dict()},
            "embedding": {
                "dimensions": self.dimensions,
                "first_values": [round(v, 6) for v in self.first_values],
                "norm": round(self.norm, 6),
                "concepts": [c.to_dict() for c in self.concepts],
            },
            "generation": {
                "next": [{"token": t, "probability": round(p, 6)} for t, p in self.next_tokens],
                "note": self.generation_note,
            },
        }


def _code(text: str) -> str:
    """Text safe inside a `code span`: a backtick would end it, so it becomes a look-alike."""
    return text.replace("`", "ˋ") or " "


def _token_list(tok: Tokenization, limit: int) -> str:
    """``token=id`` pairs, as many as fit in ``limit`` characters, then ``… +N``."""
    parts: list[str] = []
    used = 0
    for index, (token, token_id) in enumerate(zip(tok.tokens, tok.ids, strict=True)):
        piece = f"{_code(token)}={token_id}"
        if used + len(piece) + 1 > limit - 8:
            parts.append(f"… +{tok.count - index}")
            break
        parts.append(piece)
        used += len(piece) + 1
    return " ".join(parts) or "(no tokens)"


def build_pipeline(
    text: str, similarity: Similarity, tokenizers: Tokenizers, predict: Predict | None = None
) -> Pipeline:
    """Run slide 13's four steps on ``text``. ``predict(text, top_k)`` gives the generator's next
    tokens; without one, or when it fails (the model cannot load), step 4 says so instead."""
    given = len(text or "")
    text = prepare(text)
    vector = similarity.tutor.embedder.encode_one(text)
    next_tokens: list[tuple[str, float]] = []
    note = None
    if predict is None:
        note = "No text generator is set up on this bot, so there are no predictions to show."
    else:
        try:
            next_tokens = [(str(token), float(p)) for token, p in predict(text, TOP_NEXT_TOKENS)]
        except Exception as error:  # noqa: BLE001 - the other three steps still teach; say why this one can't
            log.warning("next-token predictions failed for the pipeline", exc_info=True)
            note = f"The text generator can't make predictions right now: {_reason(error)}. This step is skipped."
    return Pipeline(
        text=text,
        chars=given,
        utf8_bytes=len(text.encode("utf-8")),
        wordpiece=tokenizers.tokenize(text, "wordpiece"),
        smollm2=tokenizers.tokenize(text, "smollm2"),
        embedding_max_tokens=similarity.tutor.embedder.max_tokens,
        dimensions=int(vector.shape[0]),
        first_values=[float(v) for v in vector[:FIRST_VALUES]],
        norm=float(np.linalg.norm(vector)),
        concepts=similarity.neighbours_of(vector, TOP_CONCEPTS),
        next_tokens=next_tokens,
        generation_note=note,
    )


def _reason(error: Exception) -> str:
    from bot.domain.generation import GenerationError

    if isinstance(error, GenerationError) and str(error):
        return str(error).rstrip(".")
    if isinstance(error, TimeoutError):
        return "it took too long to answer"
    return "it could not be loaded"
