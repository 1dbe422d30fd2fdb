"""The state database under test: a SQLite file, or a fresh schema in the PostgreSQL database named
by ``TEST_DATABASE_URL`` (``.ci/postgres`` starts one and prints its URL).

Tests marked ``both_backends`` that take the ``state_url`` fixture run once per backend. Without
``TEST_DATABASE_URL`` the PostgreSQL runs are skipped locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

BACKENDS = ("sqlite", "postgresql")


def postgres_base_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        return url
    message = "TEST_DATABASE_URL is not set (run `.ci/postgres` to start PostgreSQL and print it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}: CI must test on PostgreSQL too")
    pytest.skip(message)


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose tables land in a new, empty schema of the test database; dropped afterwards."""
    import psycopg

    base = postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def state_database(backend: str, tmp_path) -> Iterator[str]:
    """A state URL (a SQLite path, or a PostgreSQL URL) for one test."""
    if backend == "sqlite":
        yield str(tmp_path / "state.sqlite3")
    else:
        with postgres_schema() as url:
            yield url
