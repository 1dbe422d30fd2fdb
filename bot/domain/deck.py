"""The slide deck: plain data, no I/O.

A slide has numbered identity, a title and subtitle, ordered sections (heading + text) and an FAQ
of question/answer pairs. Loaders (``bot.domain.loaders``) build these from files; everything else
(ingestion, answering, stepping, quizzes) reads them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from bot.domain.errors import UserError
from bot.domain.text import shorten

_SUBHEADING = re.compile(r"^### (.+)$", re.MULTILINE)


def chat_markdown(text: str) -> str:
    """Slide Markdown as chat text: ``### Heading`` lines become bold (chat has no small headings)."""
    return _SUBHEADING.sub(r"**\1**", text)


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class FaqPair:
    q: str
    a: str


@dataclass(frozen=True, slots=True)
class Slide:
    number: int
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    faq: tuple[FaqPair, ...]
    source: str  # file the slide came from, relative to the knowledge folder

    def section(self, heading: str) -> Section | None:
        """The first section whose heading matches ``heading`` (case-insensitive)."""
        wanted = heading.casefold()
        return next((s for s in self.sections if s.heading.casefold() == wanted), None)

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "title": self.title,
            "subtitle": self.subtitle,
            "sections": [{"heading": s.heading, "text": s.text} for s in self.sections],
            "faq": [{"q": p.q, "a": p.a} for p in self.faq],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Slide:
        """The slide :meth:`to_dict` gave."""
        return cls(
            int(data["number"]),
            str(data["title"]),
            str(data["subtitle"]),
            tuple(Section(str(s["heading"]), str(s["text"])) for s in data["sections"]),
            tuple(FaqPair(str(p["q"]), str(p["a"])) for p in data["faq"]),
            str(data["source"]),
        )


@dataclass(frozen=True, slots=True)
class Deck:
    """Slides ordered by number. Numbers need not be contiguous."""

    slides: tuple[Slide, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.slides, key=lambda s: s.number))
        object.__setattr__(self, "slides", ordered)

    def __len__(self) -> int:
        return len(self.slides)

    def __iter__(self):
        return iter(self.slides)

    @property
    def numbers(self) -> list[int]:
        return [s.number for s in self.slides]

    @property
    def first(self) -> int:
        return self.slides[0].number

    @property
    def last(self) -> int:
        return self.slides[-1].number

    def range_text(self) -> str:
        """Human-readable valid range, e.g. "1-22"."""
        if not self.slides:
            return "none (the deck is empty)"
        return f"{self.first}-{self.last}"

    def get(self, number: int) -> Slide | None:
        index = bisect.bisect_left(self.numbers, number)
        if index < len(self.slides) and self.slides[index].number == number:
            return self.slides[index]
        return None

    def nearest(self, number: int) -> Slide:
        """The slide with this number, else the closest existing one (ties go to the earlier)."""
        if not self.slides:
            raise LookupError("the deck is empty")
        return min(self.slides, key=lambda s: (abs(s.number - number), s.number))

    def step(self, number: int | None, offset: int) -> Slide:
        """The slide ``offset`` places after (or before) ``number``, clamped to the deck.

        ``None`` means "not started": any step lands on the first slide. From a slide that was
        removed, the nearest remaining slide counts as the first step when it lies in the
        direction of travel (removed 5 in 1-4, 6-7: next -> 6, prev -> 4, +2 -> 7).
        """
        if not self.slides:
            raise LookupError("the deck is empty")
        if number is None:
            return self.slides[0]
        anchor = self.nearest(number)
        if anchor.number != number:
            if offset > 0 and anchor.number > number:
                offset -= 1
            elif offset < 0 and anchor.number < number:
                offset += 1
        index = self.slides.index(anchor)
        return self.slides[max(0, min(len(self.slides) - 1, index + offset))]

    def search(self, typed: str) -> list[Slide]:
        """Slides for a half-typed query, best first: the slide with that number, numbers
        starting so, then titles containing it; every slide for an empty query."""
        text = typed.strip().lstrip("#").casefold()
        if not text:
            return list(self.slides)
        exact = [s for s in self.slides if str(s.number) == text]
        prefix = [s for s in self.slides if str(s.number).startswith(text) and s not in exact]
        titles = [s for s in self.slides if text in s.title.casefold() and s not in exact and s not in prefix]
        return exact + prefix + titles

    def resolve(self, query: str) -> int:
        """The slide number a learner means: "13", "#13", "13 · Tokenization…" or part of a title
        (an exact title first). A number is returned as it is: whoever moves the learner there
        names the valid range when it is missing."""
        text = query.strip()
        number = re.match(r"#?(\d{1,6})\b", text)
        if number:
            return int(number[1])
        matches = self.search(text) if text else []
        if not matches:
            raise UserError(
                f"No slide title contains “{shorten(text, 60)}”; slides are {self.range_text()}. "
                "Use `/deck` for the contents."
            )
        exact = [s for s in matches if s.title.casefold() == text.casefold()]
        return (exact or matches)[0].number
