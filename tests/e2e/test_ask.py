"""Questions end to end: the real bot, the real deck and models, a Discord on loopback."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import running_bot


@pytest.fixture
def services(services_factory, tmp_path):
    return services_factory(tmp_path)


async def test_question_in_an_answer_channel_is_answered_with_citations_and_buttons(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        sent = await fake.send_message(fake.slides_id, "whats the difference between a token and an embedding")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert reply["message_reference"]["message_id"] == sent["id"]
        assert "Slide 13" in reply["content"]
        buttons = [c for row in reply["components"] for c in row["components"]]
        assert buttons[0]["custom_id"] == "slide:show:13"
        typing = [r for r in fake.requests if r.path.endswith("/typing")]
        assert typing, "a typing indicator is shown while the bot works"
        request = await fake.wait_for_request(method="POST", path=f"/channels/{fake.slides_id}/messages")
        assert request.json["allowed_mentions"]["parse"] == []
        assert request.json["allowed_mentions"]["replied_user"] is False


async def test_slide_button_shows_the_slide_to_whoever_presses_it(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.slides_id, "what does temperature do when sampling?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        custom_id = reply["components"][0]["components"][0]["custom_id"]
        number = int(custom_id.rsplit(":", 1)[1])
        interaction = await fake.click_button(int(reply["id"]), custom_id, user=fake.teacher)
        assert await interaction.wait_response() == 4
        assert interaction.callback_data["flags"] & 64, "ephemeral: only the presser sees it"
        assert interaction.callback_data["embeds"][0]["title"].startswith(f"Slide {number} ·")


async def test_mention_elsewhere_is_answered_and_other_channels_are_ignored(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.general_id, "what is lora?")  # not an answer channel, no mention
        await fake.send_message(fake.general_id, "what is lora?", mentions_bot=True)
        reply = await fake.wait_for_bot_message(channel_id=fake.general_id)
        assert "LoRA" in reply["content"]
        assert len(fake.bot_messages(fake.general_id)) == 1, "only the mention was answered"


async def test_direct_message_is_answered(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        sent = await fake.send_message(0, "why do chatbots hallucinate?", dm=True)
        reply = await fake.wait_for_bot_message(channel_id=int(sent["channel_id"]))
        assert "Slide 18" in reply["content"]


async def test_other_bots_are_ignored(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.slides_id, "what is attention?", bot_author=True)
        await fake.send_message(fake.slides_id, "what is attention?")
        await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert len(fake.bot_messages(fake.slides_id)) == 1


async def test_off_topic_question_is_declined_plainly(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.slides_id, "how long should I boil an egg?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert "don't cover that" in reply["content"]
        assert "/deck" in reply["content"], "the decline points to the contents"
        assert not reply["components"], "nothing to cite, nothing to follow up"


async def test_everyone_in_a_question_pings_nobody(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.invoke_command("ask", {"question": "@everyone what is a diffusion model?"})
        followup = await fake.wait_for_request(method="POST", path="/webhooks/*")
        mentions = followup.json["allowed_mentions"]
        assert mentions["parse"] == [] and not mentions.get("users") and not mentions.get("roles")
        assert followup.json["content"].startswith("> what is a diffusion model?"), "the question is quoted"
        assert "@everyone" not in followup.json["content"], "and the learner's mentions are never echoed"


async def test_ask_command_is_deferred_then_followed_up(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        interaction = await fake.invoke_command("ask", {"question": "What is RAG?"})
        assert await interaction.wait_response() == 5, "deferred: answering may take over a second"
        message = await fake.wait_for_bot_message()
        assert "Slide 14" in message["content"]


async def test_ask_command_rejects_an_empty_question_as_discord_would(fake_discord, services):
    from tests.e2e.fake_discord import FakeDiscordError

    fake = fake_discord
    async with running_bot(fake, services):
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("ask", {"question": ""})
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("ask", {})


async def test_question_cooldown_says_when_to_try_again(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=60):
        await fake.send_message(fake.slides_id, "what is a token?")
        await fake.wait_for_bot_message(channel_id=fake.slides_id)
        await fake.send_message(fake.slides_id, "and an embedding?")
        second = await fake.wait_for_bot_message(lambda m: "try again" in m["content"], channel_id=fake.slides_id)
        assert "try again in" in second["content"]


async def test_rate_limited_reply_is_retried(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        fake.rate_limit_next("POST", f"/channels/{fake.slides_id}/messages", retry_after=0.05)
        await fake.send_message(fake.slides_id, "how do the generator and discriminator of a GAN compete?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert "Slide 7" in reply["content"]
        statuses = [r.status for r in fake.requests if r.path == f"/channels/{fake.slides_id}/messages"]
        assert statuses[:2] == [429, 200]


async def test_gateway_reconnect_resumes_and_questions_still_arrive(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.reconnect()
        assert fake.resumes == 1
        await fake.send_message(fake.slides_id, "how is a model evaluated?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert "Slide 17" in reply["content"]


async def test_without_the_content_intent_the_bot_sees_only_mentions(fake_discord, services):
    """Discord blanks content the bot may not read: it must stay silent rather than guess."""
    import discord

    from bot.client import TutorBot
    from tests.e2e.conftest import start_client

    fake = fake_discord
    services.settings = services.settings.model_copy(update={"answer_channel_ids": [fake.slides_id]})
    bot = TutorBot(services.settings, services=services)
    bot._connection._intents.message_content = False  # as if the portal's toggle were off
    async with start_client(fake, bot):
        assert not discord.Intents._from_value(fake.intents).message_content
        await fake.send_message(fake.slides_id, "what is a transformer?")
        await fake.send_message(fake.slides_id, "what is a transformer?", mentions_bot=True)
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert "Slide 8" in reply["content"]
        assert len(fake.bot_messages(fake.slides_id)) == 1


async def test_reload_is_refused_without_manage_server(fake_discord, services):
    from tests.e2e.fake_discord import FakeDiscordError

    fake = fake_discord
    async with running_bot(fake, services):
        # Discord hides the command from members without the permission (default_member_permissions)...
        with pytest.raises(FakeDiscordError):
            await fake.invoke_command("reload", {}, user=fake.user)
        # ...and the bot checks again itself.
        schema = next(c for c in fake.commands[None] if c["name"] == "reload")
        assert str(schema["default_member_permissions"]) == "32"


async def test_a_known_error_after_a_public_defer_stays_private(fake_discord, services, monkeypatch):
    """The "thinking…" placeholder is public: it is removed so the error reaches only the asker."""
    from bot.domain.errors import UserError

    def refuse(key, message):
        raise UserError("That question is too strange for me.")

    fake = fake_discord
    async with running_bot(fake, services) as bot:
        monkeypatch.setattr(bot.services.tutoring, "answer", refuse)
        interaction = await fake.invoke_command("ask", {"question": "anything"})
        assert await interaction.wait_response() == 5
        request = await fake.wait_for_request(method="POST", path="/webhooks/*")
        assert request.json["content"] == "That question is too strange for me."
        assert request.json["flags"] & 64
        deleted = [r for r in fake.requests if r.method == "DELETE" and r.path.endswith("/messages/@original")]
        assert deleted, "the public placeholder was removed"


async def test_question_in_a_thread_of_an_answer_channel(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.slides_id, "what is prompt engineering?", thread=True)
        reply = await fake.wait_for_bot_message(channel_id=fake.thread_id)
        assert "Slide 11" in reply["content"]
