"""Readable tokens: what each token of a tokenization is shown as.

Readable tokens (``Tokenization.tokens``) follow one set of markers everywhere:

- a space is ``·``, a newline ``↵``, a tab ``→``; other control characters are their Unicode
  control pictures (NUL ``␀``, ESC ``␛``, DEL ``␡``, CR ``␍``);
- invisible or direction-changing characters (zero-width joiner, bidi controls, variation
  selectors, no-break and other unusual spaces, ...) are shown as ``⟨U+200D⟩``;
- a token that starts with a combining mark gets a dotted circle: ``◌́``;
- WordPiece keeps its ``##`` continuation prefix and its ``[CLS]``/``[SEP]``/``[UNK]`` tokens.

A byte-level token can hold only part of a multi-byte character (GPT-2 splits most emoji and
many Chinese characters into 2-3 tokens). Such a token is never shown as mojibake (``ðŁĺ``) nor
as a bare ``�``: every token that holds part of the character shows the whole character followed
by which part it is, ``😀⟨1/2⟩`` then ``😀⟨2/2⟩``. A learner reads which character it is and that
it took two tokens; joining the parts does not reproduce the text, which is the honest point.
Bytes that are not UTF-8 at all (impossible for text, kept for safety) show as ``⟨0xF0⟩``.
"""

from __future__ import annotations

import bisect
import functools
import unicodedata

SPACE_MARK = "·"
NEWLINE_MARK = "↵"
TAB_MARK = "→"


@functools.cache
def byte_level_alphabet() -> dict[int, str]:
    """GPT-2's ``bytes_to_unicode`` table: each byte to the printable character that stands for it."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@functools.cache
def _byte_level_inverse() -> dict[str, int]:
    return {char: byte for byte, char in byte_level_alphabet().items()}


def byte_level_to_bytes(token: str) -> bytes:
    """The bytes a byte-level BPE token string (``Ġhello``, ``ðŁĺ``) stands for."""
    inverse = _byte_level_inverse()
    return bytes(inverse[char] for char in token)


def _basic_table() -> dict[int, str]:
    table = {code: chr(0x2400 + code) for code in range(0x20)}  # control pictures ␀ … ␟
    table.update({0x20: SPACE_MARK, 0x0A: NEWLINE_MARK, 0x09: TAB_MARK, 0x7F: "␡"})
    return table


_BASIC_TABLE = _basic_table()

# Invisible in print although not in the categories below (Hangul fillers, braille blank, CGJ).
_INVISIBLE_EXTRAS = (0x034F, 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0)


@functools.cache
def _invisible_chars() -> frozenset[str]:
    """Characters shown as ``⟨U+XXXX⟩``: format/bidi controls, C1 controls, odd spaces, selectors."""
    found = set(map(chr, _INVISIBLE_EXTRAS))
    for code in (*range(0x80, 0x30000), *range(0xE0000, 0xE0200)):
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Cf", "Zl", "Zp", "Cc") or (category == "Zs" and code != 0x20):
            found.add(char)
    found.update(map(chr, range(0xFE00, 0xFE10)))  # variation selectors (emoji vs text style)
    found.update(map(chr, range(0xE0100, 0xE01F0)))
    return frozenset(found)


def visible(text: str) -> str:
    """``text`` with whitespace and invisible characters made visible (see the module docstring)."""
    shown = text.translate(_BASIC_TABLE)
    if text.isascii():
        return shown
    invisible = _invisible_chars()
    if any(char in invisible for char in shown):
        shown = "".join(f"⟨U+{ord(c):04X}⟩" if c in invisible else c for c in shown)
    if shown and unicodedata.category(shown[0]) in ("Mn", "Mc", "Me"):
        shown = "◌" + shown
    return shown


def _utf8_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence that ``lead`` starts; 0 when it cannot start one."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def readable_tokens(pieces: list[bytes | str]) -> list[str]:
    """Readable strings for a token sequence: ``bytes`` for byte tokens, ``str`` for literal ones.

    Literal (``str``) tokens are special tokens or WordPiece pieces, shown through
    :func:`visible`. A byte token that is whole UTF-8 is shown likewise; one that holds part of
    a character shows the character and which part (``😀⟨1/2⟩``), so nothing is mojibake.
    """
    shown: list[str | None] = []
    partial: list[int] = []
    for index, piece in enumerate(pieces):
        text = visible_cached(piece) if isinstance(piece, str) else _visible_bytes(piece)
        shown.append(text)
        if text is None:
            partial.append(index)
    if partial:
        _fill_partial(pieces, shown, partial)
    return [text if text is not None else "" for text in shown]


# Tokens repeat a lot; these caches make long texts cheap (lru_cache is thread-safe).
visible_cached = functools.lru_cache(maxsize=1 << 16)(visible)


@functools.lru_cache(maxsize=1 << 16)
def _visible_bytes(piece: bytes) -> str | None:
    """The readable form of a whole-UTF-8 byte token; None when it holds part of a character."""
    try:
        return visible(piece.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _fill_partial(pieces: list[bytes | str], shown: list[str | None], partial: list[int]) -> None:
    """Describe the tokens in ``partial`` (not UTF-8 on their own) from the bytes around them."""
    raw = [p.encode("utf-8") if isinstance(p, str) else p for p in pieces]
    starts: list[int] = []
    offset = 0
    for piece in raw:
        starts.append(offset)
        offset += len(piece)
    data = b"".join(raw)

    def owner(position: int) -> int:  # index of the token holding byte ``position``
        return bisect.bisect_right(starts, position) - 1

    for index in partial:
        begin, end = starts[index], starts[index] + len(raw[index])
        position = begin
        # Step back to the lead byte of a character that started in an earlier token.
        while position > 0 and begin - position < 3 and 0x80 <= data[position] < 0xC0:
            position -= 1
        if _utf8_length(data[position]) == 0:
            position = begin
        parts: list[str] = []
        while position < end:
            length = _utf8_length(data[position])
            char = None
            if length:
                try:
                    char = data[position : position + length].decode("utf-8")
                except UnicodeDecodeError:
                    char = None
            if char is None:  # not UTF-8: show the byte itself
                if position >= begin:
                    parts.append(f"⟨0x{data[position]:02X}⟩")
                position += 1
                continue
            stop = position + length
            if position >= begin and stop <= end:
                parts.append(visible_cached(char))
            else:
                first, last = owner(position), owner(stop - 1)
                parts.append(f"{visible_cached(char)}⟨{index - first + 1}/{last - first + 1}⟩")
            position = stop
        shown[index] = "".join(parts)
