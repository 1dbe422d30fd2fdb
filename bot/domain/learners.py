"""Where each learner is in the deck, and their quiz scores, kept in SQLite.

A learner is keyed by ``(scope, user)``: the scope is a guild (``"guild:123"``) or ``"dm"``, the
user an id or a command-line name. Both are stored as text.

Writes are durable and atomic: WAL journal, ``synchronous=FULL``, one transaction per update, and
read-modify-write steps under ``BEGIN IMMEDIATE`` so that two processes stepping the same learner
at once cannot lose a step. One connection is shared by all threads behind a lock (the bot calls
in from ``asyncio.to_thread`` workers).

A file that is not a SQLite database (or fails its integrity check) is moved aside to
``<name>.corrupt-<timestamp>`` with a warning and a fresh database is created: places and scores
are lost, the bot keeps working.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

from bot.domain.deck import Deck, Slide
from bot.domain.errors import UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VERDICTS = ("right", "partly", "not_yet")
BUSY_TIMEOUT_MS = 10_000

# Error codes that mean "this file is not (or no longer) a usable database", as opposed to a
# locked or read-only one, which must never be moved aside.
_DAMAGED_CODES = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}

_SCHEMA_V1 = """
CREATE TABLE places (
    scope      TEXT    NOT NULL,
    user       TEXT    NOT NULL,
    slide      INTEGER NOT NULL,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (scope, user)
);
CREATE TABLE quiz_scores (
    scope      TEXT    NOT NULL,
    user       TEXT    NOT NULL,
    slide      INTEGER NOT NULL,
    asked      INTEGER NOT NULL DEFAULT 0,
    right      INTEGER NOT NULL DEFAULT 0,
    partly     INTEGER NOT NULL DEFAULT 0,
    updated_at REAL    NOT NULL,
    PRIMARY KEY (scope, user, slide)
);
"""

# Index i holds the script that takes a database from version i to version i + 1.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)
assert len(_MIGRATIONS) == SCHEMA_VERSION


class SlideNotFound(UserError, LookupError):
    """A slide number that the deck does not have (or an empty deck, when ``number`` is None).

    A ``UserError``: front ends show its message (which names the valid range) to the learner as is.
    """

    def __init__(self, number: int | None, valid_range: str) -> None:
        self.number = number
        self.valid_range = valid_range
        if number is None:
            message = "The deck has no slides."
        else:
            message = f"There is no slide {number}; slides are {valid_range}."
        super().__init__(message)


class NewerSchema(RuntimeError):
    """The database was written by a newer version of the bot; it is left untouched."""


class Score(TypedDict):
    asked: int
    right: int
    partly: int


def _is_damaged(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGED_CODES
    text = str(error).lower()
    return "not a database" in text or "malformed" in text


class LearnerStore:
    """Learners' places and quiz scores in one SQLite file. Thread-safe; cheap calls."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as error:
            if not _is_damaged(error):
                raise
            self._move_aside(error)
            self._conn = self._open()

    # -- lifecycle ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; each update opens its own explicitly.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("state database %s is in %s journal mode, not WAL", self.path, mode)
            conn.execute("PRAGMA synchronous = FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise NewerSchema(f"{self.path} has schema version {version}; this bot knows up to {SCHEMA_VERSION}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.info("state database %s: schema %d -> %d", self.path, version, SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _move_aside(self, error: Exception) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        self.path.replace(target)
        for suffix in ("-wal", "-shm"):
            sidecar = self.path.with_name(self.path.name + suffix)
            if sidecar.exists():
                sidecar.replace(target.with_name(target.name + suffix))
        log.warning(
            "state database %s is damaged (%s); moved it to %s and started a new one: "
            "learners' places and quiz scores are lost",
            self.path,
            error,
            target.name,
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LearnerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so read-then-write cannot interleave."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    # -- places ------------------------------------------------------------------------------

    def get(self, scope: str, user: str) -> int | None:
        """The learner's stored slide number, or None if they have not started."""
        with self._lock:
            row = self._conn.execute(
                "SELECT slide FROM places WHERE scope = ? AND user = ?", (str(scope), str(user))
            ).fetchone()
        return None if row is None else int(row[0])

    def set(self, scope: str, user: str, number: int) -> None:
        with self._write() as conn:
            self._store(conn, str(scope), str(user), int(number))

    def forget(self, scope: str, user: str) -> None:
        """Drop the learner's place (their quiz scores stay)."""
        with self._write() as conn:
            conn.execute("DELETE FROM places WHERE scope = ? AND user = ?", (str(scope), str(user)))

    def step(self, deck: Deck, scope: str, user: str, offset: int) -> Slide:
        """Move ``offset`` slides from the stored place (clamped to the deck); store and return it.

        Not started + forward lands on the first slide; a stored slide that was removed from the
        deck counts from the nearest remaining one.
        """
        if not deck.slides:
            raise SlideNotFound(None, deck.range_text())
        with self._write() as conn:
            row = conn.execute(
                "SELECT slide FROM places WHERE scope = ? AND user = ?", (str(scope), str(user))
            ).fetchone()
            current = None if row is None else int(row[0])
            slide = deck.step(current, offset)
            self._store(conn, str(scope), str(user), slide.number)
        return slide

    def goto(self, deck: Deck, scope: str, user: str, number: int) -> Slide:
        """Jump to slide ``number``; raises SlideNotFound if the deck has no such slide."""
        slide = deck.get(number)
        if slide is None:
            raise SlideNotFound(number, deck.range_text())
        self.set(scope, user, slide.number)
        return slide

    def current(self, deck: Deck, scope: str, user: str) -> Slide | None:
        """The learner's slide in ``deck`` (the nearest if theirs was removed); None if not started."""
        number = self.get(scope, user)
        if number is None or not deck.slides:
            return None
        return deck.nearest(number)

    @staticmethod
    def _store(conn: sqlite3.Connection, scope: str, user: str, number: int) -> None:
        conn.execute(
            "INSERT INTO places (scope, user, slide, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope, user) DO UPDATE SET slide = excluded.slide, "
            "updated_at = excluded.updated_at",
            (scope, user, number, time.time()),
        )

    # -- quiz scores -------------------------------------------------------------------------

    def record_quiz(self, scope: str, user: str, slide: int, verdict: str) -> None:
        """Count one quiz answer on ``slide`` with verdict "right", "partly" or "not_yet"."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        right = int(verdict == "right")
        partly = int(verdict == "partly")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO quiz_scores (scope, user, slide, asked, right, partly, updated_at) "
                "VALUES (?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (scope, user, slide) DO UPDATE SET asked = asked + 1, "
                "right = right + excluded.right, partly = partly + excluded.partly, "
                "updated_at = excluded.updated_at",
                (str(scope), str(user), int(slide), right, partly, time.time()),
            )

    def scores(self, scope: str, user: str) -> dict[int, Score]:
        """Per slide: how many quiz questions were asked, answered right, answered partly."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT slide, asked, right, partly FROM quiz_scores WHERE scope = ? AND user = ? ORDER BY slide",
                (str(scope), str(user)),
            ).fetchall()
        return {
            int(slide): Score(asked=int(asked), right=int(right), partly=int(partly))
            for slide, asked, right, partly in rows
        }
