"""Fuzzing the bot through the loopback Discord with Hypothesis: messages addressed to it, and slash
command options (/ask, /similar, /tokenize, /pipeline, /slide and its autocomplete).

One bot runs for each target; each example is one message or one interaction, and must end with
the bot's answer: no crash (an error logged, or no answer), no ping, nothing Discord refuses (the
fake checks every body against Discord's spec and limits), and no masked link of the learner's
shown back. A fixed, derandomized number of examples per target keeps CI repeatable and short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.similarity import MAX_TEXT_CHARS
from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import LOADING

FUZZ = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# What learners type: words of the course, markdown, mentions, masked and bare links, code, other
# scripts, control characters, and plain noise.
PIECES = st.sampled_from(
    [
        "what is tokenization?",
        "explain attention",
        "temperature",
        "[Verify](https://evil.example/login)",
        "https://evil.example",
        "**bold** __under__ ~~gone~~ ||spoiler||",
        "@everyone",
        "@here",
        "<@123456789012345678>",
        "<@&123456789012345678>",
        "<#123456789012345678>",
        "```py\nprint(1)\n```",
        "> quoted",
        "# heading",
        "slide 13",
        "quiz me",
        "next",
        "嵌入是什么？",
        "¿qué es un token?",
        "\u202e\u200b\ufeff",
        "\x00\x07",
        " ",
        "\n",
    ]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=60)), min_size=1, max_size=8).map(" ".join)
MASKED = re.compile(r"\]\(\s*<?https?://")


def links_in(text: str) -> bool:
    return bool(MASKED.search(text))


@pytest.fixture
def services(services_factory, tmp_path):
    built = services_factory(tmp_path, question_cooldown_s=0, generation_cooldown_s=0)

    def no_generator():  # generation asked for in words says the model is unavailable: quick
        from bot.domain.generation import ModelUnavailable

        raise ModelUnavailable("no generation model in the fuzz tests")

    built.generation = no_generator
    return built


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors():
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


def assert_sent_well(fake, since: int, learner_text: str, errors: list) -> None:
    """Everything the bot sent since request ``since``: no ping, no learner's masked link."""
    assert not errors, [r.getMessage() for r in errors]
    assert not fake.violations, fake.violations
    for request in fake.requests[since:]:
        body = request.json
        if not isinstance(body, dict):
            continue
        body = body.get("data") if isinstance(body.get("data"), dict) and "type" in body else body
        if "content" in body or "embeds" in body:
            assert body.get("allowed_mentions", {}).get("parse") == [], body
            shown = json.dumps([body.get("content"), body.get("embeds")], ensure_ascii=False)
            if links_in(learner_text):
                assert not links_in(json.loads(shown)[0] or "") and "evil.example" not in shown, shown


def drive(check) -> None:
    """Run Hypothesis in a worker thread (its engine is synchronous), each example's ``check`` on
    this event loop, where the bot and the fake run; returns once every example has run."""
    loop = asyncio.get_running_loop()

    def run(**example) -> None:
        asyncio.run_coroutine_threadsafe(check(**example), loop).result(timeout=120)

    return run


async def settled(fake, ix, timeout: float = 60) -> None:  # noqa: ASYNC109
    """The bot has finished with interaction ``ix``: answered, or its deferred reply filled in."""

    def done() -> bool:
        if ix.callback_type in (4, 6, 7, 8, 9):
            return True
        if ix.callback_type == 5:
            original = fake.messages.get(ix.original_message_id or 0)
            return original is None or not original["flags"] & LOADING or bool(ix.followup_message_ids)
        return False

    await fake._wait(done, timeout, f"the bot to finish interaction {ix.id}")


async def test_messages_to_the_bot(fake_discord, services, errors):
    fake = fake_discord
    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):

        async def one(text: str) -> None:
            since = len(fake.requests)
            sent = await fake.send_message(fake.slides_id, text, mentions_bot=True)
            reply = await fake.wait_for_bot_message(
                lambda m: (m.get("message_reference") or {}).get("message_id") == sent["id"], timeout=60
            )
            assert len(reply["content"]) <= 2000
            assert_sent_well(fake, since, text, errors)

        await asyncio.to_thread(FUZZ(given(text=TEXT.filter(lambda t: 0 < len(t) <= 2000))(drive(one))))


OPTIONS = st.one_of(
    st.builds(lambda t: ("ask", {"question": t[:2000]}), TEXT),
    st.builds(lambda t: ("similar", {"text": t[:MAX_TEXT_CHARS]}), TEXT),
    st.builds(lambda a, b: ("similar", {"text": a[:MAX_TEXT_CHARS], "other": b[:MAX_TEXT_CHARS]}), TEXT, TEXT),
    st.builds(lambda t: ("tokenize", {"text": t[:MAX_TEXT_CHARS]}), TEXT),
    st.builds(lambda t: ("pipeline", {"text": t[:MAX_TEXT_CHARS]}), TEXT),
    st.builds(lambda t: ("slide", {"number-or-title": t[:100]}), TEXT),
)


async def test_slash_command_options(fake_discord, services, errors):
    fake = fake_discord
    async with running_bot(fake, services):

        async def one(command) -> None:
            name, options = command
            since = len(fake.requests)
            ix = await fake.invoke_command(name, options)
            await ix.wait_response(30)
            await settled(fake, ix)
            assert_sent_well(fake, since, " ".join(options.values()), errors)

        valid = OPTIONS.filter(lambda c: all(str(v).strip() for v in c[1].values()))
        await asyncio.to_thread(FUZZ(given(command=valid)(drive(one))))


async def test_slide_autocomplete(fake_discord, services, errors):
    fake = fake_discord
    async with running_bot(fake, services):

        async def one(typed: str) -> None:
            choices = await fake.autocomplete("slide", {"number-or-title": typed}, "number-or-title", timeout=30)
            assert len(choices) <= 25
            assert all(1 <= len(c["name"]) <= 100 and 1 <= len(str(c["value"])) <= 100 for c in choices)
            assert not errors and not fake.violations

        typed = st.one_of(TEXT.map(lambda t: t[:100]), st.text(max_size=100))
        await asyncio.to_thread(FUZZ(given(typed=typed)(drive(one))))
