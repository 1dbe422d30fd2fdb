"""Spam is absorbed, not amplified: 20 learners each sending 30 questions at once get one answer and
at most one "slow down" notice each per cooldown; the rest is dropped silently."""

from __future__ import annotations

import asyncio

from bot.plumbing import cooldown_message
from tests.e2e.conftest import running_bot

LEARNERS, MESSAGES = 20, 30


def is_notice(message: dict) -> bool:
    return message["content"].startswith(cooldown_message(1).split(":")[0])


async def flood(fake, learners: list[dict], messages: int) -> dict[str, list[str]]:
    """Every learner sends ``messages`` questions to the bot at once; returns, per learner, the ids
    of their messages."""
    questions = ["what is tokenization?", "how does attention work?", "what is temperature?"]
    sends = [
        fake.send_message(fake.slides_id, f"{questions[n % 3]} ({n})", author=learner, mentions_bot=True)
        for n in range(messages)
        for learner in learners
    ]
    sent = await asyncio.gather(*sends)
    ids: dict[str, list[str]] = {}
    for message in sent:
        ids.setdefault(message["author"]["id"], []).append(message["id"])
    return ids


async def test_twenty_learners_flooding_get_one_answer_and_at_most_one_notice_each(
    fake_discord, services_factory, tmp_path
):
    fake = fake_discord
    services = services_factory(tmp_path)
    learners = [fake.add_user(f"learner{n}") for n in range(LEARNERS)]
    async with running_bot(fake, services, question_cooldown_s=600):
        ids = await flood(fake, learners, MESSAGES)
        by_message = {mid: uid for uid, mids in ids.items() for mid in mids}

        def replies() -> dict[str, list[dict]]:
            out: dict[str, list[dict]] = {uid: [] for uid in ids}
            for message in fake.bot_messages(fake.slides_id):
                target = (message.get("message_reference") or {}).get("message_id")
                if target in by_message:
                    out[by_message[target]].append(message)
            return out

        # Each learner's first question is answered; then the bot is given time to say more, if it would.
        await fake._wait(lambda: all(any(not is_notice(m) for m in r) for r in replies().values()), 120, "answers")
        await asyncio.sleep(2)  # (a bounded pause for anything still queued; no timing is asserted)
        final = replies()
    for uid, sent_back in final.items():
        answers = [m for m in sent_back if not is_notice(m)]
        notices = [m for m in sent_back if is_notice(m)]
        assert len(answers) == 1, (uid, [m["content"][:60] for m in sent_back])
        assert len(notices) <= 1, (uid, len(notices))
    total = sum(len(r) for r in final.values())
    assert total <= 2 * LEARNERS, f"{LEARNERS * MESSAGES} messages got {total} posts"
