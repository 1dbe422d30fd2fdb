"""Feedback, insights, settings and learners' data rights, end to end on the loopback Discord."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord, FakeDiscordError

SLOW = 60


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as made:
        made.manager = made.add_user("prof", roles=[made.add_role("Staff", MEMBER_PERMISSIONS | MANAGE_GUILD)])
        yield made
        assert not made.unexpected, [f"{r.method} {r.path}" for r in made.unexpected]


@pytest.fixture
def services(services_factory, tmp_path):
    return services_factory(tmp_path, data_dir=tmp_path / "data")


def bot_running(fake, services, **settings):
    return running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0, **settings)


async def ask(fake: FakeDiscord, question: str, user=None) -> dict:
    sent = await fake.send_message(fake.slides_id, question, author=user)
    return await fake.wait_for_bot_message(channel_id=fake.slides_id, after=sent["id"], timeout=SLOW)


def vote_ids(message: dict) -> list[str]:
    return [
        c["custom_id"] for row in message["components"] for c in row["components"] if c["custom_id"].startswith("vote:")
    ]


async def test_votes_are_stored_one_per_learner_and_changed(fake, services):
    async with bot_running(fake, services):
        reply = await ask(fake, "what is a transformer?")
        up, down = vote_ids(reply)
        question_id = int(up.rsplit(":", 1)[1])
        assert up == f"vote:up:{question_id}" and down == f"vote:down:{question_id}"
        assert services.feedback.question(question_id) == (str(fake.guild_id), "what is a transformer?", "answer")

        clicked = await fake.click_button(int(reply["id"]), up)
        assert await clicked.wait_response() == 4 and clicked.callback_data["flags"] & 64
        assert "helped" in clicked.callback_data["content"]
        assert services.feedback.votes_of(question_id) == {fake.user["id"]: 1}
        clicked = await fake.click_button(int(reply["id"]), down)
        await clicked.wait_response()
        assert services.feedback.votes_of(question_id) == {fake.user["id"]: -1}, "changed, still one vote"
        clicked = await fake.click_button(int(reply["id"]), down)
        await clicked.wait_response()
        assert "already" in clicked.callback_data["content"]
        await (await fake.click_button(int(reply["id"]), up, user=fake.teacher)).wait_response()
        assert services.feedback.votes_of(question_id) == {fake.user["id"]: -1, fake.teacher["id"]: 1}
        assert services.feedback.needs_vector(question_id) is None, "voted down: kept for the gaps"

        declined = await ask(fake, "how long should I boil an egg?")
        assert not declined["components"], "a decline has nothing to vote on"
        assert not fake.violations


async def test_insights_give_a_picture_and_the_question_log_as_csv(fake, services):
    async with bot_running(fake, services):
        for question in ("what is a transformer?", "what is attention?", "how do I bake sourdough bread?"):
            await ask(fake, question)
        with pytest.raises(FakeDiscordError, match="hidden"):
            await fake.invoke_command("insights", user=fake.user)
        interaction = await fake.invoke_command("insights", user=fake.manager)
        await interaction.wait_response(SLOW)
        message = await fake.wait_for_bot_message(
            lambda m: int(m["id"]) == interaction.original_message_id, timeout=SLOW
        )
        assert message["flags"] & 64, "instructors only: private"
        files = {a["filename"]: fake.file(a) for a in message["attachments"]}
        assert files["insights.png"].startswith(b"\x89PNG")
        rows = list(csv.reader(io.StringIO(gzip.decompress(files["question-log.csv.gz"]).decode())))
        assert rows[0][:3] == ["id", "time_utc", "server"] and len(rows) == 4
        assert {row[6] for row in rows[1:]} == {"answer", "decline"}
        assert "3** questions" in message["embeds"][0]["description"]
        assert not fake.violations


async def test_forget_me_leaves_no_row_of_that_learner(fake, services):
    async with bot_running(fake, services):
        reply = await ask(fake, "what is a transformer?")
        await (await fake.click_button(int(reply["id"]), vote_ids(reply)[0])).wait_response()
        await (await fake.invoke_command("next")).wait_response()
        await ask(fake, "what is attention?", user=fake.teacher)
        learner = fake.user["id"]
        assert services.holds(learner) >= 3

        interaction = await fake.invoke_command("forget-me")
        assert await interaction.wait_response() == 4 and interaction.callback_data["flags"] & 64
        message = await fake.wait_for_bot_message(lambda m: int(m["id"]) == interaction.original_message_id)
        confirmed = await fake.click_button(int(message["id"]), "forget-me:confirm")
        assert await confirmed.wait_response(SLOW) == 7
        assert "Done" in confirmed.callback_data["content"]
        assert services.holds(learner) == 0
        assert services.holds(fake.teacher["id"]) > 0, "other learners keep theirs"
        assert not fake.violations


async def test_config_sets_the_instructor_role_and_answer_threads(fake, services):
    async with bot_running(fake, services):
        fake.grant_command("insights", fake.teacher_role_id)
        refused = await fake.invoke_command("insights", user=fake.teacher)
        await refused.wait_response()
        assert "instructors" in refused.callback_data["content"]
        with pytest.raises(FakeDiscordError, match="hidden"):
            await fake.invoke_command("config set", {"name": "instructor_role", "value": "x"}, user=fake.teacher)

        role = f"<@&{fake.teacher_role_id}>"
        done = await fake.invoke_command("config set", {"name": "instructor_role", "value": role}, user=fake.manager)
        await done.wait_response()
        assert role in done.callback_data["embeds"][0]["description"]
        allowed = await fake.invoke_command("insights", user=fake.teacher)
        await allowed.wait_response(SLOW)
        assert allowed.callback_type == 5, "the instructor role may see insights"

        threads = await fake.invoke_command(
            "config set", {"name": "answer_in_threads", "value": "true"}, user=fake.manager
        )
        await threads.wait_response()
        sent = await fake.send_message(fake.slides_id, "what is a transformer?")
        reply = await fake.wait_for_bot_message(lambda m: int(m["channel_id"]) != fake.slides_id, after=sent["id"])
        assert fake.channels[int(reply["channel_id"])]["type"] == 11, "answered in a thread of its own"
        assert "Slide 8" in reply["content"]
        shown = await fake.invoke_command("config show", user=fake.manager)
        await shown.wait_response()
        assert "**answer_in_threads**: yes" in shown.callback_data["embeds"][0]["description"]
        assert not fake.violations
