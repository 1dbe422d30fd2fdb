"""Discord's 3-second window under load, end to end: the real bot on a loopback Discord that
refuses a first response later than 3 s after the interaction ("Unknown interaction", 10062).

* Slow work (questions, ``/similar``, generation) can fill every worker of asyncio's default
  executor for seconds; ``/next`` and ``/quiz`` still answer at once, as before, because their
  database steps run on the storage workers (``bot.plumbing.storage_call``).
* A step that itself takes over a second (a busy database) is deferred first
  (``bot.plumbing.in_time``), with the privacy the reply has, and the reply follows: a public
  slide for ``/next``, the pressed message edited for Next, and for ``/quiz`` (a modal can only be
  a first response) the question privately with an Answer button that opens the modal.

The slow database is a gate in front of the real store: it opens once the test has seen the
deferral, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import running_bot
from tests.e2e.fake_discord import EPHEMERAL, FakeDiscord

SMALL_MACHINE_WORKERS = 2  # asyncio's default executor has cpu + 4 workers; a busy one has none free
GATE_TIMEOUT_S = 30.0  # a bound on the gate, so a test that fails does not hang


@pytest.fixture
def services(services_factory, tmp_path):
    return services_factory(tmp_path)


@contextlib.asynccontextmanager
async def busy_default_executor() -> AsyncIterator[None]:
    """Every worker of the loop's default executor (what ``off_loop`` runs on) held by slow work
    until the block ends."""
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(SMALL_MACHINE_WORKERS, thread_name_prefix="busy-default")
    loop.set_default_executor(executor)
    release = threading.Event()
    started = [loop.create_future() for _ in range(SMALL_MACHINE_WORKERS)]

    def slow_work(running: asyncio.Future) -> None:
        loop.call_soon_threadsafe(running.set_result, None)
        release.wait(GATE_TIMEOUT_S)

    jobs = [loop.run_in_executor(None, slow_work, running) for running in started]
    await asyncio.gather(*started)  # every worker is busy now
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*jobs)


class Gate:
    """Holds a store method's callers until opened (then calls the real method)."""

    def __init__(self, method) -> None:
        self.method = method
        self.open = threading.Event()

    def __call__(self, *args, **kwargs):
        self.open.wait(GATE_TIMEOUT_S)
        return self.method(*args, **kwargs)


def title(message: dict) -> str:
    return message["embeds"][0]["title"]


def custom_ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def filled(fake: FakeDiscord, message_id: int) -> dict:
    """The message once the bot has filled (or edited) it."""
    return await fake.wait_for_bot_message(lambda m: int(m["id"]) == message_id)


async def test_next_and_quiz_answer_at_once_while_every_model_worker_is_busy(fake_discord, services):
    fake = fake_discord
    async with running_bot(fake, services), busy_default_executor():
        shown = await fake.invoke_command("next", {})
        assert await shown.wait_response() == 4, "a plain response: the place is read on the storage workers"
        assert title(shown.callback_data).startswith("Slide 1 ·")
        assert not shown.callback_data.get("flags", 0) & EPHEMERAL

        quiz = await fake.invoke_command("quiz", {})
        assert await quiz.wait_response() == 9, "the quiz modal, as the first response"
        assert quiz.callback_data["custom_id"].startswith("slides:answer:1:")
    assert fake.violations == []


async def test_a_slow_next_is_deferred_publicly_and_the_slide_follows(fake_discord, services, monkeypatch):
    fake = fake_discord
    async with running_bot(fake, services):
        gate = Gate(services.learners.step)
        monkeypatch.setattr(services.learners, "step", gate)
        shown = await fake.invoke_command("next", {})
        try:
            assert await shown.wait_response() == 5, "deferred within Discord's window"
            assert not shown.callback_data.get("flags", 0) & EPHEMERAL, "public, as the slide will be"
        finally:
            gate.open.set()
        slide = await filled(fake, shown.original_message_id)
        assert title(slide).startswith("Slide 1 ·")
        assert not slide["flags"] & EPHEMERAL
        assert custom_ids(slide) == ["slides:prev", "slides:next", "slides:faq:1", "slides:quiz:1"]
    assert fake.violations == []


async def test_a_slow_next_button_is_a_deferred_update_then_the_edit(fake_discord, services, monkeypatch):
    fake = fake_discord
    async with running_bot(fake, services):
        deck = await fake.invoke_command("next", {})  # slide 1, the learner's own message
        await deck.wait_response()
        fake.messages[deck.original_message_id]["interaction_metadata"] = {
            "id": str(deck.id),
            "type": 2,
            "user": fake.user,
            "authorizing_integration_owners": {"0": str(fake.guild_id)},
        }
        gate = Gate(services.learners.step)
        monkeypatch.setattr(services.learners, "step", gate)
        pressed = await fake.click_button(deck.original_message_id, "slides:next")
        try:
            assert await pressed.wait_response() == 6, "a deferred update: nothing shown meanwhile"
        finally:
            gate.open.set()
        await fake.wait_for_bot_message(
            lambda m: int(m["id"]) == deck.original_message_id and title(m).startswith("Slide 2 ·")
        )
        assert pressed.followup_message_ids == [], "the pressed message itself shows the next slide"
    assert fake.violations == []


async def test_a_slow_quiz_asks_privately_with_an_answer_button(fake_discord, services, monkeypatch):
    fake = fake_discord
    async with running_bot(fake, services):
        await (await fake.invoke_command("next", {})).wait_response()
        gate = Gate(services.learners.current)
        monkeypatch.setattr(services.learners, "current", gate)
        quiz = await fake.invoke_command("quiz", {})
        try:
            assert await quiz.wait_response() == 5, "deferred: too late for a modal"
            assert quiz.callback_data["flags"] & EPHEMERAL, "private, as the modal would have been"
        finally:
            gate.open.set()
        question = await filled(fake, quiz.original_message_id)
        assert question["flags"] & EPHEMERAL
        assert title(question).startswith("Quiz · Slide 1 ·")
        (answer,) = custom_ids(question)
        assert answer.startswith("slides:question:1:")

        pressed = await fake.click_button(quiz.original_message_id, answer)
        assert await pressed.wait_response() == 9, "Answer opens the modal for that very question"
        assert pressed.callback_data["custom_id"] == answer.replace("slides:question:", "slides:answer:")
    assert fake.violations == []
