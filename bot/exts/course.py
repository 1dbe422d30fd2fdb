"""``/course upload|list|remove|reset``: a server's own deck, and ``/reload`` of it.

Instructors (Manage Server, or the server's instructor role: see ``_checks``) upload Markdown, the
plain-text export, HTML, PDF or PowerPoint files; the domain (``bot.domain.courses``) checks each
file on its own, keeps it under ``DATA_DIR/courses/<guild>/`` and re-indexes the server's course
while the old deck keeps answering. Replies are private: they are for the instructor.
"""

from __future__ import annotations

import datetime as dt
import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.client import TutorBot
from bot.domain.courses import CourseChange, shown_name
from bot.domain.errors import UserError
from bot.exts._checks import instructors_only
from bot.plumbing import NO_MENTIONS, off_loop, split_message, storage_call

log = logging.getLogger(__name__)

MB = 1024 * 1024
# How often the bot looks for a default deck the host re-ingested (its files, then `python -m bot
# ingest`): one cheap look at the index's generations; the deck is re-read only when one is new.
DEFAULT_DECK_CHECK_S = 30.0


def _files_line(change: CourseChange) -> str:
    count = len(change.files)
    return f"{change.slides} slides from {count} file{'s' if count != 1 else ''}"


def _problems(change: CourseChange) -> list[str]:
    return [f"- `{shown_name(str(p))}`" for p in change.problems[:10]]


def change_text(change: CourseChange, action: str, name: str = "") -> str:
    """What an upload, removal or reset did, in words."""
    if action == "upload" and change.report is None:
        lines = [f"**{shown_name(name)}** could not be added, so nothing changed:"] + _problems(change)
        lines.append(
            f"The course still has {_files_line(change)}."
            if change.files
            else "This server still uses the default deck."
        )
        return "\n".join(lines)
    if not change.files:
        return f"This server now uses the default deck ({change.slides} slides)."
    verb = {"upload": f"Added **{shown_name(name)}**", "remove": f"Removed **{shown_name(name)}**"}.get(
        action, "Reloaded the course"
    )
    lines = [f"{verb}: this server's course now has {_files_line(change)}."]
    if change.report is not None:
        report = change.report
        lines.append(
            f"Indexed in {report.seconds:.1f} s ({report.embedded} passages embedded, {report.deleted} removed); "
            "questions here are answered from it now."
        )
    if change.problems:
        lines.append("Files skipped:")
        lines += _problems(change)
    return "\n".join(lines)


def listing_text(change: CourseChange) -> str:
    if not change.files:
        return (
            f"This server uses the default deck ({change.slides} slides). "
            "`/course upload` a file to give it its own course."
        )
    lines = [f"This server's course: {_files_line(change)}."]
    for number, entry in enumerate(change.files, start=1):
        when = discord.utils.format_dt(dt.datetime.fromtimestamp(entry.added, dt.UTC), "R")
        lines.append(
            f"{number}. **{shown_name(entry.name)}**: {entry.slides} slides, {entry.size / 1024:.0f} KB, added {when}"
        )
    if change.problems:
        lines.append("Files skipped:")
        lines += _problems(change)
    return "\n".join(lines)


async def send_private(interaction: discord.Interaction, text: str) -> None:
    for part in split_message(text):
        await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_MENTIONS)


class Course(commands.Cog):
    course = app_commands.Group(
        name="course",
        description="This server's own course: upload, list, remove files, or go back to the default deck.",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        self._check_failed = False

    @property
    def courses(self):
        return self.bot.services.courses

    async def cog_load(self) -> None:
        if hasattr(self.bot, "services"):  # (a commands-only client, `sync`, has no deck to follow)
            self.follow_default_deck.start()

    async def cog_unload(self) -> None:
        self.follow_default_deck.cancel()

    @tasks.loop(seconds=DEFAULT_DECK_CHECK_S)
    async def follow_default_deck(self) -> None:
        """The host changed the default deck and ran `python -m bot ingest` while the bot runs:
        answers come from the new deck within ``DEFAULT_DECK_CHECK_S``, without a restart."""
        try:
            report = await off_loop(self.bot.services.tutor.refresh)
        except UserError:  # the index is away: its outage is logged once by the index
            return
        except Exception:  # noqa: BLE001 - a failed look is logged once; the next one may work
            if not self._check_failed:
                log.warning("looking for a re-ingested default deck failed", exc_info=True)
            self._check_failed = True
            return
        self._check_failed = False
        if report is not None:
            log.info(
                "the default deck was re-ingested on the host: now %d slides, %d passages",
                report.slides,
                report.passages,
            )

    @course.command(name="upload", description="Add a file to this server's course (md, txt, html, pdf, pptx).")
    @app_commands.describe(file="A Markdown, text, HTML, PDF or PowerPoint file; a file of the same name is replaced")
    @instructors_only
    async def upload(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        assert interaction.guild_id is not None
        limit_mb = self.bot.settings.max_deck_file_mb
        if file.size > limit_mb * MB:
            await interaction.response.send_message(
                f"**{shown_name(file.filename)}** is {file.size / MB:.1f} MB, over the {limit_mb:g} MB limit "
                "(MAX_DECK_FILE_MB), so nothing changed.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await file.read()
        change = await off_loop(self.courses.add, interaction.guild_id, file.filename, data)
        name = change.problems[0].file if change.report is None and change.problems else file.filename
        await send_private(interaction, change_text(change, "upload", name))

    @course.command(name="list", description="The files of this server's course.")
    @instructors_only
    async def list_files(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await off_loop(self.courses.listing, interaction.guild_id)
        await send_private(interaction, listing_text(change))

    @course.command(name="remove", description="Remove one file from this server's course.")
    @app_commands.describe(file="The file's name, as /course list shows it")
    @instructors_only
    async def remove(self, interaction: discord.Interaction, file: app_commands.Range[str, 1, 200]) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await off_loop(self.courses.remove, interaction.guild_id, file)
        await send_private(interaction, change_text(change, "remove", file))

    @remove.autocomplete("file")
    async def remove_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        files = await storage_call(self.courses.files.files, interaction.guild_id)
        typed = current.casefold()
        return [app_commands.Choice(name=f.name[:100], value=f.name) for f in files if typed in f.name.casefold()][:25]

    @course.command(name="reset", description="Delete this server's course and go back to the default deck.")
    @instructors_only
    async def reset(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await off_loop(self.courses.reset, interaction.guild_id)
        await send_private(interaction, change_text(change, "reset"))

    @app_commands.command(name="reload", description="Re-read this server's course and update its index.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @instructors_only
    async def reload_command(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        if not await storage_call(self.courses.has_course, interaction.guild_id):
            await interaction.response.send_message(
                "This server uses the default deck, which is changed only on the bot's host (its files, then "
                "`python -m bot ingest`). `/course upload` gives this server a course of its own.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await off_loop(self.courses.reload, interaction.guild_id)
        await send_private(interaction, change_text(change, "reload"))


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Course(bot))
