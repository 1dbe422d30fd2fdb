"""Where each learner is in the deck, and their quiz scores, in the state database.

A learner is keyed by ``(scope, user)``: the scope is a guild (``"guild:123"``) or ``"dm"``, the
user an id or a command-line name. Both are stored as text.

The database is SQLite (a file, the default) or PostgreSQL (``DATABASE_URL``), through
``bot.domain.storage.Database``: one transaction per update, and read-modify-write steps under the
learner's lock so that two processes stepping the same learner at once cannot lose a step. A
damaged SQLite file is moved aside and a fresh one created (see ``storage``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TypedDict

from bot.domain.deck import Deck, Slide
from bot.domain.errors import UserError
from bot.domain.schema import SCHEMA_VERSION, open_database
from bot.domain.storage import Database, NewerSchema, Transaction

__all__ = ["SCHEMA_VERSION", "VERDICTS", "LearnerStore", "NewerSchema", "Score", "SlideNotFound"]

log = logging.getLogger(__name__)

VERDICTS = ("right", "partly", "not_yet")


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


class Score(TypedDict):
    asked: int
    right: int
    partly: int


class LearnerStore:
    """Learners' places and quiz scores. Thread-safe; cheap calls.

    Built on a ``Database`` (shared with other stores), or on a SQLite path or database URL, in
    which case it opens (and closes) its own.
    """

    def __init__(self, database: Database | Path | str, *, wait_s: float = 0.0) -> None:
        self._owns = not isinstance(database, Database)
        self.database = open_database(database, wait_s=wait_s) if self._owns else database

    def close(self) -> None:
        if self._owns:
            self.database.close()

    def __enter__(self) -> LearnerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- places ------------------------------------------------------------------------------

    def get(self, scope: str, user: str) -> int | None:
        """The learner's stored slide number, or None if they have not started."""
        row = self.database.query_one(_GET_PLACE, (str(scope), str(user)))
        return None if row is None else int(row[0])

    def set(self, scope: str, user: str, number: int) -> None:
        self.database.run(lambda tx: _store(tx, str(scope), str(user), int(number)))

    def forget(self, scope: str, user: str) -> None:
        """Drop the learner's place (their quiz scores stay)."""
        self.database.execute('DELETE FROM places WHERE scope = ? AND "user" = ?', (str(scope), str(user)))

    def step(self, deck: Deck, scope: str, user: str, offset: int) -> Slide:
        """Move ``offset`` slides from the stored place (clamped to the deck); store and return it.

        Not started + forward lands on the first slide; a stored slide that was removed from the
        deck counts from the nearest remaining one.
        """
        if not deck.slides:
            raise SlideNotFound(None, deck.range_text())
        scope, user = str(scope), str(user)

        def step(tx: Transaction) -> Slide:
            tx.lock("place", scope, user)
            row = tx.query_one(_GET_PLACE, (scope, user))
            slide = deck.step(None if row is None else int(row[0]), offset)
            _store(tx, scope, user, slide.number)
            return slide

        return self.database.run(step)

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

    # -- quiz scores -------------------------------------------------------------------------

    def record_quiz(self, scope: str, user: str, slide: int, verdict: str) -> None:
        """Count one quiz answer on ``slide`` with verdict "right", "partly" or "not_yet"."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        right = int(verdict == "right")
        partly = int(verdict == "partly")
        self.database.execute(
            'INSERT INTO quiz_scores (scope, "user", slide, asked, "right", partly, updated_at) '
            "VALUES (?, ?, ?, 1, ?, ?, ?) "
            'ON CONFLICT (scope, "user", slide) DO UPDATE SET asked = quiz_scores.asked + 1, '
            '"right" = quiz_scores."right" + excluded."right", partly = quiz_scores.partly + excluded.partly, '
            "updated_at = excluded.updated_at",
            (str(scope), str(user), int(slide), right, partly, time.time()),
        )

    def scores(self, scope: str, user: str) -> dict[int, Score]:
        """Per slide: how many quiz questions were asked, answered right, answered partly."""
        rows = self.database.query(
            'SELECT slide, asked, "right", partly FROM quiz_scores WHERE scope = ? AND "user" = ? ORDER BY slide',
            (str(scope), str(user)),
        )
        return {
            int(slide): Score(asked=int(asked), right=int(right), partly=int(partly))
            for slide, asked, right, partly in rows
        }

    def slide_scores(self, scope: str | None) -> dict[int, Score]:
        """Per slide, every learner's quiz answers together (in one scope, or everywhere)."""
        where, params = ("WHERE scope = ? ", (str(scope),)) if scope is not None else ("", ())
        rows = self.database.query(
            f'SELECT slide, SUM(asked), SUM("right"), SUM(partly) FROM quiz_scores {where}GROUP BY slide ORDER BY slide',
            params,
        )
        return {
            int(slide): Score(asked=int(asked or 0), right=int(right or 0), partly=int(partly or 0))
            for slide, asked, right, partly in rows
        }

    def forget_everywhere(self, user: str) -> dict[str, int]:
        """Delete the learner's places and quiz scores in every server, DMs and the terminal."""
        with self.database.transaction() as tx:
            places = tx.execute('DELETE FROM places WHERE "user" = ?', (str(user),))
            scores = tx.execute('DELETE FROM quiz_scores WHERE "user" = ?', (str(user),))
        return {"places": places, "quiz_scores": scores}

    def holds(self, user: str) -> int:
        """How many rows mention the learner (0 after ``forget_everywhere``)."""
        row = self.database.query_one(
            'SELECT (SELECT COUNT(*) FROM places WHERE "user" = ?) + (SELECT COUNT(*) FROM quiz_scores WHERE "user" = ?)',
            (str(user), str(user)),
        )
        return int(row[0]) if row else 0


_GET_PLACE = 'SELECT slide FROM places WHERE scope = ? AND "user" = ?'


def _store(tx: Transaction, scope: str, user: str, number: int) -> None:
    tx.execute(
        'INSERT INTO places (scope, "user", slide, updated_at) VALUES (?, ?, ?, ?) '
        'ON CONFLICT (scope, "user") DO UPDATE SET slide = excluded.slide, updated_at = excluded.updated_at',
        (scope, user, number, time.time()),
    )
