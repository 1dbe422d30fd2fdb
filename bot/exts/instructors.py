"""For instructors: ``/config show|set`` (Manage Server) and ``/insights`` (instructors, private);
for every learner: ``/forget-me``, which deletes what the bot keeps about them after a confirmation.

The work is in the domain (``Services.insights``, ``bot.domain.insights``, ``Services.forget``);
this cog parses, calls it off the event loop and renders.
"""

from __future__ import annotations

import datetime as dt
import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot
from bot.domain.insights import Insights, csv_within, picture
from bot.domain.server_settings import NAMES, ServerSettings, parse_value
from bot.exts._checks import instructors_only, managers_only
from bot.exts._render import COLOUR
from bot.plumbing import NO_MENTIONS, in_time, off_loop, report_error, respond, storage_call

log = logging.getLogger(__name__)

ROOM_FOR_MESSAGE = 64 * 1024  # bytes kept free of a message's attachment limit for the rest of it
SETTING_HELP = {
    "answer_channels": "channels where every question is answered (mention them; 'default' for the env's)",
    "instructor_role": "a role that may manage the course and see /insights (mention it)",
    "question_cooldown_s": "seconds between two questions of one learner",
    "generation_cooldown_s": "seconds between two generations of one learner",
    "answer_in_threads": "true: answer questions in answer channels in a thread of their own",
}
FORGET_CONFIRM = "forget-me:confirm"
FORGET_TEXT = (
    "This deletes everything Slide Tutor keeps about you, in every server: your places in the decks, "
    "your quiz scores, the questions you asked and your votes on answers. It cannot be undone."
)


def settings_text(server: ServerSettings) -> str:
    channels = ", ".join(f"<#{c}>" for c in server.answer_channels) or "none (mention the bot to ask)"
    role = f"<@&{server.instructor_role}>" if server.instructor_role else "none (Manage Server only)"
    values = {
        "answer_channels": channels,
        "instructor_role": role,
        "question_cooldown_s": f"{server.question_cooldown_s:g} s",
        "generation_cooldown_s": f"{server.generation_cooldown_s:g} s",
        "answer_in_threads": "yes" if server.answer_in_threads else "no",
    }
    return "\n".join(
        f"**{name}**: {values[name]}{'' if name in server.overridden else ' *(default)*'}" for name in NAMES
    )


def insights_text(insights: Insights, since: float | None) -> str:
    lines = [
        f"**{insights.questions}** questions from **{insights.learners}** learners; "
        f"{insights.declined_share:.0%} declined; votes: {insights.up} 👍, {insights.down} 👎.",
    ]
    busiest = sorted(insights.per_slide.items(), key=lambda item: -item[1]["questions"])[:3]
    if busiest and busiest[0][1]["questions"]:
        lines.append(
            "Most asked: " + ", ".join(f"slide {n} ({f['questions']})" for n, f in busiest if f["questions"]) + "."
        )
    if insights.gaps:
        lines.append("**Knowledge gaps** (declined or voted down, grouped by meaning):")
        lines += [f"- {discord.utils.escape_markdown(gap.summary)}" for gap in insights.gaps[:5]]
    if since is not None:
        start = discord.utils.format_dt(dt.datetime.fromtimestamp(since, dt.UTC), "f")
        lines.append(f"The CSV holds the questions since {start}: the whole log is over Discord's file limit.")
    return "\n".join(lines)[:4000]


class ForgetButton(discord.ui.DynamicItem[discord.ui.Button], template=FORGET_CONFIRM):
    """The confirmation under ``/forget-me``: deletes the presser's data (only theirs, whoever
    presses it; the message is private anyway)."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(label="Delete my data", style=discord.ButtonStyle.danger, custom_id=FORGET_CONFIRM)
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match, /):
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services = interaction.client.services  # type: ignore[attr-defined]
            removed = await in_time(interaction, storage_call(services.forget, str(interaction.user.id)))
            rows = sum(v for k, v in removed.items() if k != "conversations")
            await respond(
                interaction,
                edit=True,
                content=f"Done: deleted everything Slide Tutor kept about you ({rows} records).",
                view=None,
            )
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


class Instructors(commands.Cog):
    config = app_commands.Group(
        name="config",
        description="This server's settings for Slide Tutor (Manage Server only).",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot

    @config.command(name="show", description="This server's settings, and which are the defaults.")
    @managers_only
    async def config_show(self, interaction: discord.Interaction) -> None:
        work = storage_call(self.bot.services.server_settings.get, interaction.guild_id)
        server = await in_time(interaction, work, ephemeral=True)
        embed = discord.Embed(title="Slide Tutor settings", colour=COLOUR, description=settings_text(server))
        await respond(interaction, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @config.command(name="set", description="Change one of this server's settings ('default' to unset it).")
    @app_commands.describe(name="The setting", value="Its new value, or 'default'")
    @app_commands.choices(name=[app_commands.Choice(name=f"{n}: {SETTING_HELP[n]}"[:100], value=n) for n in NAMES])
    @managers_only
    async def config_set(
        self, interaction: discord.Interaction, name: str, value: app_commands.Range[str, 1, 1000]
    ) -> None:
        assert interaction.guild_id is not None
        parsed = parse_value(name, value)
        work = storage_call(self.bot.services.server_settings.set, interaction.guild_id, name, parsed)
        server = await in_time(interaction, work, ephemeral=True)
        embed = discord.Embed(title=f"Set {name}", colour=COLOUR, description=settings_text(server))
        await respond(interaction, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="insights", description="What learners asked, what the deck missed, and their votes.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @instructors_only
    async def insights_command(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        place = str(interaction.guild_id)
        insights = await off_loop(services.insights, place)
        png = await off_loop(picture, insights)
        limit = max(interaction.filesize_limit - ROOM_FOR_MESSAGE, 1024)
        csv, since = await off_loop(csv_within, services.feedback, place, limit)
        embed = discord.Embed(title="Slide Tutor insights", colour=COLOUR, description=insights_text(insights, since))
        embed.set_image(url="attachment://insights.png")
        files = [
            discord.File(io.BytesIO(png), filename="insights.png"),
            discord.File(io.BytesIO(csv), filename="question-log.csv.gz"),
        ]
        await interaction.followup.send(embed=embed, files=files, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="forget-me", description="Delete everything Slide Tutor keeps about you.")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(ForgetButton())
        await interaction.response.send_message(FORGET_TEXT, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: TutorBot) -> None:
    bot.add_dynamic_items(ForgetButton)
    await bot.add_cog(Instructors(bot))
