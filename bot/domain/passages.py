"""The deck cut into passages, and passages into what gets embedded: no Chroma here.

A passage is a section of a slide or one FAQ pair. Each passage gives records (the whole, its
blocks, its FAQ question alone, its sentences) that ingestion embeds, and units (sentences, list
items, steps) that answers quote.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.domain.deck import Deck
from bot.domain.text import sentences


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrievable piece of a slide: a section, or one FAQ question with its answer."""

    id: str
    slide: int
    title: str
    section: str  # the section heading, or "FAQ: <question>"
    text: str  # what the learner is shown
    question: str  # the FAQ question ("" for sections)
    source: str

    @property
    def embed_text(self) -> str:
        # The title gives short sections the context they lack on their own.
        return f"{self.title}. {self.section}.\n{self.text}" if not self.question else f"{self.question}\n{self.text}"

    def blocks(self) -> list[str]:
        """The passage's parts: sub-headed blocks, bullets and steps, so answers can be trimmed."""
        return split_blocks(self.text)

    def units(self) -> list[Unit]:
        """The passage as quotable units in deck order: sentences, list items and steps."""
        return split_units(self.id, self.text)

    def records(self) -> list[Record]:
        """What goes into Chroma for this passage: the whole, the FAQ question alone, each block.

        One vector search over all records scores passages (best record) and finds, in the same
        query, the block that answers the question, with no extra embedding at question time.
        """
        records = [Record(self.id, self.id, "passage", self.embed_text)]
        if self.question:
            records.append(Record(f"{self.id}~q", self.id, "question", self.question))
        else:
            blocks = self.blocks()
            if len(blocks) > 1:
                records += [
                    Record(f"{self.id}~b{n}", self.id, "block", f"{self.title}. {block}")
                    for n, block in enumerate(blocks)
                ]
        # Sentences are embedded here, once, so answers can be composed from the sentences that
        # answer, at no embedding cost per question. Vector search leaves them out.
        records += [Record(unit.id, self.id, "unit", unit.embed_text(self.title)) for unit in self.units()]
        return records


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    passage: str
    kind: str  # "passage" | "question" | "block" | "unit"
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.kind}\x1f{self.text}".encode()).hexdigest()[:32]

    def metadata(self, passage: Passage) -> dict:
        return {
            "passage": self.passage,
            "kind": self.kind,
            "slide": passage.slide,
            "title": passage.title,
            "section": passage.section,
            "source": passage.source,
            "hash": self.content_hash,
        }


@dataclass(frozen=True, slots=True)
class Unit:
    """One quotable piece of a passage: a sentence of prose, a bullet item or a numbered step."""

    id: str
    passage: str
    position: int  # order within the passage
    kind: str  # "sentence" | "item" | "step"
    text: str
    heading: str  # the ``###`` sub-heading it sits under ("" if none)
    group: int  # units with the same group form one paragraph, list or sub-headed block
    group_position: int = 0  # place within its group (0: the group's first unit)

    def embed_text(self, title: str) -> str:
        context = self.heading or title
        return f"{context}: {self.text}"


_ITEM_LINE = re.compile(r"^(?:[-*]|\d+[.)])\s+")


def split_units(passage_id: str, text: str) -> list[Unit]:
    """Sentences, items and steps of a passage's Markdown, in order, each knowing its sub-heading
    and its paragraph or list, so an answer can quote a sentence and keep a list whole."""
    units: list[Unit] = []
    heading, group, previous = "", -1, ""
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            previous = ""
            continue
        if stripped.startswith("### "):
            heading, previous = stripped[4:].strip(), ""
            continue
        kind = "step" if _STEP_LINE.match(stripped) else "item" if stripped.startswith(("- ", "* ")) else "sentence"
        if kind != previous or kind == "sentence":
            group += 1
        previous = kind
        pieces = [_ITEM_LINE.sub("", stripped, count=1)] if kind != "sentence" else sentences(stripped)
        for piece in pieces:
            in_group = sum(1 for u in units if u.group == group)
            units.append(
                Unit(f"{passage_id}~u{len(units)}", passage_id, len(units), kind, piece, heading, group, in_group)
            )
    return units


def split_blocks(text: str) -> list[str]:
    """Split section text at sub-headings, numbered steps, paragraphs and runs of bullets.

    A ``### Heading`` keeps the text and bullets under it, so a comparison column is one block.
    """
    blocks: list[list[str]] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            if blocks and blocks[-1] and not (len(blocks[-1]) == 1 and blocks[-1][0].startswith("### ")):
                blocks.append([])  # a blank line ends a paragraph, not a bare heading
            continue
        is_bullet = stripped.startswith(("- ", "* "))
        current = blocks[-1] if blocks else []
        in_list = bool(current) and current[0].startswith(("### ", "- ", "* "))
        starts_block = stripped.startswith("### ") or _STEP_LINE.match(stripped) or (is_bullet and not in_list)
        if not blocks or (starts_block and current):
            blocks.append([stripped])
        else:
            current.append(stripped)
    return ["\n".join(block) for block in blocks if block]


_STEP_LINE = re.compile(r"^\d+[.)]\s")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:48] or "x"


def passages_from_deck(deck: Deck) -> list[Passage]:
    """Each section and each FAQ pair becomes a passage with a stable, readable id."""
    passages: list[Passage] = []
    for slide in deck:
        seen: set[str] = set()
        for section in slide.sections:
            pid = _unique(f"s{slide.number:03d}-{_slug(section.heading)}", seen)
            passages.append(Passage(pid, slide.number, slide.title, section.heading, section.text, "", slide.source))
        for pair in slide.faq:
            pid = _unique(f"s{slide.number:03d}-faq-{_slug(pair.q)}", seen)
            passages.append(Passage(pid, slide.number, slide.title, f"FAQ: {pair.q}", pair.a, pair.q, slide.source))
    return passages


def _unique(base: str, seen: set[str]) -> str:
    candidate, n = base, 2
    while candidate in seen:
        candidate, n = f"{base}-{n}", n + 1
    seen.add(candidate)
    return candidate
