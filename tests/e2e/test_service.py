"""The bot as a service: /healthz and /metrics on the health port, the invite link, and start-up
failures (a bad token, a missing intent, an unreachable Discord) each as one clear line; `sync`
loads no model."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import subprocess
import sys
import urllib.parse

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl

from bot.client import PERMISSIONS, TutorBot, startup_problem
from tests.conftest import ROOT
from tests.e2e.conftest import running_bot, start_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric(text: str, name: str) -> float:
    """The value of one sample (``name`` with its labels, as written) in Prometheus text."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} is not in /metrics"
    return float(match.group(1))


async def test_healthz_and_metrics_on_the_loopback_discord(fake_discord, services_factory, tmp_path):
    fake = fake_discord
    port = free_port()
    services = services_factory(tmp_path)
    async with (
        running_bot(fake, services, health_port=port, answer_channel_ids=[fake.slides_id], question_cooldown_s=0),
        aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        async with http.get("/healthz") as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        assert body == {
            "status": "ok",
            "checks": {"discord": {"ok": True}, "index": {"ok": True}, "database": {"ok": True}},
        }

        async with http.get("/metrics") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
            before = await response.text()

        sent = await fake.send_message(fake.slides_id, "what is few-shot prompting?")
        reply = await fake.wait_for_bot_message(channel_id=fake.slides_id, after=sent["id"], timeout=30)
        assert "Slide 11" in reply["content"]
        sent = await fake.send_message(fake.slides_id, "what is the best recipe for banana bread?")
        await fake.wait_for_bot_message(channel_id=fake.slides_id, after=sent["id"], timeout=30)

        async with http.get("/metrics") as response:
            after = await response.text()
        assert metric(after, "slide_tutor_questions_total") == metric(before, "slide_tutor_questions_total") + 2
        assert metric(after, "slide_tutor_declines_total") == metric(before, "slide_tutor_declines_total") + 1
        assert (
            metric(after, "slide_tutor_answer_seconds_count") == metric(before, "slide_tutor_answer_seconds_count") + 2
        )
        assert metric(after, "slide_tutor_answer_seconds_sum") > metric(before, "slide_tutor_answer_seconds_sum")
        for name in (
            "slide_tutor_generation_queue_length",
            "slide_tutor_generation_tokens_per_second",
            "slide_tutor_generated_tokens_total",
        ):
            metric(after, name)
        assert "# TYPE slide_tutor_errors_total counter" in after

        # The database stops answering: unhealthy, and the body says which part.
        services.learners.close()
        async with http.get("/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["discord"] == {"ok": True} and body["checks"]["index"] == {"ok": True}
        assert body["checks"]["database"]["ok"] is False and body["checks"]["database"]["error"]
    assert not fake.violations


async def test_the_health_port_is_off_by_default(fake_discord, services_factory, tmp_path):
    async with running_bot(fake_discord, services_factory(tmp_path), sync=False) as bot:
        assert bot.settings.health_port is None and bot.health is None


async def test_the_invite_link_is_logged_on_start(fake_discord, services_factory, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bot.client"):
        async with running_bot(fake_discord, services_factory(tmp_path), sync=False):
            pass
    links = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if "invite the bot" in r.getMessage()]
    assert len(links) == 1
    url = urllib.parse.urlsplit(links[0])
    query = urllib.parse.parse_qs(url.query)
    assert url.netloc == "discord.com" and url.path == "/oauth2/authorize"
    assert query["client_id"] == [str(fake_discord.application_id)]
    assert query["scope"][0].split() == ["bot", "applications.commands"]
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions == PERMISSIONS
    assert permissions.send_messages and permissions.embed_links and permissions.attach_files
    assert not permissions.administrator and not permissions.mention_everyone


async def _start_error(fake, bot, token: str = "test-token") -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - which one is the point of the test
        async with start_client(fake, bot, token, timeout=30):
            pass
    return caught.value


async def test_a_bad_token_is_one_clear_line(fake_discord, tutor):
    error = await _start_error(fake_discord, TutorBot(tutor.settings, commands_only=True), token="wrong-token")
    assert isinstance(error, discord.LoginFailure)
    problem = startup_problem(error)
    assert problem.startswith("Discord refused the token: check DISCORD_TOKEN") and "\n" not in problem
    assert [v.status for v in fake_discord.violations] == [401]
    fake_discord.violations.clear()  # refused on purpose here; the fixture fails any other test with one


async def test_a_missing_message_content_intent_is_one_clear_line(fake_discord, tutor):
    fake_discord.message_content_allowed = False
    error = await _start_error(fake_discord, TutorBot(tutor.settings, commands_only=True))
    assert isinstance(error, discord.PrivilegedIntentsRequired)
    problem = startup_problem(error)
    assert "Message Content" in problem and "developer portal" in problem and "\n" not in problem


async def test_an_unreachable_discord_is_one_clear_line(tutor):
    saved = discord.http.Route.BASE
    discord.http.Route.BASE = f"http://127.0.0.1:{free_port()}/api/v10"  # nothing listens there
    try:
        bot = TutorBot(tutor.settings, commands_only=True)
        async with bot:
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await asyncio.wait_for(bot.login("test-token"), 30)
    finally:
        discord.http.Route.BASE = saved
    problem = startup_problem(caught.value)
    assert problem.startswith("cannot reach Discord") and "check the network" in problem and "\n" not in problem


def test_run_prints_one_line_when_discord_cannot_be_used(tmp_path):
    """`python -m bot run` as an operator starts it: no network to Discord here (one line saying so);
    where there is one, the made-up token is refused (one line saying that). No traceback."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DISCORD_TOKEN": "made-up.token.value"}
    env["DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if "slide-tutor run:" in line]
    assert len(lines) == 1 and ("cannot reach Discord" in lines[0] or "refused the token" in lines[0])
    assert "Traceback" not in done.stderr and "made-up.token.value" not in done.stderr
    assert not (tmp_path / "data" / "chroma").exists(), "nothing was loaded before logging in"


async def test_sync_registers_the_commands_without_loading_models_or_the_index(fake_discord, tutor, monkeypatch):
    from bot.domain.services import Services
    from bot.domain.tutor import Tutor

    def refuse(*args, **kwargs):
        raise AssertionError("sync must not load models or re-index")

    monkeypatch.setattr(Services, "load", refuse)
    monkeypatch.setattr(Tutor, "load", refuse)
    monkeypatch.setattr(Tutor, "reload", refuse)
    fake = fake_discord
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        bot = TutorBot(tutor.settings, commands_only=True)  # what `python -m bot sync` builds
        async with bot:
            await bot.login("test-token")
            synced = await bot.sync_commands(None)
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    assert len(synced) == len(fake.commands[None]) >= 13
    assert not hasattr(bot, "services")
