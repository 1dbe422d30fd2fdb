"""Fixtures for end-to-end tests: a loopback Discord, and a way to run a real client against it."""

# Bounded waits take a `timeout`; the client's readiness can only be polled (discord.py's own waits
# need the client's loop, which is set only once it has logged in).
# ruff: noqa: ASYNC109, ASYNC110

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from tests.e2e.fake_discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord

SPEC_TALLY = {"bodies": 0, "refused": 0}  # request bodies checked against Discord's spec, this run


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started loopback Discord. A test fails if the bot called a route the fake does not
    implement, or sent anything Discord would refuse (a body outside Discord's OpenAPI
    description or its documented limits, an expired token...); a test that does so on purpose
    clears ``fake_discord.unexpected`` or ``fake_discord.violations``."""
    async with FakeDiscord() as fake:
        yield fake
        SPEC_TALLY["bodies"] += fake.spec_checked
        SPEC_TALLY["refused"] += len(fake.violations)
        unexpected = [f"{r.method} {r.path}" for r in fake.unexpected]
        assert not unexpected, f"the bot called routes the fake Discord does not implement: {unexpected}"
        refused = [f"{v.request.method} {v.request.path}: {v.status} {v.message} {v.problems}" for v in fake.violations]
        assert not refused, f"the bot sent what Discord would refuse: {refused}"


def pytest_terminal_summary(terminalreporter) -> None:
    """How many request bodies the loopback Discord held to Discord's spec, and the known
    discord.py differences it put right (``tests/e2e/fake_discord/openapi/README.md``)."""
    from tests.e2e.fake_discord.spec import KNOWN_EXCEPTIONS

    if SPEC_TALLY["bodies"]:
        known = ", ".join(f"{name} x{count}" for name, count in sorted(KNOWN_EXCEPTIONS.items())) or "none"
        terminalreporter.write_line(
            f"Discord spec: {SPEC_TALLY['bodies']} request bodies validated, {SPEC_TALLY['refused']} refused "
            f"(outside tests that provoke refusals on purpose); known discord.py exceptions put right: {known}"
        )


@contextlib.asynccontextmanager
async def start_client(
    fake: FakeDiscord,
    client: discord.Client,
    token: str = "test-token",
    *,
    timeout: float = 5.0,
    guild_ready_timeout: float = 0.05,
) -> AsyncIterator[discord.Client]:
    """Run ``client`` (a ``discord.Client`` or ``commands.Bot``) against ``fake`` until it is ready.

    Points discord.py's REST base and gateway at the fake for the duration, starts the client as a
    task, waits (bounded) for it to log in and become ready, yields it, then closes it and restores
    discord.py. A client that fails to start re-raises its error here.
    """
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    # The client waits this long after the last GUILD_CREATE before on_ready (2 s by default); the
    # constructor takes it as guild_ready_timeout=, this sets it for a client built without it.
    client._connection.guild_ready_timeout = min(client._connection.guild_ready_timeout, guild_ready_timeout)
    task = asyncio.create_task(client.start(token), name="discord-client")
    try:
        await _until(client.is_ready, task, timeout, "the client to become ready")
        yield client
    finally:
        try:
            await asyncio.wait_for(client.close(), timeout)
            stopped, _ = await asyncio.wait([task], timeout=timeout)
        finally:
            if not task.done():
                task.cancel()
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    # Reached when the test's body succeeded: surface a client that hung or failed meanwhile.
    if not stopped:
        raise TimeoutError(f"the client did not stop within {timeout} s of close()")
    if task.exception() is not None:
        raise task.exception()


async def _until(condition, task: asyncio.Task, timeout: float, what: str) -> None:
    """Poll ``condition`` until true; re-raise the client's error if its task ended first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if task.done():
            task.result()  # raises the client's error, if any
            raise RuntimeError(f"the client stopped before {what}")
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@pytest.fixture
async def two_servers() -> AsyncIterator[FakeDiscord]:
    """The loopback Discord with a second server and a manager ("prof", Manage Server) in both."""
    async with FakeDiscord(second_guild=True) as fake:
        fake.manager = fake.add_user("prof", roles=[fake.add_role("Staff", MEMBER_PERMISSIONS | MANAGE_GUILD)])
        yield fake
        assert not fake.unexpected, [f"{r.method} {r.path}" for r in fake.unexpected]


@pytest.fixture(scope="session")
def session_tokenizers(tutor):
    from bot.domain.tokenizers import Tokenizers

    return Tokenizers(cache_dir=tutor.settings.models_dir)


@pytest.fixture
def services_factory(tutor, session_tokenizers, state_url):
    """Builds the bot's services around the session's real tutor (deck, index, embedding model);
    places live in the test's own state database (``state_url``: SQLite in its folder, or PostgreSQL
    in modules marked ``both_backends``). Every build of one test shares that database."""
    from bot.domain.learners import LearnerStore
    from bot.domain.services import Services

    def build(tmp_path, **overrides):
        settings = tutor.settings.model_copy(update=overrides)
        return Services(settings, tutor, LearnerStore(state_url), session_tokenizers)

    return build


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, services, *, sync: bool = True, **settings) -> AsyncIterator:
    """The real TutorBot, its services given, connected to ``fake`` with its commands synced."""
    from bot.client import TutorBot

    services.settings = services.settings.model_copy(update=settings)
    bot = TutorBot(services.settings, services=services)
    async with start_client(fake, bot):
        if sync:
            await bot.sync_commands(None)
        yield bot
