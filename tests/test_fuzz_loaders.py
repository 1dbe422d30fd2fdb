"""Fuzzing the deck loaders with Hypothesis: Markdown, front matter, and PDF and PowerPoint mutants
made here from valid files by a seeded mutator (bytes flipped, cut short, sections duplicated or
dropped, tokens inserted).

Each target runs a fixed number of examples, derandomized (the same examples on every run, so CI is
repeatable and fits its time). The property is the loaders' contract: a file gives slides within
the limits, or a :class:`MalformedFile` with a short message; nothing else escapes, and the whole
folder always loads (the problem names the file).
"""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.loaders import LOADERS, DeckLimits, MalformedFile, load_deck
from tests.test_hardening import PDF_PAGES, make_pdf, make_pptx, slide_md

LIMITS = DeckLimits(file_mb=2, pages=40, slide_text_kb=16)


def fuzz(examples: int):
    """A fixed, seeded number of examples (``derandomize``), no example database, no deadline
    (a shared CI machine is slow now and then; the benches time things, tests don't)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def check(suffix: str, data: bytes, number: int | None = 5) -> None:
    """The contract, for one file's bytes."""
    try:
        slides = LOADERS[suffix](data, f"fuzz{suffix}", number, LIMITS)
    except MalformedFile as error:
        assert 0 < len(str(error)) < 400, str(error)
        return
    for slide in slides:
        assert 1 <= slide.number <= 9999
        assert slide.title.strip()
        assert slide.sections or slide.faq
        text = "".join(section.text for section in slide.sections)
        assert len(text) <= LIMITS.slide_chars * 2  # (headings and FAQ aside, within the limit's order)


# --------------------------------------------------------------------------- Markdown and front matter

MARKUP = st.sampled_from(
    ["---", "## Overview", "## FAQ", "### Why?", "# Title", "", "- item", "1. step", "```", "<b>", "\t", "\r\n", "\x00"]
)
LINES = st.lists(st.one_of(MARKUP, st.text(max_size=80)), max_size=30)


@fuzz(250)
@given(LINES, LINES)
def test_markdown_files_load_or_are_a_problem(front, body):
    text = "\n".join(["---", *front, "---", *body])
    check(".md", text.encode("utf-8", "surrogatepass"))


YAML_SCALARS = st.one_of(
    st.sampled_from(
        ["7", "-1", "0", "1e400", "0x1F", "~", "null", "true", "2024-13-45", "!!binary aGk=", "&a x", "*a"]
    ),
    st.sampled_from(["[", "{", "'", '"', "|", ">", "? ", "!!python/object:os.system", "%YAML 1.2", "<<: *x"]),
    st.text(max_size=40),
)
FRONT_VALUES = st.recursive(
    YAML_SCALARS, lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"), max_leaves=8
)


@fuzz(250)
@given(st.dictionaries(st.sampled_from(["number", "title", "subtitle", "tags", "x", "<<"]), FRONT_VALUES, max_size=5))
def test_front_matter_values_load_or_are_a_problem(fields):
    front = "\n".join(f"{key}: {value}" for key, value in fields.items())
    check(".md", f"---\n{front}\n---\n## Overview\nText.\n".encode("utf-8", "surrogatepass"))


@fuzz(150)
@given(st.text(max_size=3000))
def test_plain_text_and_html_load_or_are_a_problem(text):
    data = text.encode("utf-8", "surrogatepass")
    check(".txt", data)
    check(".html", data)


# --------------------------------------------------------------------------- the seeded mutator

TOKENS = [b"obj", b"endobj", b"stream", b"endstream", b"/Length", b"/Kids", b"/Type", b"R", b"[", b"<<", b">>", b"-1"]
TOKENS += [b"9" * 12, b"/Filter /FlateDecode", b"xref", b"trailer", b"%%EOF", b"<a:t>", b"</p:sp>", b'r:id="rId1"']
OPS = st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "drop", "duplicate", "insert"]), st.integers(0, 2**32 - 1)),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, ops: list[tuple[str, int]]) -> bytes:
    """``data`` changed by each (operation, seed): a byte flipped, the file cut short, a section
    dropped or duplicated elsewhere, a format token inserted."""
    out = bytearray(data)
    for op, seed in ops:
        if not out:
            break
        at = seed % len(out)
        span = 1 + (seed >> 8) % 200
        if op == "flip":
            out[at] ^= 1 << (seed >> 16) % 8
        elif op == "cut":
            del out[at:]
        elif op == "drop":
            del out[at : at + span]
        elif op == "duplicate":
            where = (seed >> 12) % len(out)
            out[where:where] = out[at : at + span]
        else:
            out[at:at] = b" " + TOKENS[(seed >> 8) % len(TOKENS)] + b" "
    return bytes(out)


PDF = make_pdf(PDF_PAGES)


@fuzz(150)
@given(OPS)
def test_pdf_mutants_load_or_are_a_problem(ops):
    check(".pdf", mutate(PDF, ops))


@pytest.fixture(scope="module")
def pptx_bytes(tmp_path_factory) -> bytes:
    return make_pptx(tmp_path_factory.mktemp("pptx") / "course.pptx", 2).read_bytes()


def mutate_member(package: bytes, ops: list[tuple[str, int]]) -> bytes:
    """The package with one XML part mutated (the zip itself stays valid, so the XML is what is tested)."""
    with zipfile.ZipFile(io.BytesIO(package)) as old:
        names = [n for n in old.namelist() if n.endswith((".xml", ".rels"))]
        target = names[ops[0][1] % len(names)]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                data = old.read(info.filename)
                new.writestr(info, mutate(data, ops) if info.filename == target else data)
    return out.getvalue()


@fuzz(80)
@given(OPS, st.booleans())
def test_pptx_mutants_load_or_are_a_problem(pptx_bytes, ops, inside):
    check(".pptx", mutate_member(pptx_bytes, ops) if inside else mutate(pptx_bytes, ops))


# --------------------------------------------------------------------------- the folder


@fuzz(40)
@given(OPS, OPS, LINES)
def test_a_folder_of_mutants_always_loads_its_good_slides(tmp_path_factory, pdf_ops, pptx_ops, lines):
    folder = tmp_path_factory.mktemp("deck")
    (folder / "30-good.md").write_text(slide_md(30), encoding="utf-8")
    (folder / "lecture.pdf").write_bytes(mutate(PDF, pdf_ops))
    (folder / "31-notes.md").write_text(
        "\n".join(["---", "number: 31", "title: T", "---", *lines]), "utf-8", "surrogatepass"
    )
    result = load_deck(folder, LIMITS)
    assert 30 in result.deck.numbers
    named = {p.file for p in result.problems}
    assert named <= {"lecture.pdf", "31-notes.md", "30-good.md"}, named
