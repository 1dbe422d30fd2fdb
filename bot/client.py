"""The Discord client: builds the services off the event loop, loads the cogs, one error path."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from discord.ext import commands

from bot.domain import metrics
from bot.domain.services import Services
from bot.domain.storage import StorageError
from bot.health import HealthServer
from bot.plumbing import NO_MENTIONS, off_loop, report_error
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.exts.ask",
    "bot.exts.slides",
    "bot.exts.teach",
    "bot.exts.generate",
    "bot.exts.admin",
    "bot.exts.course",
    "bot.exts.instructors",
)

# What the bot does in a channel: read it, answer (also in threads), with embeds and pictures, and
# reply to learners' messages.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """The link a server admin opens to add the bot, with its slash commands and permissions."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


def startup_problem(error: BaseException) -> str | None:
    """One line for a known reason the bot cannot start on Discord, or None for anything else."""
    if isinstance(error, StorageError):  # the database is unreachable, or newer than this bot
        return str(error)
    if isinstance(error, discord.LoginFailure):
        return "Discord refused the token: check DISCORD_TOKEN (developer portal > your app > Bot > Reset Token)"
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return (
            "Discord refused the Message Content intent: enable it in the developer portal "
            "(your app > Bot > Privileged Gateway Intents > Message Content Intent)"
        )
    if isinstance(error, aiohttp.ClientConnectorError | discord.GatewayNotFound | TimeoutError):
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"cannot reach Discord ({reason}): check the network, a proxy or a firewall"
    if isinstance(error, discord.HTTPException) and error.status >= 500:
        return f"Discord is having problems (HTTP {error.status}); try again in a few minutes"
    return None


class TutorTree(app_commands.CommandTree):
    """One error path for every app command: known problems briefly and privately, the rest logged."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)


class TutorBot(commands.AutoShardedBot):
    """The bot. Sharded: ``SHARD_COUNT`` shards in all (Discord's recommendation when unset), of which
    this process runs ``SHARD_IDS`` (all when unset); processes share learners' state through
    ``DATABASE_URL`` and the index through a Chroma server."""

    def __init__(
        self, settings: Settings, services: Services | None = None, *, commands_only: bool = False, **options
    ) -> None:
        """``commands_only``: load the cogs for their command definitions and nothing else (no models,
        no index): what ``python -m bot sync`` needs."""
        intents = discord.Intents.default()
        intents.message_content = True
        if settings.discord_api_url:  # a REST proxy (or the tests' loopback Discord)
            discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
        if settings.discord_gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        options.setdefault("shard_count", settings.shard_count)
        options.setdefault("shard_ids", list(settings.shard_ids) or None)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=TutorTree,
            **options,
        )
        self.settings = settings
        self._given_services = services
        self._commands_only = commands_only
        self.services: Services
        self.health: HealthServer | None = None

    async def setup_hook(self) -> None:
        if self.application_id is not None:
            log.info("invite the bot to a server: %s", invite_url(self.application_id))
        metrics.count_logged_errors()
        if self.settings.health_port and not self._commands_only:
            # First, so /healthz answers (503) while the models load.
            self.health = HealthServer(self.settings.health_host, self.settings.health_port, self.health_checks())
            await self.health.start()
        # Models, Chroma and the deck load in a worker thread: the gateway stays responsive.
        if self._given_services is not None:
            self.services = self._given_services
        elif not self._commands_only:
            self.services = await off_loop(Services.load, self.settings)
        if not self._commands_only:  # (sync registers commands only: no services)
            self.services.home_loop = asyncio.get_running_loop()  # generation from worker threads runs here
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except commands.ExtensionError:
                log.exception("extension %s failed to load; the rest of the bot still runs", extension)
        if self.settings.sync_commands_on_start and not self._commands_only:
            await self.sync_commands(self.settings.sync_guild_id)

    def health_checks(self):
        """/healthz: connected to Discord, the index answers, the database answers."""

        async def discord_connected() -> None:
            shards = self.shards.values()  # sharded: every shard this process runs must be connected
            if self.is_closed() or not self.is_ready() or not shards or any(s.is_closed() for s in shards):
                raise RuntimeError("not connected to the Discord gateway")

        def services() -> Services:
            found = getattr(self, "services", None)
            if found is None:
                raise RuntimeError("still loading")
            return found

        async def index_reachable() -> None:
            await off_loop(services().check_index)

        async def database_reachable() -> None:
            await off_loop(services().check_database)

        return {"discord": discord_connected, "index": index_reachable, "database": database_reachable}

    async def sync_commands(self, guild_id: int | None) -> list[app_commands.AppCommand]:
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d commands %s", len(synced), f"to guild {guild_id}" if guild_id else "globally")
        return synced

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: questions are the cogs' listeners' business. (The default would parse
        "@bot what is…" as the command "what" and log CommandNotFound for every question.)"""

    async def on_ready(self) -> None:
        shards = sorted(self.shards)
        log.info("ready as %s in %d servers (shards %s of %s)", self.user, len(self.guilds), shards, self.shard_count)

    async def close(self) -> None:
        if self.health is not None:
            await self.health.stop()
        services = getattr(self, "services", None)
        if services is not None:
            await off_loop(services.close)
        await super().close()


def tutor_bot(interaction: discord.Interaction) -> TutorBot:
    return interaction.client  # type: ignore[return-value]


def run_bot(settings: Settings) -> None:
    """Run the bot on Discord until it is stopped (Ctrl-C or SIGTERM closes it cleanly)."""
    import asyncio
    import signal

    bot = TutorBot(settings)
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(token), name="discord-bot")
            stopper = asyncio.create_task(stop.wait(), name="stop-signal")
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if runner in done:
                runner.result()  # a start-up failure: raised to the caller
            else:
                log.info("stopping on a signal")
                await bot.close()
                await runner

    asyncio.run(main())
