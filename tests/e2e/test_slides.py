"""/next, /prev, /slide, /deck, /quiz and the slide buttons end to end: the real bot, deck and
judge (embedding model), a Discord on loopback.

A learner's place surviving a SIGKILL in the middle of a write is covered by the domain tests
(``tests/test_learners.py::test_sigkill_during_writes_leaves_a_consistent_database``), and steps from
separate processes by ``tests/test_places_cli.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from bot.domain.quiz import questions_for
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import EPHEMERAL, FakeDiscord

TOKEN_VS_EMBEDDING = "What is the difference between a token and an embedding?"
PARAPHRASE = (
    "A token is a chunk of text with an ID number in the vocabulary; its embedding is the long list of "
    "numbers the model uses to represent what that chunk means."
)
# Learners' places and quiz scores: every test here runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_backends

WRONG = "Tokens are what you pay the GPU company with, like a cryptocurrency."


@pytest.fixture
def services(services_factory, tmp_path):
    return services_factory(tmp_path)


def scope(fake: FakeDiscord) -> str:
    return f"guild:{fake.guild_id}"


def uid(user: dict[str, Any]) -> str:
    return str(user["id"])


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def title(data: dict[str, Any]) -> str:
    return data["embeds"][0]["title"]


def owned_by(fake: FakeDiscord, message_id: int, user: dict[str, Any]) -> None:
    """Give a message the ``interaction_metadata`` Discord puts on every interaction response (who
    triggered it); the loopback fake leaves it out, and the bot reads it to tell whose message it is."""
    fake.messages[message_id]["interaction_metadata"] = {
        "id": str(fake._snowflake()),
        "type": 2,
        "user": user,
        "authorizing_integration_owners": {"0": str(fake.guild_id)},
    }


async def command(fake: FakeDiscord, name: str, options: dict | None = None, **kwargs):
    """Invoke a command; return the interaction once the bot has answered it."""
    interaction = await fake.invoke_command(name, options or {}, **kwargs)
    await interaction.wait_response()
    return interaction


async def test_next_twice_then_prev_with_buttons_and_no_pings(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        first = await command(fake, "next")
        assert first.callback_type == 4, "answered at once: one small SQLite write"
        assert title(first.callback_data).startswith("Slide 1 · What Is Generative AI?")
        assert not first.callback_data.get("flags", 0) & EPHEMERAL, "a slide from a command is public"
        assert first.callback_data["allowed_mentions"]["parse"] == []
        message = fake.messages[first.original_message_id]
        assert custom_ids(message) == ["slides:prev", "slides:next", "slides:faq:1", "slides:quiz:1"]
        embed = message["embeds"][0]
        assert "Overview" in embed["description"] and "1 of 22" in embed["footer"]["text"]
        assert any(f["name"].startswith("Comparison") for f in embed["fields"]), "every section shows"

        second = await command(fake, "next")
        assert title(second.callback_data).startswith("Slide 2 ·")
        back = await command(fake, "prev")
        assert title(back.callback_data).startswith("Slide 1 ·")
        assert services.learners.get(scope(fake), uid(fake.user)) == 1

        in_dm = await command(fake, "next", guild=False)
        assert title(in_dm.callback_data).startswith("Slide 1 ·"), "DMs keep a place of their own"
        assert services.learners.get("dm", uid(fake.user)) == 1
    assert fake.violations == []


async def test_every_slide_fits_discords_limits(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        for slide in services.deck:
            interaction = await command(fake, "slide", {"number-or-title": str(slide.number)})
            assert interaction.callback_type == 4
    assert fake.violations == []


async def test_slide_by_number_and_by_title_with_autocomplete(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        shown = await command(fake, "slide", {"number-or-title": "13"})
        assert title(shown.callback_data) == "Slide 13 · Tokenization, Embeddings and Latent Space"
        assert services.learners.get(scope(fake), uid(fake.user)) == 13

        choices = await fake.autocomplete("slide", {"number-or-title": "tokeniz"}, "number-or-title")
        assert choices == [{"name": "13 · Tokenization, Embeddings and Latent Space", "value": "13"}]
        several = await fake.autocomplete("slide", {"number-or-title": "TOKEN"}, "number-or-title")
        assert [c["value"] for c in several] == ["9", "13"]
        by_number = await fake.autocomplete("slide", {"number-or-title": "1"}, "number-or-title")
        assert [c["value"] for c in by_number[:4]] == ["1", "10", "11", "12"]
        everything = await fake.autocomplete("slide", {"number-or-title": ""}, "number-or-title")
        assert len(everything) == 22

        picked = await command(fake, "slide", {"number-or-title": "retrieval"})
        assert title(picked.callback_data).startswith("Slide 14 · Retrieval-Augmented Generation")
        assert services.learners.get(scope(fake), uid(fake.user)) == 14
    assert fake.violations == []


async def test_missing_slide_answers_privately_with_the_valid_range(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        missing = await command(fake, "slide", {"number-or-title": "99"})
        assert missing.callback_data["flags"] & EPHEMERAL
        assert missing.callback_data["content"] == "There is no slide 99; slides are 1-22."
        unknown = await command(fake, "slide", {"number-or-title": "@everyone zebras"})
        assert unknown.callback_data["flags"] & EPHEMERAL
        assert "slides are 1-22" in unknown.callback_data["content"]
        assert unknown.callback_data["allowed_mentions"]["parse"] == []
        assert services.learners.get(scope(fake), uid(fake.user)) is None, "a failed jump moves nobody"
    assert fake.violations == []


async def test_deck_marks_the_learners_place(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        before = await command(fake, "deck")
        assert "haven't started" in before.callback_data["embeds"][0]["description"]
        await command(fake, "slide", {"number-or-title": "13"})
        contents = await command(fake, "deck")
        assert contents.callback_data["flags"] & EPHEMERAL
        lines = contents.callback_data["embeds"][0]["description"].splitlines()
        marked = [line for line in lines if line.startswith("▶")]
        assert marked == ["▶ **`13` Tokenization, Embeddings and Latent Space**"]
        assert sum(line.startswith("`") for line in lines) == 21
    assert fake.violations == []


async def test_faq_button_shows_the_slides_faq_privately(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        shown = await command(fake, "slide", {"number-or-title": "13"})
        pressed = await fake.click_button(shown.original_message_id, "slides:faq:13", user=fake.teacher)
        assert await pressed.wait_response() == 4
        assert pressed.callback_data["flags"] & EPHEMERAL
        embed = pressed.callback_data["embeds"][0]
        assert embed["title"] == "Slide 13 · FAQ"
        assert TOKEN_VS_EMBEDDING in [f["name"] for f in embed["fields"]]
        assert services.learners.get(scope(fake), uid(fake.teacher)) is None, "reading the FAQ moves nobody"
    assert fake.violations == []


async def open_quiz(fake: FakeDiscord, message_id: int, number: int, user=None):
    pressed = await fake.click_button(message_id, f"slides:quiz:{number}", user=user)
    assert await pressed.wait_response() == 9, "Quiz me opens a modal"
    return pressed.callback_data


def modal_question(modal: dict[str, Any]) -> str:
    label = modal["components"][0]
    assert label["type"] == 18 and label["component"]["style"] == 2, "a paragraph input in a label"
    assert (label["component"]["min_length"], label["component"]["max_length"]) == (1, 1000)
    return label.get("description") or label["label"]


async def test_quiz_marks_a_paraphrase_right_and_a_wrong_answer_not_yet(fake_discord, services, monkeypatch):
    fake = fake_discord
    async with running_bot(fake, services):
        # Ask the FAQ question the paraphrase answers (the bot picks one at random). The module the
        # bot loaded is the one in sys.modules (load_extension executes the file afresh).
        monkeypatch.setattr(
            sys.modules["bot.exts.slides"],
            "pick_question",
            lambda slide, rng=None, exclude=(): next(
                q for q in questions_for(slide) if q.question == TOKEN_VS_EMBEDDING
            ),
        )
        shown = await command(fake, "slide", {"number-or-title": "13"})
        results = []
        for answer in (PARAPHRASE, WRONG):
            modal = await open_quiz(fake, shown.original_message_id, 13)
            assert modal_question(modal) == TOKEN_VS_EMBEDDING
            assert modal["title"] == "Quiz · Slide 13"
            submitted = await fake.submit_modal(modal["custom_id"], {"answer": answer})
            assert await submitted.wait_response() == 5, "deferred: judging runs the embedding model"
            result = await fake.wait_for_bot_message(lambda m, ix=submitted: int(m["id"]) == ix.original_message_id)
            assert result["flags"] & EPHEMERAL, "a learner's verdict is private"
            results.append(result)

        right, wrong = (r["embeds"][0] for r in results)
        assert right["title"] in ("✅ Right · Slide 13", "🟡 Partly right · Slide 13")
        assert wrong["title"] == "❌ Not yet · Slide 13"
        fields = {f["name"]: f["value"] for f in wrong["fields"]}
        assert fields["Your answer"] == WRONG
        assert fields["The slide's answer"].startswith('A token is a piece of text with an ID number, such as "believ"')
        assert fields["Revisit"] == "Slide 13 · Tokenization, Embeddings and Latent Space"
        assert custom_ids(results[1]) == ["slides:goto:13", "slides:quiz:13"]

        right_count = int(right["title"].startswith("✅"))
        assert services.learners.scores(scope(fake), uid(fake.user)) == {
            13: {"asked": 2, "right": right_count, "partly": 1 - right_count}
        }
        revisit = await fake.click_button(int(results[1]["id"]), "slides:goto:13")
        assert await revisit.wait_response() == 4
        assert title(revisit.callback_data).startswith("Slide 13 ·")
    assert fake.violations == []


async def test_quiz_command_asks_about_the_current_slide_and_varies_the_question(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services):
        not_started = await command(fake, "quiz")
        assert not_started.callback_data["flags"] & EPHEMERAL
        assert "/next" in not_started.callback_data["content"]

        await command(fake, "slide", {"number-or-title": "13"})
        asked = []
        for _ in range(2):
            opened = await command(fake, "quiz")
            assert opened.callback_type == 9
            assert opened.callback_data["custom_id"].startswith("slides:answer:13:")
            asked.append(modal_question(opened.callback_data))
        texts = {q.question for q in questions_for(services.deck.get(13))}
        assert set(asked) <= texts
        assert asked[0] != asked[1], "the last question is not asked again straight away"
    assert fake.violations == []


async def test_two_learners_on_one_message_each_move_their_own_place(fake_discord, services):
    fake = fake_discord
    alice, teacher = fake.user, fake.teacher
    async with running_bot(fake, services):
        shown = await command(fake, "slide", {"number-or-title": "10"}, user=alice)
        message_id = shown.original_message_id
        owned_by(fake, message_id, alice)

        # The teacher's Next on alice's message: the teacher's own first slide, privately.
        theirs = await fake.click_button(message_id, "slides:next", user=teacher)
        assert await theirs.wait_response() == 4
        assert theirs.callback_data["flags"] & EPHEMERAL
        assert title(theirs.callback_data).startswith("Slide 1 ·")

        # Alice's Next on her own message: the message itself moves on to her next slide.
        hers = await fake.click_button(message_id, "slides:next", user=alice)
        assert await hers.wait_response() == 7, "her own message is updated in place"
        assert title(fake.messages[message_id]) == "Slide 11 · Prompting: Talking to Models"

        again = await fake.click_button(message_id, "slides:next", user=teacher)
        assert await again.wait_response() == 4
        assert title(again.callback_data).startswith("Slide 2 ·")
        # On the teacher's own (ephemeral) copy, Next updates that copy.
        private = await fake.click_button(again.original_message_id, "slides:next", user=teacher)
        assert await private.wait_response() == 7
        assert title(fake.messages[again.original_message_id]).startswith("Slide 3 ·")
        assert title(fake.messages[message_id]).startswith("Slide 11 ·"), "alice's message is untouched"

        assert services.learners.get(scope(fake), uid(alice)) == 11
        assert services.learners.get(scope(fake), uid(teacher)) == 3
    assert fake.violations == []


async def test_buttons_and_an_open_quiz_keep_working_after_a_restart(fake_discord, services_factory, tmp_path):
    fake = fake_discord
    first = services_factory(tmp_path)
    async with running_bot(fake, first):
        shown = await command(fake, "next")
        message_id = shown.original_message_id
        owned_by(fake, message_id, fake.user)
        pressed = await fake.click_button(message_id, "slides:next")
        assert await pressed.wait_response() == 7
        modal = await open_quiz(fake, message_id, 2)
    # A new process: a new bot and new services on the same places file; the old messages remain.
    second = services_factory(tmp_path)
    async with running_bot(fake, second, sync=False):
        pressed = await fake.click_button(message_id, "slides:next")
        assert await pressed.wait_response() == 7
        assert title(fake.messages[message_id]).startswith("Slide 3 ·")
        assert second.learners.get(scope(fake), uid(fake.user)) == 3

        submitted = await fake.submit_modal(modal["custom_id"], {"answer": "I don't know"})
        assert await submitted.wait_response() == 5
        result = await fake.wait_for_bot_message(lambda m: int(m["id"]) == submitted.original_message_id)
        assert result["embeds"][0]["title"] == "❌ Not yet · Slide 2"
        assert second.learners.scores(scope(fake), uid(fake.user)) == {2: {"asked": 1, "right": 0, "partly": 0}}
    assert fake.violations == []
