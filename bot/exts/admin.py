"""``/help`` for everyone (``/reload`` lives with the server's course, in ``course.py``)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot
from bot.exts._render import COLOUR


class Admin(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What I can do, and how to ask.")
    async def help_command(self, interaction: discord.Interaction) -> None:
        embed = discord.Embed(
            title="Slide Tutor",
            colour=COLOUR,
            description=(
                "I tutor you through the Generative-AI slide deck. Ask a question in an answer channel, "
                "mention me, reply to me, or DM me: I answer from the slides and say which ones I used.\n\n"
                "Then say *give me an example*, *explain it simpler* or *why?* (or press the buttons under "
                "my answer) to carry on, or *new topic* to start afresh. You can also ask in words for "
                "*quiz me*, *next slide*, *go to slide 8*, *show me the deck* or "
                '*how is "hello" tokenized?*\n\n'
                "If the slides don't cover something, I say so instead of guessing."
            ),
        )
        for command in sorted(self.bot.tree.get_commands(), key=lambda c: c.name):
            if isinstance(command, app_commands.Command):
                embed.add_field(name=f"/{command.name}", value=command.description, inline=False)
            elif isinstance(command, app_commands.Group):
                subcommands = "|".join(sub.name for sub in command.commands)
                embed.add_field(name=f"/{command.name} {subcommands}", value=command.description, inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Admin(bot))
