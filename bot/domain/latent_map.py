"""The latent-space map: the deck's passages in 2-D (a PCA of their embeddings) and the picture of
a learner's text among them, drawn with matplotlib.

Blocking and CPU-bound (numpy, matplotlib): called off the event loop, through
:meth:`bot.domain.similarity.Similarity.map_png`, which fetches the vectors and caches the map.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.domain.text import shorten

log = logging.getLogger(__name__)

REFERENCE_WEIGHT = 5  # how many passages each reference word counts as when the map is fitted
MAP_FILENAME = "latent-space.png"
MAP_CAPTION = "Closer = more similar meaning · 384 dimensions squashed to 2 (PCA) · dots = slide passages"


@dataclass(frozen=True)
class DeckMap:
    """The deck's passages in 2-D: a PCA of their embeddings, fitted once per deck."""

    ids: list[str]
    slides: np.ndarray  # (n,) slide number of each passage
    points: np.ndarray  # (n, 2)
    mean: np.ndarray  # (dims,)
    basis: np.ndarray  # (2, dims)
    explained: tuple[float, float]  # share of the spread along each direction

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(vectors) - self.mean) @ self.basis.T


def fit_map(ids: Sequence[str], slides: Sequence[int], vectors: np.ndarray, reference_vectors: np.ndarray) -> DeckMap:
    """Fit the map on the passages (``ids``, their ``slides`` and embedding ``vectors``) and the
    reference words' vectors."""
    vectors = np.asarray(vectors, dtype=np.float64)
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
    log.info("fitted the latent-space map on %d passages", len(ids))
    return DeckMap(list(ids), np.asarray(slides), (vectors - mean) @ basis.T, mean, basis, explained)


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
    deck_map: DeckMap,
    words: Sequence[str],
    word_vectors: np.ndarray,
    texts: Sequence[str],
    text_vectors: np.ndarray,
    nearest: Sequence[str] = (),
) -> bytes:
    """Draw the map (matplotlib's object API and Agg, no pyplot: safe in worker threads); dotted
    lines join the first text to the passages whose ids are in ``nearest``."""
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
    for passage in nearest:
        if passage in position:
            x, y = points[position[passage]]
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
