"""``python -m bot next|prev``: real processes sharing one places file, as learners at a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import KNOWLEDGE, ROOT


def run(*args: str, data_dir, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KNOWLEDGE_DIR": str(KNOWLEDGE), "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env.pop("DISCORD_TOKEN", None)
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "bot", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def shown(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["number"]


def test_three_next_calls_in_three_processes_give_three_consecutive_slides(tmp_path):
    numbers = [shown(run("next", "--user", "ada", "--json", data_dir=tmp_path)) for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert shown(run("prev", "--user", "ada", "--json", data_dir=tmp_path)) == 2
    assert shown(run("next", "--user", "grace", "--json", data_dir=tmp_path)) == 1, "each user has a place"
    assert (tmp_path / "state.sqlite3").exists()


def test_next_prints_the_slide_as_slide_does_loads_no_model_and_defaults_to_the_terminal_user(tmp_path):
    from bot.domain.learners import LearnerStore
    from bot.terminal import LOCAL_SCOPE, local_user

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
