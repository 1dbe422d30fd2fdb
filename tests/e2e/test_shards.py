"""Sharding end to end: two real bot processes (``python -m bot run``), one shard each, on a loopback
Discord that serves two shards, sharing PostgreSQL (``TEST_DATABASE_URL``) and a real ``chroma run``
server. Each process answers only its own servers, and a learner's place written by one process is
where another one (taking over the shard) carries on from.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from bot.domain.learners import LearnerStore
from tests.conftest import KNOWLEDGE
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.processes import BotProcess, bot_env, chroma_server, ingest


@pytest.fixture
def chroma_port(tmp_path):
    with chroma_server(tmp_path / "chroma") as port:
        yield port


async def next_slide(fake: FakeDiscord, channel_id: int) -> str:
    """/next as alice in ``channel_id``; the slide title the bot answered with."""
    ix = await fake.invoke_command("next", channel_id=channel_id)
    assert await ix.wait_response(30) == 4
    return ix.callback_data["embeds"][0]["title"]


async def test_two_processes_two_shards_one_database(tmp_path, postgres_url, chroma_port):
    # Four slides are enough to step through, and keep the Chroma server's ingest short.
    deck = tmp_path / "deck"
    deck.mkdir()
    for path in sorted(KNOWLEDGE.glob("0[1-4]-*.md")):
        shutil.copy(path, deck / path.name)
    async with FakeDiscord(shard_count=2, second_guild=True, interaction_window=30) as fake:
        shard_a = fake.shard_of(fake.guild_id)
        guild_b, general_b = fake.other_guild_id, fake.other_general_id
        shard_b = fake.shard_of(guild_b)
        assert shard_b != shard_a
        alice = str(fake.user["id"])

        def env(shard: int, name: str, **settings) -> dict[str, str]:
            return bot_env(
                api_url=fake.api_url,
                gateway_url=fake.gateway_url,
                data_dir=tmp_path / name,
                database_url=postgres_url,
                chroma_port=chroma_port,
                shard_count=2,
                shard_ids=[shard],
                knowledge_dir=deck,
                question_cooldown_s=0,
                **settings,
            )

        await asyncio.to_thread(ingest, env(0, "ingest"))
        first = BotProcess(env(0, "bot0", sync_commands_on_start="true"), tmp_path / "bot0.log")
        second = BotProcess(env(1, "bot1"), tmp_path / "bot1.log")
        bots = {0: first, 1: second}
        try:
            await asyncio.gather(first.ready(), second.ready())
            assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
            for shard, bot in bots.items():
                ready = re.search(r"ready as .* in (\d+) servers \(shards \[(.*)\] of 2\)", bot.output())
                assert ready and ready.groups() == ("1", str(shard)), "each process sees only its shard's server"

            # Each server is answered by the process of its shard; places land in the one database.
            assert (await next_slide(fake, fake.general_id)).startswith("Slide 1 ·")
            assert (await next_slide(fake, fake.general_id)).startswith("Slide 2 ·")
            assert (await next_slide(fake, general_b)).startswith("Slide 1 ·"), "a place per server"
            with LearnerStore(postgres_url) as places:
                assert places.get(f"guild:{fake.guild_id}", alice) == 2
                assert places.get(f"guild:{guild_b}", alice) == 1

            # The process of server B stops: server A is still answered by its own process...
            await bots[shard_b].stop()
            assert fake.connected_shards() == [shard_a]
            assert (await next_slide(fake, fake.general_id)).startswith("Slide 3 ·")

            # ... and a new process taking over B's shard carries on from the place the old one kept.
            bots[shard_b] = BotProcess(env(shard_b, "bot2"), tmp_path / "bot2.log")
            await bots[shard_b].ready()
            assert fake.connected_shards() == [0, 1]
            assert (await next_slide(fake, general_b)).startswith("Slide 2 ·")
            with LearnerStore(postgres_url) as places:
                assert places.get(f"guild:{fake.guild_id}", alice) == 3
                assert places.get(f"guild:{guild_b}", alice) == 2
        finally:
            for bot in bots.values():
                await bot.stop()
        assert fake.violations == []
        assert [ix for ix in fake.interactions if ix.callback_type is None] == [], "every interaction answered"
        for bot in bots.values():
            assert "Traceback" not in bot.output(), bot.output()[-3000:]
