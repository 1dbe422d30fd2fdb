"""Every command that shows slide content takes it from the caller's own server's course: /similar,
/pipeline, a course question asked of /generate, the slide buttons (Slide N, FAQ, Quiz me), /slide
and /quiz. A server without a course of its own keeps the default deck."""

from __future__ import annotations

import pytest

from tests.course_files import BAKING_PAGES, make_pdf
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import FakeDiscord

SLOW = 120  # seconds: indexing an upload runs the embedding model on a shared machine
EPHEMERAL = 64


@pytest.fixture
def services(services_factory, tmp_path):
    made = services_factory(tmp_path, data_dir=tmp_path / "data")  # course files in the test's own folder
    yield made
    for guild in made.courses.files.guilds():
        made.courses.reset(guild)


class FakeGeneration:
    """What /pipeline uses of the generation service (its step 4), without loading a model."""

    async def predict_next(self, text: str, top_k: int = 10) -> list[tuple[str, float]]:
        return [("·bread", 0.5)][:top_k]


async def reply(fake: FakeDiscord, interaction) -> dict:
    """The bot's message answering a (deferred) command."""
    await interaction.wait_response(SLOW)
    return await fake.wait_for_bot_message(lambda m: int(m["id"]) == interaction.original_message_id, timeout=SLOW)


async def command(fake: FakeDiscord, channel: int, name: str, options: dict, user=None) -> dict:
    return await reply(fake, await fake.invoke_command(name, options, channel_id=channel, user=user))


async def press(fake: FakeDiscord, message: dict, custom_id: str) -> dict:
    """Press a button under ``message``; the private reply's payload (a response or a followup)."""
    pressed = await fake.click_button(int(message["id"]), custom_id)
    kind = await pressed.wait_response(SLOW)
    if kind in (4, 9):  # a message, or a modal
        return pressed.callback_data
    return await fake.wait_for_bot_message(lambda m: m.get("interaction_metadata") is not None, timeout=SLOW)


async def test_every_slide_command_uses_the_callers_servers_course(two_servers, services):
    fake = two_servers
    services.generation = lambda: FakeGeneration()
    here, there = fake.general_id, fake.other_general_id
    async with running_bot(fake, services, question_cooldown_s=0, generation_cooldown_s=0) as bot:
        assert bot.get_cog("Course").follow_default_deck.is_running(), "a re-ingested default deck is followed"
        upload = await command(
            fake, here, "course upload", {"file": ("baking.pdf", make_pdf(BAKING_PAGES))}, fake.manager
        )
        assert "Added **baking.pdf**" in upload["content"]

        # /similar: the nearest slides are this server's; elsewhere the default deck's.
        text = {"text": "feeding flour and water to keep wild yeast alive"}
        nearest = (await command(fake, here, "similar", text))["embeds"][0]["description"]
        assert nearest.startswith("**1.** Slide 1 · Sourdough Starter"), nearest
        elsewhere = (await command(fake, there, "similar", text))["embeds"][0]["description"]
        assert "Sourdough" not in elsewhere and "Kneading" not in elsewhere

        # /similar's map is drawn over this server's passages (it attaches a picture).
        pictured = await command(fake, here, "similar", {**text, "picture": True})
        assert pictured["embeds"][0]["description"].startswith("**1.** Slide 1 · Sourdough Starter")
        assert pictured["attachments"], "the map"

        # /pipeline: step 3's nearest ideas come from this server's course.
        fields = (await command(fake, here, "pipeline", {"text": "knead the dough until smooth"}))["embeds"][0][
            "fields"
        ]
        assert "Slide 2 · Kneading Dough" in fields[2]["value"], fields[2]["value"]
        fields = (await command(fake, there, "pipeline", {"text": "knead the dough until smooth"}))["embeds"][0][
            "fields"
        ]
        assert "Kneading Dough" not in fields[2]["value"]

        # /generate with a course question: answered from this server's slides, not generated.
        question = {"kind": "story", "topic": "what is a sourdough starter?"}
        answered = await command(fake, here, "generate", question)
        assert "wild yeast" in answered["content"] and "Slide 1" in answered["content"], answered["content"]
        declined = await command(fake, there, "generate", question)
        assert "wild yeast" not in declined["content"] and "Slide" not in declined["content"]

        # The Slide 1 button under that answer shows this server's slide 1.
        shown = await press(fake, answered, "slide:show:1")
        assert shown["flags"] & EPHEMERAL
        assert shown["embeds"][0]["title"] == "Slide 1 · Sourdough Starter"

        # /slide 1, then its FAQ button and Quiz me: this server's slide; the other server's is the default one.
        slide = await command(fake, here, "slide", {"number-or-title": "1"})
        assert slide["embeds"][0]["title"].startswith("Slide 1 · Sourdough Starter")
        faq = await press(fake, slide, "slides:faq:1")
        assert [f["name"] for f in faq["embeds"][0]["fields"]] == ["Why does my starter smell sour?"]
        modal = await press(fake, slide, "slides:quiz:1")
        assert modal["title"] == "Quiz · Slide 1"
        assert "starter" in str(modal["components"]).lower()

        # /next from the start and /quiz on it: this server's first slide.
        first = await command(fake, here, "next", {}, fake.manager)
        assert first["embeds"][0]["title"].startswith("Slide 1 · Sourdough Starter")
        quiz = await fake.invoke_command("quiz", channel_id=here, user=fake.manager)
        assert await quiz.wait_response(SLOW) == 9 and quiz.callback_data["title"] == "Quiz · Slide 1"
        assert "starter smell sour" in str(quiz.callback_data["components"]), "the course's own question"
        first = await command(fake, there, "next", {}, fake.manager)
        assert first["embeds"][0]["title"].startswith("Slide 1 · What Is Generative AI?")

        other = await command(fake, there, "slide", {"number-or-title": "1"})
        assert other["embeds"][0]["title"].startswith("Slide 1 · What Is Generative AI?")
        faq = await press(fake, other, "slides:faq:1")
        assert "starter" not in str(faq["embeds"][0]).lower()
        assert not fake.violations
