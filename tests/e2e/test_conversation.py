"""Conversations end to end: follow-ups, small talk, requests in words, the buttons under answers
and cooldowns; the real bot, deck and models against a Discord on loopback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.e2e.conftest import running_bot

EPHEMERAL = 1 << 6


@pytest.fixture
def services(services_factory, tmp_path):
    return services_factory(tmp_path)


def custom_ids(message: dict) -> list[str]:
    return [component["custom_id"] for row in message["components"] for component in row["components"]]


def example_of(services, number: int) -> str:
    """The start of a slide's worked example, as the deck has it."""
    return services.deck.get(number).section("Example").text.split(".")[0][:40]


async def test_a_follow_up_in_a_thread_carries_on_from_the_last_answer(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0):
        await fake.send_message(fake.slides_id, "what is a transformer?", thread=True)
        answer = await fake.wait_for_bot_message(channel_id=fake.thread_id)
        assert "Slide 8" in answer["content"]
        ids = custom_ids(answer)
        assert ids[0] == "slide:show:8"
        assert {"ask:simpler:8", "ask:example:8", "slides:quiz:8", "ask:new-topic"} <= set(ids)

        await fake.send_message(fake.slides_id, "give me an example", thread=True)
        example = await fake.wait_for_bot_message(channel_id=fake.thread_id, after=answer["id"])
    assert "Slide 8" in example["content"] and "— Example" in example["content"]
    assert example_of(services, 8) in example["content"], "the slide's own worked example is quoted"
    assert fake.violations == []


async def test_a_discord_reply_to_the_bot_is_addressed_to_it(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0):
        await fake.send_message(fake.slides_id, "what is a transformer?")
        answer = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        await fake.send_message(fake.slides_id, "give me an example", reply_to=int(answer["id"]))
        example = await fake.wait_for_bot_message(channel_id=fake.slides_id, after=answer["id"])
    assert example_of(services, 8) in example["content"]


async def test_buttons_under_an_answer_follow_up_for_whoever_presses_them(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        await fake.send_message(fake.slides_id, "what is a transformer?")
        answer = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        mine = await fake.click_button(int(answer["id"]), "ask:example:8")
        assert await mine.wait_response() == 5, "deferred, then answered in the channel"
        example = await fake.wait_for_bot_message(lambda m: m["id"] == str(mine.original_message_id))
        # Another learner, with no topic of their own: the button's slide is still the one explained.
        theirs = await fake.click_button(int(answer["id"]), "ask:simpler:8", user=fake.teacher)
        await theirs.wait_response()
        simpler = await fake.wait_for_bot_message(lambda m: m["id"] == str(theirs.original_message_id))
    assert not example["flags"] & EPHEMERAL
    assert example_of(services, 8) in example["content"]
    assert "Slide 8" in simpler["content"] and "In Plain Words" in simpler["content"]
    assert fake.violations == []


async def test_new_topic_forgets_the_topic(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0):
        await fake.send_message(fake.slides_id, "what is a transformer?", thread=True)
        answer = await fake.wait_for_bot_message(channel_id=fake.thread_id)
        reset = await fake.click_button(int(answer["id"]), "ask:new-topic")
        assert await reset.wait_response() == 4
        assert reset.callback_data["flags"] & EPHEMERAL and "New topic" in reset.callback_data["content"]

        await fake.send_message(fake.slides_id, "give me an example", thread=True)
        after = await fake.wait_for_bot_message(channel_id=fake.thread_id, after=answer["id"])
    assert example_of(services, 8) not in after["content"], "no longer a follow-up on transformers"


async def test_chatter_is_left_alone_and_small_talk_to_the_bot_is_answered(fake_discord, services, caplog):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        with caplog.at_level(logging.ERROR):
            await fake.send_message(fake.slides_id, "lol same")  # between learners: not for the bot
            thanks = await fake.send_message(fake.slides_id, "thanks!", mentions_bot=True)
            reply = await fake.wait_for_bot_message(channel_id=fake.slides_id)
            hello = await fake.send_message(0, "hi", dm=True, author=fake.teacher)
            greeting = await fake.wait_for_bot_message(channel_id=int(hello["channel_id"]))
        assert reply["message_reference"]["message_id"] == thanks["id"]
        assert len(fake.bot_messages(fake.slides_id)) == 1, "the chatter got no reply"
    assert "welcome" in reply["content"].casefold() and not reply["components"]
    assert "Slide Tutor" in greeting["content"]
    assert not [r for r in caplog.records if "CommandNotFound" in r.getMessage()], caplog.text


async def test_a_question_by_mention_logs_no_error(fake_discord, services, caplog):
    """The mention prefix once made every question the unknown command "what"."""
    fake = fake_discord
    async with running_bot(fake, services):
        with caplog.at_level(logging.ERROR):
            await fake.send_message(fake.general_id, "what is lora?", mentions_bot=True)
            reply = await fake.wait_for_bot_message(channel_id=fake.general_id)
    assert "LoRA" in reply["content"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_small_talk_right_after_an_answer_is_not_told_to_slow_down(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=60):
        await fake.send_message(fake.slides_id, "what is a token?")
        answer = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        await fake.send_message(fake.slides_id, "thanks!", reply_to=int(answer["id"]))
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id, after=answer["id"])
    assert "welcome" in reply["content"].casefold()
    assert "try again" not in reply["content"]


@pytest.mark.both_backends  # touches learners' places and scores
async def test_quiz_me_in_words_asks_a_question_with_an_answer_button(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0):
        await fake.send_message(fake.slides_id, "go to slide 8")
        slide = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        assert slide["embeds"][0]["title"].startswith("Slide 8 ·")
        await fake.send_message(fake.slides_id, "quiz me")
        quiz = await fake.wait_for_bot_message(channel_id=fake.slides_id, after=slide["id"])
        [button] = custom_ids(quiz)
        assert button.startswith("slides:question:8:")
        opened = await fake.click_button(int(quiz["id"]), button)
        assert await opened.wait_response() == 9, "the answer modal opens"
        modal_id = opened.callback_data["custom_id"]
        assert modal_id == button.replace("slides:question:", "slides:answer:"), "for the question shown"
        submitted = await fake.submit_modal(modal_id, {"answer": "tokens look at each other with attention"})
        assert await submitted.wait_response() == 5
        result = await fake.wait_for_bot_message(lambda m: m["id"] == str(submitted.original_message_id))
    assert quiz["embeds"][0]["title"].startswith("Quiz · Slide 8")
    assert quiz["content"], "the tutor's lead-in comes first"
    assert result["embeds"], "the answer is judged"
    assert fake.violations == []


@pytest.mark.both_backends  # touches learners' places and scores
async def test_next_slide_and_the_deck_in_words(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, question_cooldown_s=0):
        await fake.send_message(fake.general_id, "next slide", mentions_bot=True)
        first = await fake.wait_for_bot_message(channel_id=fake.general_id)
        await fake.send_message(0, "show me the deck", dm=True)
        deck = await fake.wait_for_bot_message(lambda m: m["channel_id"] != str(fake.general_id))
    assert first["embeds"][0]["title"].startswith("Slide 1 ·")
    assert "slides:next" in custom_ids(first)
    assert deck["embeds"], "the contents"
    assert fake.violations == []


async def test_spam_from_one_learner_gets_one_answer_and_one_notice(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=60):
        for _ in range(30):
            await fake.send_message(fake.slides_id, "what is a token?")
        await fake.wait_for_bot_message(lambda m: "Slide 13" in m["content"], channel_id=fake.slides_id)
        await asyncio.sleep(0.5)  # anything else the bot was going to send
        sent = fake.bot_messages(fake.slides_id)
    assert len(sent) <= 2, [m["content"][:60] for m in sent]
    assert sum("try again" in m["content"] for m in sent) == 1


async def test_a_masked_link_in_a_question_is_not_echoed(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        await fake.invoke_command("ask", {"question": "what is [a token](https://evil.example/x)? **now**"})
        followup = await fake.wait_for_request(method="POST", path="/webhooks/*")
    content = followup.json["content"]
    assert content.startswith("> what is a token? now\n")
    assert "evil.example" not in content and "](" not in content and "**now**" not in content


async def test_an_unaddressed_follow_up_right_after_an_answer_is_answered(fake_discord, services):
    """In an answer channel, "give me an example" from the learner just answered is for the tutor;
    the same words from a learner the tutor has not talked to are chatter."""
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id], question_cooldown_s=0):
        await fake.send_message(fake.slides_id, "give me an example", author=fake.teacher)  # no conversation
        await fake.send_message(fake.slides_id, "what is a transformer?")
        answer = await fake.wait_for_bot_message(channel_id=fake.slides_id)
        await fake.send_message(fake.slides_id, "give me an example")
        example = await fake.wait_for_bot_message(channel_id=fake.slides_id, after=answer["id"])
        assert len(fake.bot_messages(fake.slides_id)) == 2, "the other learner's words got no reply"
    assert "— Example" in example["content"] and example_of(services, 8) in example["content"]
