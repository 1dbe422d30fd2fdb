"""Settings: the documented example file works as it is, and secrets stay secret."""

from __future__ import annotations

import re

from bot.settings import Settings
from tests.conftest import ROOT


def test_env_example_as_copied_is_valid_and_documents_every_setting(monkeypatch, tmp_path):
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(example, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings()
    assert settings.discord_token is None, "an empty DISCORD_TOKEN= means no token: the terminal session"
    assert settings.sync_guild_id is None and settings.chroma_host is None
    assert settings.database_url is None and settings.state_url == str(settings.state_db), "SQLite by default"
    documented = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_secrets_are_never_shown(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-also-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://tutor:pg-secret@db:5432/tutor")
    monkeypatch.setenv("CHROMA_AUTH_TOKEN", "chroma-secret")
    settings = Settings(_env_file=None)
    assert settings.discord_token.get_secret_value() == "very-secret-token"
    assert settings.state_url == "postgresql://tutor:pg-secret@db:5432/tutor"
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "very-secret-token" not in shown and "sk-also-secret" not in shown and "pg-secret" not in shown
    assert "chroma-secret" not in shown


def test_answer_channels_accept_commas_or_spaces(monkeypatch):
    monkeypatch.setenv("ANSWER_CHANNEL_IDS", "123, 456 789")
    assert Settings(_env_file=None).answer_channel_ids == [123, 456, 789]
