"""``python -m bot run`` with an event-loop lag probe, for ``bench/load.py``.

The probe wakes every 10 ms on the bot's own event loop and records (wall time, lateness). On
SIGUSR1 it writes them to ``LOAD_LAG_FILE`` as JSON ``[[t, lag_s], ...]``; the bench keeps the
samples inside its load window. Everything else is the bot as ``python -m bot run`` starts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli import main  # noqa: E402
from bot.client import TutorBot  # noqa: E402

TICK_S = 0.010
_samples: list[tuple[float, float]] = []
_setup_hook = TutorBot.setup_hook


async def _probe() -> None:
    loop = asyncio.get_running_loop()
    while True:
        planned = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        _samples.append((time.time(), max(0.0, loop.time() - planned)))


def _dump() -> None:
    path = Path(os.environ["LOAD_LAG_FILE"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([[round(t, 4), round(lag, 6)] for t, lag in _samples]))
    tmp.replace(path)


async def setup_hook(self: TutorBot) -> None:
    await _setup_hook(self)
    self.loop.add_signal_handler(signal.SIGUSR1, _dump)
    self._lag_probe = self.loop.create_task(_probe())


TutorBot.setup_hook = setup_hook

if __name__ == "__main__":
    if "LOAD_LAG_FILE" not in os.environ:  # `make bench` runs every script; this one is bench/load.py's
        print("bench/_load_bot.py is started by bench/load.py", file=sys.stderr)
        sys.exit(0)
    sys.exit(main(["run"]))
