"""LOG_FORMAT=json: one JSON object per log line (a traceback inside it, not after it), and every
error logged is counted in /metrics' slide_tutor_errors_total."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import logging, sys
from bot.logs import configure_logging
from bot.domain import metrics
configure_logging("INFO", sys.argv[1])
log = logging.getLogger("bot.example")
log.info("ready in %d servers", 3)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("unexpected error in %s", "/ask")
log.debug("not shown at INFO")
print(metrics.exposition()[0].decode())
"""


def run(fmt: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, fmt], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )


def test_json_logs_are_one_object_per_line():
    done = run("json")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    info, error = (json.loads(line) for line in lines)
    assert info["level"] == "INFO" and info["logger"] == "bot.example" and info["message"] == "ready in 3 servers"
    assert info["time"].endswith("+00:00") and "exception" not in info
    assert error["level"] == "ERROR" and error["message"] == "unexpected error in /ask"
    assert "ZeroDivisionError" in error["exception"]
    assert 'slide_tutor_errors_total{logger="bot.example"} 1.0' in done.stdout


def test_text_logs_stay_readable_lines():
    done = run("text")
    assert "INFO bot.example: ready in 3 servers" in done.stderr
    assert "Traceback" in done.stderr and not done.stderr.lstrip().startswith("{")
