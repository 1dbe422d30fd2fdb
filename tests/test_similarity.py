"""Similarity, nearest slides, the latent-space map and slide 13's pipeline, with the real model
and the real deck (the session ``tutor``)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from bot.domain.errors import UserError
from bot.domain.pipeline import build_pipeline
from bot.domain.similarity import (
    BANDS,
    MAX_TEXT_CHARS,
    EmptyText,
    Similarity,
    prepare,
    reading,
)
from bot.domain.tokenizers import Tokenizers

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def similarity(tutor) -> Similarity:
    return Similarity(tutor)


@pytest.fixture(scope="module")
def tokenizers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tokenizers:
    """SmolLM2's converted tokenizer is cached in pytest's cache folder (as tests/test_tokenizers.py does)."""
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("slide-tutor-tokenizers")) if cache is not None else tmp_path_factory.mktemp("tok")
    return Tokenizers(cache_dir=folder)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------- two texts


def test_paraphrases_score_higher_than_unrelated_pairs(similarity: Similarity) -> None:
    paraphrases = [
        ("The cat sat on the mat.", "A cat was sitting on the mat."),
        ("I love pizza", "Pizza is my favourite food"),
        ("How do I reset my password", "Recovering access to your account"),
    ]
    unrelated = [
        ("What is RAG?", "How do I bake bread?"),
        ("The stock market fell today", "Neural networks learn from data"),
        ("What is attention in transformers?", "Where can I buy shoes?"),
    ]
    lowest_paraphrase = min(similarity.compare(a, b).score for a, b in paraphrases)
    highest_unrelated = max(similarity.compare(a, b).score for a, b in unrelated)
    assert lowest_paraphrase > highest_unrelated + 0.3


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("The cat sat on the mat.", "A cat was sitting on the mat.", "nearly the same meaning"),
        ("What is RAG?", "How do I bake bread?", "unrelated"),
    ],
)
def test_the_reading_matches_the_band(similarity: Similarity, first: str, second: str, expected: str) -> None:
    comparison = similarity.compare(first, second)
    assert comparison.reading == expected
    floor = next(low for low, label in BANDS if label == expected)
    assert comparison.score >= floor
    assert comparison.to_dict() == {"similarity": round(comparison.score, 4), "reading": expected}


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "nearly the same meaning"),
        (0.8, "nearly the same meaning"),
        (0.79, "closely related"),
        (0.6, "closely related"),
        (0.5, "somewhat related"),
        (0.3, "loosely related"),
        (0.19, "unrelated"),
        (-0.4, "unrelated"),
    ],
)
def test_band_edges(score: float, expected: str) -> None:
    assert reading(score) == expected


def test_single_words_get_a_caveat(similarity: Similarity) -> None:
    assert similarity.compare("dog", "puppy").note is not None
    assert similarity.compare("my dog sleeps", "the puppy naps").note is None


# ---------------------------------------------------------------------------- one text


def test_neighbours_of_a_temperature_question_start_with_slide_10(similarity: Similarity) -> None:
    neighbours = similarity.neighbours("how does temperature change sampling", k=5)
    assert neighbours[0].slide == 10
    assert neighbours[0].title == "Sampling, Temperature and Decoding"
    assert len(neighbours) == 5
    assert len({n.passage for n in neighbours}) == 5, "folded to distinct passages"
    scores = [n.score for n in neighbours]
    assert scores == sorted(scores, reverse=True)
    assert set(neighbours[0].to_dict()) == {"slide", "title", "section", "score"}


def test_empty_text_is_a_user_error(similarity: Similarity) -> None:
    for call in (
        lambda: similarity.neighbours("   "),
        lambda: similarity.compare("", "dog"),
        lambda: similarity.compare("dog", "\n\t"),
        lambda: similarity.map_png([" "]),
    ):
        with pytest.raises(EmptyText) as caught:
            call()
        assert isinstance(caught.value, UserError)
        assert "empty" in str(caught.value)


def test_huge_text_is_cut_and_odd_unicode_is_fine(similarity: Similarity) -> None:
    assert len(prepare("word " * 5000)) == MAX_TEXT_CHARS
    assert prepare("broken \ud83d paste") == "broken \ufffd paste"
    assert similarity.neighbours("embeddings " * 2000, k=3)[0].slide == 13
    odd = "👩‍👩‍👧 مرحبا\u200b naïve e\u0301 \ud800 ␀"
    assert len(similarity.neighbours(odd, k=2)) == 2
    assert -1.0 <= similarity.compare(odd, "family").score <= 1.0


# ---------------------------------------------------------------------------- the map


def test_the_map_is_a_readable_png(similarity: Similarity) -> None:
    png = similarity.map_png(["how does temperature change sampling"])
    width, height = png_size(png)
    assert 500 <= width <= 1200 and 400 <= height <= 1000
    assert 20_000 < len(png) < 1_000_000
    fitted = similarity._deck_map()
    assert similarity._deck_map() is fitted, "the deck's map is fitted once and cached"
    assert fitted.points.shape == (len(fitted.ids), 2)
    both = similarity.map_png(["I love my cat 🐱", "$x$ my dog is cute " * 200])  # emoji, maths signs, long
    assert png_size(both) == (width, height)


# ---------------------------------------------------------------------------- the pipeline


def test_pipeline_steps_have_the_right_shapes(similarity: Similarity, tokenizers: Tokenizers, embedder) -> None:
    text = "The cat sat on the"
    calls = []

    def predict(given: str, top_k: int):
        calls.append((given, top_k))
        return [("·mat", 0.41), ("·floor", 0.12), ("·sofa", 0.05), ("·bed", 0.04), ("·`x`", 0.01)][:top_k]

    pipeline = build_pipeline(text, similarity, tokenizers, predict)
    assert calls == [(text, 5)]
    assert (pipeline.chars, pipeline.utf8_bytes, pipeline.clipped) == (18, 18, False)
    assert pipeline.wordpiece.ids == embedder.tokenizer(text)["input_ids"], "the embedding model's own ids"
    assert pipeline.wordpiece.tokens[0] == "[CLS]" and pipeline.wordpiece.tokens[-1] == "[SEP]"
    assert pipeline.smollm2.ids == tokenizers.tokenize(text, "smollm2").ids
    assert pipeline.dimensions == 384
    assert len(pipeline.first_values) == 8
    assert pipeline.first_values == pytest.approx(embedder.encode_one(text)[:8].tolist(), abs=1e-5)
    assert pipeline.norm == pytest.approx(1.0, abs=1e-4)
    assert len(pipeline.concepts) == 3
    assert pipeline.next_tokens[0] == ("·mat", 0.41) and pipeline.generation_note is None

    steps = pipeline.steps()
    assert [(s.number, s.title) for s in steps] == [(1, "Input"), (2, "Tokens"), (3, "Embedding"), (4, "Generation")]
    assert "101" in steps[1].text and "[CLS]" in steps[1].text
    assert "384" in steps[2].text and "1.000" in steps[2].text
    assert "41.0%" in steps[3].text and "ˋxˋ" in steps[3].text, "backticks cannot break the code span"
    assert all(len(step.text) <= 1000 for step in steps)
    assert pipeline.to_dict()["embedding"]["dimensions"] == 384


def test_pipeline_says_so_when_the_generator_cannot_load(similarity: Similarity, tokenizers: Tokenizers) -> None:
    from bot.domain.generation import ModelUnavailable

    def broken(_text: str, _top_k: int):
        raise ModelUnavailable("the SmolLM2 package is not installed")

    pipeline = build_pipeline("the cat sat. " * 250, similarity, tokenizers, broken)
    assert pipeline.next_tokens == []
    assert "can't make predictions right now: the SmolLM2 package is not installed." in pipeline.generation_note
    assert pipeline.steps()[3].details == [pipeline.generation_note]
    assert pipeline.clipped and pipeline.chars == 3250 and len(pipeline.text) == MAX_TEXT_CHARS
    assert "first 2,000 characters" in pipeline.steps()[0].text
    assert "first 256 word pieces" in pipeline.steps()[1].text
    assert all(len(step.text) <= 1000 for step in pipeline.steps())

    without = build_pipeline("hello", similarity, tokenizers, None)
    assert "No text generator" in without.generation_note


def test_pipeline_refuses_empty_text(similarity: Similarity, tokenizers: Tokenizers) -> None:
    with pytest.raises(EmptyText):
        build_pipeline(" \n", similarity, tokenizers)


def test_embeddings_are_unit_length(similarity: Similarity) -> None:
    vector = similarity.embed("a sad poem")
    assert vector.shape == (384,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-4)
