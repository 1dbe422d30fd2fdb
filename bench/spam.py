"""Spam on a loopback Discord: 20 learners each send 30 questions to the bot at once (600 messages
in about a second) with the default question cooldown.

Prints one JSON line: {"learners", "messages", "sent_in_s", "bot_posts", "answers_per_learner_max",
"notices_per_learner_max", "learners_with_more_than_one_notice", "settle_s"}.
"""

from __future__ import annotations

import asyncio
import time

from _common import emit, scratch_settings

from bot.domain.services import Services
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.test_abuse import LEARNERS, MESSAGES, flood, is_notice

QUIET_S = 3.0  # no new post for this long: the bot has said all it will


async def measure(services: Services) -> dict:
    async with FakeDiscord() as fake:
        learners = [fake.add_user(f"learner{n}") for n in range(LEARNERS)]
        async with running_bot(fake, services):
            started = time.perf_counter()
            ids = await flood(fake, learners, MESSAGES)
            sent_in = time.perf_counter() - started
            by_message = {mid: uid for uid, mids in ids.items() for mid in mids}
            count, last_change = -1, time.perf_counter()
            while time.perf_counter() - last_change < QUIET_S:
                now = len(fake.bot_messages(fake.slides_id))
                if now != count:
                    count, last_change = now, time.perf_counter()
                await asyncio.sleep(0.1)
            settle = last_change - started
            per: dict[str, list[dict]] = {uid: [] for uid in ids}
            for message in fake.bot_messages(fake.slides_id):
                target = (message.get("message_reference") or {}).get("message_id")
                if target in by_message:
                    per[by_message[target]].append(message)
    answers = [sum(not is_notice(m) for m in ms) for ms in per.values()]
    notices = [sum(is_notice(m) for m in ms) for ms in per.values()]
    return {
        "learners": LEARNERS,
        "messages": LEARNERS * MESSAGES,
        "sent_in_s": round(sent_in, 2),
        "bot_posts": sum(len(ms) for ms in per.values()),
        "answers_per_learner_max": max(answers),
        "answers_per_learner_min": min(answers),
        "notices_per_learner_max": max(notices),
        "learners_with_more_than_one_notice": sum(n > 1 for n in notices),
        "question_cooldown_s": services.settings.question_cooldown_s,
        "settle_s": round(settle, 1),
    }


def main() -> None:
    services = Services.load(scratch_settings())
    try:
        emit(asyncio.run(measure(services)))
    finally:
        services.close()


if __name__ == "__main__":
    main()
