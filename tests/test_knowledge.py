"""The deck itself: every file valid and shaped like a slide; slide 13 carries the seed's facts;
retrieval quality on the evaluation set does not regress."""

from __future__ import annotations

import re

import pytest

from bot.domain.loaders import deck_files, load_deck, parse_plain_text, shape_problems
from bot.domain.text import sentences, terms
from tests.conftest import KNOWLEDGE, ROOT, SEED

REQUIRED_TOPICS = [
    "what is generative ai",
    "traditional ai vs generative ai",
    "neural network",
    "training data",
    "tokenization",
    "embeddings",
    "latent space",
    "transformer",
    "attention",
    "large language model",
    "next-token prediction",
    "temperature",
    "decoding",
    "prompting",
    "fine-tuning",
    "parameter-efficient",
    "retrieval-augmented generation",
    "vector search",
    "image generation",
    "audio",
    "video",
    "evaluat",
    "hallucination",
    "ethic",
    "copyright",
    "real-world applications",
    "getting started",
]


def test_every_knowledge_file_is_valid_and_slide_shaped():
    """All problems are reported at once: file, line, what is wrong."""
    result = load_deck(KNOWLEDGE)
    problems = result.problems + shape_problems(result.deck)
    assert not problems, "knowledge problems:\n" + "\n".join(str(p) for p in problems)
    assert len(deck_files(KNOWLEDGE)) == len(result.deck) >= 20
    assert result.deck.numbers == list(range(1, len(result.deck) + 1))


def test_every_slide_explains_itself_in_plain_words_and_with_an_example():
    """The bot quotes "In Plain Words" for "explain it simpler" and "Example" for "give me an example"."""
    problems = []
    for slide in load_deck(KNOWLEDGE).deck:
        headings = [section.heading for section in slide.sections]
        plain, example = slide.section("In Plain Words"), slide.section("Example")
        if plain is None or example is None:
            problems.append(f"slide {slide.number} lacks 'In Plain Words' or 'Example': {headings}")
            continue
        # Placed right after the section each one simplifies or illustrates.
        if headings[headings.index("Overview") + 1] != "In Plain Words":
            problems.append(f"slide {slide.number}: 'In Plain Words' does not follow 'Overview'")
        if headings[headings.index("How It Works") + 1] != "Example":
            problems.append(f"slide {slide.number}: 'Example' does not follow 'How It Works'")
        # Plain prose of 2 to 4 sentences (split as the bot splits them), each quotable on its own.
        if any(re.match(r"[-*#]|\d+[.)]\s", line.lstrip()) for line in plain.text.splitlines()):
            problems.append(f"slide {slide.number}: 'In Plain Words' is not plain prose")
        count = len(sentences(plain.text))
        if not 2 <= count <= 4:
            problems.append(f"slide {slide.number}: 'In Plain Words' has {count} sentences (2 to 4)")
        if "###" in example.text or len(example.text.split()) < 20:
            problems.append(f"slide {slide.number}: 'Example' is empty, too short or has sub-headings")
    assert not problems, "\n".join(problems)


def test_the_course_covers_every_required_topic():
    deck = load_deck(KNOWLEDGE).deck
    titles = " | ".join(s.title.casefold() for s in deck)
    text = " ".join(s.title + " " + " ".join(x.text for x in s.sections) for s in deck).casefold()
    missing = [topic for topic in REQUIRED_TOPICS if topic not in titles and topic not in text]
    assert not missing, f"topics the deck does not teach: {missing}"


def _words(text: str) -> set[str]:
    """Stemmed content words: the facts of a line, whatever their grammatical form."""
    return set(terms(text.replace("‑", "-")))


def test_slide_13_carries_every_fact_section_and_faq_of_the_seed():
    seed = parse_plain_text(SEED.read_text(encoding="utf-8"), "seed")
    ours = load_deck(KNOWLEDGE).deck.get(13)
    assert ours is not None and "token" in ours.title.casefold() and "embedding" in ours.title.casefold()
    # Every seed section has a counterpart, and its facts are carried: each sub-heading of the seed
    # appears, and the words of each seed line appear in our section.
    for seed_section in seed.sections:
        kind = seed_section.heading.split(":")[0]
        ours_section = ours.section(kind)
        assert ours_section is not None, f"slide 13 lacks the seed's '{kind}' section"
        our_words = _words(ours_section.text)
        for line in seed_section.text.splitlines():
            line_words = _words(line)
            missing = line_words - our_words
            assert len(missing) <= max(1, len(line_words) // 5), f"{kind}: {line!r} is missing {missing}"
    our_faq = {pair.q: pair.a for pair in ours.faq}
    for pair in seed.faq:
        assert pair.q in our_faq, f"slide 13 lacks the seed FAQ {pair.q!r}"
        assert _words(pair.a) <= _words(our_faq[pair.q]) | {"and"}, f"the answer to {pair.q!r} lost facts"


@pytest.fixture(scope="module")
def evaluation(tutor):
    from bot.domain.evaluation import Evaluation, load_questions

    # Floors sit on the test half; the decline rule and the fusion were tuned on the other half.
    questions = load_questions(ROOT / "tests" / "eval" / "questions.jsonl", split="test")
    return Evaluation(tutor.knowledge.retriever, questions)


def test_evaluation_set_is_big_and_spread_over_every_slide():
    from bot.domain.evaluation import load_questions

    questions = load_questions(ROOT / "tests" / "eval" / "questions.jsonl")
    covered = [q for q in questions if q.slide is not None]
    off_topic = [q for q in questions if q.slide is None]
    assert len(covered) >= 100 and len(off_topic) >= 30
    assert {q.slide for q in covered} == set(range(1, 23))


def test_retrieval_quality_does_not_regress(evaluation):
    """Floors just under what the chosen settings reach on the test half, which tuning never saw
    (bench/eval.py: Recall@1 0.918, Recall@3 0.959, off-topic declined 0.957, on-topic declined 0.071).
    Recall@1 leaves room for one question of the 98: one sits on a near-tie that float noise in the
    embeddings (thread count, batch padding) tipped once in CI and not on the next run."""
    modes = evaluation.modes()
    hybrid = modes["hybrid"]
    assert hybrid["recall@1"] >= 0.9, modes
    assert hybrid["recall@3"] >= 0.94, modes
    assert hybrid["off_topic_declined"] >= 0.9, modes
    assert hybrid["on_topic_declined"] <= 0.11, modes
    assert hybrid["recall@1"] > modes["dense"]["recall@1"] and hybrid["recall@1"] > modes["bm25"]["recall@1"]


def test_one_slide_lookup_for_numbers_and_titles():
    from bot.domain.errors import UserError

    deck = load_deck(KNOWLEDGE).deck
    assert deck.resolve("13") == deck.resolve("#13") == deck.resolve("13 · Tokenization, Embeddings") == 13
    assert deck.resolve("hallucinations") == 18
    assert deck.resolve("Image Generation") == 15, "an exact title wins over titles containing it"
    assert deck.resolve("99") == 99, "a number is returned as it is; the caller names the range"
    with pytest.raises(UserError, match="slides are 1-22"):
        deck.resolve("knitting")
    assert [s.number for s in deck.search("1")][:3] == [1, 10, 11], "autocomplete: that number, then prefixes"


def test_vector_search_finds_the_same_nearest_passages_as_exhaustive_search(tutor):
    """The graph search is approximate; on a deck's few thousand vectors it must lose nothing, or a
    question's only relevant passage ("what is DPO?") can go missing from its results."""
    import json

    import numpy as np

    from bot.domain.retrieval import DENSE_RECORDS

    retriever = tutor.knowledge.retriever
    index = tutor.index
    ids: list[str] = []
    rows = []
    for kind in ("passage", "block", "question"):  # every kind a question searches; not the sentences
        kind_ids, kind_vectors, _ = index.stored_vectors(kind)
        ids += kind_ids
        rows += list(kind_vectors)
    vectors = np.asarray(rows)
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/eval/questions.jsonl").open()][:60]
    for question in questions:
        vector = retriever.query_vector(question)
        nearest = {ids[i] for i in np.argsort(-(vectors @ vector))[:DENSE_RECORDS]}
        assert {hit.record for hit in index.query(vector, DENSE_RECORDS)} == nearest, question
