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


def picture(insights: Insights) -> bytes:
    """The insights as one PNG: questions per slide, replies by kind, votes per slide, quiz accuracy
    per slide, and the top gaps."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 12), dpi=PNG_DPI)
    grid = figure.add_gridspec(2, 2, left=0.06, right=0.98, top=0.93, bottom=0.4, hspace=0.35, wspace=0.15)
    bottom = figure.add_gridspec(1, 1, left=0.42, right=0.95, top=0.33, bottom=0.04)
    slides = sorted(insights.per_slide)
    rows = [insights.per_slide[n] for n in slides]
    labels = [str(n) for n in slides]
    where = "every server" if insights.place is None else insights.place
    figure.suptitle(
        f"Slide Tutor insights ({where}): {insights.questions} questions from {insights.learners} learners",
        fontsize=14,
    )

    axes = figure.add_subplot(grid[0, 0])
    axes.bar(labels, [r["questions"] for r in rows], color="#5865F2")
    axes.set_title("Questions answered per slide (first cited)")
    axes.set_xlabel("slide")
    _thin_ticks(axes, labels)

    axes = figure.add_subplot(grid[0, 1])
    kinds = ["answer", "partial", "decline"]
    counts = [insights.kinds.get(kind, 0) for kind in kinds]
    axes.bar(kinds, counts, color=["#3BA55D", "#FAA61A", "#ED4245"])
    axes.set_title(f"Replies by kind: {insights.declined_share:.0%} declined")

    axes = figure.add_subplot(grid[1, 0])
    axes.bar(labels, [r["up"] for r in rows], color="#3BA55D", label="helped")
    axes.bar(labels, [-r["down"] for r in rows], color="#ED4245", label="didn't help")
    axes.axhline(0, color="black", linewidth=0.5)
    axes.set_title(f"Votes per slide ({insights.up} up, {insights.down} down)")
    axes.set_xlabel("slide")
    axes.legend(loc="upper right")
    _thin_ticks(axes, labels)

    axes = figure.add_subplot(grid[1, 1])
    accuracy = [r["quiz_right"] / r["quiz_asked"] * 100 if r["quiz_asked"] else 0 for r in rows]
    axes.bar(labels, accuracy, color="#9B59B6")
    axes.set_ylim(0, 100)
    axes.set_title("Quiz answers right per slide (%)")
    axes.set_xlabel("slide")
    _thin_ticks(axes, labels)

    axes = figure.add_subplot(bottom[0, 0])
    top = insights.gaps[::-1]
    if top:
        axes.barh([shorten(gap.label, 70) for gap in top], [gap.learners for gap in top], color="#ED4245", height=0.6)
        for row, gap in enumerate(top):
            axes.text(gap.learners, row, f" {gap.learners} learners, {gap.questions} questions", va="center")
        axes.set_xlim(0, max(gap.learners for gap in top) * 1.4)
    else:
        axes.text(0.5, 0.5, "No declined or down-voted questions yet", ha="center", va="center")
        axes.set_axis_off()
    axes.set_title("Top knowledge gaps: declined and down-voted questions grouped by meaning")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})  # zlib level 6 took a third of the time
    return buffer.getvalue()


def _thin_ticks(axes, labels: list[str], most: int = 30) -> None:
    if len(labels) > most:
        step = -(-len(labels) // most)
        axes.set_xticks(range(0, len(labels), step), labels[::step])


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
