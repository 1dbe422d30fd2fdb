"""Real processes for multi-process tests and benchmarks: a ``chroma run`` server and bot
processes (``python -m bot run``) pointed at a loopback Discord, all on 127.0.0.1.

Used by ``tests/e2e/test_shards.py`` and ``bench/load.py``. Every wait is bounded; every process is
stopped (SIGTERM, then SIGKILL) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.conftest import KNOWLEDGE, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def chroma_server(path: Path, timeout: float = 60) -> Iterator[int]:
    """A real `chroma run` server on 127.0.0.1 storing in ``path``; yields its port."""
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if chroma is None:
        raise RuntimeError("the chroma command ships with the chromadb package, and is missing")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("chroma run exited early") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chroma run did not listen within {timeout} s") from None
                time.sleep(0.2)
        yield port
    finally:
        stop(process)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def bot_env(
    *,
    api_url: str,
    gateway_url: str,
    data_dir: Path,
    database_url: str,
    chroma_port: int,
    shard_count: int | None = None,
    shard_ids: Sequence[int] = (),
    token: str = "test-token",
    **settings: object,
) -> dict[str, str]:
    """The environment of a bot process on a loopback Discord, sharing a database and a Chroma
    server with its siblings. ``settings``: more settings by field name (``question_cooldown_s=0``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "SHARD_", "CHROMA_", "DATABASE_", "ANSWER_", "SYNC_"))
    }
    env.update(
        DISCORD_TOKEN=token,
        DISCORD_API_URL=api_url,
        DISCORD_GATEWAY_URL=gateway_url,
        DATA_DIR=str(data_dir),
        KNOWLEDGE_DIR=str(KNOWLEDGE),
        DATABASE_URL=database_url,
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma_port),
        SHARD_COUNT="" if shard_count is None else str(shard_count),
        SHARD_IDS=" ".join(map(str, shard_ids)),
        LOG_LEVEL="INFO",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


class BotProcess:
    """A bot process (``python -m bot run``, or ``argv`` instead) logging to ``log``."""

    def __init__(self, env: dict[str, str], log: Path, argv: Sequence[str] = ("-m", "bot", "run")) -> None:
        self.log = log
        self._file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def ready(self, timeout: float = 300) -> None:  # noqa: ASYNC109 - a bounded wait
        """Until the bot logs that it is ready (after its models, the index and the gateway). Async:
        the loopback Discord it connects to runs on the caller's event loop."""
        deadline = time.monotonic() + timeout
        while "ready as" not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot was not ready within {timeout} s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.2)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    async def stop(self, timeout: float = 30) -> int:  # noqa: ASYNC109 - a bounded wait
        """SIGTERM (the bot closes cleanly), SIGKILL after ``timeout``; off the loop, which serves
        the loopback Discord the bot says goodbye to."""
        try:
            await asyncio.to_thread(stop, self.process, timeout)
        finally:
            self._file.close()
        return self.process.returncode


def ingest(env: dict[str, str], timeout: float = 600) -> None:
    """Build the index on the Chroma server once, before bot processes start (they then find it
    up to date instead of racing to build it)."""
    subprocess.run(
        [sys.executable, "-m", "bot", "ingest"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=timeout
    )
