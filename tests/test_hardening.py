"""Deck files are untrusted: a link, a broken or hostile file never leaks secrets, crashes or blows up."""

from __future__ import annotations

import functools
import io
import json
import os
from pathlib import Path

import pytest

from bot.domain.loaders import MalformedFile, deck_files, load_deck, load_file
from tests.conftest import run_cli
from tests.test_loaders import GOOD_MD, write

TOKEN = "very-secret-discord-token"


def slide_md(number: int, title: str = "Attention") -> str:
    return GOOD_MD.replace("number: 3", f"number: {number}").replace("title: Attention", f"title: {title}")


def everything(result) -> str:
    return repr([slide.to_dict() for slide in result.deck]) + repr(result.problems)


# --------------------------------------------------------------------------- links


def test_links_outside_the_folder_are_reported_and_never_read(tmp_path):
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere", "05-outside.md", slide_md(5).replace("Attention lets", f"{TOKEN} lets"))
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    write(knowledge, "03-good.md", slide_md(3))
    (knowledge / "71-x.txt").symlink_to("../.env")
    (knowledge / "05-outside.md").symlink_to(tmp_path / "elsewhere" / "05-outside.md")
    (knowledge / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    # A link that stays inside the folder is fine.
    (knowledge / "src").mkdir()
    write(knowledge / "src", "slide.md", slide_md(8, "Inside"))
    (knowledge / "08-inside.md").symlink_to("src/slide.md")

    result = load_deck(knowledge)

    assert result.deck.numbers == [3, 8]
    assert TOKEN not in everything(result)
    reasons = {p.file: p.message for p in result.problems}
    assert reasons == {
        "71-x.txt": "links outside the knowledge folder; not read",
        "05-outside.md": "links outside the knowledge folder; not read",
        "more": "links outside the knowledge folder; not read",
    }
    assert [p.name for p in deck_files(knowledge)] == ["03-good.md", "08-inside.md"]
    with pytest.raises(MalformedFile, match="outside the knowledge folder"):
        load_file(knowledge / "71-x.txt", knowledge)


def test_a_link_loop_is_a_problem_and_a_linked_knowledge_folder_still_loads(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    write(knowledge, "03-good.md", slide_md(3))
    (knowledge / "04-loop.md").symlink_to("04-loop.md")
    (tmp_path / "deck").symlink_to(knowledge, target_is_directory=True)

    result = load_deck(tmp_path / "deck")

    assert result.deck.numbers == [3]
    assert [p.file for p in result.problems] == ["04-loop.md"]
    assert "cannot be followed" in result.problems[0].message


def test_a_fifo_named_like_a_slide_is_not_opened(tmp_path):
    write(tmp_path, "03-good.md", slide_md(3))
    os.mkfifo(tmp_path / "04-pipe.md")  # opening it for reading would block forever
    result = load_deck(tmp_path)
    assert result.deck.numbers == [3] and result.problems == []


# --------------------------------------------------------------------------- one bad file


def _pdf_string(line: str) -> bytes:
    return b"(" + line.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def make_pdf(pages: list[list[str]], *, to_unicode: bytes | None = None, stream_extra: bytes = b"") -> bytes:
    """A real PDF, written by hand so every byte is known: Helvetica text, one line per string."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font_extra = b""
    if to_unicode is not None:
        font_extra = b"/ToUnicode %d 0 R" % add(
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(to_unicode), to_unicode)
        )
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica %s >>" % font_extra)
    kids = []
    for lines in pages:
        text = b"BT /F1 12 Tf 72 720 Td 14 TL " + b" ".join(_pdf_string(line) + b" '" for line in lines) + b" ET"
        content = add(b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(text), stream_extra, text))
        kids.append(
            add(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font, content)
            )
        )
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def bomb_pdf(streams: list[bytes], pages: int = 1) -> bytes:
    """A PDF whose every page shows the same content, ``streams``, each deflated: a few KB on
    disk that unpack to as much as pypdf allows, which no limit on the file's size sees."""
    import zlib

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    refs = []
    for raw in streams:
        packed = zlib.compress(raw, 9)
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed))
        refs.append(b"%d 0 R" % len(objects))
    kids = []
    for _ in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents [%s] >>" % b" ".join(refs)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# 8 KB: pages of 990,000 empty text operators each, just under pypdf's 2,000,000 tokens per
# content stream, which take pypdf about 30 s a page to read here and yield no text (so no
# limit on a page's text stops it). The deck limit allows 200 such pages: hours.
@functools.cache
def slow_pdf(pages: int = 3) -> bytes:
    return bomb_pdf([b"BT /F1 12 Tf 72 720 Td " + b"() Tj " * 990_000 + b"ET"], pages=pages)


# 140 KB: two content streams of 70 MB of spaces, unpacked whole before pypdf's own limit says no.
@functools.cache
def hog_pdf() -> bytes:
    return bomb_pdf([b"BT /F1 12 Tf 72 720 Td (Hog) Tj ET", b" " * (70 << 20), b" " * (70 << 20)])


PDF_PAGES = [
    ["Attention Basics", "Why transformers look everywhere", "Overview", "Attention lets tokens mix."],
    ["Positional Encoding", "Order matters", "Overview", "Transformers add position information."],
]


def test_the_hand_written_pdf_loads(tmp_path):
    (tmp_path / "lecture.pdf").write_bytes(make_pdf(PDF_PAGES))
    result = load_deck(tmp_path)
    assert result.problems == []
    assert [(s.number, s.title) for s in result.deck] == [(1, "Attention Basics"), (2, "Positional Encoding")]


LONG_CODE = b"<" + b"41" * 23 + b">"
HOSTILE_PDFS = {
    # pypdf's LimitReachedError (a /ToUnicode code longer than 16 bytes)
    "10-limit.pdf": make_pdf(
        PDF_PAGES,
        to_unicode=b"begincmap\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
        b"1 beginbfchar\n" + LONG_CODE + b" <0041>\nendbfchar\nendcmap",
    ),
    # NotImplementedError from pypdf: a filter it does not know
    "11-filter.pdf": make_pdf(PDF_PAGES, stream_extra=b"/Filter /NoSuchDecode"),
    # a mangled cross-reference table (pypdf raised TypeError)
    "12-xref.pdf": make_pdf(PDF_PAGES).replace(b"xref\n0 ", b"xref\n/x "),
    # objects nested far deeper than the recursion limit
    "13-deep.pdf": make_pdf(PDF_PAGES).replace(b"/MediaBox", b"/Deep " + b"[" * 5000 + b"]" * 5000 + b" /MediaBox"),
}


@pytest.mark.parametrize("name", HOSTILE_PDFS)
def test_a_pdf_that_breaks_pypdf_is_a_problem_and_the_rest_loads(tmp_path, name):
    write(tmp_path, "30-good.md", slide_md(30))
    (tmp_path / name).write_bytes(HOSTILE_PDFS[name])
    result = load_deck(tmp_path)
    assert 30 in result.deck.numbers
    assert [p.file for p in result.problems] == [name]
    assert result.problems[0].message.startswith("not a readable PDF (")


def test_mutated_pdfs_never_escape_the_loader(tmp_path):
    """Seeded byte mutations of a real PDF: each one loads or is a problem, none raises."""
    import random

    base = make_pdf(PDF_PAGES)
    tokens = [b"obj", b"endobj", b"/Length", b"/Kids", b"/Type", b"stream", b"R", b"[", b"<<", b">>", b"-1", b"9" * 12]
    rng = random.Random(13)
    for case in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            at, op = rng.randrange(len(data)), rng.random()
            if op < 0.5:
                data[at] = rng.randrange(256)
            elif op < 0.7:
                del data[at : at + rng.randint(1, 40)]
            else:
                data[at:at] = b" " + rng.choice(tokens) + b" "
        (tmp_path / "lecture.pdf").write_bytes(bytes(data))
        result = load_deck(tmp_path)  # must not raise
        assert len(result.deck) + len(result.problems) >= 1, case


def test_front_matter_nested_deep_is_a_problem_not_a_recursion_error(tmp_path):
    write(tmp_path, "30-good.md", slide_md(30))
    deep = "[" * 1500 + "]" * 1500  # past Python's recursion limit in PyYAML's composer, within the size limit
    write(tmp_path, "31-deep.md", f"---\nnumber: 31\ntitle: T\nx: {deep}\n---\n## Overview\nx\n")
    write(tmp_path, "32-blocks.md", "---\nnumber: 32\ntitle: T\nx:\n  " + "- " * 50 + "a\n---\n")
    deeper = "[" * 20_000 + "]" * 20_000
    write(tmp_path, "33-deeper.md", f"---\nnumber: 33\ntitle: T\nx: {deeper}\n---\n## Overview\nx\n")
    result = load_deck(tmp_path)
    assert result.deck.numbers == [30]
    problems = {p.file: (p.line, p.message) for p in result.problems}
    assert problems["31-deep.md"] == (4, "front matter is nested more than 8 levels deep")
    assert "nested more than 8 levels deep" in problems["32-blocks.md"][1]
    assert problems["33-deeper.md"] == (2, "front matter is longer than 4096 characters")


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("number: 1\ntitle: T\ndate: 2024-13-45", "front matter has a value that cannot be read (ValueError: "),
        ("number: " + "7" * 4000 + "\ntitle: T", "front matter 'number' must be a positive whole number up to 9999"),
        ("number: " + "7" * 5000 + "\ntitle: T", "front matter is longer than 4096 characters"),
        ("number: 1\ntitle: [a, b]", "front matter 'title' must be text, not a list"),
        ("number: 1\ntitle: T\nsubtitle: {a: b}", "front matter 'subtitle' must be text, not a dict"),
    ],
)
def test_front_matter_values_that_cannot_make_a_slide_are_problems(tmp_path, front, message):
    write(tmp_path, "40-odd.md", f"---\n{front}\n---\n## Overview\nx\n")
    result = load_deck(tmp_path)
    assert len(result.deck) == 0 and result.problems[0].file == "40-odd.md"
    assert result.problems[0].message.startswith(message)
    assert len(result.problems[0].message) < 300


def test_an_html_slide_number_in_odd_digits_is_ignored_not_a_crash(tmp_path):
    write(tmp_path, "41-x.html", '<meta name="slide-number" content="²"><h1>Odd</h1><p>Overview</p><p>Text.</p>')
    result = load_deck(tmp_path)
    assert result.problems == [] and result.deck.numbers == [41]


def test_any_unexpected_error_in_a_loader_is_a_problem_and_the_rest_loads(tmp_path, monkeypatch):
    from bot.domain import loaders

    def broken(data, source, number, limits):
        raise AttributeError("'NoneType' object has no attribute 'text'")

    monkeypatch.setitem(loaders.LOADERS, ".htm", broken)  # (in this process: read here, not in a worker)
    write(tmp_path, "30-good.md", slide_md(30))
    write(tmp_path, "31-bad.htm", "<p>x</p>")
    result = load_deck(tmp_path, read=load_file)
    assert result.deck.numbers == [30]
    assert [str(p) for p in result.problems] == [
        "31-bad.htm: cannot be loaded (AttributeError: 'NoneType' object has no attribute 'text')"
    ]


def test_a_file_name_that_is_not_utf8_gets_a_safe_source_name_that_chroma_stores(tmp_path):

    import numpy as np

    from bot.domain.passages import passages_from_deck
    from bot.domain.tutor import open_index
    from tests.conftest import make_settings

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    raw = os.path.join(os.fsencode(knowledge), b"05-caf\xe9\n.md")  # Latin-1 byte and a newline in the name
    with open(raw, "wb") as file:
        file.write(slide_md(5).encode("utf-8"))
    result = load_deck(knowledge)
    assert result.problems == []
    source = result.deck.get(5).source
    assert source == "05-caf\ufffd?.md"
    json.dumps(source, ensure_ascii=False).encode("utf-8")  # printable and sendable

    settings = make_settings(tmp_path, knowledge_dir=knowledge)
    settings.data_dir.mkdir(parents=True)
    index = open_index(settings)
    passages = passages_from_deck(result.deck)
    report = index.ingest(passages, lambda texts: np.ones((len(texts), 384), dtype=np.float32), len(result.deck))
    assert report.embedded >= len(passages)


# --------------------------------------------------------------------------- limits

ALIAS_BOMB = """---
number: 9
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
title: *i
---
## Overview
Boom.
"""


def load_in_a_capped_child(folder: Path, seconds: int = 60) -> tuple[str, float]:
    """``load_deck(folder)`` in a child process capped at 1 GiB and ``seconds``, so a regression
    fails the test instead of taking the machine down. Returns what it printed, and the time."""
    import resource
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    code = (
        "import sys; from pathlib import Path; from bot.domain.loaders import load_deck\n"
        "result = load_deck(Path(sys.argv[1])); print(result.deck.numbers, [str(p) for p in result.problems])"
    )
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds,
        preexec_fn=cap_memory,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return child.stdout.strip(), time.monotonic() - started


def test_a_yaml_alias_bomb_is_refused_at_once_in_a_memory_capped_process(tmp_path):
    write(tmp_path, "09-bomb.md", ALIAS_BOMB)  # 9**9 strings if expanded
    write(tmp_path, "30-good.md", slide_md(30))
    printed, seconds = load_in_a_capped_child(tmp_path)
    assert seconds < 30
    assert printed == "[30] [\"09-bomb.md:3: front matter may not use YAML anchors or aliases ('&', '*')\"]"


def test_anchors_and_aliases_are_refused_with_their_line(tmp_path):
    write(tmp_path, "30-good.md", slide_md(30))
    write(tmp_path, "05-alias.md", "---\nnumber: 5\nname: &n Attention\ntitle: *n\n---\n## Overview\nx\n")
    write(tmp_path, "06-merge.md", "---\nnumber: 6\ntitle: T\nbase: {a: 1}\nmore:\n  <<: *base\n---\n## Overview\nx\n")
    result = load_deck(tmp_path)
    assert result.deck.numbers == [30]
    assert [(p.file, p.line) for p in result.problems] == [("05-alias.md", 3), ("06-merge.md", 6)]
    assert all("anchors or aliases" in p.message for p in result.problems)


def test_a_file_over_the_size_limit_is_not_read(tmp_path):
    from bot.domain.loaders import DeckLimits

    write(tmp_path, "30-good.md", slide_md(30))
    with open(tmp_path / "31-huge.md", "wb") as file:
        file.truncate(50 * 1024 * 1024)  # 50 MB on paper, no disk used: never read, so never parsed
    write(tmp_path, "32-big.md", slide_md(32) + "Filler text.\n" * 100_000)  # 1.3 MB
    result = load_deck(tmp_path, DeckLimits(file_mb=1))
    assert result.deck.numbers == [30]
    assert [str(p) for p in result.problems] == [
        "31-huge.md: is 50.0 MB, over MAX_DECK_FILE_MB=1; not read",
        "32-big.md: is 1.2 MB, over MAX_DECK_FILE_MB=1; not read",
    ]


def test_a_slide_with_too_much_text_is_a_problem_in_every_format(tmp_path):
    from bot.domain.loaders import DeckLimits

    long = "Filler text that goes on. " * 100  # 2.6 KB
    write(tmp_path, "30-good.md", slide_md(30))
    write(tmp_path, "31-long.md", slide_md(31) + long)
    write(tmp_path, "32-long.txt", f"Long – Slide 32\nSubtitle\nOverview\n{long}\n")
    write(tmp_path, "33-long.html", f"<h1>Long</h1><p>Overview</p><p>{long}</p>")
    (tmp_path / "lecture.pdf").write_bytes(make_pdf([["Short", "Overview", "Fine."], ["Long", "Overview", long]]))
    result = load_deck(tmp_path, DeckLimits(slide_text_kb=2))
    assert result.deck.numbers == [30]
    assert {p.file: p.message for p in result.problems} == {
        "31-long.md": "text is 3 KB, over MAX_SLIDE_TEXT_KB=2",
        "32-long.txt": "text is 3 KB, over MAX_SLIDE_TEXT_KB=2",
        "33-long.html": "text is 3 KB, over MAX_SLIDE_TEXT_KB=2",
        "lecture.pdf": "page 2: text is 3 KB, over MAX_SLIDE_TEXT_KB=2",
    }
    assert load_deck(tmp_path).problems == [], "the defaults allow all of them"


def make_pptx(path: Path, count: int, picture: bytes | None = None) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    for number in range(1, count + 1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"Topic {number} – Slide {number}"
        slide.placeholders[1].text_frame.text = f"Overview\nWhat topic {number} is about."
        if picture is not None:
            slide.shapes.add_picture(io.BytesIO(picture), Inches(1), Inches(1))
    presentation.save(path)
    return path


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def inflate_member(path: Path, name: str, size: int) -> None:
    """Rewrite the package with ``name`` replaced by ``size`` bytes of zeros (deflated to ~size/1000)."""
    import zipfile

    original = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(original)) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != name:
                new.writestr(info, old.read(info.filename))
                continue
            with new.open(name, "w") as member:
                block = bytes(1 << 20)
                for _ in range(size >> 20):
                    member.write(block)


def test_a_pptx_picture_that_unpacks_to_128_mib_is_never_unpacked(tmp_path):
    import tracemalloc

    path = make_pptx(tmp_path / "course.pptx", 2, picture=tiny_png())
    inflate_member(path, "ppt/media/image1.png", 128 << 20)
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        result = load_deck(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.problems == []
    assert [(s.number, s.title) for s in result.deck] == [(1, "Topic 1"), (2, "Topic 2")]
    assert peak < 32 << 20, f"peak {peak >> 20} MiB: the picture was unpacked"


def test_a_pptx_whose_text_parts_unpack_past_the_limit_is_refused_before_unpacking(tmp_path):
    from bot.domain.loaders import DeckLimits

    write(tmp_path, "30-good.md", slide_md(30))
    path = make_pptx(tmp_path / "course.pptx", 1)
    inflate_member(path, "ppt/slides/slide1.xml", 64 << 20)
    result = load_deck(tmp_path, DeckLimits(file_mb=8))
    assert result.deck.numbers == [30]
    assert [str(p) for p in result.problems] == [
        "course.pptx: its text parts unpack to more than MAX_DECK_FILE_MB=8 MB"
    ]


def test_pages_per_file_are_limited(tmp_path):
    from bot.domain.loaders import DeckLimits

    (tmp_path / "lecture.pdf").write_bytes(make_pdf([["Topic", "Overview", f"Page {n}."] for n in range(5)]))
    make_pptx(tmp_path / "course.pptx", 4)
    write(tmp_path, "30-good.md", slide_md(30))
    result = load_deck(tmp_path, DeckLimits(pages=3))
    assert result.deck.numbers == [30]
    assert {p.file: p.message for p in result.problems} == {
        "course.pptx": "has 4 slides, over MAX_PAGES_PER_FILE=3",
        "lecture.pdf": "has 5 pages, over MAX_PAGES_PER_FILE=3",
    }


def test_limits_are_settings_with_the_same_defaults(monkeypatch):
    from bot.domain.loaders import DeckLimits
    from bot.settings import Settings

    assert DeckLimits.from_settings(Settings(_env_file=None)) == DeckLimits()
    monkeypatch.setenv("MAX_DECK_FILE_MB", "2.5")
    monkeypatch.setenv("MAX_PAGES_PER_FILE", "20")
    monkeypatch.setenv("MAX_SLIDE_TEXT_KB", "16")
    monkeypatch.setenv("DECK_FILE_TIMEOUT_S", "7.5")
    monkeypatch.setenv("DECK_FILE_MEMORY_MB", "512")
    limits = DeckLimits.from_settings(Settings(_env_file=None))
    assert limits == DeckLimits(file_mb=2.5, pages=20, slide_text_kb=16, file_seconds=7.5, file_memory_mb=512)
    assert limits.file_bytes == 2_621_440 and limits.slide_chars == 16_384


def test_html_with_tags_that_never_close_parses_in_linear_time(tmp_path):
    """Python's HTMLParser took a minute on 40 KB of '<a <a <a'; each file here is 60 KB."""
    page = "<h1>Patterns</h1><p>Overview</p><p>Text.</p>"
    for number, pattern in enumerate(["<a ", "<!--", "</", "<!", "<?", "<a x='"], start=41):
        write(tmp_path, f"{number}-x.html", page + pattern * (60_000 // len(pattern)))
    printed, seconds = load_in_a_capped_child(tmp_path, seconds=30)
    assert seconds < 15, printed
    assert printed.startswith("[41, 42, 43, 44, 45, 46] ")


def test_html_comments_are_dropped_and_a_lone_less_than_is_text(tmp_path):
    write(
        tmp_path,
        "41-x.html",
        "<h1>Compare</h1><p>Overview</p><p>a < b, and b > c.</p><!-- <p>draft, not shown</p> --><p>Shown.</p>",
    )
    write(tmp_path, "42-y.html", "<h1>Open</h1><p>Overview</p><p>Before.</p><!-- <p>never closed</p>")
    result = load_deck(tmp_path)
    assert result.problems == []
    assert result.deck.get(41).section("Overview").text == "a < b, and b > c.\nShown."
    assert result.deck.get(42).section("Overview").text == "Before."


def test_html_markup_is_limited_to_16_times_the_slide_text(tmp_path):
    from bot.domain.loaders import DeckLimits

    styled = '<p style="color: red; font-weight: bold; margin: 0 auto">Text.</p>' * 300
    html = write(tmp_path, "41-x.html", f"<h1>Styled</h1><p>Overview</p>{styled}").read_text(encoding="utf-8")
    assert 16 * 1024 < len(html) < 32 * 1024  # markup over 16 × 1 KB, text (1.8 KB) under 2 KB
    assert load_deck(tmp_path, DeckLimits(slide_text_kb=2)).problems == []
    result = load_deck(tmp_path, DeckLimits(slide_text_kb=1))
    assert str(result.problems[0]) == "41-x.html: markup is 19 KB, over 16 × MAX_SLIDE_TEXT_KB=1"


# --------------------------------------------------------------------------- time and memory per file


def test_a_file_that_hangs_its_parser_is_stopped_at_the_time_limit_and_the_rest_loads(tmp_path):
    from bot.domain.loaders import DeckLimits

    write(tmp_path, "30-good.md", slide_md(30))
    (tmp_path / "90-slow.pdf").write_bytes(slow_pdf())
    write(tmp_path, "31-good.md", slide_md(31))
    result = load_deck(tmp_path, DeckLimits(file_seconds=2))
    assert result.deck.numbers == [30, 31]
    assert [str(p) for p in result.problems] == [
        "90-slow.pdf: took longer than 2 s to read, over DECK_FILE_TIMEOUT_S; not loaded"
    ]
    (tmp_path / "90-slow.pdf").unlink()
    again = load_deck(tmp_path, DeckLimits(file_seconds=2))  # the stopped worker was replaced
    assert again.deck.numbers == [30, 31] and again.problems == []


def test_a_file_that_needs_too_much_memory_is_stopped_and_the_rest_loads(tmp_path):
    from bot.domain.loaders import DeckLimits

    write(tmp_path, "30-good.md", slide_md(30))
    (tmp_path / "91-hog.pdf").write_bytes(hog_pdf())
    (tmp_path / "lecture.pdf").write_bytes(make_pdf(PDF_PAGES))
    result = load_deck(tmp_path, DeckLimits(file_memory_mb=160))
    assert result.deck.numbers == [1, 2, 30]
    assert [str(p) for p in result.problems] == [
        "91-hog.pdf: needed more than 160 MB to read, over DECK_FILE_MEMORY_MB; not loaded"
    ]
    # Under the default limit pypdf's own limit refuses it, as a problem too.
    [problem] = load_deck(tmp_path).problems
    assert problem.file == "91-hog.pdf" and problem.message.startswith("not a readable PDF (LimitReachedError")


def test_a_course_upload_that_hangs_its_parser_is_refused_with_the_reason(tmp_path):
    from bot.domain.courses import CourseFiles
    from bot.domain.loaders import DeckLimits

    files = CourseFiles(tmp_path / "courses", DeckLimits(file_seconds=2))
    with pytest.raises(MalformedFile, match=r"^took longer than 2 s to read, over DECK_FILE_TIMEOUT_S"):
        files.check(1, "slow.pdf", slow_pdf())
    assert [s.number for s in files.check(1, "lecture.pdf", make_pdf(PDF_PAGES))] == [1, 2]


def test_ingest_skips_a_file_past_deck_file_timeout_s_and_exits(tmp_path):
    """The whole way: the setting, ``python -m bot ingest``, the index holding the other slides,
    and a process that ends (its workers with it)."""
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    write(knowledge, "01-topic.md", slide_md(1, "Topic 1"))
    (knowledge / "90-slow.pdf").write_bytes(slow_pdf())
    done = run_cli(
        "ingest",
        "--json",
        knowledge_dir=knowledge,
        data_dir=tmp_path / "data",
        log_level="ERROR",
        deck_file_timeout_s=2,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "skipped 90-slow.pdf: took longer than 2 s to read, over DECK_FILE_TIMEOUT_S; not loaded" in done.stderr
    report = json.loads(done.stdout)
    assert report["slides"] == 1 and len(report["problems"]) == 1


# --------------------------------------------------------------------------- duplicate numbers


def test_a_stray_file_claiming_a_slide_number_does_not_replace_the_real_slide(tmp_path):
    write(tmp_path, "00-anything.md", slide_md(7, "Impostor"))
    write(tmp_path, "07-real.md", slide_md(7, "Real"))
    result = load_deck(tmp_path)
    assert result.deck.get(7).title == "Real"
    assert [str(p) for p in result.problems] == [
        "00-anything.md: slide 7 is defined twice: kept 07-real.md (its file name starts with 7), skipped 00-anything.md"
    ]


def test_when_no_file_name_decides_neither_is_loaded_and_both_are_named(tmp_path):
    write(tmp_path, "a.md", slide_md(5, "First"))
    write(tmp_path, "b.md", slide_md(5, "Second"))
    write(tmp_path, "07-one.md", slide_md(7, "One"))
    write(tmp_path, "07-two.md", slide_md(7, "Two"))
    write(tmp_path, "08-real.md", slide_md(8, "Real"))
    (tmp_path / "lecture.pdf").write_bytes(
        make_pdf([["Cover - Slide 9", "Overview", "x."], ["Again - Slide 9", "Overview", "y."]])
    )
    result = load_deck(tmp_path)
    assert [(s.number, s.title) for s in result.deck] == [(8, "Real")]
    assert sorted(str(p) for p in result.problems) == [
        "07-one.md: slide 7 is defined more than once (07-one.md, 07-two.md) and no file name decides: none is loaded",
        "07-two.md: slide 7 is defined more than once (07-one.md, 07-two.md) and no file name decides: none is loaded",
        "a.md: slide 5 is defined more than once (a.md, b.md) and no file name decides: none is loaded",
        "b.md: slide 5 is defined more than once (a.md, b.md) and no file name decides: none is loaded",
        "lecture.pdf: slide 9 is defined more than once (lecture.pdf#page=1, lecture.pdf#page=2) and no file name "
        "decides: none is loaded",
    ]


def test_a_slide_already_indexed_is_never_replaced_by_another_files_claim(tmp_path):
    write(tmp_path, "note.md", slide_md(7, "Indexed"))  # its name does not start with 7...
    write(tmp_path, "07-newcomer.md", slide_md(7, "Newcomer"))  # ...this one's does
    result = load_deck(tmp_path, indexed={7: "note.md"})
    assert result.deck.get(7).title == "Indexed"
    assert [str(p) for p in result.problems] == [
        "07-newcomer.md: slide 7 is defined twice: kept note.md (the slide already indexed), skipped 07-newcomer.md"
    ]
    assert load_deck(tmp_path).deck.get(7).title == "Newcomer", "on a first ingest the file name decides"


# --------------------------------------------------------------------------- an empty deck


def test_an_empty_knowledge_folder_is_an_empty_deck_with_a_clear_problem(tmp_path):
    (tmp_path / "README.md").write_text("notes, not a slide\n", encoding="utf-8")
    result = load_deck(tmp_path)
    assert len(result.deck) == 0 and result.deck.numbers == []
    assert [str(p) for p in result.problems] == [
        f"{tmp_path}: the knowledge folder gives no slides: it has no slide files (md, txt, html, pdf, pptx)"
    ]


def test_a_folder_where_every_file_is_broken_says_so_after_the_files(tmp_path):
    write(tmp_path, "01-a.md", "no front matter\n")
    result = load_deck(tmp_path)
    assert len(result.deck) == 0
    assert [p.file for p in result.problems] == ["01-a.md", str(tmp_path)]
    assert result.problems[-1].message == "the knowledge folder gives no slides: every slide file in it has a problem"


# --------------------------------------------------------------------------- secrets by their shape

SECRETS = {
    "a Discord bot token": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "an OpenAI-style API key": "sk-proj-" + "Ab3" * 12,
    "an AWS access key": "AKIA" + "IOSFODNN7EXAMPL2",
    "a private key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----",
    "a secret setting (NAME_TOKEN=value)": "DISCORD_TOKEN=" + TOKEN,
}


@pytest.mark.parametrize("kind", SECRETS)
def test_content_shaped_like_a_secret_is_refused_and_the_problem_names_the_file_not_the_value(tmp_path, kind):
    secret = SECRETS[kind]
    write(tmp_path, "30-good.md", slide_md(30))
    write(tmp_path, "31-leak.md", slide_md(31) + f"\nThe setup:\n\n{secret}\n")
    write(tmp_path, "32-leak.txt", f"Setup – Slide 32\nSubtitle\nOverview\n{secret}\n")
    (tmp_path / "lecture.pdf").write_bytes(make_pdf([["Setup", "Overview", secret.splitlines()[0]]]))
    result = load_deck(tmp_path)
    assert result.deck.numbers == [30]
    problems = {p.file: (p.line, p.message) for p in result.problems}
    assert problems["31-leak.md"][1] == f"holds what looks like {kind}; not loaded"
    assert problems["31-leak.md"][0] == (slide_md(31) + "\nThe setup:\n\n").count("\n") + 1
    assert problems["32-leak.txt"] == (4, f"holds what looks like {kind}; not loaded")
    if kind != "a private key":  # (the PDF holds only its first line, which is not the key)
        assert problems["lecture.pdf"] == (None, f"page 1: holds what looks like {kind}; not loaded")
    assert secret.splitlines()[0] not in everything(result)


def test_a_copied_env_file_is_refused_as_a_slide(tmp_path):
    write(tmp_path, "30-good.md", slide_md(30))
    write(tmp_path, "71-x.txt", f"# settings\nLOG_LEVEL=INFO\nDISCORD_TOKEN={TOKEN}\nANSWER_CHANNEL_IDS=1\n")
    result = load_deck(tmp_path)
    assert result.deck.numbers == [30] and TOKEN not in everything(result)
    assert [str(p) for p in result.problems] == [
        "71-x.txt:3: holds what looks like a secret setting (NAME_TOKEN=value); not loaded"
    ]


def test_prose_about_secrets_and_settings_without_values_still_loads(tmp_path):
    from tests.conftest import ROOT

    prose = (
        "Keep your API key secret, for example in an environment variable.\n"
        "Set DISCORD_TOKEN= in your .env file; never share a token or an sk- key.\n"
        "Use max_tokens=256 and temperature=0.7; scikit-learn and risk-free paths are fine.\n"
    )
    write(tmp_path, "31-prose.md", slide_md(31) + prose)
    assert load_deck(tmp_path).problems == []
    deck = load_deck(ROOT / "knowledge")
    assert deck.problems == [] and "Keep your API key secret" in repr(deck.deck.get(21).to_dict())


# --------------------------------------------------------------------------- a new deck's changes, --strict, compaction


def test_a_new_deck_that_drops_or_replaces_slides_says_so_and_strict_ingest_fails(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for number in (1, 2, 3):
        write(knowledge, f"{number:02d}-topic.md", slide_md(number, f"Topic {number}"))
    env_dir = tmp_path / "data"

    def ingest(*flags: str):
        import subprocess
        import sys

        from tests.conftest import ROOT

        env = {**os.environ, "KNOWLEDGE_DIR": str(knowledge), "DATA_DIR": str(env_dir), "LOG_LEVEL": "ERROR"}
        env["DISCORD_TOKEN"] = ""
        return subprocess.run(
            [sys.executable, "-m", "bot", "ingest", *flags],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = ingest("--strict")
    assert first.returncode == 0, first.stderr
    (knowledge / "02-topic.md").unlink()
    (knowledge / "03-topic.md").rename(knowledge / "03-renamed.md")
    write(knowledge, "04-leak.txt", f"Leak – Slide 4\nSubtitle\nOverview\nDISCORD_TOKEN={TOKEN}\n")
    second = ingest("--strict", "--json")
    assert second.returncode == 1
    assert "changed: slide 2 ('Topic 2', from 02-topic.md) is no longer in the deck" in second.stderr
    assert "changed: slide 3 is replaced: 'Topic 3' from 03-renamed.md, was 'Topic 3' from 03-topic.md" in second.stderr
    assert "skipped 04-leak.txt:4: holds what looks like a secret setting" in second.stderr
    assert "--strict: 1 problem(s)" in second.stderr and TOKEN not in second.stdout + second.stderr

    report = json.loads(second.stdout)
    assert len(report["changes"]) == 2 and report["problems"] == [
        "04-leak.txt:4: holds what looks like a secret setting (NAME_TOKEN=value); not loaded"
    ]
    assert ingest().returncode == 0, "without --strict, problems are reported and skipped"


def test_orphaned_segment_folders_are_compacted(tmp_path):
    import numpy as np

    from bot.domain.index import VectorIndex
    from bot.domain.passages import passages_from_deck

    (tmp_path / "k").mkdir()
    write(tmp_path / "k", "01-a.md", slide_md(1, "A"))
    store = tmp_path / "chroma"
    index = VectorIndex.open(base_name="slides", embedding_model="m", path=store)
    rng = np.random.default_rng(0)

    def embed(texts):
        return rng.random((len(texts), 8), dtype=np.float32)

    for round_ in range(4):  # each changed deck is a new generation; the old one is deleted
        write(tmp_path / "k", "02-b.md", slide_md(2, f"B{round_}") + "Filler.\n" * 400)
        deck = load_deck(tmp_path / "k").deck
        index.ingest(passages_from_deck(deck), embed, len(deck))
    folders = [p.name for p in store.iterdir() if p.is_dir()]
    import sqlite3

    live = {row[0] for row in sqlite3.connect(store / "chroma.sqlite3").execute("SELECT id FROM segments")}
    assert folders and set(folders) <= live, f"orphaned: {set(folders) - live}"
    assert len(index._generations()) == 1 and index.count() > 0
