"""How good a generated text is, and the small clean-up a learner's text gets before it is shown.

The measures (used by the service to decide on a retry, and by ``bench/generate.py`` to score):
word-bigram variety (distinct-2), the most times any line repeats, and the share of items (lines)
that are only numbers or punctuation. Words are lower-case runs of letters and apostrophes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z']*[a-z][a-z']*")
_LETTER = re.compile(r"[^\W\d_]")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)]|\(\d{1,3}\))\s*")
_SENTENCE_END = re.compile(r"[.!?…][\"”')\]*]*$")

# Below these a text is degenerate, and the service tries another seed.
MIN_DISTINCT_2 = 0.75
MIN_LETTER_SHARE = 0.6  # of the non-space characters
MAX_JUNK_ITEMS = 0.25  # share of lines without a letter
LIST_KINDS = frozenset({"brainstorm", "marketing"})
# A text cut by the token limit is trimmed back to its last sentence or line end when that keeps
# at least this share of it.
KEEP_AT_TRIM = 0.5


def text_words(text: str) -> list[str]:
    """Lower-case runs of letters and apostrophes."""
    return _WORD.findall(text.lower())


def distinct_2(text: str) -> float:
    """Distinct word bigrams / all word bigrams; 0 for a text of fewer than two words."""
    found = text_words(text)
    bigrams = list(zip(found, found[1:], strict=False))
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def _line_key(line: str) -> str:
    """A line as compared for repeats: without list marker, case, spacing and end punctuation."""
    return " ".join(_LIST_MARKER.sub("", line).lower().split()).strip(" .,;:!?\"'”“")


def items(text: str) -> list[str]:
    """The text's non-empty lines (a list's items, a poem's lines, a story's paragraphs)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def max_line_repeats(text: str) -> int:
    """How many times the most repeated line occurs (1: no line repeats; 0: no lines). Lines with
    no letters are left out here (``junk_share`` counts them)."""
    counts: dict[str, int] = {}
    for line in items(text):
        key = _line_key(line)
        if _LETTER.search(key):
            counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


def is_junk(item: str) -> bool:
    """An item with no letter in it: "1.", "2. 3. 4.", "---", "42"."""
    return _LETTER.search(item) is None


def junk_share(text: str) -> float:
    """Share of items that are only numbers or punctuation (1.0 for a text with no items)."""
    lines = items(text)
    return sum(is_junk(line) for line in lines) / len(lines) if lines else 1.0


def letter_share(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(bool(_LETTER.match(c)) for c in chars) / len(chars) if chars else 0.0


@dataclass(frozen=True)
class Quality:
    distinct_2: float
    max_line_repeats: int
    junk_share: float
    letter_share: float
    words: int

    @property
    def problem(self) -> str | None:
        """Why the text is not fit to show, or None."""
        if self.words < 3 or self.letter_share < MIN_LETTER_SHARE or self.junk_share > MAX_JUNK_ITEMS:
            return "mostly numbers or punctuation"
        if self.max_line_repeats > 1:
            return "a line repeated"
        if self.distinct_2 < MIN_DISTINCT_2:
            return "repetitive wording"
        return None


def quality(text: str) -> Quality:
    return Quality(
        distinct_2(text), max_line_repeats(text), junk_share(text), letter_share(text), len(text_words(text))
    )


def clean_text(text: str, kind: str = "custom", finish_reason: str = "stop") -> str:
    """What a learner is shown of a generated text: items with no letters ("1.", "2. 3.") and
    repeats of a line already shown are removed (empty list items renumbered away), and a text cut
    off by the token limit ends at its last sentence or line end. ``custom`` requests (no kind)
    are left as they are."""
    if kind == "custom":
        return text
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.strip().splitlines():
        stripped = line.strip()
        if not stripped:
            if kept and kept[-1]:
                kept.append("")
            continue
        key = _line_key(stripped)
        if not _LETTER.search(key):
            continue  # an empty item: a marker or a number with nothing after it
        if key in seen:
            continue
        seen.add(key)
        kept.append(stripped if kind not in LIST_KINDS else line.rstrip())
    if kind in LIST_KINDS:
        kept = _renumber(kept)
    elif kind == "poem":
        kept = _unnumber(kept)
    cleaned = "\n".join(kept).strip()
    if finish_reason == "length":
        cleaned = _trim_to_end(cleaned)
    return cleaned


def _unnumber(lines: list[str]) -> list[str]:
    """A poem written as a numbered list (the small model does so after a title) loses its
    numbers: when at least half of its lines after the first start with "1.", "2)" and so on."""
    numbered = [bool(re.match(r"^\d{1,3}[.)]\s+\S", line)) for line in lines]
    body = [n for line, n in zip(lines, numbered, strict=True) if line][1:]
    if not body or sum(body) * 2 < len(body):
        return lines
    return [re.sub(r"^\d{1,3}[.)]\s+", "", line) if n else line for line, n in zip(lines, numbered, strict=True)]


def _renumber(lines: list[str]) -> list[str]:
    """Numbered items renumbered 1, 2, 3 after empty ones were dropped."""
    number = 0
    out = []
    for line in lines:
        match = re.match(r"^(\s*)\d{1,3}([.)])\s+", line)
        if match:
            number += 1
            line = f"{match.group(1)}{number}{match.group(2)} {line[match.end() :]}"
        out.append(line)
    return out


def _trim_to_end(text: str) -> str:
    """Back to the last sentence end, or the last full line of a list or poem, when that keeps at
    least KEEP_AT_TRIM of the text; else as it is."""
    if not text or _SENTENCE_END.search(text):
        return text
    lines = text.split("\n")
    best = ""
    # The last sentence end inside the last line...
    last = lines[-1]
    ends = [m.end() for m in re.finditer(r"[.!?…][\"”')\]*]*(?=\s)", last)]
    if ends:
        best = "\n".join([*lines[:-1], last[: ends[-1]]])
    elif len(lines) > 1:  # ... or the lines before it (a poem's line or a list item ends with the line)
        best = "\n".join(lines[:-1]).rstrip()
    if best and len(best) >= KEEP_AT_TRIM * len(text):
        return best.rstrip()
    return text
