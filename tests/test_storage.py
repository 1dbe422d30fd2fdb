"""bot.domain.storage on both backends: migrations, transactions, locks, types, outages.

Every test taking ``state_url`` runs on SQLite and on PostgreSQL (``TEST_DATABASE_URL``); those
taking ``postgres_url`` only on PostgreSQL.
"""

from __future__ import annotations

import logging
import threading

import pytest

from bot.domain.schema import MIGRATIONS, open_database
from bot.domain.storage import Database, Migration, NewerSchema, StorageUnavailable, redact

pytestmark = pytest.mark.both_backends

NOTES = Migration("notes", "CREATE TABLE notes (id {auto_id}, guild BIGINT NOT NULL, body TEXT NOT NULL)")
COUNTER = Migration(
    "counter",
    "CREATE TABLE counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES ('hits', 0)",
)
WHEN = Migration("when", "ALTER TABLE notes ADD COLUMN created_at DOUBLE PRECISION")


def test_the_bot_schema_migrates_and_reopens(state_url):
    with open_database(state_url) as db:
        assert db.schema_version == len(MIGRATIONS)
        assert db.query("SELECT slide FROM places") == []
    with open_database(state_url) as again:  # nothing left to do: no error, same tables
        assert again.query("SELECT asked FROM quiz_scores") == []


def test_an_appended_migration_runs_once_on_an_existing_database(state_url):
    with Database(state_url, [NOTES, COUNTER]) as db:
        db.execute("INSERT INTO notes (guild, body) VALUES (?, ?)", (1234567890123456789, "kept"))
    with Database(state_url, [NOTES, COUNTER, WHEN]) as db:
        assert db.schema_version == 3
        rows = db.query("SELECT id, guild, body, created_at FROM notes")
        assert rows == [(1, 1234567890123456789, "kept", None)], "data survives; the new column is there"
        assert db.query("SELECT n FROM counter") == [(0,)], "earlier steps did not run again"
    with Database(state_url, [NOTES, COUNTER, WHEN]) as db:
        assert db.query("SELECT count(*) FROM counter") == [(1,)]


def test_a_newer_database_is_left_alone(state_url):
    Database(state_url, [NOTES, COUNTER]).close()
    with pytest.raises(NewerSchema):
        Database(state_url, [NOTES])
    with Database(state_url, [NOTES, COUNTER]) as db:
        assert db.query("SELECT n FROM counter") == [(0,)]


def test_auto_ids_returning_and_placeholders(state_url):
    with Database(state_url, [NOTES]) as db:
        with db.transaction() as tx:
            first = tx.query_one("INSERT INTO notes (guild, body) VALUES (?, ?) RETURNING id", (1, "a ? and 100%"))
            second = tx.query_one("INSERT INTO notes (guild, body) VALUES (?, ?) RETURNING id", (2, "b"))
        assert first[0] < second[0]
        assert db.query_one("SELECT body FROM notes WHERE id = ?", (first[0],)) == ("a ? and 100%",)
        assert db.query("SELECT body FROM notes WHERE body LIKE '%100%%'") == [("a ? and 100%",)]
        assert db.execute("DELETE FROM notes WHERE guild = ?", (2,)) == 1


def test_a_failed_transaction_leaves_nothing(state_url):
    with Database(state_url, [NOTES]) as db:
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.execute("INSERT INTO notes (guild, body) VALUES (1, 'half')")
            raise RuntimeError("boom")
        with pytest.raises(Exception), db.transaction() as tx:  # noqa: B017 - each driver's own error
            tx.execute("INSERT INTO notes (guild, body) VALUES (2, 'before')")
            tx.execute("INSERT INTO no_such_table VALUES (1)")
        assert db.query("SELECT count(*) FROM notes") == [(0,)]
        db.execute("INSERT INTO notes (guild, body) VALUES (3, 'after')")  # the connection still works
        assert db.query("SELECT guild FROM notes") == [(3,)]


def test_locked_read_modify_write_loses_nothing_across_connections(state_url):
    """Two Database objects (two connections, as two processes would have) and four threads each
    incrementing one counter by reading and writing it back."""
    dbs = [Database(state_url, [COUNTER]) for _ in range(2)]
    errors: list[BaseException] = []

    def bump(tx) -> None:
        tx.lock("counter", "hits")
        (n,) = tx.query_one("SELECT n FROM counter WHERE name = 'hits'")
        tx.execute("UPDATE counter SET n = ? WHERE name = 'hits'", (n + 1,))

    def worker(db: Database) -> None:
        try:
            for _ in range(25):
                db.run(bump)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(dbs[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert dbs[0].query("SELECT n FROM counter") == [(100,)]
    finally:
        for db in dbs:
            db.close()


def test_processes_starting_together_migrate_once(state_url):
    results: list[object] = []

    def open_one() -> None:
        try:
            with Database(state_url, [NOTES, COUNTER]) as db:
                results.append(db.query("SELECT count(*) FROM counter")[0][0])
        except BaseException as error:  # surfaced below
            results.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 8


def test_ping(state_url):
    with Database(state_url, [NOTES]) as db:
        assert db.ping()


# -- PostgreSQL outages ----------------------------------------------------------------------------


def test_a_dropped_connection_is_reopened(postgres_url, caplog):
    import psycopg

    with Database(postgres_url, [COUNTER]) as db:
        pid = db.query_one("SELECT pg_backend_pid()")[0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with caplog.at_level(logging.WARNING, logger="bot.domain.storage"):
            assert db.query("SELECT n FROM counter") == [(0,)]
        assert db.query_one("SELECT pg_backend_pid()")[0] != pid
        assert "connection lost" in caplog.text


def test_an_unreachable_server_is_waited_for_then_one_clear_error(caplog):
    url = "postgresql://tutor:s3cret@127.0.0.1:9/nowhere"  # the discard port: nothing listens
    with caplog.at_level(logging.WARNING, logger="bot.domain.storage"), pytest.raises(StorageUnavailable) as caught:
        Database(url, [NOTES], wait_s=0.5)
    assert "127.0.0.1:9" in str(caught.value) and "s3cret" not in str(caught.value)
    waiting = [r for r in caplog.records if "waiting up to" in r.getMessage()]
    assert len(waiting) == 1, "one progress line"
    assert "s3cret" not in caplog.text


def test_redact():
    assert redact("postgresql://tutor:s3cret@db:5432/x") == "postgresql://tutor:***@db:5432/x"
    assert redact("postgresql://db/x") == "postgresql://db/x"
    assert redact("data/state.sqlite3") == "data/state.sqlite3"


def test_a_database_problem_at_start_up_is_one_line_for_the_operator():
    from bot.client import startup_problem

    line = "the database at postgresql://tutor:***@db:5432/x is unreachable: connection refused"
    assert startup_problem(StorageUnavailable(line)) == line
    assert startup_problem(NewerSchema("state has schema version 9; this bot knows up to 1")).startswith("state has")
