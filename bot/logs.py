"""Logging set-up for every front end: readable lines, or one JSON object per line (``LOG_FORMAT``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.domain import metrics

CHATTY = ("chromadb", "httpx", "urllib3", "sentence_transformers")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` and ``"exception"`` when there is one: one line each."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    metrics.count_logged_errors()
