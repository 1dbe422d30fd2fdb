"""Questions: in answer channels, on mention, in DMs and in the bot's threads; and ``/ask``."""

from __future__ import annotations

import functools
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot
from bot.domain.answering import Answer
from bot.domain.errors import UserError
from bot.exts._render import slide_embed
from bot.plumbing import NO_MENTIONS, Cooldown, cooldown_message, off_loop, report_error, send_ephemeral, send_in_parts

log = logging.getLogger(__name__)

MAX_SLIDE_BUTTONS = 5


class ShowSlideButton(discord.ui.DynamicItem[discord.ui.Button], template=r"slide:show:(?P<number>\d{1,4})"):
    """A button under an answer that shows one cited slide to whoever presses it.

    Dynamic items are matched by custom id, so the buttons keep working after a restart.
    """

    def __init__(self, number: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Slide {number}",
                emoji="📖",
                style=discord.ButtonStyle.secondary,
                custom_id=f"slide:show:{number}",
            )
        )
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            slide = interaction.client.services.deck.get(self.number)  # type: ignore[attr-defined]
            if slide is None:
                raise UserError(f"Slide {self.number} is no longer in the deck.")
            await interaction.response.send_message(embed=slide_embed(slide), ephemeral=True)
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


def answer_view(answer: Answer) -> discord.ui.View | None:
    if not answer.slides:
        return None
    view = discord.ui.View(timeout=None)
    for number in answer.slides[:MAX_SLIDE_BUTTONS]:
        view.add_item(ShowSlideButton(number))
    return view


def strip_mentions(content: str, bot_id: int) -> str:
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


class Ask(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        self.cooldown = Cooldown(bot.settings.question_cooldown_s)
        self.answer_channels = set(bot.settings.answer_channel_ids)
        self.threads: set[int] = set()  # threads the bot has answered in

    async def ask(self, question: str) -> Answer:
        return await off_loop(self.bot.services.tutor.ask, question)

    def should_answer(self, message: discord.Message) -> bool:
        if message.author.bot or message.webhook_id is not None:
            return False
        if message.guild is None:
            return True
        channel = message.channel
        if channel.id in self.answer_channels or channel.id in self.threads:
            return True
        if isinstance(channel, discord.Thread) and channel.parent_id in self.answer_channels:
            return True
        return self.bot.user is not None and self.bot.user in message.mentions

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self.should_answer(message):
            return
        question = strip_mentions(message.content, self.bot.user.id)
        if not question:
            if message.content or message.guild is None:
                await message.reply(
                    "Ask me anything about the slides, e.g. *What is an embedding?*",
                    allowed_mentions=NO_MENTIONS,
                    mention_author=False,
                )
            return
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            await message.reply(cooldown_message(wait), allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        try:
            async with message.channel.typing():
                answer = await self.ask(question)
        except UserError as error:
            await message.reply(str(error), allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        except Exception:
            log.exception("answering a message failed")
            await message.reply(
                "Sorry, I couldn't answer that just now; please try again in a moment.",
                allowed_mentions=NO_MENTIONS,
                mention_author=False,
            )
            return
        await send_in_parts(functools.partial(message.reply, mention_author=False), answer.text, answer_view(answer))
        if isinstance(message.channel, discord.Thread):
            self.threads.add(message.channel.id)

    @app_commands.command(name="ask", description="Ask a question about the slides; I answer from the deck.")
    @app_commands.describe(question="Your question, in your own words")
    async def ask_command(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000]) -> None:
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await send_ephemeral(interaction, cooldown_message(wait))
            return
        await interaction.response.defer(thinking=True)
        answer = await self.ask(question)
        await send_in_parts(interaction.followup.send, f"> {answer.question[:300]}\n{answer.text}", answer_view(answer))


async def setup(bot: TutorBot) -> None:
    bot.add_dynamic_items(ShowSlideButton)
    await bot.add_cog(Ask(bot))
