"""``/help`` for everyone, ``/reload`` for the server's managers."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot
from bot.exts._render import COLOUR
from bot.plumbing import NO_MENTIONS, off_loop


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
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="reload", description="Re-read the deck and update the index (Manage Server only).")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def reload_command(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await off_loop(self.bot.services.tutor.reload)
        problems = self.bot.services.tutor.knowledge.problems
        lines = [
            f"Reloaded {report.slides} slides ({report.passages} passages): "
            f"{report.embedded} re-embedded, {report.deleted} removed in {report.seconds:.1f} s."
        ]
        if problems:
            lines.append(f"Skipped {len(problems)} file(s):")
            lines += [f"- {problem}" for problem in problems[:10]]
        await interaction.followup.send("\n".join(lines)[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Admin(bot))
