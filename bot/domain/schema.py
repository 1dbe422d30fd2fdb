"""The state database's schema: one ordered list of migrations shared by every store.

To add tables or columns, append a ``Migration`` at the end (never edit or reorder a step that has
shipped: databases out there have run it). Write portable SQL (see ``bot/domain/storage.py``):
TEXT, INTEGER, BIGINT (Discord ids), DOUBLE PRECISION (times), ``{auto_id}`` for an auto-numbered
primary key, and double quotes around names PostgreSQL reserves (``"user"``, ``"right"``). Give a
``postgresql=`` variant only where the two cannot share one text. Each step runs in the same
transaction as the version bump, on SQLite and on PostgreSQL (tests/test_storage.py runs on both).
"""

from __future__ import annotations

from pathlib import Path

from bot.domain.storage import Database, Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "learners' places and quiz scores",
        """
        CREATE TABLE places (
            scope      TEXT             NOT NULL,
            "user"     TEXT             NOT NULL,
            slide      INTEGER          NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (scope, "user")
        );
        CREATE TABLE quiz_scores (
            scope      TEXT             NOT NULL,
            "user"     TEXT             NOT NULL,
            slide      INTEGER          NOT NULL,
            asked      INTEGER          NOT NULL DEFAULT 0,
            "right"    INTEGER          NOT NULL DEFAULT 0,
            partly     INTEGER          NOT NULL DEFAULT 0,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (scope, "user", slide)
        );
        """,
    ),
)

# Appended: the question log, votes and per-server settings (bot.domain.feedback, bot.domain.server_settings).
MIGRATIONS += (
    Migration(
        "the question log and learners' votes on answers",
        """
        CREATE TABLE question_log (
            id       {auto_id},
            place    TEXT             NOT NULL,
            channel  TEXT             NOT NULL,
            learner  TEXT             NOT NULL,
            question TEXT             NOT NULL,
            kind     TEXT             NOT NULL,
            slide    INTEGER,
            slides   TEXT             NOT NULL,
            asked_at DOUBLE PRECISION NOT NULL,
            vector   {bytes}
        );
        CREATE INDEX question_log_place_time ON question_log (place, asked_at);
        CREATE INDEX question_log_time ON question_log (asked_at);
        CREATE INDEX question_log_learner ON question_log (learner);
        CREATE TABLE votes (
            question_id BIGINT           NOT NULL,
            learner     TEXT             NOT NULL,
            vote        INTEGER          NOT NULL,
            voted_at    DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (question_id, learner)
        );
        CREATE INDEX votes_learner ON votes (learner)
        """,
    ),
    Migration(
        "per-server settings (unset columns: the environment's defaults)",
        """
        CREATE TABLE server_settings (
            guild                 TEXT             NOT NULL PRIMARY KEY,
            answer_channels       TEXT,
            instructor_role       TEXT,
            question_cooldown_s   DOUBLE PRECISION,
            generation_cooldown_s DOUBLE PRECISION,
            answer_in_threads     INTEGER,
            updated_at            DOUBLE PRECISION NOT NULL
        )
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def open_database(url: str | Path, *, wait_s: float = 0.0) -> Database:
    """The state database at ``url`` (a SQLite path or a PostgreSQL URL), migrated to this schema."""
    return Database(url, MIGRATIONS, wait_s=wait_s)
