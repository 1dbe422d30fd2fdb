"""Similarity as a teaching tool: how close two texts are in meaning, which slides a text is
nearest to, and a picture of the embedding space (drawn by :mod:`bot.domain.latent_map`; slide
13's pipeline on the learner's text is :mod:`bot.domain.pipeline`).

Everything here is blocking (the embedding model, Chroma, matplotlib): front ends call it off the
event loop. One :class:`Similarity` per tutor, built with the services; it is thread-safe and
caches what never changes between two reloads of the deck (the deck's passage vectors and their
2-D map, the reference words).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.domain.errors import UserError
from bot.domain.latent_map import DeckMap, fit_map, render_map
from bot.domain.retrieval import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from bot.domain.tutor import Knowledge, Tutor

# Texts are cut to this many characters before the model sees them: all-MiniLM-L6-v2 reads at most
# 256 word pieces (about 1,000 characters of English), so more only costs time.
MAX_TEXT_CHARS = MAX_QUESTION_CHARS
# Records fetched for a nearest-slides query: each passage has up to a dozen records (the whole,
# its FAQ question, its blocks), so 40 records fold to enough distinct passages.
NEIGHBOUR_RECORDS = 40
REFERENCE_WORDS: tuple[str, ...] = ("dog", "puppy", "invoice", "pizza", "neural network")

# Plain-language readings of a cosine similarity, highest band first. Calibrated with
# all-MiniLM-L6-v2 on hand-picked pairs (measured once, rounded):
#   0.95 "The cat sat on the mat." / "A cat was sitting on the mat."   0.87 "I love pizza" / "Pizza is
#   my favourite food"   0.80 dog/puppy   0.68 king/queen   0.61 "a sad poem" / "a gloomy song"
#   0.57 "How do I reset my password" / "Recovering access to your account"   0.54 two phrasings of
#   "what does temperature do"   0.47 sunny/raining   0.42 apple/banana   0.28 "neural network" /
#   "transformer model"   0.24 "What is an embedding?" / "What is a token?"   0.11 "What is RAG?" /
#   "How do I bake bread?"   0.05 stock market / neural networks   -0.08 attention / buying shoes.
# Sentences fall in the bands as a person would judge them. Single words do not: two unrelated
# words still score 0.15-0.39 (dog/invoice 0.22, car/banana 0.39), hence SINGLE_WORD_NOTE.
BANDS: tuple[tuple[float, str], ...] = (
    (0.8, "nearly the same meaning"),
    (0.6, "closely related"),
    (0.4, "somewhat related"),
    (0.2, "loosely related"),
    (-math.inf, "unrelated"),
)
SINGLE_WORD_NOTE = (
    "Single words always share a little similarity (two unrelated words often score 0.2-0.4), "
    "so compare whole sentences for a clearer reading."
)
COSINE_EXPLANATION = (
    "Each text becomes a list of 384 numbers (an embedding). Cosine similarity compares the "
    "directions of the two lists: 1 means the same direction (same meaning), 0 means unrelated."
)


class EmptyText(UserError, ValueError):
    """The learner gave no text (or only spaces)."""

    def __init__(self, what: str = "text") -> None:
        super().__init__(f"The {what} is empty: type a word or a sentence to look at.")


def reading(score: float) -> str:
    """The plain-language band of a cosine similarity (see ``BANDS``)."""
    return next(label for floor, label in BANDS if score >= floor)


def prepare(text: str, what: str = "text") -> str:
    """``text`` as the model will read it: lone surrogates replaced, cut to ``MAX_TEXT_CHARS``.

    Raises :class:`EmptyText` when nothing but whitespace is left.
    """
    if text is None or not text.strip():
        raise EmptyText(what)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (from a broken paste) cannot reach the tokenizer
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text[:MAX_TEXT_CHARS]


def _is_single_word(text: str) -> bool:
    return len(text.split()) == 1


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two texts and the cosine similarity of their embeddings."""

    text: str
    other: str
    score: float

    @property
    def reading(self) -> str:
        return reading(self.score)

    @property
    def note(self) -> str | None:
        """A caveat worth telling the learner, when there is one."""
        return SINGLE_WORD_NOTE if _is_single_word(self.text) and _is_single_word(self.other) else None

    def to_dict(self) -> dict[str, object]:
        return {"similarity": round(self.score, 4), "reading": self.reading}


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A passage of the deck near the learner's text, scored by its best-matching part."""

    passage: str
    slide: int
    title: str
    section: str
    score: float

    @property
    def citation(self) -> str:
        return f"Slide {self.slide} · {self.title} — {self.section}"

    def to_dict(self) -> dict[str, object]:
        return {"slide": self.slide, "title": self.title, "section": self.section, "score": round(self.score, 4)}


# --------------------------------------------------------------------------------------------
# The service


class Similarity:
    """Cosine similarity, nearest slides and the latent-space map for one tutor. Thread-safe."""

    def __init__(self, tutor: Tutor, reference_words: Sequence[str] = REFERENCE_WORDS) -> None:
        self.tutor = tutor
        self.reference_words = tuple(reference_words)
        self._lock = threading.Lock()
        self._map: tuple[Knowledge, DeckMap] | None = None  # the map, and the deck it was fitted on
        self._references: np.ndarray | None = None

    @property
    def dimensions(self) -> int:
        return self.tutor.embedder.dimensions

    def embed(self, text: str, what: str = "text") -> np.ndarray:
        """The unit-length embedding of ``text`` (cut to ``MAX_TEXT_CHARS``)."""
        return self.tutor.embedder.encode_one(prepare(text, what))

    # ------------------------------------------------------------------ two texts

    def compare(self, text: str, other: str) -> Comparison:
        """Cosine similarity of two texts (both embedded in one batch)."""
        first, second = prepare(text), prepare(other, "second text")
        vectors = self.tutor.embedder.encode([first, second])
        score = float(np.clip(vectors[0] @ vectors[1], -1.0, 1.0))
        return Comparison(first, second, score)

    # ------------------------------------------------------------------ one text

    def neighbours(self, text: str, k: int = 5) -> list[Neighbour]:
        """The ``k`` passages nearest to ``text``: one embedding, one Chroma query."""
        return self.neighbours_of(self.embed(text), k)

    def neighbours_of(self, vector: np.ndarray, k: int = 5) -> list[Neighbour]:
        """The ``k`` passages nearest to ``vector``, best first, each once (its best record's score)."""
        by_id = {passage.id: passage for passage in self.tutor.knowledge.passages}
        found: list[Neighbour] = []
        seen: set[str] = set()
        for hit in self.tutor.index.query(vector, max(NEIGHBOUR_RECORDS, 4 * k)):  # best first
            passage = by_id.get(hit.passage)
            if passage is None or hit.passage in seen:
                continue  # a later, lower-scored record of a passage already listed, or mid-reload
            seen.add(hit.passage)
            found.append(Neighbour(passage.id, passage.slide, passage.title, passage.section, hit.score))
            if len(found) == k:
                break
        return found

    # ------------------------------------------------------------------ the map

    def _deck_map(self) -> DeckMap:
        knowledge = self.tutor.knowledge  # swapped whole on reload: a new deck gets a new map
        current = self._map
        if current is not None and current[0] is knowledge:
            return current[1]
        references = self._reference_vectors()
        with self._lock:
            current = self._map
            if current is None or current[0] is not knowledge:
                current = self._map = (knowledge, self._fit_map(references))
        return current[1]

    def _fit_map(self, reference_vectors: np.ndarray) -> DeckMap:
        stored = self.tutor.index.stored_vectors("passage")
        if stored is None:
            raise RuntimeError("the deck has not been indexed yet")
        ids, vectors, metadatas = stored
        if not ids:
            raise RuntimeError("the index holds no passages")
        return fit_map(ids, [int(meta["slide"]) for meta in metadatas], vectors, reference_vectors)

    def _reference_vectors(self) -> np.ndarray:
        if self._references is None:
            with self._lock:
                if self._references is None:
                    self._references = self.tutor.embedder.encode(list(self.reference_words))
        return self._references

    def map_png(self, texts: Sequence[str], neighbours: int = 3) -> bytes:
        """The learner's text(s) (one or two) among the deck's passages and the reference words,
        as PNG bytes; dotted lines join the first text to its ``neighbours`` nearest passages."""
        if not texts:
            raise EmptyText()
        prepared = [prepare(text, "text" if i == 0 else "second text") for i, text in enumerate(texts[:2])]
        vectors = self.tutor.embedder.encode(prepared)
        nearest = [n.passage for n in self.neighbours_of(vectors[0], neighbours)] if neighbours else []
        return render_map(self._deck_map(), self.reference_words, self._reference_vectors(), prepared, vectors, nearest)
