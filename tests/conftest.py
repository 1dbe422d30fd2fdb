"""Shared fixtures: real models loaded once per session, settings pointing at temporary folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.databases import BACKENDS, postgres_schema, state_database

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
# The seed slide the deck was written from, copied into the repository so the tests do not
# depend on anything outside it; SHARED_SEED is the original, where a checkout has it.
SEED = ROOT / "tests" / "data" / "slide-13.txt"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "slide-13.txt"


def run_cli(
    *args: str, stdin: str | None = None, timeout: float = 180, **settings: object
) -> subprocess.CompletedProcess:
    """``python -m bot ARGS`` in a process of its own, as an instructor runs it: the default deck,
    warnings only, never Discord (an instructor's ``.env`` token is overridden). ``settings`` by
    field name override the environment (``data_dir=...``); None leaves a setting unset."""
    env = {**os.environ, "KNOWLEDGE_DIR": str(KNOWLEDGE), "LOG_LEVEL": "WARNING", "DISCORD_TOKEN": ""}
    for name, value in settings.items():
        if value is None:
            env.pop(name.upper(), None)
        else:
            env[name.upper()] = str(value)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings for a test: its own data folder, no .env file, the real deck unless overridden."""
    values = {"knowledge_dir": KNOWLEDGE, "data_dir": tmp_path / "data", "log_level": "WARNING"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
def embedder():
    from bot.domain.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def tutor(tmp_path_factory, embedder):
    """The real deck, ingested once into an embedded Chroma, with the real embedding model."""
    from bot.domain.tutor import Tutor, open_index

    settings = make_settings(tmp_path_factory.mktemp("tutor"))
    settings.data_dir.mkdir(parents=True)
    tutor = Tutor(settings, embedder, open_index(settings))
    tutor.reload()
    return tutor


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run tests taking `state_url` on SQLite and on PostgreSQL (TEST_DATABASE_URL)"
    )


def pytest_generate_tests(metafunc) -> None:
    if "state_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("state_url", BACKENDS, indirect=True)


@pytest.fixture
def state_url(request, tmp_path):
    """Where this test's learner state lives: SQLite in its folder, or (``both_backends`` tests, second
    run) its own schema in PostgreSQL."""
    with state_database(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url():
    """A PostgreSQL URL with a fresh schema of its own (skipped locally without TEST_DATABASE_URL)."""
    with postgres_schema() as url:
        yield url
