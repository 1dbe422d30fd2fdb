"""Loading decks from every format instructors have, and reporting broken files by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.loaders import CORE_SECTIONS, load_deck, parse_markdown, parse_plain_text, shape_problems
from tests.conftest import SEED, SHARED_SEED

GOOD_MD = """---
number: 3
title: Attention
subtitle: Looking everywhere at once
---

## Overview
Attention lets every token weigh every other token.

## Key Concepts
### Query
What a token is looking for.
### Key
What a token offers.

## FAQ
### What is attention?
A learned way to mix information across tokens.
### Why does it matter?
It lets models use context from far away.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_slide_sections_and_faq():
    slide = parse_markdown(GOOD_MD, "03-attention.md")
    assert (slide.number, slide.title, slide.subtitle) == (3, "Attention", "Looking everywhere at once")
    assert [s.heading for s in slide.sections] == ["Overview", "Key Concepts"]
    assert "### Query" in slide.section("key concepts").text
    assert [p.q for p in slide.faq] == ["What is attention?", "Why does it matter?"]
    assert slide.faq[0].a == "A learned way to mix information across tokens."


def test_seed_copy_matches_the_shared_seed():
    if not SHARED_SEED.exists():
        pytest.skip(f"{SHARED_SEED} is not there (a checkout without shared/)")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def test_seed_export_loads_as_one_slide_with_sections_and_faq():
    slide = parse_plain_text(SEED.read_text(encoding="utf-8"), "slide-13.txt")
    assert slide.number == 13
    headings = [s.heading for s in slide.sections]
    assert headings == [
        "Overview",
        "Key Concepts",
        "How It Works",
        "Applications",
        "Comparison: Traditional AI vs Generative AI",
    ]
    assert "### Latent Space" in slide.section("Key Concepts").text
    assert (
        "3. **Embedding Mapping**: Tokens are converted to vectors representing meaning."
        in slide.section("How It Works").text
    )
    assert [p.q for p in slide.faq] == [
        "Why are embeddings important?",
        "Can embeddings represent abstract ideas?",
        "How do embeddings improve generation quality?",
    ]
    assert slide.faq[1].a.startswith("Yes, high-dimensional vectors")
    # Navigation chrome is not teaching content.
    assert all("Next Slide" not in s.text and "Continue Your" not in s.text for s in slide.sections)


PLAIN_WORDS_EXPORT = """Attention – Slide 8
Every word looks at every other word
Overview
Attention lets each token gather context from the other tokens.
In Plain Words
Attention is like listening to a whole class at once. The most useful voices count the most.
How It Works
1. Score
Each query is compared with every key.
2. Mix
The values are blended by the attention weights.
Example
In "The trophy didn't fit in the suitcase because it was too big", the token "it" attends mostly to "trophy".
Applications
Translation and chat assistants.
FAQ
Why attention?
It links words that are far apart.
"""


def test_plain_text_export_keeps_in_plain_words_and_example_sections():
    slide = parse_plain_text(PLAIN_WORDS_EXPORT, "slide-8.txt")
    assert [s.heading for s in slide.sections] == [
        "Overview",
        "In Plain Words",
        "How It Works",
        "Example",
        "Applications",
    ]
    assert slide.section("In Plain Words").text.startswith("Attention is like listening to a whole class at once.")
    assert 'the token "it" attends mostly to "trophy"' in slide.section("Example").text
    assert "Example" not in slide.section("How It Works").text
    assert [p.q for p in slide.faq] == ["Why attention?"]


def test_shape_of_our_deck_asks_for_plain_words_and_example_but_an_export_need_not():
    seed = parse_plain_text(SEED.read_text(encoding="utf-8"), "slide-13.txt")
    assert shape_problems([seed], CORE_SECTIONS) == []
    missing = [p.message for p in shape_problems([seed])]
    assert missing == ["slide 13 has no 'In Plain Words' section", "slide 13 has no 'Example' section"]


def test_html_slide(tmp_path):
    write(
        tmp_path,
        "slide-40.html",
        """<html><head><title>x</title><script>var a = 1;</script></head><body>
        <h1>Diffusion Models</h1><p>From noise to pictures</p>
        <h2>Overview</h2><p>A diffusion model learns to remove noise step by step.</p>
        <ul><li>Starts from pure noise</li><li>Denoises over many steps</li></ul>
        <h2>Frequently Asked Questions</h2><h3>Why so many steps?</h3><p>Each step removes a little noise.</p>
        </body></html>""",
    )
    result = load_deck(tmp_path)
    assert result.problems == []
    slide = result.deck.get(40)
    assert slide.title == "Diffusion Models" and slide.subtitle == "From noise to pictures"
    assert "- Starts from pure noise" in slide.section("Overview").text
    assert "var a" not in slide.section("Overview").text
    assert slide.faq[0].q == "Why so many steps?"


def test_pdf_one_slide_per_page(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    pages = [
        [
            "Attention Basics",
            "Why transformers look everywhere",
            "Overview",
            "Attention lets tokens mix.",
            "FAQ",
            "What is attention?",
            "A way to mix information across tokens.",
        ],
        [],  # a blank divider page carries nothing
        ["Positional Encoding", "Order matters", "Overview", "Transformers add position information."],
    ]
    with PdfPages(tmp_path / "lecture.pdf") as pdf:
        for lines in pages:
            figure = plt.figure(figsize=(8.5, 11))
            for row, line in enumerate(lines):
                figure.text(0.1, 0.9 - row * 0.05, line)
            pdf.savefig(figure)
            plt.close(figure)
    result = load_deck(tmp_path)
    assert result.problems == []
    assert [(s.number, s.title) for s in result.deck] == [(1, "Attention Basics"), (3, "Positional Encoding")]
    assert result.deck.get(1).faq[0].q == "What is attention?"
    assert result.deck.get(3).source == "lecture.pdf#page=3"


def test_pptx_one_slide_per_slide(tmp_path):
    from pptx import Presentation

    presentation = Presentation()
    for title, body in [
        (
            "Prompting – Slide 50",
            "Overview\nA prompt is the text you give a model.\nFAQ\nWhat is few-shot?\nGiving examples.",
        ),
        ("Evaluation – Slide 51", "Overview\nMeasure what matters."),
    ]:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
    presentation.save(tmp_path / "course.pptx")
    result = load_deck(tmp_path)
    assert result.problems == []
    assert [(s.number, s.title) for s in result.deck] == [(50, "Prompting"), (51, "Evaluation")]
    assert result.deck.get(50).faq[0].a == "Giving examples."


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("01-a.md", "no front matter here\n", 1, "missing front matter"),
        ("02-b.md", "---\nnumber: two\ntitle: T\n---\n## Overview\nx\n", 2, "'number' must be a positive whole number"),
        ("03-c.md", "---\nnumber: 3\ntitle: [unclosed\n---\n", 3, "not valid YAML"),
        (
            "04-d.md",
            "---\nnumber: 4\ntitle: T\n---\n## Overview\n\n## FAQ\n### Q?\nA.\n",
            5,
            "section 'Overview' is empty",
        ),
        ("05-e.md", "---\nnumber: 5\ntitle: T\n---\n## FAQ\n### Unanswered?\n", 6, "has no answer"),
        ("06-f.pdf", "this is not a pdf", None, "not a readable PDF"),
        ("07-g.pptx", "not a zip", None, "not a readable PowerPoint file"),
        ("08-h.txt", "   \n\n", None, "no text"),
    ],
)
def test_malformed_file_is_reported_by_name_and_skipped(tmp_path, name, content, line, message):
    write(tmp_path, "09-good.md", GOOD_MD.replace("number: 3", "number: 9"))
    write(tmp_path, name, content)
    result = load_deck(tmp_path)
    assert result.deck.numbers == [9], "the good file still loads"
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.file == name and message in problem.message
    assert problem.line == line


def test_non_utf8_and_duplicate_numbers_reported(tmp_path):
    (tmp_path / "01-latin.md").write_bytes("---\nnumber: 1\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    write(tmp_path, "02-a.md", GOOD_MD)
    write(tmp_path, "03-b.md", GOOD_MD)  # also slide 3
    result = load_deck(tmp_path)
    assert result.deck.numbers == [3]
    assert result.deck.get(3).source == "03-b.md", "the file whose name starts with the number"
    messages = {p.file: p.message for p in result.problems}
    assert "not UTF-8" in messages["01-latin.md"]
    assert (
        messages["02-a.md"] == "slide 3 is defined twice: kept 03-b.md (its file name starts with 3), skipped 02-a.md"
    )


def test_odd_unicode_is_kept_readable(tmp_path):
    text = GOOD_MD.replace("Attention lets", "Atte\u0301ntion — 注意力 👩\u200d💻 lets\x07")
    slide = parse_markdown(text, "x.md")
    overview = slide.section("Overview").text
    assert "\x07" not in overview and "注意力 👩\u200d💻" in overview
    assert "Atténtion" in overview  # combining accent normalised to one character


def test_missing_folder_is_a_problem_not_a_crash(tmp_path):
    result = load_deck(tmp_path / "nope")
    assert len(result.deck) == 0 and "does not exist" in result.problems[0].message
