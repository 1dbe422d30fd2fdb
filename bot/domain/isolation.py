"""Work on untrusted input in worker processes that a time limit and a memory limit hold.

A thread can't be stopped and a ``MemoryError`` may arrive anywhere, so a parser that hangs or
swells on a hostile file is only contained by a process: each worker is a plain interpreter
(``python -m bot.domain.isolation``) that imports the module it serves (the loaders: no models, no
torch) and nothing else, answers one call at a time and is reused. A call that runs past its time
is killed with its worker; one that runs out of memory (``RLIMIT_AS``, set per call) ends its
worker; the next call gets a fresh one.

Calls and results cross as JSON lines (never pickle: a worker's output is as untrusted as its
input). A function is named ``"module:function"``; it takes and returns JSON-able values.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The folder that holds the ``bot`` package, so a worker imports the same code as its parent.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0  # an interpreter and the served module's imports, on a busy machine
_MB = 1 << 20


class WorkerError(Exception):
    """A call that did not return."""


class TookTooLong(WorkerError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


class NeededTooMuchMemory(WorkerError):
    def __init__(self, megabytes: int) -> None:
        super().__init__(f"needed more than {megabytes} MB")
        self.megabytes = megabytes


class WorkerDied(WorkerError):
    """The worker ended without answering (a crash in C code, a signal) or could not start."""


class Raised(WorkerError):
    """The function raised: its exception's type name and message (and ``line``, where it had one)."""

    def __init__(self, kind: str, message: str, line: int | None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.line = kind, message, line


class _Worker:
    def __init__(self, preload: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed module
            [sys.executable, "-m", __name__, preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.preload = preload
        self._buffer = b""
        self._ready = False

    def _wait_until_ready(self) -> None:
        """The worker's imports are done (its start is not part of any call's time)."""
        if self._ready:
            return
        try:
            ready = self._read_line(time.monotonic() + START_SECONDS)
        except TimeoutError:
            ready = None
        if ready != {"ready": True}:
            self.kill()
            raise WorkerDied(f"the worker process for {self.preload} did not start")
        self._ready = True

    def call(self, function: str, args: list, seconds: float, memory_mb: int) -> Any:
        self._wait_until_ready()
        request = {"function": function, "args": args, "seconds": seconds, "memory_mb": memory_mb}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerDied(f"the worker process is gone ({error})") from None
        try:
            answer = self._read_line(time.monotonic() + seconds)
        except TimeoutError:
            self.kill()
            raise TookTooLong(seconds) from None
        if answer is None:
            raise WorkerDied(f"the worker process stopped ({self._how_it_ended()})")
        if "ok" in answer:
            return answer["ok"]
        if answer.get("memory"):
            self.kill()  # it ends itself; waiting here keeps the next call off a dying process
            raise NeededTooMuchMemory(memory_mb)
        line = answer.get("line")
        raise Raised(str(answer.get("kind")), str(answer.get("message")), line if isinstance(line, int) else None)

    def _read_line(self, deadline: float) -> dict | None:
        """The next JSON line from the worker; None once it has ended; TimeoutError past ``deadline``."""
        stream = self.process.stdout
        chunks = [self._buffer]
        while b"\n" not in chunks[-1]:  # (a result of megabytes comes in many chunks: joined once)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stream], [], [], left)[0]:
                self._buffer = b"".join(chunks)
                raise TimeoutError
            chunk = os.read(stream.fileno(), 1 << 20)
            if not chunk:
                return None
            chunks.append(chunk)
        line, _, self._buffer = b"".join(chunks).partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def _how_it_ended(self) -> str:
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "it stopped answering"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class Workers:
    """Up to ``size`` worker processes for the module ``preload``, started when first needed and
    reused; safe to call from several threads (each call borrows one worker)."""

    def __init__(self, preload: str, size: int = 2) -> None:
        self.preload = preload
        self.size = size
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)  # a slot with no process yet
        self._closed = False

    def call(self, function: str, args: list, *, seconds: float, memory_mb: int) -> Any:
        """``function(*args)`` in a worker: its result, or :class:`TookTooLong`,
        :class:`NeededTooMuchMemory`, :class:`Raised` or :class:`WorkerDied`."""
        if self._closed:
            raise WorkerDied("the worker processes are closed")
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = _Worker(self.preload)
            return worker.call(function, args, seconds, memory_mb)
        except WorkerError:
            if worker is not None and not worker.alive:
                worker = None
            raise
        finally:
            if worker is not None and (self._closed or not worker.alive):
                worker.kill()
                worker = None
            self._idle.put(worker)

    def start(self) -> None:
        """Start the idle slots' workers now, without waiting for them: they import while the
        caller does something else (loads a model), and the first calls find them ready."""
        slots = []
        while True:
            try:
                slots.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in slots:
            if not self._closed and (worker is None or not worker.alive):
                try:
                    worker = _Worker(self.preload)
                except OSError as error:  # the first call tries again, and reports it
                    log.warning("could not start a worker process for %s: %s", self.preload, error)
                    worker = None
            self._idle.put(worker)

    def close(self) -> None:
        """End the idle workers (a call in flight ends its own when it returns)."""
        self._closed = True
        for _ in range(self.size):
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                worker.kill()


_shared: dict[str, Workers] = {}
_shared_lock = threading.Lock()


def shared(preload: str) -> Workers:
    """The process-wide workers for ``preload`` (ended at exit)."""
    with _shared_lock:
        workers = _shared.get(preload)
        if workers is None or workers._closed:
            workers = _shared[preload] = Workers(preload, size=min(2, os.cpu_count() or 1))
        return workers


@atexit.register
def _close_shared() -> None:
    for workers in list(_shared.values()):
        workers.close()


# --------------------------------------------------------------------------- the worker's side


def _serve(preload: str) -> None:
    """Answer calls from stdin, one JSON line each, until stdin closes."""
    import importlib
    import resource
    import warnings

    # The protocol gets its own copy of stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR, format=f"isolated worker {os.getpid()}: %(name)s: %(message)s")
    importlib.import_module(preload)

    def answer(message: dict) -> None:
        try:
            line = json.dumps(message).encode()
        except (TypeError, ValueError) as error:  # a result JSON cannot carry
            line = json.dumps({"kind": "TypeError", "message": f"the result is not JSON ({error})"}).encode()
        answers.write(line + b"\n")
        answers.flush()

    answer({"ready": True})
    for raw in sys.stdin.buffer:
        request = json.loads(raw)
        module, _, name = request["function"].partition(":")
        function = getattr(importlib.import_module(module), name)
        # The memory limit holds the whole process; the CPU limit is a backstop should the parent
        # be gone and unable to kill a call past its time (SIGXCPU ends the process).
        used = resource.getrusage(resource.RUSAGE_SELF)
        _lower(resource.RLIMIT_AS, int(request["memory_mb"]) * _MB)
        _lower(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + 2 * float(request["seconds"]) + 5))
        try:
            result = {"ok": function(*request["args"])}
        except MemoryError:
            result = None
        except Exception as error:  # noqa: BLE001 - reported to the caller, which decides
            result = {"kind": type(error).__name__, "message": str(error), "line": getattr(error, "line", None)}
        if result is None:
            answer({"memory": True})
            return  # the process may be in a bad way after running out of memory: a fresh one follows
        try:
            _lower(resource.RLIMIT_AS, None)
            answer(result)
        except MemoryError:
            answer({"memory": True})
            return


def _lower(kind: int, soft: int | None) -> None:
    """Set a soft limit (None: as high as allowed) within the hard limit the process started with
    (a bot run under ``ulimit -v`` keeps that lower cap)."""
    import resource

    hard = resource.getrlimit(kind)[1]
    if soft is None or (hard != resource.RLIM_INFINITY and soft > hard):
        soft = hard
    resource.setrlimit(kind, (soft, hard))


if __name__ == "__main__":
    _serve(sys.argv[1])
