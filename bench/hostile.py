"""Untrusted deck files: 1,500 seeded PDF mutants and the hostile-file set, loaded beside the real deck.

Each PDF mutant (bytes flipped, cut short, sections dropped or duplicated, tokens inserted; the
seeded mutator of tests/test_fuzz_loaders.py) goes through the PDF loader and through ``load_deck``
with the real deck; the hostile set (links out of the folder, a link loop, a FIFO, a YAML alias
bomb, YAML nested 20,000 deep, a 50 MB sparse Markdown file, a pptx whose picture unpacks to
128 MiB and one whose text does, a non-UTF-8 file name, a stray file claiming slide 7, a copied
.env, unclosed HTML tags, pypdf breakers, a 200-page PDF that takes pypdf hours and one whose
content unpacks to 140 MB) is loaded with the default limits and ingested into a real index,
which is then asked a question. Last, the 140 MB one is loaded under DECK_FILE_MEMORY_MB=256.

Prints one JSON line: {"pdf_mutants", "crashes", "escapes", "mutants_loaded", "mutants_refused",
"slowest_mutant_s", "mutants_load_deck_s", "hostile_files", "hostile_problems_named",
"hostile_unnamed", "hostile_load_s", "slow_file", "memory_file", "deck_intact", "index_answers",
"peak_rss_mb", "peak_worker_rss_mb", "seconds"}. A crash is ``load_deck`` raising or the process
dying; an escape is a loader raising anything but ``MalformedFile`` (``load_deck`` reports it
anyway). ``load_deck`` reads each file in a worker process (bot.domain.isolation): the time limit
(``slow_file``: its problem and when it came) and the memory limit (``memory_file``) hold there,
and ``peak_worker_rss_mb`` is the largest peak of a worker that read a file to the end.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, scratch_settings

from bot.domain import isolation
from bot.domain.loaders import LOADERS, DeckLimits, MalformedFile, load_deck
from tests.test_fuzz_loaders import TOKENS, mutate
from tests.test_hardening import (
    ALIAS_BOMB,
    HOSTILE_PDFS,
    PDF_PAGES,
    hog_pdf,
    inflate_member,
    make_pdf,
    make_pptx,
    slide_md,
    slow_pdf,
    tiny_png,
)

MUTANTS = 1500
SEED = 13
OPS = ["flip", "cut", "drop", "duplicate", "insert"]
DECK = ROOT / "knowledge"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


WORKER_PEAK_KB = [0]


def note_worker_peaks() -> None:
    """The largest peak (VmHWM) of the live deck workers so far. (Not RUSAGE_CHILDREN: a child
    spawned by a big parent starts with the parent's peak. A worker killed at a limit is held
    under DECK_FILE_MEMORY_MB by its RLIMIT_AS.)"""
    for worker in list(isolation.shared("bot.domain.loaders")._idle.queue):
        if worker is None:
            continue
        try:
            status = Path(f"/proc/{worker.process.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                WORKER_PEAK_KB[0] = max(WORKER_PEAK_KB[0], int(line.split()[1]))


def pdf_mutants(limits: DeckLimits, folder: Path) -> dict:
    base = make_pdf(PDF_PAGES * 3)
    rng = random.Random(SEED)
    crashes = escapes = loaded = refused = 0
    slowest = load_deck_s = 0.0
    for _ in range(MUTANTS):
        ops = [(rng.choice(OPS), rng.getrandbits(32)) for _ in range(rng.randint(1, 6))]
        data = mutate(base, ops)
        started = time.perf_counter()
        try:
            LOADERS[".pdf"](data, "lecture.pdf", None, limits)
            loaded += 1
        except MalformedFile:
            refused += 1
        except Exception:  # noqa: BLE001 - counted: an escape
            escapes += 1
        slowest = max(slowest, time.perf_counter() - started)
        (folder / "lecture.pdf").write_bytes(data)
        started = time.perf_counter()
        try:
            result = load_deck(folder, limits)
            if len(result.deck) < 22:
                crashes += 1  # the real deck lost slides because of one file
        except Exception:  # noqa: BLE001 - counted: a crash
            crashes += 1
        load_deck_s += time.perf_counter() - started
        note_worker_peaks()
    return {
        "pdf_mutants": MUTANTS,
        "crashes": crashes,
        "escapes": escapes,
        "mutants_loaded": loaded,
        "mutants_refused": refused,
        "slowest_mutant_s": round(slowest, 3),
        "mutants_load_deck_s": round(load_deck_s, 1),  # the real deck and the mutant, 1,500 times
        "token_kinds": len(TOKENS),
    }


def hostile_set(folder: Path, outside: Path) -> list[str]:
    """Write the hostile files into ``folder``; returns the names that must be reported."""
    (outside / ".env").write_text("DISCORD_TOKEN=very-secret-discord-token\n", encoding="utf-8")
    (folder / "71-env.txt").symlink_to(outside / ".env")
    (folder / "72-more").symlink_to(outside, target_is_directory=True)
    (folder / "73-loop.md").symlink_to("73-loop.md")
    os.mkfifo(folder / "74-pipe.md")
    (folder / "75-bomb.md").write_text(ALIAS_BOMB.replace("number: 9", "number: 75"), encoding="utf-8")
    (folder / "76-deep.md").write_text(
        "---\nnumber: 76\ntitle: T\nx: " + "[" * 20_000 + "]" * 20_000 + "\n---\n## Overview\nx\n", encoding="utf-8"
    )
    with open(folder / "77-huge.md", "wb") as file:
        file.truncate(50 * 1024 * 1024)
    make_pptx(folder / "78-picture.pptx", 2, picture=tiny_png())
    inflate_member(folder / "78-picture.pptx", "ppt/media/image1.png", 128 << 20)  # loads: pictures are not read
    make_pptx(folder / "79-text.pptx", 1)
    inflate_member(folder / "79-text.pptx", "ppt/slides/slide1.xml", 64 << 20)
    with open(os.path.join(os.fsencode(folder), b"80-caf\xe9.md"), "wb") as file:
        file.write(slide_md(80).encode("utf-8"))  # loads, under a safe name
    (folder / "00-anything.md").write_text(slide_md(7, "Impostor"), encoding="utf-8")
    (folder / "81-copied.txt").write_text("LOG_LEVEL=INFO\nOPENAI_API_KEY=sk-" + "a1B2" * 10 + "\n", encoding="utf-8")
    (folder / "82-tags.html").write_text("<h1>T</h1><p>Overview</p>" + "<a " * 40_000, encoding="utf-8")
    for name, data in HOSTILE_PDFS.items():
        (folder / f"9{name}").write_bytes(data)
    (folder / "83-slow.pdf").write_bytes(slow_pdf(pages=200))
    (folder / "84-hog.pdf").write_bytes(hog_pdf())
    return [
        "71-env.txt",
        "72-more",
        "73-loop.md",
        "75-bomb.md",
        "76-deep.md",
        "77-huge.md",
        "79-text.pptx",
        "83-slow.pdf",
        "84-hog.pdf",
    ]
    # (74-pipe.md is not a file and is skipped; 00-anything.md is named as a duplicate; 81 and 82 too)


def main() -> None:
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="slide-tutor-hostile-"))
    limits = DeckLimits()
    try:
        folder = work / "knowledge"
        shutil.copytree(DECK, folder)
        result = pdf_mutants(limits, folder)
        (folder / "lecture.pdf").unlink()

        outside = work / "outside"
        outside.mkdir()
        must_name = hostile_set(folder, outside)
        must_name += ["00-anything.md", "81-copied.txt", *(f"9{name}" for name in HOSTILE_PDFS)]
        at = time.perf_counter()
        loaded = load_deck(folder, limits)
        result["hostile_load_s"] = round(time.perf_counter() - at, 1)
        note_worker_peaks()
        named = {problem.file for problem in loaded.problems}
        result["slow_file"] = [p.message for p in loaded.problems if p.file == "83-slow.pdf"]
        result["hostile_files"] = len(list(folder.iterdir())) - len(list(DECK.iterdir()))
        result["hostile_problems_named"] = len(named & set(must_name))
        result["hostile_unnamed"] = sorted(set(must_name) - named)
        result["deck_intact"] = all(
            loaded.deck.get(n) is not None and loaded.deck.get(n).source.startswith(f"{n:02d}-") for n in range(1, 23)
        )
        result["secret_leaked"] = "very-secret-discord-token" in repr([s.to_dict() for s in loaded.deck])

        from bot.domain.tutor import Tutor

        settings = scratch_settings(fresh=True, knowledge_dir=folder)
        tutor, _ = Tutor.load(settings)
        answer = tutor.ask("What is tokenization?")
        result["index_answers"] = bool(answer.sources) and answer.sources[0].slide == 13

        alone = work / "hog"
        alone.mkdir()
        (alone / "84-hog.pdf").write_bytes(hog_pdf())
        result["memory_file"] = [str(p) for p in load_deck(alone, DeckLimits(file_memory_mb=256)).problems][:1]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["peak_rss_mb"] = peak_rss_mb()  # this process: the model and Chroma included
    result["peak_worker_rss_mb"] = round(WORKER_PEAK_KB[0] / 1024, 1)
    result["seconds"] = round(time.perf_counter() - started, 1)
    emit(result)


if __name__ == "__main__":
    main()
