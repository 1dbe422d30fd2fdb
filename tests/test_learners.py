"""LearnerStore against real databases: semantics, isolation, durability and recovery.

Tests taking ``state_url`` (through ``store`` too) run on SQLite and on PostgreSQL; the file-level
ones (WAL, damaged files, SIGKILL mid-write) on SQLite."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bot.domain.deck import Deck, Slide
from bot.domain.learners import SCHEMA_VERSION, LearnerStore, NewerSchema, SlideNotFound

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.both_backends


def make_deck(*numbers: int) -> Deck:
    return Deck(
        tuple(Slide(number=n, title=f"Slide {n}", subtitle="", sections=(), faq=(), source=f"{n}.md") for n in numbers)
    )


@pytest.fixture
def store(state_url: str):
    with LearnerStore(state_url) as s:
        yield s


def run_python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        **kwargs,
    )


# -- semantics ---------------------------------------------------------------------------------


def test_set_and_get(store: LearnerStore) -> None:
    assert store.get("dm", "456") is None
    store.set("dm", "456", 7)
    assert store.get("dm", "456") == 7
    store.set("dm", "456", 3)
    assert store.get("dm", "456") == 3


def test_step_from_not_started(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3)
    assert store.step(deck, "dm", "u", +1).number == 1
    assert store.get("dm", "u") == 1


def test_prev_when_not_started_lands_on_first(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3)
    assert store.step(deck, "dm", "u", -1).number == 1


def test_next_and_prev(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3, 4)
    assert [store.step(deck, "dm", "u", +1).number for _ in range(3)] == [1, 2, 3]
    assert store.step(deck, "dm", "u", -1).number == 2
    assert store.get("dm", "u") == 2


def test_clamped_at_both_ends(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3)
    store.set("dm", "u", 1)
    assert store.step(deck, "dm", "u", -1).number == 1
    store.set("dm", "u", 3)
    assert store.step(deck, "dm", "u", +1).number == 3
    assert store.step(deck, "dm", "u", +10).number == 3
    assert store.step(deck, "dm", "u", -10).number == 1


def test_removed_slide_lands_on_nearest(store: LearnerStore) -> None:
    store.set("dm", "u", 5)
    deck = make_deck(1, 2, 3, 4, 6, 7)  # slide 5 was removed
    # "next" from the removed 5 goes to 6, the slide that now follows it.
    assert store.step(deck, "dm", "u", +1).number == 6
    store.set("dm", "u", 5)
    assert store.step(deck, "dm", "u", -1).number == 4
    store.set("dm", "u", 5)
    assert store.step(deck, "dm", "u", +2).number == 7
    store.set("dm", "u", 5)
    assert store.step(deck, "dm", "u", -2).number == 3
    store.set("dm", "u", 40)  # far past the end of a shrunk deck
    assert store.step(deck, "dm", "u", 0).number == 7
    assert store.current(deck, "dm", "u").number == 7


def test_goto(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3)
    assert store.goto(deck, "dm", "u", 2).number == 2
    assert store.get("dm", "u") == 2
    with pytest.raises(SlideNotFound) as caught:
        store.goto(deck, "dm", "u", 9)
    assert caught.value.number == 9
    assert caught.value.valid_range == "1-3"
    assert "9" in str(caught.value) and "1-3" in str(caught.value)
    assert store.get("dm", "u") == 2  # unchanged


def test_empty_deck_is_a_clear_error(store: LearnerStore) -> None:
    with pytest.raises(SlideNotFound):
        store.step(make_deck(), "dm", "u", +1)
    with pytest.raises(SlideNotFound):
        store.goto(make_deck(), "dm", "u", 1)


def test_users_are_independent(store: LearnerStore) -> None:
    deck = make_deck(1, 2, 3)
    store.step(deck, "guild:1", "alice", +1)
    store.step(deck, "guild:1", "alice", +1)
    store.step(deck, "guild:1", "bob", +1)
    assert store.get("guild:1", "alice") == 2
    assert store.get("guild:1", "bob") == 1


def test_scopes_are_separate(store: LearnerStore) -> None:
    store.set("guild:123", "456", 4)
    store.set("dm", "456", 9)
    store.set("guild:999", "456", 1)
    assert store.get("guild:123", "456") == 4
    assert store.get("dm", "456") == 9
    assert store.get("guild:999", "456") == 1
    store.record_quiz("dm", "456", 9, "right")
    assert store.scores("guild:123", "456") == {}


def test_ids_may_be_ints(store: LearnerStore) -> None:
    store.set("guild:1", 456, 2)  # type: ignore[arg-type]
    assert store.get("guild:1", "456") == 2


def test_forget(store: LearnerStore) -> None:
    store.set("dm", "u", 2)
    store.forget("dm", "u")
    assert store.get("dm", "u") is None


def test_quiz_scores(store: LearnerStore) -> None:
    store.record_quiz("dm", "u", 3, "right")
    store.record_quiz("dm", "u", 3, "partly")
    store.record_quiz("dm", "u", 3, "not_yet")
    store.record_quiz("dm", "u", 5, "right")
    assert store.scores("dm", "u") == {
        3: {"asked": 3, "right": 1, "partly": 1},
        5: {"asked": 1, "right": 1, "partly": 0},
    }
    assert store.scores("dm", "other") == {}
    with pytest.raises(ValueError):
        store.record_quiz("dm", "u", 3, "wrong")


# -- persistence, schema -------------------------------------------------------------------------


def test_persists_across_instances(state_url: str) -> None:
    path = state_url
    with LearnerStore(path) as first:
        first.set("dm", "u", 6)
        first.record_quiz("dm", "u", 6, "partly")
    with LearnerStore(path) as second:
        assert second.get("dm", "u") == 6
        assert second.scores("dm", "u") == {6: {"asked": 1, "right": 0, "partly": 1}}


def test_schema_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite3"  # parent folder created on first use
    LearnerStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_newer_schema_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(NewerSchema):
        LearnerStore(path)
    assert path.exists()
    assert not list(tmp_path.glob("*.corrupt-*"))


# -- damaged files -----------------------------------------------------------------------------


def test_damaged_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.sqlite3"
    garbage = b"this is not a database\n" * 200
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="bot.domain.storage"):
        store = LearnerStore(path)
    with store:
        assert store.get("dm", "u") is None
        store.set("dm", "u", 2)
        assert store.get("dm", "u") == 2
    aside = list(tmp_path.glob("state.sqlite3.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == garbage
    assert "damaged" in caplog.text and "lost" in caplog.text
    with LearnerStore(path) as again:  # the new file is healthy
        assert again.get("dm", "u") == 2


def test_truncated_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with LearnerStore(path) as store:
        for n in range(500):
            store.set("dm", f"user{n}", n)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * 900 + data[1000:])  # scribble over the first page
    with LearnerStore(path) as store:
        store.set("dm", "u", 1)
        assert store.get("dm", "u") == 1
    assert len(list(tmp_path.glob("state.sqlite3.corrupt-*"))) == 1


# -- concurrency and durability -------------------------------------------------------------------

STEP_CODE = """
    import sys
    from bot.domain.deck import Deck, Slide
    from bot.domain.learners import LearnerStore
    deck = Deck(tuple(Slide(n, f"S{n}", "", (), (), "x") for n in range(1, 11)))
    with LearnerStore(sys.argv[1]) as store:
        print(store.step(deck, "guild:1", "456", +1).number)
"""


def test_three_next_steps_in_three_processes(state_url: str) -> None:
    path = state_url
    seen = [int(run_python(STEP_CODE, path).stdout) for _ in range(3)]
    assert seen == [1, 2, 3]
    with LearnerStore(path) as store:
        assert store.get("guild:1", "456") == 3


def test_simultaneous_processes_lose_no_step(state_url: str) -> None:
    path = state_url
    LearnerStore(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(STEP_CODE), path],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = sorted(int(p.communicate(timeout=60)[0]) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert results == [1, 2, 3, 4]


def test_concurrent_threads(store: LearnerStore) -> None:
    deck = make_deck(*range(1, 1001))
    errors: list[BaseException] = []

    def worker(user: str) -> None:
        try:
            for _ in range(25):
                store.step(deck, "guild:1", "shared", +1)
                store.step(deck, "guild:1", user, +1)
                store.record_quiz("guild:1", "shared", 1, "right")
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"u{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.get("guild:1", "shared") == 200
    assert all(store.get("guild:1", f"u{i}") == 25 for i in range(8))
    assert store.scores("guild:1", "shared")[1] == {"asked": 200, "right": 200, "partly": 0}


WRITER_CODE = """
    import sys
    from bot.domain.learners import LearnerStore
    store = LearnerStore(sys.argv[1])
    i = 0
    while True:
        i += 1
        store.set("dm", "u", i)
        store.record_quiz("dm", "u", 1, "right")
        print(i, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_writes_leaves_a_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER_CODE), str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        last = 0
        deadline = time.monotonic() + 60
        while last < 50 and time.monotonic() < deadline:  # let it get going
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        assert last >= 50, "the writer did not start"
        os.kill(proc.pid, signal.SIGKILL)
        # Everything it reported before dying was committed; read what was printed up to the kill.
        for line in proc.stdout:
            last = int(line)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with LearnerStore(path) as store:
        value = store.get("dm", "u")
        asked = store.scores("dm", "u")[1]["asked"]
    # Committed writes survive; at most the one in flight (after its print) may be there too.
    assert value in (last, last + 1)
    assert asked in (value, value - 1)
