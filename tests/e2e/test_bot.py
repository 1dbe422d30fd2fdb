"""The bot as a whole: every extension loads, every command is synced once, and the bot uses
only the intents it needs."""

from __future__ import annotations

import logging

import discord

from tests.e2e.conftest import running_bot

EXPECTED_COMMANDS = {
    "ask",
    "tokenize",
    "similar",
    "pipeline",
    "next",
    "prev",
    "slide",
    "deck",
    "quiz",
    "generate",
    "predict",
    "help",
    "reload",
    "course",
    "config",
    "insights",
    "forget-me",
}


async def test_every_extension_loads_and_every_command_is_synced(fake_discord, services_factory, tmp_path, caplog):
    fake = fake_discord
    with caplog.at_level(logging.ERROR, logger="bot.client"):
        async with running_bot(fake, services_factory(tmp_path)) as bot:
            assert not [r for r in caplog.records if "failed to load" in r.getMessage()], caplog.text
            synced = [command["name"] for command in fake.commands[None]]
            assert sorted(synced) == sorted(EXPECTED_COMMANDS), "each command once, none missing"
            assert all(command["description"] for command in fake.commands[None])
            intents = discord.Intents._from_value(fake.intents)
            assert intents.message_content and not intents.members and not intents.presences
            assert bot.allowed_mentions.everyone is False and bot.allowed_mentions.roles is False


async def test_help_lists_every_command(fake_discord, services_factory, tmp_path):
    fake = fake_discord
    async with running_bot(fake, services_factory(tmp_path)):
        interaction = await fake.invoke_command("help")
        assert await interaction.wait_response() == 4
        fields = {field["name"].split()[0] for field in interaction.callback_data["embeds"][0]["fields"]}
        assert fields == {f"/{name}" for name in EXPECTED_COMMANDS}
        assert not fake.violations


async def test_bot_builds_its_own_services_in_setup_hook(fake_discord, tutor, tmp_path):
    """As `python -m bot run` starts it: models, index and places load in setup_hook, off the loop."""
    from bot.client import TutorBot
    from tests.e2e.conftest import start_client

    fake = fake_discord
    settings = tutor.settings.model_copy(update={"answer_channel_ids": [fake.slides_id]})
    bot = TutorBot(settings)
    async with start_client(fake, bot, timeout=120):
        assert bot.services.deck.numbers == list(range(1, 23))
        await fake.send_message(fake.slides_id, "what is few-shot prompting?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id, timeout=30)
        assert "Slide 11" in reply["content"]
