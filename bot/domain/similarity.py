"""Similarity as a teaching tool: how close two texts are in meaning, which slides a text is
nearest to, a picture of the embedding space, and slide 13's pipeline run on the learner's text.

Everything here is blocking (the embedding model, Chroma, matplotlib): front ends call it off the
event loop. One :class:`Similarity` per tutor; it is thread-safe and caches what never changes
between two ingests (the deck's passage vectors and their 2-D map, the reference words).
"""

from __future__ import annotations

import io
import logging
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bot.domain.errors import UserError
from bot.domain.retrieval import MAX_QUESTION_CHARS
from bot.domain.text import shorten

if TYPE_CHECKING:
    from bot.domain.tokenizers import Tokenization, Tokenizers
    from bot.domain.tutor import Tutor

log = logging.getLogger(__name__)

# Texts are cut to this many characters before the model sees them: all-MiniLM-L6-v2 reads at most
# 256 word pieces (about 1,000 characters of English), so more only costs time.
MAX_TEXT_CHARS = MAX_QUESTION_CHARS
# Records fetched for a nearest-slides query: each passage has up to a dozen records (the whole,
# its FAQ question, its blocks), so 40 records fold to enough distinct passages.
NEIGHBOUR_RECORDS = 40
REFERENCE_WORDS: tuple[str, ...] = ("dog", "puppy", "invoice", "pizza", "neural network")
REFERENCE_WEIGHT = 5  # how many passages each reference word counts as when the map is fitted
MAP_FILENAME = "latent-space.png"

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
MAP_CAPTION = "Closer = more similar meaning · 384 dimensions squashed to 2 (PCA) · dots = slide passages"


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


@dataclass(frozen=True)
class _DeckMap:
    """The deck's passages in 2-D: a PCA of their embeddings, fitted once per index generation."""

    collection: str  # the Chroma generation these vectors came from
    ids: list[str]
    slides: np.ndarray  # (n,) slide number of each passage
    points: np.ndarray  # (n, 2)
    mean: np.ndarray  # (dims,)
    basis: np.ndarray  # (2, dims)
    explained: tuple[float, float]  # share of the spread along each direction

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(vectors) - self.mean) @ self.basis.T


# --------------------------------------------------------------------------------------------
# The service


class Similarity:
    """Cosine similarity, nearest slides and the latent-space map for one tutor. Thread-safe."""

    def __init__(self, tutor: Tutor, reference_words: Sequence[str] = REFERENCE_WORDS) -> None:
        self.tutor = tutor
        self.reference_words = tuple(reference_words)
        self._lock = threading.Lock()
        self._map: _DeckMap | None = None
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

    def _deck_map(self) -> _DeckMap:
        collection = self.tutor.index.active()
        if collection is None:
            raise RuntimeError("the deck has not been indexed yet")
        current = self._map
        if current is not None and current.collection == collection.name:
            return current
        references = self._reference_vectors()
        with self._lock:
            current = self._map
            if current is None or current.collection != collection.name:
                current = self._map = _fit_map(collection, references)
        return current

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
        nearest = self.neighbours_of(vectors[0], neighbours) if neighbours else []
        return render_map(self._deck_map(), self.reference_words, self._reference_vectors(), prepared, vectors, nearest)


def _fit_map(collection, reference_vectors: np.ndarray) -> _DeckMap:
    got = collection.get(where={"kind": "passage"}, include=["embeddings", "metadatas"])
    ids = list(got["ids"])
    if not ids:
        raise RuntimeError("the index holds no passages")
    vectors = np.asarray(got["embeddings"], dtype=np.float64)
    slides = np.asarray([int(meta["slide"]) for meta in got["metadatas"]])
    # Fitted on the deck alone, the two directions only tell slide topics apart: everyday words
    # (and off-topic texts) all land in the middle, next to whatever the learner typed. Counting
    # each reference word as REFERENCE_WEIGHT passages gives one direction to "not about AI".
    # Measured on 5 test texts: with 5 each lands by its own slide or its own everyday words.
    fitted = np.vstack([vectors, np.repeat(np.asarray(reference_vectors, np.float64), REFERENCE_WEIGHT, axis=0)])
    mean = fitted.mean(axis=0)
    _, singular, rows = np.linalg.svd(fitted - mean, full_matrices=False)
    basis = rows[:2]
    # An SVD's signs are arbitrary: fix them so the picture is the same from one run to the next.
    signs = np.sign(basis[np.arange(2), np.abs(basis).argmax(axis=1)])
    basis = basis * signs[:, None]
    spread = singular**2
    explained = (float(spread[0] / spread.sum()), float(spread[1] / spread.sum()))
    log.info("fitted the latent-space map on %d passages of %s", len(ids), collection.name)
    return _DeckMap(collection.name, ids, slides, (vectors - mean) @ basis.T, mean, basis, explained)


# --------------------------------------------------------------------------------------------
# Drawing

_TEXT_STYLES = (("#d62728", "*", 360, "your text"), ("#ff7f0e", "D", 120, "second text"))
_WORD_COLOUR = "#2b2b2b"


def _palette(count: int) -> list:
    from matplotlib import colormaps

    colours = list(colormaps["tab20"].colors) + list(colormaps["Dark2"].colors)
    return [colours[i % len(colours)] for i in range(count)]


def _mpl_text(text: str) -> str:
    return text.replace("$", r"\$")  # matplotlib would read "$...$" as maths


def render_map(
    deck_map: _DeckMap,
    words: Sequence[str],
    word_vectors: np.ndarray,
    texts: Sequence[str],
    text_vectors: np.ndarray,
    nearest: Sequence[Neighbour] = (),
) -> bytes:
    """Draw the map (matplotlib's object API and Agg, no pyplot: safe in worker threads)."""
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    outline = [patheffects.withStroke(linewidth=3, foreground="white")]
    figure = Figure(figsize=(6.4, 5.8), dpi=110)
    canvas = FigureCanvasAgg(figure)  # the labels are measured before saving
    ax = figure.add_axes((0.03, 0.09, 0.94, 0.76))
    points = deck_map.points
    slide_numbers = sorted(set(deck_map.slides.tolist()))
    colours = dict(zip(slide_numbers, _palette(len(slide_numbers)), strict=True))
    words_2d = deck_map.project(word_vectors)
    texts_2d = deck_map.project(text_vectors)

    every = np.vstack([points, words_2d, texts_2d])
    low, high = every.min(axis=0), every.max(axis=0)
    pad = (high - low) * 0.07 + 1e-6
    ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
    ax.set_ylim(low[1] - pad[1], high[1] + pad[1])

    ax.scatter(points[:, 0], points[:, 1], s=14, c=[colours[s] for s in deck_map.slides], alpha=0.5, linewidths=0)
    fixed = []
    for number in slide_numbers:
        centre = points[deck_map.slides == number].mean(axis=0)
        fixed.append(
            ax.text(
                *centre,
                str(number),
                fontsize=9,
                fontweight="bold",
                color=colours[number],
                ha="center",
                va="center",
                path_effects=outline,
                zorder=2,
            )
        )

    position = {pid: i for i, pid in enumerate(deck_map.ids)}
    for neighbour in nearest:
        if neighbour.passage in position:
            x, y = points[position[neighbour.passage]]
            ax.plot([texts_2d[0, 0], x], [texts_2d[0, 1], y], ls=":", lw=1.3, color="#d62728", alpha=0.85, zorder=3)
            ax.scatter([x], [y], s=40, facecolors="none", edgecolors="#d62728", linewidths=1.3, zorder=3)

    ax.scatter(words_2d[:, 0], words_2d[:, 1], s=42, marker="X", color=_WORD_COLOUR, zorder=4)
    labels = [(point, _mpl_text(word), _WORD_COLOUR, 10.0) for point, word in zip(words_2d, words, strict=True)]
    shown = []
    for index, (point, text) in enumerate(zip(texts_2d, texts, strict=True)):
        colour, marker, size, name = _TEXT_STYLES[index]
        ax.scatter(
            [point[0]], [point[1]], s=size, marker=marker, color=colour, edgecolors="black", linewidths=0.8, zorder=5
        )
        labels.insert(index, (point, name, colour, 11.0))
        shown.append((colour, name, text))
    _place_labels(ax, canvas.get_renderer(), labels, fixed, outline)

    handles = [Line2D([], [], ls="none", marker="X", color=_WORD_COLOUR, label="everyday words, for scale")]
    if nearest:
        handles.insert(0, Line2D([], [], ls=":", lw=1.3, color="#d62728", label="nearest passages (in all 384 dims)"))
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
    ax.set_xticks([])
    ax.set_yticks([])
    first, second = deck_map.explained
    ax.set_xlabel(f"main direction 1 ({first:.0%} of the spread)", fontsize=9)
    ax.set_ylabel(f"main direction 2 ({second:.0%})", fontsize=9)
    for spine in ax.spines.values():
        spine.set_color("#bbbbbb")
    figure.text(
        0.5, 0.965, "Where your text sits among the slides", ha="center", va="top", fontsize=13, fontweight="bold"
    )
    renderer = canvas.get_renderer()
    room = figure.bbox.width * (0.94 if len(shown) == 1 else 0.46)
    for index, (colour, name, text) in enumerate(shown):  # the learner's words, one line each
        x = 0.5 if len(shown) == 1 else (0.26 + 0.48 * index)
        line = figure.text(x, 0.905, "", ha="center", va="top", fontsize=9.5, color=colour, fontweight="bold")
        limit = 80
        while True:  # as much of the text as fits on the line
            line.set_text(_mpl_text(f"{name}: “{shorten(text, limit, flatten=True)}”"))
            if limit <= 8 or line.get_window_extent(renderer).width <= room:
                break
            limit = int(limit * 0.85)
    figure.text(0.5, 0.02, MAP_CAPTION, ha="center", fontsize=8.8, color="#333333")

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing")  # emoji and rare scripts
        figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


_OFFSETS = (
    (7, 5, "left", "bottom"),
    (7, -5, "left", "top"),
    (-7, 5, "right", "bottom"),
    (-7, -5, "right", "top"),
    (0, 11, "center", "bottom"),
    (0, -11, "center", "top"),
)


def _place_labels(ax, renderer, labels, fixed, effects) -> None:
    """Put each label beside its point at the first of a few spots that stays inside the axes and
    overlaps no label placed before it (nor the slide numbers); else at its least crowded spot.

    Good enough for a handful of labels: a full repel algorithm is not worth a dependency.
    """
    from matplotlib.transforms import Bbox

    frame = ax.get_window_extent(renderer)
    taken = [artist.get_window_extent(renderer) for artist in fixed]
    for point, *_ in labels:  # the markers themselves stay visible
        x, y = ax.transData.transform(point)
        taken.append(Bbox.from_extents(x - 7, y - 7, x + 7, y + 7))
    for point, text, colour, size in labels:  # in order of importance: the learner's text first
        best = None
        for dx, dy, ha, va in _OFFSETS:
            label = ax.annotate(
                text,
                tuple(point),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=size,
                color=colour,
                fontweight="bold",
                path_effects=effects,
                zorder=6,
            )
            box = label.get_window_extent(renderer)
            outside = box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1
            crowding = sum(_overlap(box, other) for other in taken) + (1e9 if outside else 0.0)
            if best is None or crowding < best[0]:
                if best is not None:
                    best[1].remove()
                best = (crowding, label, box)
            else:
                label.remove()
            if crowding == 0:
                break
        assert best is not None
        taken.append(best[2])


def _overlap(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Slide 13's pipeline, run on the learner's text

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
