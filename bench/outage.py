"""A Chroma server killed (SIGKILL) and restarted during 200 questions streamed to `ask - --json`.

The deck is ingested into a real `chroma run` server; 200 questions from tests/eval/questions.jsonl
are written to one `slide-tutor ask - --json` process, one at a time; after question 60 the server
is killed, after question 120 it is started again on the same port and folder.

Prints one JSON line: {"questions", "answered", "error_lines", "lost", "outage_log_lines",
"recovery_log_lines", "tracebacks", "outage_s", "first_error_s", "exit_status", "seconds"}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import EVAL_SET, ROOT, emit

from bot.domain.evaluation import load_questions
from tests.test_outages import ChromaServer, ask_stream, cli_env

QUESTIONS, KILL_AT, RESTART_AT = 200, 60, 120


def main() -> None:
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="slide-tutor-outage-"))
    server = ChromaServer(work / "server").start()
    env = cli_env(work, server.port)
    ingest = subprocess.run([sys.executable, "-m", "bot", "ingest"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    pool = [q.question for q in load_questions(EVAL_SET)]
    questions = [pool[n % len(pool)] for n in range(QUESTIONS)]

    ask = ask_stream(env)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(ask.stderr), daemon=True)
    reader.start()
    replies, first_error_s, killed_at, outage_s = [], None, None, None
    try:
        for n, question in enumerate(questions):
            if n == KILL_AT:
                server.kill()
                killed_at = time.perf_counter()
            if n == RESTART_AT:
                server.start()
                outage_s = round(time.perf_counter() - killed_at, 1)
            asked = time.perf_counter()
            ask.stdin.write(question + "\n")
            ask.stdin.flush()
            line = ask.stdout.readline()
            if not line:
                break
            reply = json.loads(line)
            if "error" in reply and first_error_s is None:
                first_error_s = round(time.perf_counter() - asked, 2)
            replies.append(reply)
        ask.stdin.close()
        status = ask.wait(timeout=120)
    finally:
        if ask.poll() is None:
            ask.kill()
        server.stop()
    reader.join(timeout=10)
    text = "".join(log)
    emit(
        {
            "questions": QUESTIONS,
            "answered": sum("error" not in r for r in replies),
            "error_lines": sum("error" in r for r in replies),
            "lost": QUESTIONS - len(replies),
            "outage_log_lines": text.count("is not answering ("),
            "recovery_log_lines": text.count("is answering again"),
            "tracebacks": text.count("Traceback"),
            "outage_s": outage_s,
            "first_error_s": first_error_s,
            "exit_status": status,
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


if __name__ == "__main__":
    main()
