"""The registry: the four tokenizers by name, each loaded on first use, and what a tokenization
gives back (:class:`Tokenization`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.domain.tokenizers._backends import LOADERS, Backend

log = logging.getLogger(__name__)

TOKENIZER_NAMES: tuple[str, ...] = ("gpt2", "cl100k", "wordpiece", "smollm2")

LABELS: dict[str, str] = {
    "gpt2": "GPT-2 BPE",
    "cl100k": "GPT-4 cl100k_base",
    "wordpiece": "BERT WordPiece (MiniLM, with [CLS]/[SEP])",
    "smollm2": "SmolLM2 BPE",
}


@dataclass(frozen=True)
class Tokenization:
    """One text cut by one tokenizer.

    ``tokens`` are readable strings (see :mod:`bot.domain.tokenizers._markers`), one per id.
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
        self._backends: dict[str, Backend] = {}
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

    def _backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is not None:
            return backend
        if name not in LOADERS:
            raise ValueError(f"unknown tokenizer {name!r}; choose from {', '.join(TOKENIZER_NAMES)}")
        with self._locks[name]:
            backend = self._backends.get(name)
            if backend is None:
                started = time.perf_counter()
                backend = LOADERS[name](self._cache_dir)
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
