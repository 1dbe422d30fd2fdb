"""The bot while its Chroma server is away: each question gets one clear reply, the outage is logged
once (no traceback per question), and answers resume when the server is back, without a restart.

The server's absence is played by the real index's calls failing as httpx fails on a refused
connection (tests/test_outages.py kills a real `chroma run` for the command line and the index)."""

from __future__ import annotations

import logging

import httpx

from bot.domain import index as index_module
from tests.e2e.conftest import running_bot


async def test_questions_during_an_outage_get_one_line_each_and_the_outage_is_logged_once(
    fake_discord, services_factory, tmp_path, monkeypatch, caplog
):
    fake = fake_discord
    services = services_factory(tmp_path, question_cooldown_s=0)
    index = services.tutor.index
    real_query = index._query
    away = {"now": False}

    def query(vector, k):
        if away["now"]:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return real_query(vector, k)

    monkeypatch.setattr(index, "_query", query)
    monkeypatch.setattr(
        index, "server", index_module.ServerAccess("127.0.0.1", 8000)
    )  # as if on a server: retried, outages logged
    monkeypatch.setattr(index_module, "RETRY_DELAYS_S", (0.01, 0.02))
    caplog.set_level(logging.INFO)

    def reply_to(sent: dict):
        return lambda m: (m.get("message_reference") or {}).get("message_id") == sent["id"]

    async with running_bot(fake, services, answer_channel_ids=[fake.slides_id]):
        away["now"] = True
        chatter = await fake.send_message(fake.slides_id, "see you at lunch tomorrow")  # chatter: silence
        replies = []
        for question in ("what is tokenization?", "how does attention work?", "what is RAG?"):
            sent = await fake.send_message(fake.slides_id, question, mentions_bot=True)
            replies.append(await fake.wait_for_bot_message(reply_to(sent), timeout=60))
        away["now"] = False
        sent = await fake.send_message(fake.slides_id, "what is tokenization?", mentions_bot=True)
        back = await fake.wait_for_bot_message(reply_to(sent), timeout=60)
    assert all("is not answering right now; please try again in a moment" in r["content"] for r in replies), replies
    assert "Slide 13" in back["content"], "answers resume without a restart"
    assert not [
        m
        for m in fake.bot_messages(fake.slides_id)
        if (m.get("message_reference") or {}).get("message_id") == chatter["id"]
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is not answering (" in m for m in messages) == 1, messages
    assert sum("is answering again" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no traceback per question"
