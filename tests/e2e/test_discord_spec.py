"""The loopback Discord holds request bodies to Discord's OpenAPI description and documented limits,
answering as Discord does (status, code, per-field errors); interaction tokens expire after 15 minutes
on a clock the test moves."""

from __future__ import annotations

import aiohttp
import pytest

from tests.e2e.conftest import start_client
from tests.e2e.fake_discord import INTERACTION_TOKEN_LIFE, FakeDiscord
from tests.e2e.fake_discord.spec import spec_problems
from tests.e2e.test_fake_discord import make_bot

NO_PINGS = {"parse": []}
BUTTON = {"type": 2, "style": 1, "custom_id": "b", "label": "B"}


def row(*components) -> dict:
    return {"type": 1, "components": list(components)}


def option(name: str = "text", **extra) -> dict:
    return {"type": 3, "name": name, "description": "d", **extra}


def command(name: str = "ask", **extra) -> dict:
    return {"type": 1, "name": name, "description": "Ask the tutor", **extra}


async def call(fake: FakeDiscord, method: str, path: str, body, *, files: list[tuple[str, int]] = ()):
    """``body`` sent as the bot would (JSON, or multipart with ``payload_json`` and zero-filled files)."""
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        if files:
            form = aiohttp.FormData()
            form.add_field("payload_json", __import__("json").dumps(body), content_type="application/json")
            for index, (name, size) in enumerate(files):
                form.add_field(f"files[{index}]", bytes(size), filename=name, content_type="application/octet-stream")
            request = session.request(method, fake.api_url + path, data=form, headers=headers)
        else:
            request = session.request(method, fake.api_url + path, json=body, headers=headers)
        async with request as response:
            return response.status, await response.json() if response.content_length != 0 else None


MESSAGE_REFUSALS = {
    # from the OpenAPI description
    "empty custom_id": (
        {"content": "x", "components": [row({**BUTTON, "custom_id": ""})]},
        "components.0.components.0.custom_id",
    ),
    "colour over 0xFFFFFF": ({"embeds": [{"title": "t", "color": 0x1000000}]}, "embeds.0.color"),
    "a key Discord does not know": ({"content": "x", "contnet": "typo"}, ""),
    "button label over 80": ({"content": "x", "components": [row({**BUTTON, "label": "l" * 81})]}, "components.0"),
    "11 embeds": ({"embeds": [{"title": "t"}] * 11}, "embeds"),
    "a mention kind that does not exist": (
        {"content": "x", "allowed_mentions": {"parse": ["all"]}},
        "allowed_mentions",
    ),
    "a component type that does not exist": ({"content": "x", "components": [{"type": 99}]}, "components.0"),
    "custom_id over 100": ({"content": "x", "components": [row({**BUTTON, "custom_id": "c" * 101})]}, "components.0"),
    "26 select options": (
        {
            "content": "x",
            "components": [
                row({"type": 3, "custom_id": "s", "options": [{"label": f"{i}", "value": f"{i}"} for i in range(26)]})
            ],
        },
        "components.0",
    ),
    # documented limits the description does not carry
    "content over 2000": ({"content": "x" * 2001}, "content"),
    "embeds over 6000 in all": ({"embeds": [{"description": "d" * 4000}] * 2}, "embeds"),
    "empty message": ({"content": ""}, None),
}


@pytest.mark.parametrize("case", MESSAGE_REFUSALS)
async def test_message_bodies_discord_refuses_are_refused_as_discord_does(fake_discord, case):
    body, field = MESSAGE_REFUSALS[case]
    status, answer = await call(fake_discord, "POST", f"/channels/{fake_discord.general_id}/messages", body)
    assert status == 400
    if field is None:
        assert answer == {"code": 50006, "message": "Cannot send an empty message"}
    else:
        assert answer["code"] == 50035 and answer["message"] == "Invalid Form Body"
        node = answer["errors"]
        for key in filter(None, field.split(".")):
            node = node[key]
        assert "_errors" in node or any("_errors" in str(v) for v in node.values()), answer
    [violation] = fake_discord.violations
    assert violation.status == 400
    assert fake_discord.messages == {} or all(
        m["author"]["id"] != fake_discord.bot_user["id"] for m in fake_discord.messages.values()
    )
    fake_discord.violations.clear()


async def test_the_file_limit_is_10_mib_per_file_not_summed(fake_discord):
    path = f"/channels/{fake_discord.general_id}/messages"
    body = {"content": "two files", "attachments": [{"id": 0, "filename": "a.bin"}, {"id": 1, "filename": "b.bin"}]}
    status, _ = await call(fake_discord, "POST", path, body, files=[("a.bin", 6 << 20), ("b.bin", 6 << 20)])
    assert status == 200, "12 MiB in two files is fine"
    body = {"content": "one file", "attachments": [{"id": 0, "filename": "c.bin"}]}
    status, answer = await call(fake_discord, "POST", path, body, files=[("c.bin", (10 << 20) + 1)])
    assert (status, answer["code"]) == (413, 40005)
    fake_discord.violations.clear()


COMMAND_REFUSALS = {
    "upper case in a chat command name": [command("Ask")],
    "a space in a name": [command("ask me")],
    "punctuation in a name": [command("ask!")],
    "33 characters": [command("a" * 33)],
    "an option name breaking the rule": [command(options=[option("Text")])],
    "duplicate option names": [command(options=[option("text"), option("text")])],
    "a choice name over 100": [command(options=[option(choices=[{"name": "n" * 101, "value": "v"}])])],
    "autocomplete with choices": [command(options=[option(autocomplete=True, choices=[{"name": "a", "value": "a"}])])],
    "26 options": [command(options=[option(f"o{i}") for i in range(26)])],
    "26 choices": [command(options=[option(choices=[{"name": f"{i}", "value": f"{i}"} for i in range(26)])])],
    "a description over 100": [command(description="d" * 101)],
    "no description": [command(description="")],
    "a required option after an optional one": [command(options=[option("a"), option("b", required=True)])],
    "the same command twice": [command(), command()],
    "101 chat commands": [command(f"c{i}") for i in range(101)],
    "an option type that does not exist": [command(options=[{"type": 42, "name": "x", "description": "d"}])],
}


@pytest.mark.parametrize("case", COMMAND_REFUSALS)
async def test_command_bodies_discord_refuses_are_refused(fake_discord, case):
    path = f"/applications/{fake_discord.application_id}/commands"
    status, answer = await call(fake_discord, "PUT", path, COMMAND_REFUSALS[case])
    assert (status, answer["code"], answer["message"]) == (400, 50035, "Invalid Form Body"), answer
    assert fake_discord.commands.get(None) is None, "nothing synced"
    fake_discord.violations.clear()


async def test_command_names_in_other_scripts_and_with_apostrophes_are_fine(fake_discord):
    path = f"/applications/{fake_discord.application_id}/commands"
    body = [command("क्विज़"), command("ask-about_it"), command("don't"), {"type": 3, "name": "Ask The Tutor"}]
    status, answer = await call(fake_discord, "PUT", path, body)
    assert status == 200, answer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": 8, "data": {"choices": [{"name": "n" * 101, "value": "v"}]}}, "data.choices.0.name"),
        ({"type": 8, "data": {"choices": [{"name": f"{i}", "value": f"{i}"} for i in range(26)]}}, "data.choices"),
        (
            {"type": 9, "data": {"title": "t" * 46, "custom_id": "m", "components": [row(BUTTON)]}},
            "data.title",
        ),
        ({"type": 4, "data": {"content": "x", "flags": "64"}}, "data.flags"),
    ],
)
def test_interaction_callbacks_are_held_to_the_spec(body, field):
    problems = spec_problems("POST", "/interactions/1/token/callback", body)
    assert [where for where, _ in problems] == [field], problems


async def test_an_interaction_token_expires_after_15_minutes_on_the_fakes_clock(fake_discord):
    fake = fake_discord
    async with start_client(fake, make_bot()):
        ix = await fake.invoke_command("page", {"number": 1})
        assert await ix.wait_response(2) == 4
        followup = f"/webhooks/{fake.application_id}/{ix.token}"
        status, _ = await call(fake, "POST", followup + "?wait=true", {"content": "still in time"})
        assert status == 200
        fake.clock.advance(INTERACTION_TOKEN_LIFE - 5)
        status, _ = await call(fake, "PATCH", followup + "/messages/@original", {"content": "just in time"})
        assert status == 200
        fake.clock.advance(10)
        for method, path in (("POST", followup), ("PATCH", followup + "/messages/@original")):
            status, answer = await call(fake, method, path, {"content": "too late"})
            assert (status, answer) == (401, {"code": 50027, "message": "Invalid Webhook Token"})
    assert [v.code for v in fake.violations] == [50027, 50027]
    fake.violations.clear()
