"""Per-server settings in the state database: answer channels, the instructor role, cooldowns and
whether to answer in threads. A setting a server has not set is the environment's (``Settings``).

Read on every message, so kept in memory once read: ``cached`` never blocks (None until the
server's row was read once with ``get``), and ``set`` updates the memory with the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.domain.errors import UserError
from bot.settings import Settings

NAMES = ("answer_channels", "instructor_role", "question_cooldown_s", "generation_cooldown_s", "answer_in_threads")
MAX_COOLDOWN_S = 3600.0
MAX_CHANNELS = 50


class BadSetting(UserError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ServerSettings:
    answer_channels: tuple[int, ...]
    instructor_role: int | None
    question_cooldown_s: float
    generation_cooldown_s: float
    answer_in_threads: bool
    overridden: frozenset[str] = frozenset()  # the names this server set itself

    @classmethod
    def defaults(cls, settings: Settings) -> ServerSettings:
        return cls(
            tuple(settings.answer_channel_ids),
            None,
            settings.question_cooldown_s,
            settings.generation_cooldown_s,
            False,
        )

    def to_dict(self) -> dict:
        return {
            "answer_channels": [str(c) for c in self.answer_channels],
            "instructor_role": str(self.instructor_role) if self.instructor_role else None,
            "question_cooldown_s": self.question_cooldown_s,
            "generation_cooldown_s": self.generation_cooldown_s,
            "answer_in_threads": self.answer_in_threads,
            "set_here": sorted(self.overridden),
        }


def parse_value(name: str, text: str) -> object:
    """A setting's value from what an instructor typed ("" or "default" unsets it: None)."""
    text = text.strip()
    if text.casefold() in ("", "default", "none", "unset"):
        return None
    if name == "answer_channels":
        ids = [part.strip("<#>") for part in text.replace(",", " ").split()]
        if not all(part.isdigit() for part in ids) or len(ids) > MAX_CHANNELS:
            raise BadSetting(f"answer_channels: give up to {MAX_CHANNELS} channels (mentions or ids)")
        return tuple(dict.fromkeys(int(part) for part in ids))
    if name == "instructor_role":
        role = text.strip("<@&>")
        if not role.isdigit():
            raise BadSetting("instructor_role: give a role (a mention or its id)")
        return int(role)
    if name in ("question_cooldown_s", "generation_cooldown_s"):
        try:
            seconds = float(text)
        except ValueError:
            raise BadSetting(f"{name}: give a number of seconds") from None
        if not 0 <= seconds <= MAX_COOLDOWN_S:
            raise BadSetting(f"{name}: between 0 and {MAX_COOLDOWN_S:g} seconds")
        return seconds
    if name == "answer_in_threads":
        folded = text.casefold()
        if folded in ("true", "yes", "on", "1"):
            return True
        if folded in ("false", "no", "off", "0"):
            return False
        raise BadSetting("answer_in_threads: true or false")
    raise BadSetting(f"no setting {name!r}; settings are {', '.join(NAMES)}")


def _column(name: str, value: object) -> object:
    if value is None:
        return None
    if name == "answer_channels":
        return ",".join(str(c) for c in value)  # type: ignore[union-attr]
    if name == "instructor_role":
        return str(value)
    if name == "answer_in_threads":
        return int(bool(value))
    return float(value)  # type: ignore[arg-type]


class ServerSettingsStore:
    """Each server's settings over the environment's defaults. Thread-safe."""

    def __init__(self, database, settings: Callable[[], Settings]) -> None:
        self.db = database
        self._settings = settings  # the environment's settings, read at each call (tests swap them)
        self._cache: dict[int, dict[str, object]] = {}  # each server's own values, once read
        self._lock = threading.Lock()

    @property
    def defaults(self) -> ServerSettings:
        return ServerSettings.defaults(self._settings())

    def cached(self, guild: int | None) -> ServerSettings | None:
        """The server's settings if already read (never blocks); the defaults outside servers."""
        if guild is None:
            return self.defaults
        values = self._cache.get(guild)
        return None if values is None else self._merged(values)

    def get(self, guild: int | None) -> ServerSettings:
        """The server's settings (blocking on first read)."""
        if guild is None:
            return self.defaults
        values = self._cache.get(guild)
        if values is None:
            row = self.db.query_one(
                "SELECT answer_channels, instructor_role, question_cooldown_s, generation_cooldown_s, "
                "answer_in_threads FROM server_settings WHERE guild = ?",
                (str(guild),),
            )
            values = self._values(row)
            with self._lock:
                self._cache[guild] = values
        return self._merged(values)

    def _merged(self, values: dict[str, object]) -> ServerSettings:
        return replace(self.defaults, **values, overridden=frozenset(values))  # type: ignore[arg-type]

    @staticmethod
    def _values(row) -> dict[str, object]:
        if row is None:
            return {}
        channels, role, question_s, generation_s, threads = row
        values: dict[str, object] = {}
        if channels is not None:
            values["answer_channels"] = tuple(int(c) for c in str(channels).split(",") if c)
        if role is not None:
            values["instructor_role"] = int(role)
        if question_s is not None:
            values["question_cooldown_s"] = float(question_s)
        if generation_s is not None:
            values["generation_cooldown_s"] = float(generation_s)
        if threads is not None:
            values["answer_in_threads"] = bool(threads)
        return values

    def set(self, guild: int, name: str, value: object) -> ServerSettings:
        """Set one setting (None: back to the environment's default)."""
        if name not in NAMES:
            raise BadSetting(f"no setting {name!r}; settings are {', '.join(NAMES)}")
        self.db.execute(
            f"INSERT INTO server_settings (guild, {name}, updated_at) VALUES (?, ?, ?) "
            f"ON CONFLICT (guild) DO UPDATE SET {name} = excluded.{name}, updated_at = excluded.updated_at",
            (str(guild), _column(name, value), time.time()),
        )
        with self._lock:
            self._cache.pop(guild, None)
        return self.get(guild)

    def forget_server(self, guild: int) -> None:
        self.db.execute("DELETE FROM server_settings WHERE guild = ?", (str(guild),))
        with self._lock:
            self._cache.pop(guild, None)
