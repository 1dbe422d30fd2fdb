"""Typed settings, read from the environment and ``.env``; built once at start and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_GENERATION_MODEL = "SmolLM2-135M-Instruct"


class Settings(BaseSettings):
    """Every field is documented in ``.env.example``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    answer_channel_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    sync_commands_on_start: bool = False
    sync_guild_id: int | None = None
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    question_cooldown_s: float = Field(default=5.0, ge=0)
    generation_cooldown_s: float = Field(default=20.0, ge=0)

    # Files
    knowledge_dir: Path = Path("knowledge")
    data_dir: Path = Path("data")

    # Learners' state: SQLite in DATA_DIR unless set (postgresql://user:password@host:port/db).
    database_url: SecretStr | None = None
    database_wait_s: float = Field(default=30.0, ge=0)

    # Retrieval
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    chroma_host: str | None = None
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    chroma_collection: str = Field(default="slides", min_length=3, max_length=60)
    # A secured Chroma server: a token sent with every request, and TLS (bot.domain.index).
    chroma_auth_token: SecretStr | None = None
    chroma_auth_header: Literal["Authorization", "X-Chroma-Token"] = "Authorization"
    chroma_ssl: bool = False
    chroma_ssl_ca_file: Path | None = None
    chroma_wait_s: float = Field(default=60.0, ge=0)

    # Generation
    generation_backend: Literal["local", "openai"] = "local"
    generation_model: str = DEFAULT_GENERATION_MODEL
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "default"
    openai_api_key: SecretStr | None = None
    generation_timeout_s: float = Field(default=120.0, gt=0)
    generation_max_new_tokens: int = Field(default=200, ge=1, le=1024)
    generation_queue_size: int = Field(default=8, ge=1)
    generation_retries: int = Field(default=2, ge=0, le=5)
    # Answers: quoted from the slides, or worded by the generation backend and checked against them.
    answer_style: Literal["quote", "synthesis"] = "quote"
    synthesis_timeout_s: float = Field(default=45.0, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # Health and numbers (bot.health): off unless a port is given.
    health_port: int | None = Field(default=None, ge=1, le=65535)
    health_host: str = "127.0.0.1"

    # Days a logged question (and its votes) is kept before it is purged.
    question_log_days: float = Field(default=90.0, gt=0)

    # Deck files are untrusted: a file over a limit is skipped and reported (bot.domain.loaders.DeckLimits).
    max_deck_file_mb: float = Field(default=10.0, gt=0)
    max_pages_per_file: int = Field(default=200, ge=1)
    max_slide_text_kb: int = Field(default=64, ge=1)
    # Each deck file is read in a worker process held to these (bot.domain.isolation).
    deck_file_timeout_s: float = Field(default=60.0, gt=0)
    deck_file_memory_mb: int = Field(default=1024, ge=256)

    @field_validator(
        "discord_token",
        "openai_api_key",
        "database_url",
        "chroma_host",
        "sync_guild_id",
        "chroma_auth_token",
        "chroma_ssl_ca_file",
        "health_port",
        "shard_count",
        "discord_api_url",
        "discord_gateway_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `DISCORD_TOKEN=` as copied from .env.example means "not set", not an empty token.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("answer_channel_ids", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # "123, 456" in the environment; a list when built in code.
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids:
            if self.shard_count is None:
                raise ValueError("SHARD_IDS needs SHARD_COUNT (the total number of shards over all processes)")
            wrong = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if wrong:
                raise ValueError(f"SHARD_IDS {wrong} out of range: shards are 0 to {self.shard_count - 1}")
        return self

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def state_url(self) -> str:
        """Where learners' state lives: ``DATABASE_URL``, else the SQLite file ``state_db``.
        May hold a password: never log it (``bot.domain.storage.redact``)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return str(self.state_db)

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
