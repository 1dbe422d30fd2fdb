"""The bot on a loopback Discord: how long a question takes from MESSAGE_CREATE to the reply
request, next to answering the same questions in process; and how far the event loop lags while
20 questions arrive at once, and while one generation streams into Discord.

Prints one JSON line: {"loopback_p50_ms", "loopback_p95_ms", "in_process_p50_ms", "ratio",
"burst_loop_lag_p99_ms", ...}.
"""

from __future__ import annotations

import asyncio
import time

from _common import EVAL_SET, ROOT, emit, percentile_ms, scratch_settings

from bot.domain.evaluation import load_questions
from bot.domain.services import Services
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import FakeDiscord

QUESTIONS = 60
BURST = 20


class LagMeter:
    """A task that wakes every 5 ms and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + 0.005
            await asyncio.sleep(0.005)
            self.lags.append(max(0.0, loop.time() - planned))

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


def reply_to(message_id) -> callable:
    """A request predicate: the bot's reply to this message."""
    wanted = str(message_id)
    return lambda r: str(((r.json or {}).get("message_reference") or {}).get("message_id")) == wanted


async def measure(services: Services) -> dict:
    questions = [q.question for q in load_questions(EVAL_SET)][:QUESTIONS]
    settings = {"answer_channel_ids": [], "question_cooldown_s": 0}
    async with FakeDiscord() as fake, running_bot(fake, services, **settings) as bot:
        bot.get_cog("Ask").answer_channels.add(fake.slides_id)
        loop = asyncio.get_running_loop()
        sent = await fake.send_message(fake.slides_id, "warm up: what is a token?")
        await fake.wait_for_request(reply_to(sent["id"]), method="POST", timeout=60)

        # Interleaved, so that the shared machine's noise falls on both alike.
        loopback, in_process = [], []
        for question in questions:
            sent_at = loop.time()
            sent = await fake.send_message(fake.slides_id, question)
            request = await fake.wait_for_request(reply_to(sent["id"]), method="POST", timeout=60)
            loopback.append(request.time - sent_at)

            started = time.perf_counter()
            services.tutor.ask(question)
            in_process.append(time.perf_counter() - started)

        with LagMeter() as meter:
            burst = [await fake.send_message(fake.slides_id, question) for question in questions[:BURST]]
            replies = [fake.wait_for_request(reply_to(m["id"]), method="POST", timeout=120) for m in burst]
            answered = len(await asyncio.gather(*replies))

        # One /generate with the real model, streamed into Discord, while the loop is watched.
        await asyncio.to_thread(services.generation)  # model load is not part of the measurement
        with LagMeter() as generating:
            await fake.invoke_command("generate", {"kind": "story", "topic": "a robot learning to paint"})
            await fake.wait_for_request(
                lambda r: "tok/s" in str((r.json or {}).get("content", "")), method="PATCH", timeout=180
            )
    p50, local = percentile_ms(loopback, 50), percentile_ms(in_process, 50)
    return {
        "questions": len(questions),
        "loopback_p50_ms": p50,
        "loopback_p95_ms": percentile_ms(loopback, 95),
        "in_process_p50_ms": local,
        "ratio": round(p50 / local, 3),
        "burst_questions": BURST,
        "burst_answered": answered,
        "burst_loop_lag_p99_ms": percentile_ms(meter.lags, 99),
        "burst_loop_lag_max_ms": percentile_ms(meter.lags, 100),
        "generation_loop_lag_p99_ms": percentile_ms(generating.lags, 99),
    }


def main() -> None:
    assert ROOT.is_dir()
    services = Services.load(scratch_settings())
    try:
        emit(asyncio.run(measure(services)))
    finally:
        services.close()


if __name__ == "__main__":
    main()
