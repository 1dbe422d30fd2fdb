"""The Discord client: builds the services off the event loop, loads the cogs, one error path."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.services import Services
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
)


class TutorTree(app_commands.CommandTree):
    """One error path for every app command: known problems briefly and privately, the rest logged."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)


class TutorBot(commands.Bot):
    def __init__(self, settings: Settings, services: Services | None = None, **options) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
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
        self.services: Services

    async def setup_hook(self) -> None:
        # Models, Chroma and the deck load in a worker thread: the gateway stays responsive.
        if self._given_services is not None:
            self.services = self._given_services
        else:
            self.services = await off_loop(Services.load, self.settings)
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except commands.ExtensionError:
                log.exception("extension %s failed to load; the rest of the bot still runs", extension)
        if self.settings.sync_commands_on_start:
            await self.sync_commands(self.settings.sync_guild_id)

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
        log.info("ready as %s in %d servers", self.user, len(self.guilds))

    async def close(self) -> None:
        services = getattr(self, "services", None)
        if services is not None:
            await off_loop(services.close)
        await super().close()


def tutor_bot(interaction: discord.Interaction) -> TutorBot:
    return interaction.client  # type: ignore[return-value]
