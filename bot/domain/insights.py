"""What instructors see (``/insights``, ``python -m bot insights``): questions per slide, the share
declined, votes per slide, quiz accuracy per slide and the top knowledge gaps; as numbers, as one
picture, and the question log as a compressed CSV.

A place is a server id ("123"), "dm", "local" (the terminal), or None for everything together.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from bot.domain.deck import Deck
from bot.domain.feedback import Feedback
from bot.domain.gaps import Gap, gaps
from bot.domain.learners import LearnerStore
from bot.domain.text import shorten

TOP_GAPS = 8
MAX_GAP_QUESTIONS = 100_000  # the newest failed questions grouped
PNG_DPI = 80


def quiz_scope(place: str | None) -> str | None:
    """The learners' store's scope of a place ("123" -> "guild:123")."""
    if place is None:
        return None
    return f"guild:{place}" if place.isdigit() else place


@dataclass(frozen=True, slots=True)
class Insights:
    place: str | None
    questions: int
    learners: int
    kinds: dict[str, int]
    up: int
    down: int
    per_slide: dict[int, dict[str, int]]  # questions, up, down, quiz_asked, quiz_right, quiz_partly
    gaps: list[Gap]
    titles: dict[int, str] = field(default_factory=dict)

    @property
    def declined_share(self) -> float:
        return self.kinds.get("decline", 0) / self.questions if self.questions else 0.0

    def to_dict(self) -> dict:
        return {
            "place": self.place if self.place is not None else "all",
            "questions": self.questions,
            "learners": self.learners,
            "kinds": self.kinds,
            "declined_share": round(self.declined_share, 4),
            "votes": {"up": self.up, "down": self.down},
            "slides": [
                {
                    "slide": number,
                    "title": self.titles.get(number, ""),
                    **figures,
                    "quiz_accuracy": round(figures["quiz_right"] / figures["quiz_asked"], 4)
                    if figures["quiz_asked"]
                    else None,
                }
                for number, figures in sorted(self.per_slide.items())
            ],
            "gaps": [gap.to_dict() for gap in self.gaps],
        }


def gather(
    feedback: Feedback, learners: LearnerStore, place: str | None, deck: Deck | None = None, embed=None
) -> Insights:
    """Every figure of the place's insights (blocking: the database, and the gaps' grouping).
    ``embed`` (text -> vector) fills in vectors still missing from failed questions."""
    totals = feedback.totals(place)
    per_slide = {
        number: {**figures, "quiz_asked": 0, "quiz_right": 0, "quiz_partly": 0}
        for number, figures in feedback.per_slide(place).items()
    }
    for number, score in learners.slide_scores(quiz_scope(place)).items():
        entry = per_slide.setdefault(number, {"questions": 0, "up": 0, "down": 0})
        entry.update(quiz_asked=score["asked"], quiz_right=score["right"], quiz_partly=score["partly"])
    for entry in per_slide.values():
        entry.setdefault("quiz_asked", 0)
        entry.setdefault("quiz_right", 0)
        entry.setdefault("quiz_partly", 0)
    questions, vectors, missing = feedback.failed(place, MAX_GAP_QUESTIONS)
    if missing and embed is not None:
        for question_id in missing[:200]:
            text = feedback.needs_vector(question_id)
            if text is not None:
                feedback.set_vector(question_id, embed(text))
        questions, vectors, _ = feedback.failed(place, MAX_GAP_QUESTIONS)
    titles = {slide.number: slide.title for slide in deck} if deck is not None else {}
    return Insights(
        place,
        totals["questions"],
        totals["learners"],
        feedback.kinds(place),
        totals["up"],
        totals["down"],
        per_slide,
        gaps(questions, vectors, TOP_GAPS),
        titles,
    )


# The picture is drawn with Pillow (bars, lines and text on one canvas): matplotlib drew the same in
# 0.8 s of CPU at 100,000 logged questions, most of it laying out tick labels (bench/insights.py).
SIZE = (960, 960)
INK, GRID, PAPER = (32, 34, 37), (215, 218, 222), (255, 255, 255)
BLURPLE, GREEN, AMBER, RED, PURPLE = (88, 101, 242), (59, 165, 93), (250, 166, 26), (237, 66, 69), (155, 89, 182)
_fonts: dict[int, object] = {}


def _font(size: int):
    """DejaVu Sans (it ships with matplotlib) at ``size`` pixels; Pillow's own font without it."""
    font = _fonts.get(size)
    if font is None:
        from PIL import ImageFont

        try:
            import matplotlib

            path = f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf"
            font = ImageFont.truetype(path, size)
        except (ImportError, OSError):
            font = ImageFont.load_default(size)
        _fonts[size] = font
    return font


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten, at least 1) giving about ``ticks`` ticks up to ``top``."""
    import math

    raw = max(top, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return max(1, next(m * power for m in (1, 2, 5, 10) if m * power >= raw))  # counts: whole ticks


def _panel(draw, box, title: str, labels: list[str], series, *, top: float | None = None, x_title: str = "") -> None:
    """A bar chart in ``box`` (left, top, right, bottom): ``series`` is [(values, colour)], values
    below zero drawn downwards; y ticks at round steps, x labels thinned to at most 30."""
    left, upper, right, lower = box
    small, middle = _font(11), _font(13)
    draw.text(((left + right) / 2, upper), title, font=middle, fill=INK, anchor="mt")
    plot_left, plot_top, plot_bottom = left + 48, upper + 24, lower - (34 if x_title else 20)
    high = top if top is not None else max([v for values, _ in series for v in values] + [1])
    low = min([v for values, _ in series for v in values] + [0])
    step = _nice_step(high - low)
    high = top if top is not None else (high // step + 1) * step
    low = -((-low) // step + (1 if low < 0 else 0)) * step if low < 0 else 0

    def y(value: float) -> float:
        return plot_bottom - (value - low) / (high - low) * (plot_bottom - plot_top)

    tick = low
    while tick <= high + 1e-9:
        draw.line([(plot_left, y(tick)), (right, y(tick))], fill=GRID)
        draw.text((plot_left - 4, y(tick)), f"{tick:g}", font=small, fill=INK, anchor="rm")
        tick += step
    draw.rectangle([plot_left, plot_top, right, plot_bottom], outline=INK)
    if low < 0:
        draw.line([(plot_left, y(0)), (right, y(0))], fill=INK)
    count = max(len(labels), 1)
    slot = (right - plot_left) / count
    every = -(-count // 30)
    for index, label in enumerate(labels):
        centre = plot_left + slot * (index + 0.5)
        for values, colour in series:
            value = values[index]
            if value:
                edge = sorted((y(0), y(value)))
                fill = colour[index] if isinstance(colour, list) else colour  # a colour per bar, or one
                draw.rectangle([centre - slot * 0.4, edge[0], centre + slot * 0.4, edge[1]], fill=fill)
        if index % every == 0:
            draw.text((centre, plot_bottom + 4), label, font=small, fill=INK, anchor="mt")
    if x_title:
        draw.text(((plot_left + right) / 2, lower), x_title, font=small, fill=INK, anchor="mb")


def picture(insights: Insights) -> bytes:
    """The insights as one PNG: questions per slide, replies by kind, votes per slide, quiz accuracy
    per slide, and the top gaps."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", SIZE, PAPER)
    draw = ImageDraw.Draw(image)
    slides = sorted(insights.per_slide)
    rows = [insights.per_slide[n] for n in slides]
    labels = [str(n) for n in slides]
    where = "every server" if insights.place is None else insights.place
    draw.text(
        (SIZE[0] / 2, 14),
        f"Slide Tutor insights ({where}): {insights.questions} questions from {insights.learners} learners",
        font=_font(18),
        fill=INK,
        anchor="mt",
    )
    _panel(
        draw,
        (20, 50, 470, 320),
        "Questions answered per slide (first cited)",
        labels,
        [([r["questions"] for r in rows], BLURPLE)],
        x_title="slide",
    )
    kinds = ["answer", "partial", "decline"]
    counts = [insights.kinds.get(kind, 0) for kind in kinds]
    title = f"Replies by kind: {insights.declined_share:.0%} declined"
    _panel(draw, (490, 50, 940, 320), title, kinds, [(counts, [GREEN, AMBER, RED])])
    _panel(
        draw,
        (20, 340, 470, 610),
        f"Votes per slide ({insights.up} up, {insights.down} down): green helped, red didn't",
        labels,
        [([r["up"] for r in rows], GREEN), ([-r["down"] for r in rows], RED)],
        x_title="slide",
    )
    accuracy = [r["quiz_right"] / r["quiz_asked"] * 100 if r["quiz_asked"] else 0 for r in rows]
    _panel(
        draw,
        (490, 340, 940, 610),
        "Quiz answers right per slide (%)",
        labels,
        [(accuracy, PURPLE)],
        top=100,
        x_title="slide",
    )
    _draw_gaps(draw, (20, 630, 940, 945), insights.gaps)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _draw_gaps(draw, box, top_gaps: list[Gap]) -> None:
    left, upper, right, lower = box
    draw.text(
        ((left + right) / 2, upper),
        "Top knowledge gaps: declined and down-voted questions grouped by meaning",
        font=_font(13),
        fill=INK,
        anchor="mt",
    )
    if not top_gaps:
        draw.text(
            ((left + right) / 2, (upper + lower) / 2),
            "No declined or down-voted questions yet",
            font=_font(13),
            fill=INK,
            anchor="mm",
        )
        return
    small = _font(11)
    bars_left, bars_right, first = left + 400, right - 180, upper + 26
    row = min(34, (lower - first) / len(top_gaps))
    most = max(gap.learners for gap in top_gaps) or 1
    for index, gap in enumerate(top_gaps):
        middle = first + row * (index + 0.5)
        draw.text((bars_left - 6, middle), shorten(gap.label, 60), font=small, fill=INK, anchor="rm")
        end = bars_left + gap.learners / most * (bars_right - bars_left)
        draw.rectangle([bars_left, middle - row * 0.3, end, middle + row * 0.3], fill=RED)
        draw.text(
            (end + 4, middle),
            f"{_count(gap.learners, 'learner')}, {_count(gap.questions, 'question')}",
            font=small,
            fill=INK,
            anchor="lm",
        )


def csv_within(feedback: Feedback, place: str | None, limit_bytes: int) -> tuple[bytes, float | None]:
    """The question log as gzip CSV within ``limit_bytes``: everything if it fits, else the newest
    part that does (halving the date range); returns the file and the start of its range (None for all)."""
    data = feedback.csv_gz(place)
    if len(data) <= limit_bytes:
        return data, None
    first, last = feedback.first_and_last(place)
    assert first is not None and last is not None
    span = last - first
    while span > 1:
        span /= 2
        since = last - span
        data = feedback.csv_gz(place, since)
        if len(data) <= limit_bytes:
            return data, since
    return feedback.csv_gz(place, last), last
