"""A course per server, end to end: uploads through ``/course``, answers only in their own server,
broken files reported with nothing lost, and only instructors may change a course."""

from __future__ import annotations

import pytest

from tests.course_files import BAKING_PAGES, ESPRESSO_SLIDES, make_pdf, make_pptx
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import MANAGE_GUILD, FakeDiscord, FakeDiscordError

SLOW = 120  # seconds: indexing an upload runs the embedding model on a shared machine


@pytest.fixture
def services(services_factory, tmp_path):
    made = services_factory(tmp_path, data_dir=tmp_path / "data")  # course files in the test's own folder
    yield made
    for guild in made.courses.files.guilds():
        made.courses.reset(guild)


async def private_reply(fake: FakeDiscord, interaction) -> str:
    """The text of the bot's (deferred, private) answer to ``interaction``."""
    await interaction.wait_response(SLOW)
    message = await fake.wait_for_bot_message(lambda m: int(m["id"]) == interaction.original_message_id, timeout=SLOW)
    assert message["flags"] & 64, "instructors' replies are private"
    return message["content"]


async def upload(fake: FakeDiscord, name: str, data: bytes, user=None) -> str:
    interaction = await fake.invoke_command("course upload", {"file": (name, data)}, user=user or fake.manager)
    return await private_reply(fake, interaction)


async def ask(fake: FakeDiscord, channel_id: int, question: str) -> dict:
    sent = await fake.send_message(channel_id, question, mentions_bot=True)
    return await fake.wait_for_bot_message(channel_id=channel_id, after=sent["id"], timeout=SLOW)


async def test_a_servers_pdf_and_pptx_answer_there_and_not_in_another_server(two_servers, services):
    fake = two_servers
    async with running_bot(fake, services, question_cooldown_s=0):
        text = await upload(fake, "baking.pdf", make_pdf(BAKING_PAGES))
        assert "Added **baking.pdf**" in text and "2 slides from 1 file" in text
        text = await upload(fake, "coffee.pptx", make_pptx(ESPRESSO_SLIDES))
        assert "4 slides from 2 files" in text

        here = await ask(fake, fake.general_id, "what is a sourdough starter?")
        assert "wild yeast" in here["content"] and "Slide 1" in here["content"]
        coffee = await ask(fake, fake.general_id, "why does my espresso taste sour?")
        assert "grind the beans finer" in coffee["content"] and "Slide 3" in coffee["content"]

        elsewhere = await ask(fake, fake.other_general_id, "what is a sourdough starter?")
        assert "don't cover that" in elsewhere["content"]
        default = await ask(fake, fake.other_general_id, "what is an embedding?")
        assert "Slide 13" in default["content"], "the other server keeps the default deck"

        listing = await private_reply(fake, await fake.invoke_command("course list", user=fake.manager))
        assert "baking.pdf" in listing and "coffee.pptx" in listing
        assert not fake.violations


async def test_a_broken_upload_is_reported_and_nothing_is_lost(two_servers, services):
    fake = two_servers
    async with running_bot(fake, services, question_cooldown_s=0):
        await upload(fake, "baking.pdf", make_pdf(BAKING_PAGES))
        text = await upload(fake, "week2.pptx", b"PK\x03\x04 not really a presentation")
        assert "**week2.pptx** could not be added, so nothing changed" in text
        assert "not a readable PowerPoint file" in text
        assert "2 slides from 1 file" in text
        here = await ask(fake, fake.general_id, "how long should I knead dough?")
        assert "ten minutes" in here["content"]

        removed = await private_reply(
            fake, await fake.invoke_command("course remove", {"file": "baking.pdf"}, user=fake.manager)
        )
        assert "default deck" in removed
        back = await ask(fake, fake.general_id, "what is an embedding?")
        assert "Slide 13" in back["content"]
        assert not fake.violations


async def test_only_instructors_may_change_a_course(two_servers, services):
    fake = two_servers
    async with running_bot(fake, services, question_cooldown_s=0):
        # Discord hides the commands from members without Manage Server...
        with pytest.raises(FakeDiscordError, match="hidden"):
            await fake.invoke_command("course upload", {"file": ("a.md", b"x")}, user=fake.user)
        schema = next(c for c in fake.commands[None] if c["name"] == "course")
        assert str(schema["default_member_permissions"]) == str(MANAGE_GUILD)
        # ...and when a server lets a role use them, the bot still checks who is asking.
        fake.grant_command("course", fake.teacher_role_id)
        interaction = await fake.invoke_command(
            "course upload", {"file": ("baking.pdf", make_pdf(BAKING_PAGES))}, user=fake.teacher
        )
        assert await interaction.wait_response() == 4
        assert "Only this server's instructors" in interaction.callback_data["content"]
        assert interaction.callback_data["flags"] & 64
        assert services.courses.files.files(fake.guild_id) == [], "nothing was stored"
