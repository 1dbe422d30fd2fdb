"""Load a deck from the files instructors have: Markdown, plain text, HTML, PDF and PowerPoint.

Every loader turns a file into zero or more :class:`Slide` objects. A file that cannot be read or
is malformed becomes a :class:`Problem` (file, line, what is wrong) and is skipped; the rest of the
deck still loads.

Why one long module: the five formats share the limits, the problem reporting and the plain-text
rules (PDF and PowerPoint text goes through the plain-text parser), and each is short.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bot.domain import isolation
from bot.domain.deck import Deck, FaqPair, Section, Slide
from bot.domain.text import shorten

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

FAQ_HEADINGS = ("faq", "frequently asked questions")
# Sections a slide carries in any format, the seed's plain-text export included.
CORE_SECTIONS = ("Overview", "Key Concepts", "How It Works", "Applications", "FAQ")
# Sections every slide of our own deck carries (checked by `shape_problems`, not by loading): the
# core ones, plus the two the bot quotes for "explain it simpler" and "give me an example".
REQUIRED_SECTIONS = (*CORE_SECTIONS, "In Plain Words", "Example")
MIN_FAQ = 3


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(slots=True)
class LoadResult:
    deck: Deck
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeckLimits:
    """How much of a deck file is read. Instructors' files are untrusted: a file over a limit is a
    :class:`Problem` like any broken file. The defaults are the settings' defaults."""

    file_mb: float = 10.0  # MAX_DECK_FILE_MB: bytes on disk; for a pptx, also what its text parts unpack to
    pages: int = 200  # MAX_PAGES_PER_FILE: PDF pages or PowerPoint slides in one file
    slide_text_kb: int = 64  # MAX_SLIDE_TEXT_KB: text of one slide (a Markdown, text or HTML file is one)
    # Held by the worker process that reads the file (load_file_isolated):
    file_seconds: float = 60.0  # DECK_FILE_TIMEOUT_S: time to read one file
    file_memory_mb: int = 1024  # DECK_FILE_MEMORY_MB: memory of the process reading it (address space)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeckLimits:
        return cls(
            settings.max_deck_file_mb,
            settings.max_pages_per_file,
            settings.max_slide_text_kb,
            settings.deck_file_timeout_s,
            settings.deck_file_memory_mb,
        )

    @property
    def file_bytes(self) -> int:
        return int(self.file_mb * 1024 * 1024)

    @property
    def slide_chars(self) -> int:
        return self.slide_text_kb * 1024


DEFAULT_LIMITS = DeckLimits()
MAX_SLIDE_NUMBER = 9999
MAX_FRONT_MATTER_CHARS = 4096


class MalformedFile(ValueError):
    """A file that cannot become slides; carries the line where the problem is, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


# Control characters (Unicode category Cc) other than tab and newline.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Normalise Unicode (NFC), line endings and stray control characters; keep the words."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    return text.replace("\u00a0", " ").replace("\u2011", "-")


def _reason(error: BaseException) -> str:
    """An unexpected error from a parser, short enough to report."""
    return shorten(f"{type(error).__name__}: {error}", 200, flatten=True)


def _check_text(text: str, limits: DeckLimits) -> str:
    if len(text) > limits.slide_chars:
        raise MalformedFile(f"text is {len(text) / 1024:.0f} KB, over MAX_SLIDE_TEXT_KB={limits.slide_text_kb}")
    return text


def _is_faq(heading: str) -> bool:
    return heading.strip().casefold() in FAQ_HEADINGS


# --------------------------------------------------------------------------- Markdown

MAX_FRONT_MATTER_DEPTH = 8


class _FrontMatterLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors or aliases (389 bytes of nested aliases expand to
    gigabytes) and with bounded nesting (PyYAML composes nodes recursively, so front matter nested
    20,000 deep raised ``RecursionError``)."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 2
            raise MalformedFile("front matter may not use YAML anchors or aliases ('&', '*')", line)
        if self._depth >= MAX_FRONT_MATTER_DEPTH:
            raise MalformedFile(
                f"front matter is nested more than {MAX_FRONT_MATTER_DEPTH} levels deep", event.start_mark.line + 2
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_markdown(text: str, source: str) -> Slide:
    """Our own format: YAML front matter, ``##`` sections, ``###`` FAQ questions."""
    lines = clean_text(text).split("\n")
    if not lines or lines[0].strip() != "---":
        raise MalformedFile("missing front matter (the file must start with a '---' line)", 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise MalformedFile("front matter is not closed by a '---' line", 1) from None
    if sum(len(line) + 1 for line in lines[1:end]) > MAX_FRONT_MATTER_CHARS:
        raise MalformedFile(f"front matter is longer than {MAX_FRONT_MATTER_CHARS} characters", 2)
    try:
        meta = yaml.load("\n".join(lines[1:end]), Loader=_FrontMatterLoader) or {}
    except MalformedFile:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise MalformedFile(f"front matter is not valid YAML ({getattr(error, 'problem', error)})", line) from None
    except (ValueError, OverflowError) as error:  # a 5,000-digit number, a date like 2024-13-45
        raise MalformedFile(f"front matter has a value that cannot be read ({_reason(error)})", 2) from None
    if not isinstance(meta, dict):
        raise MalformedFile("front matter must be 'key: value' lines", 2)
    number = meta.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_SLIDE_NUMBER:
        raise MalformedFile(
            f"front matter 'number' must be a positive whole number up to {MAX_SLIDE_NUMBER}, "
            f"got {shorten(repr(number), 40)}",
            2,
        )
    title = _front_text(meta, "title")
    if not title:
        raise MalformedFile("front matter has no 'title'", 2)
    subtitle = _front_text(meta, "subtitle")

    sections: list[Section] = []
    faq: list[FaqPair] = []
    heading: str | None = None
    heading_line = 0
    body: list[str] = []

    def close_section() -> None:
        if heading is None:
            if "\n".join(body).strip():
                raise MalformedFile("text before the first '## ' section heading", heading_line or end + 2)
            return
        if _is_faq(heading):
            faq.extend(_markdown_faq(body, heading_line))
            return
        content = "\n".join(body).strip()
        if not content:
            raise MalformedFile(f"section '{heading}' is empty", heading_line)
        sections.append(Section(heading, content))

    for index in range(end + 1, len(lines)):
        line = lines[index]
        if line.startswith("## "):
            close_section()
            heading, heading_line, body = line[3:].strip(), index + 1, []
        elif line.startswith("# "):
            raise MalformedFile("use '## ' for sections; the title belongs in the front matter", index + 1)
        else:
            body.append(line)
    close_section()
    if not sections and not faq:
        raise MalformedFile("no '## ' sections")
    return Slide(number, title, subtitle, tuple(sections), tuple(faq), source)


def _front_text(meta: dict, key: str) -> str:
    value = meta.get(key)
    if isinstance(value, (list, dict, set, tuple, bytes)):
        raise MalformedFile(f"front matter '{key}' must be text, not a {type(value).__name__}", 2)
    return str(value or "").strip()


def _markdown_faq(body: list[str], first_line: int) -> list[FaqPair]:
    pairs: list[FaqPair] = []
    question: str | None = None
    question_line = first_line
    answer: list[str] = []

    def close() -> None:
        if question is None:
            if "\n".join(answer).strip():
                raise MalformedFile("FAQ text before the first '### question'", first_line + 1)
            return
        text = " ".join(part.strip() for part in answer if part.strip())
        if not text:
            raise MalformedFile(f"FAQ question '{question}' has no answer", question_line)
        pairs.append(FaqPair(question, text))

    for offset, line in enumerate(body, start=1):
        if line.startswith("### "):
            close()
            question, question_line, answer = line[4:].strip(), first_line + offset, []
        else:
            answer.append(line)
    close()
    return pairs


# --------------------------------------------------------------------------- Plain text

_SLIDE_NUMBER = re.compile(r"\bslide\s+(\d{1,4})\b", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[•\-*·▪●◦‣]\s+")
_STEP = re.compile(r"^\s*(\d{1,2})[.)]\s+(.+)$")
_CHROME = re.compile(r"^(next slide|previous slide|prev slide|back|home)$", re.IGNORECASE)
_OUTRO = re.compile(r"^continue your\b", re.IGNORECASE)
_SECTION_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^overview\b", re.I), "Overview"),
    (re.compile(r"^in plain words:?$", re.I), "In Plain Words"),
    (re.compile(r"^key concepts?\b", re.I), "Key Concepts"),
    (re.compile(r"^how (the process|it) works\b|^how .{0,40} works$", re.I), "How It Works"),
    (re.compile(r"^(worked )?example:?$", re.I), "Example"),
    (re.compile(r"^(real[\s-]world )?applications?\b|^use cases?\b", re.I), "Applications"),
    (re.compile(r"^comparison\b|^.{2,60}\bvs\.?\s.{2,60}$", re.I), "Comparison"),
    (re.compile(r"^(frequently asked questions|faqs?)\b", re.I), "FAQ"),
)


def _section_kind(line: str) -> str | None:
    for pattern, kind in _SECTION_PATTERNS:
        if pattern.search(line):
            return kind
    return None


def _heading(kind: str, line: str) -> str:
    """Canonical section name; a comparison keeps what it compares ("Comparison: A vs B")."""
    if kind == "Comparison" and " vs" in line.casefold():
        return f"Comparison: {line}"
    return kind


def parse_plain_text(text: str, source: str, default_number: int | None = None) -> Slide:
    """A slide as text exported from a slide tool (the seed's format), a PDF page or a pptx slide.

    Structure is recognised from the lines themselves: a title line, a subtitle, a "Slide N" line,
    section headings (Overview, In Plain Words, Key Concepts, How ... Works, Example, Applications,
    "A vs B", FAQ), short sub-headings followed by their text, bullets, numbered steps, and FAQ
    questions ending in "?".
    Unrecognised text is kept under "Overview" so nothing is lost.
    """
    raw_lines = [line.rstrip() for line in clean_text(text).split("\n")]
    lines = [line.strip() for line in raw_lines if line.strip()]
    lines = [line for line in lines if not _CHROME.match(line)]
    if not lines:
        raise MalformedFile("no text")

    number = default_number
    title = lines[0]
    match = _SLIDE_NUMBER.search(title)
    if match:
        number = int(match.group(1))
        stripped = re.sub(r"\s*[–—:|-]?\s*slide\s+\d+\s*$", "", title, flags=re.I).strip()
        title = stripped or title
    rest = lines[1:]
    subtitle = ""
    if rest and _section_kind(rest[0]) is None and not _SLIDE_NUMBER.fullmatch(rest[0]):
        subtitle, rest = rest[0], rest[1:]
    # A lone "Slide 13" line is a page marker: it gives the number and is not content.
    for line in list(rest[:3]):
        marker = _SLIDE_NUMBER.fullmatch(line)
        if marker:
            number = number or int(marker.group(1))
            rest.remove(line)
            break
    if number is None:
        raise MalformedFile("no slide number (neither a 'Slide N' line nor a position)")

    blocks: list[tuple[str, list[str]]] = []
    for line in rest:
        if _OUTRO.match(line):
            break  # "Continue your journey" is navigation, not teaching.
        kind = _section_kind(line) if len(line) <= 80 and not line.endswith((".", "?")) else None
        if kind is not None:
            blocks.append((_heading(kind, line), []))
        else:
            if not blocks:
                blocks.append(("Overview", []))
            blocks[-1][1].append(line)

    sections: list[Section] = []
    faq: list[FaqPair] = []
    for heading, body in blocks:
        if heading == "FAQ":
            faq.extend(_text_faq(body))
        elif body:
            sections.append(Section(heading, _format_body(body)))
    if not sections and not faq:
        raise MalformedFile("no slide content after the title")
    return Slide(number, title, subtitle, tuple(sections), tuple(faq), source)


def _format_body(body: list[str]) -> str:
    """Render recognised structure as Markdown: sub-headings, bullets and numbered steps."""
    out: list[str] = []
    index = 0
    while index < len(body):
        line = body[index]
        following = body[index + 1] if index + 1 < len(body) else ""
        if _BULLET.match(line):
            out.append("- " + _BULLET.sub("", line))
        elif step := _STEP.match(line):
            # "1. Input" followed by its description reads as one step.
            if following and not _STEP.match(following) and not _BULLET.match(following):
                out.append(f"{step.group(1)}. **{step.group(2)}**: {following}")
                index += 1
            else:
                out.append(line)
        elif _is_subheading(line) and following and not _is_subheading(following):
            out.append(f"### {line}")
        else:
            out.append(line)
        index += 1
    return "\n".join(out)


def _is_subheading(line: str) -> bool:
    return len(line) <= 60 and not line.endswith((".", "?", "!", ":", ",")) and not _BULLET.match(line)


def _text_faq(body: list[str]) -> list[FaqPair]:
    pairs: list[FaqPair] = []
    question: str | None = None
    answer: list[str] = []
    for line in body + ["?"]:  # the sentinel closes the last pair
        if line.endswith("?") and (question is None or answer):
            if question is not None:
                pairs.append(FaqPair(question, " ".join(answer)))
            question, answer = line, []
        elif question is not None:
            answer.append(_BULLET.sub("", line))
    return pairs


# --------------------------------------------------------------------------- HTML


class _HtmlSlideParser(HTMLParser):
    """Collects text as lines, with heading levels marked so the plain-text rules apply."""

    BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "section", "br", "tr", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip = 0
        self._tags: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "nav", "head"):
            self._skip += 1
        if tag == "meta":
            values = dict(attrs)
            if values.get("name") and values.get("content"):
                self.meta[values["name"].lower()] = values["content"] or ""
        if tag in self.BLOCKS:
            self._flush()
        if tag == "li":
            self._current.append("• ")
        self._tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "nav", "head") and self._skip:
            self._skip -= 1
        if tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def _flush(self) -> None:
        line = re.sub(r"\s+", " ", "".join(self._current)).strip()
        if line and line != "•":
            self.lines.append(line)
        self._current = []

    def close(self) -> None:
        super().close()
        self._flush()


# Markup may be this many times a slide's text limit (inline styles, attributes).
HTML_MARKUP_FACTOR = 16
_TAG_WITHOUT_END = re.compile(r"<(?![^<>]*>)")


def _defuse_markup(text: str) -> str:
    """HTML that Python's ``HTMLParser`` reads in linear time. On a '<' that never closes it slows
    down far faster than the input grows (10 KB of ``<a <a <a`` took 3 s, 40 KB a minute), so whole
    comments are dropped (an unclosed one runs to the end, as in browsers) and a '<' with another
    '<' before any '>' is text ("a < b")."""
    kept, at = [], 0
    while (start := text.find("<!--", at)) != -1:
        kept.append(text[at:start])
        end = text.find("-->", start + 4)
        at = len(text) if end == -1 else end + 3
    kept.append(text[at:])
    return _TAG_WITHOUT_END.sub("&lt;", "".join(kept))


def parse_html(text: str, source: str, default_number: int | None, limits: DeckLimits = DEFAULT_LIMITS) -> Slide:
    if len(text) > limits.slide_chars * HTML_MARKUP_FACTOR:
        raise MalformedFile(
            f"markup is {len(text) / 1024:.0f} KB, over {HTML_MARKUP_FACTOR} × MAX_SLIDE_TEXT_KB={limits.slide_text_kb}"
        )
    parser = _HtmlSlideParser()
    parser.feed(_defuse_markup(text))
    parser.close()
    number = parser.meta.get("slide-number")
    if number is not None and (digits := re.fullmatch(r"\s*(\d{1,4})\s*", number, re.ASCII)):
        default_number = int(digits.group(1))
    return parse_plain_text(_check_text("\n".join(parser.lines), limits), source, default_number)


# --------------------------------------------------------------------------- PDF and PowerPoint


def parse_pdf(data: bytes, source: str, limits: DeckLimits = DEFAULT_LIMITS) -> list[Slide]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if len(reader.pages) > limits.pages:
            raise MalformedFile(f"has {len(reader.pages)} pages, over MAX_PAGES_PER_FILE={limits.pages}")
        pages = []
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            if len(pages[-1]) > limits.slide_chars:  # stop reading at the first page over the limit
                break
    except (MalformedFile, MemoryError):  # (out of memory: the worker reading the file says so)
        raise
    except Exception as error:  # pypdf on a damaged file raises nearly anything (TypeError, LimitReachedError, ...)
        raise MalformedFile(f"not a readable PDF ({_reason(error)})") from None
    return _slides_from_pages(pages, source, "page", limits)


MAX_PACKAGE_PARTS = 10_000


def _pptx_text_parts(data: bytes, limits: DeckLimits) -> bytes:
    """The package with only its XML parts unpacked: python-pptx reads every part, and a 1 MB file
    can hold a picture that unpacks to 1 GiB. Pictures, media and embedded files become empty
    parts (only text is read), and the XML parts together may unpack to at most the file limit."""
    budget = limits.file_bytes
    too_big = f"its text parts unpack to more than MAX_DECK_FILE_MB={limits.file_mb:g} MB"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
            if len(members) > MAX_PACKAGE_PARTS:
                raise MalformedFile(f"holds {len(members)} parts (at most {MAX_PACKAGE_PARTS})")
            copy_buffer, seen = io.BytesIO(), set()
            with zipfile.ZipFile(copy_buffer, "w") as copy:
                for member in members:
                    if member.is_dir() or member.filename in seen:
                        continue
                    seen.add(member.filename)
                    if not member.filename.lower().endswith((".xml", ".rels")):
                        copy.writestr(member.filename, b"")
                        continue
                    if member.file_size > budget:  # the declared size, checked before unpacking
                        raise MalformedFile(too_big)
                    with package.open(member) as part:
                        blob = part.read(budget + 1)  # the declared size may lie
                    if len(blob) > budget:
                        raise MalformedFile(too_big)
                    budget -= len(blob)
                    copy.writestr(member.filename, blob)
            return copy_buffer.getvalue()
    except (MalformedFile, MemoryError):
        raise
    except Exception as error:  # zipfile on a damaged archive: BadZipFile, EOFError, zlib.error, ...
        raise MalformedFile(f"not a readable PowerPoint file ({_reason(error)})") from None


def parse_pptx(data: bytes, source: str, limits: DeckLimits = DEFAULT_LIMITS) -> list[Slide]:
    from pptx import Presentation

    package = _pptx_text_parts(data, limits)
    try:
        slides = list(Presentation(io.BytesIO(package)).slides)
        if len(slides) > limits.pages:
            raise MalformedFile(f"has {len(slides)} slides, over MAX_PAGES_PER_FILE={limits.pages}")
        pages = [_pptx_slide_text(slide) for slide in slides]
    except (MalformedFile, MemoryError):
        raise
    except Exception as error:  # python-pptx on a damaged package raises nearly anything
        raise MalformedFile(f"not a readable PowerPoint file ({_reason(error)})") from None
    return _slides_from_pages(pages, source, "slide", limits)


def _pptx_slide_text(slide) -> str:
    title_shape = slide.shapes.title
    parts = [title_shape.text_frame.text] if title_shape is not None and title_shape.has_text_frame else []
    for shape in slide.shapes:
        if shape is title_shape or not shape.has_text_frame:
            continue
        parts.append(shape.text_frame.text)
    return "\n".join(parts)


def _slides_from_pages(pages: list[str], source: str, unit: str, limits: DeckLimits) -> list[Slide]:
    slides = []
    for index, text in enumerate(pages, start=1):
        if not text.strip():
            continue  # blank pages (covers, dividers) carry nothing to teach
        try:
            _check_text(text, limits)
            slides.append(parse_plain_text(text, f"{source}#{unit}={index}", default_number=index))
        except MalformedFile as error:
            raise MalformedFile(f"{unit} {index}: {error}") from None
    if not slides:
        raise MalformedFile(f"no text on any {unit}")
    return slides


# --------------------------------------------------------------------------- Secrets

# Secrets recognised by their shape, never by words: "keep your API key secret" is teaching, a
# value shaped like a key is a leak (a copied .env, a pasted token). Each: what it is, its shape.
_SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Discord bot token", re.compile(r"(?<![\w.-])[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}")),
    ("an OpenAI-style API key", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("an AWS access key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("a Slack token", re.compile(r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}")),
    (
        "a secret setting (NAME_TOKEN=value)",
        re.compile(
            r"^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY)"
            r"[A-Z0-9_]*[ \t]*[=:][ \t]*['\"]?[^\s'\"#]{8,}",
            re.MULTILINE,
        ),
    ),
)


def find_secret(text: str) -> tuple[str, int] | None:
    """(what it looks like, line) of the first thing in ``text`` shaped like a secret, or None."""
    found = None
    for kind, shape in _SECRET_SHAPES:
        match = shape.search(text)
        if match and (found is None or match.start() < found[1]):
            found = (kind, match.start())
    if found is None:
        return None
    return found[0], text.count("\n", 0, found[1]) + 1


def _all_text(slide: Slide) -> str:
    parts = [slide.title, slide.subtitle]
    parts += [f"{section.heading}\n{section.text}" for section in slide.sections]
    parts += [f"{pair.q}\n{pair.a}" for pair in slide.faq]
    return "\n".join(parts)


def _refuse_secrets(slides: list[Slide], data: bytes, text_format: bool) -> None:
    """A file holding something shaped like a secret is not loaded: the problem names the file
    and the line (or the page), never the value."""
    if text_format:
        found = find_secret(data.decode("utf-8", "replace"))
        if found:
            raise MalformedFile(f"holds what looks like {found[0]}; not loaded", found[1])
        return
    for slide in slides:
        found = find_secret(_all_text(slide))
        if found:
            where = slide.source.rsplit("#", 1)[-1].replace("=", " ")
            raise MalformedFile(f"{where}: holds what looks like {found[0]}; not loaded")


# --------------------------------------------------------------------------- The folder


def _number_from_name(path: Path) -> int | None:
    match = re.match(r"^(?:slide[-_ ]?)?(\d{1,4})", path.stem, re.IGNORECASE)
    return int(match.group(1)) if match else None


_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe_name(name: str) -> str:
    """A file name fit to store, print and send: bytes that are not UTF-8 (kept by Python as lone
    surrogates, which Chroma and JSON cannot encode) become U+FFFD, control characters '?'."""
    return _UNSAFE_IN_NAME.sub("?", os.fsencode(name).decode("utf-8", "replace"))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedFile(f"not UTF-8 text (byte {error.start})") from None


# Each loader gets the file's bytes, its source name, the slide number its name gives (if any) and the limits.
LOADERS: dict[str, Callable[[bytes, str, int | None, DeckLimits], list[Slide]]] = {
    ".md": lambda data, source, number, limits: [parse_markdown(_check_text(_decode(data), limits), source)],
    ".markdown": lambda data, source, number, limits: [parse_markdown(_check_text(_decode(data), limits), source)],
    ".txt": lambda data, source, number, limits: [parse_plain_text(_check_text(_decode(data), limits), source, number)],
    ".html": lambda data, source, number, limits: [parse_html(_decode(data), source, number, limits)],
    ".htm": lambda data, source, number, limits: [parse_html(_decode(data), source, number, limits)],
    ".pdf": lambda data, source, number, limits: parse_pdf(data, source, limits),
    ".pptx": lambda data, source, number, limits: parse_pptx(data, source, limits),
}


def _resolve_inside(path: Path, root: Path) -> Path:
    """``path`` with every link followed; a link that leads outside ``root`` (resolved) is refused.

    Deck files are untrusted: ``ln -s ../.env knowledge/x.txt`` must not make the bot's secrets a slide.
    """
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a link loop
        raise MalformedFile(f"is a link that cannot be followed ({error})") from None
    if not resolved.is_relative_to(root):
        raise MalformedFile("links outside the knowledge folder; not read")
    return resolved


def _scan(folder: Path) -> tuple[list[Path], list[Problem]]:
    """Slide files in ``folder`` in name order, and the entries skipped for linking outside it."""
    root = folder.resolve()
    files: list[Path] = []
    problems: list[Problem] = []
    for path in sorted(folder.iterdir()):
        try:
            resolved = _resolve_inside(path, root)
        except MalformedFile as error:
            problems.append(Problem(_safe_name(path.name), None, str(error)))
            continue
        if resolved.is_file() and path.suffix.lower() in LOADERS and path.stem.lower() != "readme":
            files.append(path)
    return files, problems


def deck_files(folder: Path) -> list[Path]:
    """Files in ``folder`` that a loader understands, in name order (README files are notes).

    Links are followed only when they stay inside ``folder``.
    """
    return _scan(folder)[0]


def _read_bytes(path: Path, root: Path, limits: DeckLimits = DEFAULT_LIMITS) -> bytes:
    """The file's bytes, read only if it (links followed) is a regular file inside ``root`` and
    no bigger than the limit."""
    resolved = _resolve_inside(path, root)
    # O_NOFOLLOW: a link swapped in after the check is refused, not followed.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(resolved, flags), "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise MalformedFile("is not a regular file; not read")
        size = info.st_size
        if size <= limits.file_bytes:
            data = file.read(limits.file_bytes + 1)  # it may have grown since fstat
            size = len(data)
        if size > limits.file_bytes:
            raise MalformedFile(f"is {size / 2**20:.1f} MB, over MAX_DECK_FILE_MB={limits.file_mb:g}; not read")
        return data


TEXT_FORMATS = (".md", ".markdown", ".txt", ".html", ".htm")


def load_file(path: Path, folder: Path, limits: DeckLimits = DEFAULT_LIMITS) -> list[Slide]:
    """The slides of one file, read in this process (see :func:`load_file_isolated`)."""
    source = _safe_name(path.relative_to(folder).as_posix())
    data = _read_bytes(path, folder.resolve(), limits)
    suffix = path.suffix.lower()
    slides = LOADERS[suffix](data, source, _number_from_name(path), limits)
    _refuse_secrets(slides, data, suffix in TEXT_FORMATS)
    return slides


def _problem(error: Exception) -> tuple[str, int | None]:
    """What went wrong reading a file, as a problem's message and line."""
    if isinstance(error, MalformedFile):
        return str(error), error.line
    if isinstance(error, OSError):
        return f"cannot be read ({error.strerror or error})", None
    log.debug("loading a deck file failed", exc_info=error)
    return f"cannot be loaded ({_reason(error)})", None


def _load_in_worker(path: str, folder: str, limits: dict) -> dict:
    """The worker's side of :func:`load_file_isolated`: slides, or the problem, as JSON-able data.
    (Running out of memory is left to the worker, which reports it.)"""
    try:
        return {"slides": [slide.to_dict() for slide in load_file(Path(path), Path(folder), DeckLimits(**limits))]}
    except MemoryError:
        raise
    except Exception as error:  # one bad file never takes the deck down: it is reported, the rest loads
        message, line = _problem(error)
        return {"problem": message, "line": line}


_WORKER_LIMIT = "(DECK_FILE_TIMEOUT_S / DECK_FILE_MEMORY_MB)"


def load_file_isolated(path: Path, folder: Path, limits: DeckLimits = DEFAULT_LIMITS) -> list[Slide]:
    """The slides of one file, read by a worker process (:mod:`bot.domain.isolation`) that
    ``limits.file_seconds`` and ``limits.file_memory_mb`` hold: a parser that hangs or swells on a
    hostile file costs the file, not the bot. Raises :class:`MalformedFile` for every problem."""
    try:
        answer = isolation.shared(__name__).call(
            f"{__name__}:_load_in_worker",
            [str(path), str(folder), dataclasses.asdict(limits)],
            seconds=limits.file_seconds,
            memory_mb=limits.file_memory_mb,
        )
    except isolation.TookTooLong:
        raise MalformedFile(
            f"took longer than {limits.file_seconds:g} s to read, over DECK_FILE_TIMEOUT_S; not loaded"
        ) from None
    except isolation.NeededTooMuchMemory:
        raise MalformedFile(
            f"needed more than {limits.file_memory_mb} MB to read, over DECK_FILE_MEMORY_MB; not loaded"
        ) from None
    except (isolation.WorkerError, OSError) as error:  # a crash in C code, a worker that cannot start
        log.warning("reading %s: %s", path.name, error)
        raise MalformedFile(f"could not be read ({shorten(str(error), 200, flatten=True)})") from None
    if "problem" in answer:
        raise MalformedFile(answer["problem"], answer["line"])
    return [Slide.from_dict(item) for item in answer["slides"]]


def start_readers() -> None:
    """Start the worker processes :func:`load_file_isolated` uses, to import while the caller
    does something else (they start on the first file otherwise)."""
    isolation.shared(__name__).start()


FileReader = Callable[[Path, Path, DeckLimits], list[Slide]]


def load_deck(
    folder: Path,
    limits: DeckLimits = DEFAULT_LIMITS,
    indexed: Mapping[int, str] | None = None,
    read: FileReader = load_file_isolated,
) -> LoadResult:
    """Load every slide file in ``folder``; malformed files, and files over ``limits``, are reported
    and skipped. Pass ``DeckLimits.from_settings(settings)`` to apply the configured limits.

    Each file is read by ``read``: by default in worker processes that hold the time and memory
    limits (the files are read two at a time when there are two workers); ``read=load_file``
    reads them here, unguarded.

    Two files claiming the same slide number: see :func:`_keep_one` (``indexed`` maps the slide
    numbers already in the index to their source); every file left out is reported.
    """
    if not folder.is_dir():
        return LoadResult(Deck(()), [Problem(str(folder), None, "knowledge folder does not exist")])
    claims: dict[int, list[tuple[Slide, str]]] = {}
    files, problems = _scan(folder)

    def read_one(path: Path) -> list[Slide] | Exception:
        try:
            return read(path, folder, limits)
        except Exception as error:  # one bad file never takes the deck down: it is reported, the rest loads
            return error

    workers = isolation.shared(__name__).size if read is load_file_isolated else 1
    if workers > 1 and len(files) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deck-file") as threads:
            outcomes = list(threads.map(read_one, files))
    else:
        outcomes = [read_one(path) for path in files]
    for path, loaded in zip(files, outcomes, strict=True):
        name = _safe_name(path.relative_to(folder).as_posix())
        if isinstance(loaded, Exception):
            message, line = _problem(loaded)
            problems.append(Problem(name, line, message))
            continue
        for slide in loaded:
            claims.setdefault(slide.number, []).append((slide, name))
    slides = []
    for number, claimed in claims.items():
        kept = _keep_one(number, claimed, problems, (indexed or {}).get(number))
        if kept is not None:
            slides.append(kept)
    if not slides:
        why = "every slide file in it has a problem" if files else "it has no slide files (md, txt, html, pdf, pptx)"
        problems.append(Problem(str(folder), None, f"the knowledge folder gives no slides: {why}"))
    for problem in problems:
        log.warning("skipped: %s", problem)
    return LoadResult(Deck(tuple(slides)), problems)


def _keep_one(
    number: int, claimed: list[tuple[Slide, str]], problems: list[Problem], indexed_source: str | None
) -> Slide | None:
    """Of the slides claiming ``number`` (in file-name order), the one to load; each other one is a
    problem naming both files. A slide already indexed is never replaced by another file's claim;
    otherwise the one file whose name starts with the number wins (``07-attention.md`` is slide
    7, whatever ``00-notes.md`` says); where that does not decide, neither is loaded."""
    if len(claimed) == 1:
        return claimed[0][0]
    indexed = [slide for slide, _ in claimed if slide.source == indexed_source]
    named = [slide for slide, name in claimed if _number_from_name(Path(name)) == number]
    if indexed:
        kept, why = indexed[0], "the slide already indexed"
    elif len(named) == 1:
        kept, why = named[0], f"its file name starts with {number}"
    else:
        sources = ", ".join(slide.source for slide, _ in claimed)
        for name in dict.fromkeys(name for _, name in claimed):
            problems.append(
                Problem(
                    name,
                    None,
                    f"slide {number} is defined more than once ({sources}) and no file name decides: none is loaded",
                )
            )
        return None
    for slide, name in claimed:
        if slide is not kept:
            problems.append(
                Problem(
                    name, None, f"slide {number} is defined twice: kept {kept.source} ({why}), skipped {slide.source}"
                )
            )
    return kept


def shape_problems(slides: Iterable[Slide], sections: Iterable[str] = REQUIRED_SECTIONS) -> list[Problem]:
    """Problems with a slide's teaching shape: the sections and FAQ every slide of ours has.

    ``sections`` is what each slide must carry; pass :data:`CORE_SECTIONS` for imported slides
    (an exported deck has no "In Plain Words" or "Example").
    """
    sections = tuple(sections)
    problems = []
    for slide in slides:
        headings = {section.heading.split(":")[0].casefold() for section in slide.sections}
        for required in sections:
            if required == "FAQ":
                continue
            if required.casefold() not in headings:
                problems.append(Problem(slide.source, None, f"slide {slide.number} has no '{required}' section"))
        if len(slide.faq) < MIN_FAQ:
            problems.append(
                Problem(slide.source, None, f"slide {slide.number} has {len(slide.faq)} FAQ pairs (at least {MIN_FAQ})")
            )
        if not slide.subtitle:
            problems.append(Problem(slide.source, None, f"slide {slide.number} has no subtitle"))
    return problems
