"""``python -m bot next|prev``: real processes sharing one places file, as learners at a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.domain.learners import LearnerStore
from bot.terminal import LOCAL_SCOPE
from tests.conftest import KNOWLEDGE, ROOT


def run(*args: str, data_dir, code: str | None = None, database_url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "KNOWLEDGE_DIR": str(KNOWLEDGE), "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env["DATABASE_URL"] = database_url  # empty: the SQLite file in DATA_DIR
    env.pop("DISCORD_TOKEN", None)
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "bot", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def shown(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["number"]


@pytest.mark.both_backends
def test_three_next_calls_in_three_processes_give_three_consecutive_slides(tmp_path, state_url):
    url = "" if state_url == str(tmp_path / "state.sqlite3") else state_url  # SQLite: the default file

    def step(command: str, user: str) -> int:
        return shown(run(command, "--user", user, "--json", data_dir=tmp_path, database_url=url))

    assert [step("next", "ada") for _ in range(3)] == [1, 2, 3]
    assert step("prev", "ada") == 2
    assert step("next", "grace") == 1, "each user has a place"
    assert (tmp_path / "state.sqlite3").exists() == (not url)
    with LearnerStore(state_url) as places:
        assert places.get(LOCAL_SCOPE, "ada") == 2


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    env_url = "postgresql://tutor:s3cret@127.0.0.1:9/nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "next", "--user", "ada"],
        cwd=ROOT,
        env={
            **os.environ,
            "KNOWLEDGE_DIR": str(KNOWLEDGE),
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": env_url,
            "DATABASE_WAIT_S": "0",
            "LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("slide-tutor next: the database at postgresql://tutor:***@127.0.0.1:9/nowhere")
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_next_prints_the_slide_as_slide_does_loads_no_model_and_defaults_to_the_terminal_user(tmp_path):
    from bot.terminal import local_user

    # Run in one process to see that no model library was imported.
    code = (
        "import sys; from bot.cli import main; code = main(sys.argv[1:]); "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'chromadb') if m in sys.modules]; "
        "print('LOADED', heavy, file=sys.stderr); sys.exit(code)"
    )
    stepped = run("next", data_dir=tmp_path, code=code)
    assert stepped.returncode == 0, stepped.stderr
    assert "LOADED []" in stepped.stderr
    assert stepped.stdout == run("slide", "1", data_dir=tmp_path).stdout
    assert stepped.stdout.startswith("Slide 1: What Is Generative AI?\n")
    with LearnerStore(tmp_path / "state.sqlite3") as places:
        assert places.get(LOCAL_SCOPE, local_user()) == 1


def test_help_and_usage_errors(tmp_path):
    helped = run("next", "--help", data_dir=tmp_path)
    assert helped.returncode == 0
    assert "--user NAME" in helped.stdout and "terminal session" in helped.stdout
    assert "state.sqlite3" in helped.stdout
    empty = run("prev", "--user", " ", data_dir=tmp_path)
    assert empty.returncode == 2 and "--user must not be empty" in empty.stderr
