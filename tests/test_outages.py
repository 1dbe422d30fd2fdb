"""Outages are survived: a real `chroma run` server killed (SIGKILL) and restarted under the tutor.

A question asked while the server is away fails with one clear line (the CLI's `ask -` writes a
JSON error object and goes on); the outage is logged once, not per question; start-up waits for
the server (CHROMA_WAIT_S) with a progress line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.domain.index import IndexAway, VectorIndex
from tests.conftest import ROOT

QUESTIONS = [
    "What is tokenization?",
    "How does attention work?",
    "What is a large language model?",
    "What does temperature do?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """A real `chroma run` on 127.0.0.1 that a test can kill and start again (same port, same data)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> ChromaServer:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
        assert chroma, "the chroma command ships with the chromadb package"
        self.process = subprocess.Popen(
            [chroma, "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                assert self.process is not None and self.process.poll() is None, "chroma run exited early"
                time.sleep(0.1)
        raise AssertionError(f"chroma run did not listen within {seconds} s")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as when the machine or the container dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def chroma(tmp_path):
    server = ChromaServer(tmp_path / "server").start()
    yield server
    server.stop()


def cli_env(tmp_path: Path, port: int, knowledge: Path = ROOT / "knowledge", **extra: str) -> dict[str, str]:
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DISCORD_TOKEN": "", "DATA_DIR": str(tmp_path / "data")}
    env.update(CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port), KNOWLEDGE_DIR=str(knowledge), **extra)
    return env


def ask_stream(env: dict[str, str]) -> subprocess.Popen:
    """``python -m bot ask - --json``: one question per line in, one JSON object per line out."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "-", "--json"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def small_deck(tmp_path: Path) -> Path:
    """Four slides of the real deck (quick to embed): the questions below are about them."""
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name in (
        "08-transformers-and-attention.md",
        "09-large-language-models.md",
        "10-sampling-temperature-decoding.md",
    ):
        shutil.copy(ROOT / "knowledge" / name, folder / name)
    shutil.copy(ROOT / "knowledge" / "13-tokenization-embeddings-latent-space.md", folder)
    return folder


def test_ask_stream_survives_the_chroma_server_being_killed_and_restarted(tmp_path, chroma):
    env = cli_env(tmp_path, chroma.port, small_deck(tmp_path))
    ingest = subprocess.run(
        [sys.executable, "-m", "bot", "ingest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert ingest.returncode == 0, ingest.stderr[-2000:]

    stderr_lines: list[str] = []
    ask = ask_stream(env)
    reader = threading.Thread(target=lambda: stderr_lines.extend(ask.stderr), daemon=True)
    reader.start()

    def ask_one(question: str) -> dict:
        ask.stdin.write(question + "\n")
        ask.stdin.flush()
        line = ask.stdout.readline()
        assert line, f"the stream ended: {''.join(stderr_lines)[-2000:]}"
        return json.loads(line)

    try:
        before = [ask_one(q) for q in QUESTIONS]
        chroma.kill()
        during = [ask_one(q) for q in QUESTIONS * 2]
        chroma.start()
        after = [ask_one(q) for q in QUESTIONS]
        ask.stdin.close()
        assert ask.wait(timeout=60) == 1, "some questions failed: the exit status says so"
    finally:
        if ask.poll() is None:
            ask.kill()
    reader.join(timeout=10)

    assert all("error" not in reply and reply["answer"] for reply in before + after), before + after
    assert all(set(reply) == {"question", "error"} for reply in during), during
    assert [reply["question"] for reply in during] == QUESTIONS * 2, "one line per question, in order"
    assert during[0]["error"] == "The slide index is not answering right now; please try again in a moment."
    log = "".join(stderr_lines)
    assert "Traceback" not in log, log[-3000:]
    assert log.count("is not answering (") == 1, "the outage is logged once, not per question"
    assert log.count("is answering again") == 1


def test_an_index_on_a_server_retries_then_fails_fast_and_logs_each_outage_once(tmp_path, chroma, caplog, embedder):
    import numpy as np

    from bot.domain.loaders import load_deck
    from bot.domain.passages import passages_from_deck

    deck = load_deck(ROOT / "knowledge").deck
    passages = passages_from_deck(deck)[:40]
    index = VectorIndex.open(base_name="slides", embedding_model="m", host="127.0.0.1", port=chroma.port)
    index.ingest(passages, lambda texts: np.asarray(embedder.encode(texts), dtype=np.float32), len(deck))
    vector = np.asarray(embedder.encode(["what is attention"])[0], dtype=np.float32)
    assert index.query(vector, 3)

    caplog.set_level(logging.WARNING, logger="bot.domain.index")
    for outage in range(2):
        chroma.kill()
        started = time.monotonic()
        with pytest.raises(IndexAway):
            index.query(vector, 3)
        first = time.monotonic() - started
        for _ in range(5):
            with pytest.raises(IndexAway):
                index.query(vector, 3)
        chroma.start()
        assert [hit.record for hit in index.query(vector, 3)], f"outage {outage}: back without a restart"
        assert first >= 3.0, "the first failure came after retries with backoff"
    messages = [record.getMessage() for record in caplog.records]
    assert sum("is not answering (" in m for m in messages) == 2, messages
    assert sum("is answering again" in m for m in messages) == 2, messages
    assert all(record.exc_info is None for record in caplog.records), "no tracebacks"


def test_start_up_waits_for_the_server_with_a_progress_line(tmp_path, caplog):
    server = ChromaServer(tmp_path / "server")
    caplog.set_level(logging.WARNING, logger="bot.domain.index")
    timer = threading.Timer(2.0, server.start, kwargs={"wait": False})
    timer.start()
    try:
        index = VectorIndex.open(
            base_name="slides", embedding_model="m", host="127.0.0.1", port=server.port, wait_s=120
        )
        assert index.count() == 0
    finally:
        timer.join()
        server.stop()
    assert any("waiting for the Chroma server at http://127.0.0.1:" in r.getMessage() for r in caplog.records)


def test_start_up_gives_up_after_chroma_wait_s_with_one_clear_line(tmp_path):
    env = cli_env(tmp_path, free_port(), CHROMA_WAIT_S="1")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "what is attention?"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("slide-tutor ask: cannot use the Chroma server at http://127.0.0.1:")
    assert "check CHROMA_HOST, CHROMA_PORT and that the server is running" in last and "CHROMA_WAIT_S=1)" in last
    assert "waiting for the Chroma server" in result.stderr
