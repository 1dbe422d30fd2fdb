"""The loopback Discord against a plain discord.py bot: proves the fake before the real bot uses it."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.e2e.conftest import start_client
from tests.e2e.fake_discord import FakeDiscord, FakeDiscordError

NO_MENTIONS = discord.AllowedMentions.none()


async def eventually(condition, limit: float = 2.0) -> None:
    """Wait (bounded) until ``condition()`` is true, for effects inside the bot."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 (the bot's state has no event to wait on)
            await asyncio.sleep(0.002)


class PressView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.presses: list[int] = []

    @discord.ui.button(label="Press", custom_id="press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.presses.append(interaction.user.id)
        await interaction.response.edit_message(content=f"pressed by {interaction.user.name}", view=None)


class PickView(discord.ui.View):
    @discord.ui.select(custom_id="pick", options=[discord.SelectOption(label=x, value=x) for x in ("a", "b")])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}", ephemeral=True)


class NoteModal(discord.ui.Modal, title="Note"):
    text = discord.ui.TextInput(label="Text", custom_id="text", max_length=20)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.text.value}", allowed_mentions=NO_MENTIONS)


def make_bot(*, content_intent: bool = True) -> commands.Bot:
    """A tiny bot: echoes messages; /page, /buttons, /slow, /topic (autocomplete), /pick (select), /note (modal)."""
    intents = discord.Intents.default()
    intents.message_content = content_intent
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.01)
    bot.seen, bot.errors, bot.views = [], [], []  # type: ignore[attr-defined]

    async def setup_hook() -> None:
        await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        bot.seen.append(message)
        if message.content == "long":
            try:
                await message.channel.send("x" * 2001)
            except discord.HTTPException as exc:
                bot.errors.append(exc)
            return
        if message.content == "history":
            try:
                [m async for m in message.channel.history(limit=1)]
            except discord.NotFound as exc:
                bot.errors.append(exc)
            return
        if message.content == "read":
            data = await message.attachments[0].read()
            await message.channel.send(f"{message.attachments[0].filename}: {len(data)} bytes")
            return
        if message.content == "file":
            await message.channel.send("here", file=discord.File(io.BytesIO(b"slide!"), "deck.txt"))
            return
        async with message.channel.typing():
            await message.reply(f"echo: {message.content or '(nothing)'}", allowed_mentions=NO_MENTIONS)

    @bot.tree.command(description="Show a page")
    async def page(interaction: discord.Interaction, number: app_commands.Range[int, 1, 50]) -> None:
        await interaction.response.send_message(f"Page {number}", allowed_mentions=NO_MENTIONS)

    @bot.tree.command(description="Show a button")
    async def buttons(interaction: discord.Interaction) -> None:
        view = PressView()
        bot.views.append(view)
        await interaction.response.send_message("press it", view=view)

    @bot.tree.command(description="Answer slowly")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.01)
        await interaction.followup.send("done", allowed_mentions=NO_MENTIONS)

    @bot.tree.command(description="Pick a topic")
    async def topic(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"topic {name}")

    @topic.autocomplete("name")
    async def topic_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in ("cells", "cellular", "atoms") if n.startswith(current)]

    @bot.tree.command(description="Pick a letter")
    async def pick(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pick one", view=PickView(), ephemeral=True)

    @bot.tree.command(description="Write a note")
    async def note(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NoteModal())

    return bot


async def test_login_ready_and_guild(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        assert bot.user is not None and bot.user.id == fake_discord.application_id
        guild = bot.get_guild(fake_discord.guild_id)
        assert guild is not None and guild.get_channel(fake_discord.general_id) is not None
        assert guild.get_thread(fake_discord.thread_id) is not None
        perms = guild.get_channel(fake_discord.general_id).permissions_for(guild.me)
        assert perms.send_messages and perms.embed_links and perms.attach_files
        assert not guild.get_channel(fake_discord.readonly_id).permissions_for(guild.me).send_messages
        assert fake_discord.intents == bot.intents.value
        assert [c["name"] for c in fake_discord.commands[None]] == ["page", "buttons", "slow", "topic", "pick", "note"]
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_message_reply_without_mentions(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        sent = await fake_discord.send_message(fake_discord.general_id, "hello @everyone")
        reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
        assert reply["content"] == "echo: hello @everyone"
        assert reply["message_reference"]["message_id"] == sent["id"]
        request = await fake_discord.wait_for_request(
            method="POST", path=f"/channels/{fake_discord.general_id}/messages"
        )
        assert request.json["allowed_mentions"]["parse"] == []
        await fake_discord.wait_for_request(method="POST", path="/channels/*/typing")
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_content_blank_without_intent(fake_discord: FakeDiscord) -> None:
    bot = make_bot(content_intent=False)
    async with start_client(fake_discord, bot):
        blank = await fake_discord.send_message(fake_discord.general_id, "secret")
        assert blank["content"] == ""
        await fake_discord.wait_for_bot_message(after=blank["id"], timeout=2)
        mention = await fake_discord.send_message(fake_discord.general_id, "see me", mentions_bot=True)
        await fake_discord.wait_for_bot_message(after=mention["id"], timeout=2)
        dm = await fake_discord.send_message(None, "private", dm=True)
        reply = await fake_discord.wait_for_bot_message(after=dm["id"], timeout=2)
        assert reply["channel_id"] == dm["channel_id"] and reply["content"] == "echo: private"
        assert [m.content for m in bot.seen] == ["", f"<@{fake_discord.application_id}> see me", "private"]
        assert isinstance(bot.seen[-1].channel, discord.DMChannel)


async def test_slash_command_options_checked(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        ix = await fake_discord.invoke_command("page", {"number": 3})
        assert await ix.wait_response(2) == 4
        assert fake_discord.messages[ix.original_message_id]["content"] == "Page 3"
        for options in ({"number": 0}, {"number": 51}, {"number": "3"}, {"number": True}, {}, {"number": 3, "x": 1}):
            with pytest.raises(FakeDiscordError):
                await fake_discord.invoke_command("page", options)
        with pytest.raises(FakeDiscordError, match="not a synced"):
            await fake_discord.invoke_command("nope")
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_button_click_reaches_view(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        ix = await fake_discord.invoke_command("buttons")
        await ix.wait_response(2)
        message_id = ix.original_message_id
        click = await fake_discord.click_button(message_id, "press", user=fake_discord.teacher)
        assert await click.wait_response(2) == 7
        assert bot.views[0].presses == [int(fake_discord.teacher["id"])]
        assert fake_discord.messages[message_id]["content"] == "pressed by teacher"
        assert fake_discord.messages[message_id]["components"] == []
        with pytest.raises(FakeDiscordError):
            await fake_discord.click_button(message_id, "press")  # the view was removed
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_deferred_response_then_followup(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        ix = await fake_discord.invoke_command("slow")
        assert await ix.wait_response(2) == 5
        done = await fake_discord.wait_for_bot_message(lambda m: m["content"] == "done", timeout=2)
        assert done["id"] == str(ix.original_message_id) == str(ix.followup_message_ids[0])
        await fake_discord.wait_for_request(method="POST", path=f"/webhooks/{fake_discord.application_id}/*")
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_autocomplete_and_modal(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        choices = await fake_discord.autocomplete("topic", {"name": "cel"}, focused="name", timeout=2)
        assert [c["value"] for c in choices] == ["cells", "cellular"]
        ix = await fake_discord.invoke_command("note")
        assert await ix.wait_response(2) == 9
        with pytest.raises(FakeDiscordError):
            await fake_discord.submit_modal("unknown", {"text": "hi"})
        with pytest.raises(FakeDiscordError):
            await fake_discord.submit_modal(ix.callback_data["custom_id"], {"text": "x" * 21})
        submit = await fake_discord.submit_modal(ix.callback_data["custom_id"], {"text": "remember"})
        assert await submit.wait_response(2) == 4
        assert fake_discord.messages[submit.original_message_id]["content"] == "noted: remember"
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_limits_rejected_and_recorded(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        await fake_discord.send_message(fake_discord.general_id, "long")
        await fake_discord.wait_for_request(lambda r: r.status == 400, method="POST", timeout=2)
        await eventually(lambda: bot.errors)
        assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50035
        [violation] = fake_discord.violations
        assert violation.problems == [("content", "Must be 2000 or fewer in length.")]
        channel = bot.get_channel(fake_discord.general_id)
        embed = discord.Embed(title="t" * 257, description="d")
        with pytest.raises(discord.HTTPException):
            await channel.send(embed=embed)
        with pytest.raises(discord.HTTPException):
            await channel.send(embeds=[discord.Embed(description="d" * 4000)] * 2)  # 8,000 > 6,000 in all
        with pytest.raises(discord.Forbidden):
            await bot.get_channel(fake_discord.readonly_id).send("hi")
        assert [v.code for v in fake_discord.violations] == [50035, 50035, 50035, 50013]
    fake_discord.violations.clear()  # on purpose here; the fixture fails any other test with one


async def test_files_are_recorded(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        await fake_discord.send_message(fake_discord.general_id, "file")
        request = await fake_discord.wait_for_request(lambda r: bool(r.files), method="POST")
        assert [(f.filename, f.size) for f in request.files] == [("deck.txt", 6)]
        assert request.json["content"] == "here"
        message = await fake_discord.wait_for_bot_message(lambda m: m["content"] == "here", timeout=2)
        assert fake_discord.file(message["attachments"][0]) == b"slide!"


async def test_rate_limit_is_retried(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        fake_discord.rate_limit_next("POST", "/channels/*/messages", retry_after=0.05)
        sent = await fake_discord.send_message(fake_discord.general_id, "again")
        reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
        assert reply["content"] == "echo: again"
        posts = [r.status for r in fake_discord.requests if r.method == "POST" and r.path.endswith("/messages")]
        assert posts == [429, 200]
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_reconnect_resumes_and_replays(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        # A message sent while the bot reconnects is replayed on RESUME.
        _, missed = await asyncio.gather(
            fake_discord.reconnect(), fake_discord.send_message(fake_discord.general_id, "gap")
        )
        assert fake_discord.resumes == 1 and len(fake_discord.identifies) == 1
        await fake_discord.wait_for_bot_message(after=missed["id"], timeout=2)
        after = await fake_discord.send_message(fake_discord.general_id, "after")
        await fake_discord.wait_for_bot_message(after=after["id"], timeout=2)
        await fake_discord.disconnect()
        assert fake_discord.resumes == 2
        assert [m.content for m in bot.seen] == ["gap", "after"]
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_unexpected_route_recorded(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        await fake_discord.send_message(fake_discord.general_id, "history")
        await fake_discord.wait_for_request(lambda r: r.status == 404, timeout=2)
        [request] = fake_discord.unexpected
        assert (request.method, request.path) == ("GET", f"/channels/{fake_discord.general_id}/messages")
        assert request.query == {"limit": "1"}
        await eventually(lambda: bot.errors)
        assert isinstance(bot.errors[0], discord.NotFound)
    fake_discord.unexpected.clear()  # on purpose here; the fixture fails any other test with one


async def test_select_ephemeral_and_late_response(fake_discord: FakeDiscord) -> None:
    async with start_client(fake_discord, make_bot()):
        ix = await fake_discord.invoke_command("pick")
        await ix.wait_response(2)
        menu = fake_discord.messages[ix.original_message_id]
        assert menu["flags"] & 64  # ephemeral, and so not echoed to the bot
        with pytest.raises(FakeDiscordError):
            await fake_discord.select(int(menu["id"]), "pick", ["z"])
        chosen = await fake_discord.select(int(menu["id"]), "pick", ["b"])
        await chosen.wait_response(2)
        assert fake_discord.messages[chosen.original_message_id]["content"] == "picked b"
        fake_discord.interaction_window = 0.0  # every response now comes too late
        await fake_discord.invoke_command("page", {"number": 1})
        await fake_discord.wait_for_request(lambda r: r.status == 404, method="POST", timeout=2)
        assert [v.code for v in fake_discord.violations] == [10062]
    assert fake_discord.unexpected == []
    fake_discord.violations.clear()


async def _no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
    return None


async def test_dm_command_guild_sync_thread_and_attachment(fake_discord: FakeDiscord) -> None:
    bot = make_bot()
    async with start_client(fake_discord, bot):
        ix = await fake_discord.invoke_command("page", {"number": 2}, guild=False)
        await ix.wait_response(2)
        assert (
            fake_discord.messages[ix.original_message_id]["channel_id"]
            == fake_discord.dm_channel(fake_discord.user)["id"]
        )
        guild = discord.Object(fake_discord.guild_id)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)
        assert len(fake_discord.commands[fake_discord.guild_id]) == 6
        ix = await fake_discord.invoke_command("page", {"number": 4}, channel_id=fake_discord.slides_id)
        assert ix.payload["data"]["guild_id"] == str(fake_discord.guild_id)
        await ix.wait_response(2)
        assert fake_discord.messages[ix.original_message_id]["channel_id"] == str(fake_discord.slides_id)
        sent = await fake_discord.send_message(
            fake_discord.slides_id, "read", thread=True, attachments=[("a.pdf", b"%PDF")]
        )
        assert sent["channel_id"] == str(fake_discord.thread_id)
        reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
        assert (reply["channel_id"], reply["content"]) == (sent["channel_id"], "a.pdf: 4 bytes")
        bot.before_identify_hook = _no_identify_delay  # discord.py waits 5 s before identifying again
        await fake_discord.invalidate_session()
        assert len(fake_discord.identifies) == 2
        after = await fake_discord.send_message(fake_discord.general_id, "still here")
        await fake_discord.wait_for_bot_message(after=after["id"], timeout=2)
    assert fake_discord.unexpected == [] and fake_discord.violations == []


async def test_wrong_token_fails_fast(fake_discord: FakeDiscord) -> None:
    with pytest.raises(discord.LoginFailure):
        async with start_client(fake_discord, make_bot(), token="wrong"):
            pass
    assert fake_discord.violations[0].status == 401
    fake_discord.violations.clear()


async def test_plain_client(fake_discord: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author != client.user:
            await message.channel.send("hi", allowed_mentions=NO_MENTIONS)

    async with start_client(fake_discord, client):
        sent = await fake_discord.send_message(None, "hello", dm=True)
        reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
        assert reply["content"] == "hi" and "guild_id" not in reply
    assert fake_discord.violations == []
