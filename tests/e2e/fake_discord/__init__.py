"""A Discord REST and gateway server on loopback, for end-to-end tests of the bot.

The real discord.py client talks to :class:`FakeDiscord` as it would to Discord (the redirection is
in ``conftest.start_client``). The fake plays one guild with a few channels and users, and:

* records every request (:attr:`FakeDiscord.requests`), answers routes it does not implement with
  404 and lists them in :attr:`FakeDiscord.unexpected`;
* rejects what Discord would reject and lists it in :attr:`FakeDiscord.violations`: every request
  body is validated against Discord's own OpenAPI description (``spec``, with
  ``openapi/discord-openapi.json``), plus the documented limits the description lacks (message and
  embed totals, components, command names, 10 MiB per file, empty messages, replies to unknown
  messages, late or double interaction responses, interaction tokens older than 15 minutes on
  :attr:`FakeDiscord.clock`, which a test can move on);
* lets a test act as Discord's users: post messages, invoke slash commands (checked against the
  schema the bot synced, as Discord's client would: an invocation Discord would never send raises
  :class:`FakeDiscordError`), ask for autocompletion, click buttons, pick select options and
  submit modals;
* applies the gateway intents the bot identified with, echoes the bot's own messages back as
  gateway events, replays missed events on RESUME, and can inject 429s and reconnects;
* serves shards (``FakeDiscord(shard_count=2)``): one session per shard, each guild's events on
  shard ``(guild_id >> 22) % shard_count``, DMs on shard 0; the ``second_guild`` is on the shard
  after the first guild's.

Everything listens on 127.0.0.1 only and every wait is bounded. A test, with the ``fake_discord``
fixture and ``start_client`` from ``tests/e2e/conftest.py``::

    async def test_reply(fake_discord):
        async with start_client(fake_discord, make_bot()):
            sent = await fake_discord.send_message(fake_discord.general_id, "hi")
            reply = await fake_discord.wait_for_bot_message(after=sent["id"], timeout=2)
            ix = await fake_discord.invoke_command("page", {"number": 3})
            assert await ix.wait_response(2) == 4  # CHANNEL_MESSAGE_WITH_SOURCE
        assert fake_discord.violations == []

The package, by job: ``protocol`` (Discord's numbers and error answers), ``state`` (the world and
the records), ``gateway`` (the websocket), ``rest`` (the HTTP routes), ``spec`` (Discord's
OpenAPI description), ``validation`` (Discord's documented rules for what the bot sends) and ``actions`` (:class:`FakeDiscord` itself, with what tests do).
"""

from tests.e2e.fake_discord.actions import FakeDiscord
from tests.e2e.fake_discord.protocol import (
    ADMINISTRATOR,
    API,
    ATTACHMENT_SIZE_LIMIT,
    CALLBACKS_ALLOWED,
    DIRECT_MESSAGES,
    DISCORD_EPOCH_MS,
    EPHEMERAL,
    GUILD_MESSAGES,
    INTERACTION_TOKEN_LIFE,
    IS_COMPONENTS_V2,
    LOADING,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    MESSAGE_CONTENT,
    SELECT_TYPES,
    SEND_MESSAGES,
    DiscordHTTPError,
    FakeDiscordError,
)
from tests.e2e.fake_discord.state import RECORD, Clock, FakeInteraction, RecordedFile, Request, Violation

__all__ = [
    "ADMINISTRATOR",
    "API",
    "ATTACHMENT_SIZE_LIMIT",
    "CALLBACKS_ALLOWED",
    "DIRECT_MESSAGES",
    "Clock",
    "DISCORD_EPOCH_MS",
    "EPHEMERAL",
    "GUILD_MESSAGES",
    "INTERACTION_TOKEN_LIFE",
    "IS_COMPONENTS_V2",
    "LOADING",
    "MANAGE_GUILD",
    "MEMBER_PERMISSIONS",
    "MESSAGE_CONTENT",
    "RECORD",
    "SELECT_TYPES",
    "SEND_MESSAGES",
    "DiscordHTTPError",
    "FakeDiscord",
    "FakeDiscordError",
    "FakeInteraction",
    "RecordedFile",
    "Request",
    "Violation",
]
