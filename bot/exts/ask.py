"""Conversation: questions in answer channels, on mention, in DMs, in replies to the bot and in the
threads it answers in; and ``/ask``.

Every message goes to the domain's ``Tutoring.respond`` and this cog only renders the ``Reply``:
its text (split within Discord's limit, nobody pinged), a Slide N button per cited slide, and the
actions it offers (Simpler, Example, Quiz me) with a New topic button. A feature asked for in words
(``reply.request``: "quiz me", "next slide", "tokenize 'hello'"…) is run with the same code as its
slash command, the reply's text leading it.

Who is talking to the bot. In an answer channel (and its threads) a question or request is
answered even when not addressed; other chatter between learners ("lol same") is left alone.
Small talk ("thanks!") is answered when addressed to the bot: a mention, a Discord reply to one of
its messages, a DM, or a thread it answers in.

Cooldowns (``QUESTION_COOLDOWN_S``). Slash commands that cost use discord.py's
``app_commands.checks.dynamic_cooldown`` and the bot's one error path; questions sent as messages
use ``commands.CooldownMapping`` per learner: one answer per window, at most one "slow down"
notice per window (spam is never amplified), and small talk, cheap, has its own window and never
gets a notice.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot
from bot.domain.conversation import Key, Reply
from bot.domain.errors import UserError
from bot.domain.messages import clean_message, is_small_talk
from bot.domain.server_settings import ServerSettings
from bot.domain.text import shorten
from bot.exts.generate import Generate
from bot.exts.slides import QuizButton, Slides, place_scope, slide_buttons
from bot.exts.teach import tokenized
from bot.plumbing import (
    NO_MENTIONS,
    cooldown_message,
    in_time,
    learner_text,
    off_loop,
    per_user_cooldown,
    question_cooldown,
    report_error,
    send_ephemeral,
    send_in_parts,
    storage_call,
)

log = logging.getLogger(__name__)

MAX_THREADS = 10_000  # threads remembered as "the bot answers here" (the least recently used go)
MAX_ECHO_CHARS = 300
APOLOGY = "Sorry, I couldn't answer that just now; please try again in a moment."
NEW_TOPIC = "New topic: ask me anything about the slides."
# The follow-ups under an answer: what the button says to the tutor, and the slide section it quotes.
FOLLOW_UPS = {"simpler": "explain it simpler", "example": "give me an example"}
FOLLOW_UP_LABELS = {"simpler": ("Simpler", "🪶"), "example": ("Example", "💡")}
VOTES = {"up": 1, "down": -1}
VOTED_KINDS = ("answer", "partial")
MAX_THREAD_NAME = 90

Send = Callable[..., Awaitable[discord.Message]]
CogT = TypeVar("CogT", bound=commands.Cog)
Cooldowns = commands.CooldownMapping | None


# --------------------------------------------------------------------------- who is asking


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked, and where: the conversation's key and the learner's place in the deck."""

    user: discord.abc.User
    guild_id: int | None
    channel_id: int | None

    @classmethod
    def of_message(cls, message: discord.Message) -> Asker:
        return cls(message.author, message.guild.id if message.guild else None, message.channel.id)

    @classmethod
    def of_interaction(cls, interaction: discord.Interaction) -> Asker:
        return cls(interaction.user, interaction.guild_id, interaction.channel_id)

    @property
    def key(self) -> Key:
        return Key(str(self.guild_id) if self.guild_id else "dm", str(self.channel_id or 0), str(self.user.id))

    @property
    def scope(self) -> str:
        return place_scope(self.guild_id)

    @property
    def learner(self) -> str:
        return str(self.user.id)


def echo(question: str) -> str:
    """The learner's question quoted back, without their markup: masked links keep only their
    text, mentions and links go, and what is left is escaped."""
    return f"> {learner_text(question, MAX_ECHO_CHARS)}" if clean_message(question) else ""


# --------------------------------------------------------------------------- buttons under answers


class FollowUpButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"ask:(?P<action>simpler|example):(?P<number>\d{1,4})"
):
    """Simpler / Example under an answer about slide ``number``: asks the tutor, for whoever
    presses it, and answers publicly (a follow-up belongs in the conversation)."""

    def __init__(self, action: str, number: int) -> None:
        label, emoji = FOLLOW_UP_LABELS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=discord.ButtonStyle.primary, custom_id=f"ask:{action}:{number}"
            ),
            row=1,
        )
        self.action = action
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(match["action"], int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer(thinking=True)
            tutoring = interaction.client.services.tutoring  # type: ignore[attr-defined]
            key = Asker.of_interaction(interaction).key
            answered = await off_loop(tutoring.follow_up, key, self.number, FOLLOW_UPS[self.action])
            reply = answered.reply
            await send_in_parts(interaction.followup.send, reply.text, reply_view(reply, answered.question_id))
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


class NewTopicButton(discord.ui.DynamicItem[discord.ui.Button], template=r"ask:new-topic"):
    """Forgets the presser's topic here: the next "why?" or "give me an example" starts afresh."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="New topic", emoji="🔄", style=discord.ButtonStyle.secondary, custom_id="ask:new-topic"
            ),
            row=1,
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            interaction.client.services.tutoring.reset(Asker.of_interaction(interaction).key)  # type: ignore[attr-defined]
            await send_ephemeral(interaction, NEW_TOPIC)
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"vote:(?P<vote>up|down):(?P<id>\d{1,19})"):
    """👍 / 👎 under an answer: the presser's vote on the logged question ``id`` (one per learner per
    answer; pressing the other one changes it). Restart-proof: the id is in the custom id."""

    def __init__(self, vote: str, question_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"vote:{vote}:{question_id}",
            ),
            row=2,
        )
        self.vote = vote
        self.question_id = question_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(match["vote"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services = interaction.client.services  # type: ignore[attr-defined]
            vote = VOTES[self.vote]
            work = storage_call(services.vote, self.question_id, str(interaction.user.id), vote)
            result = await in_time(interaction, work, ephemeral=True)
            await send_ephemeral(interaction, vote_message(result))
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


def vote_message(result) -> str:
    said = "helped 👍" if result.vote > 0 else "didn't help 👎"
    if not result.changed:
        return f"You already said this answer {said}. Press the other button to change your vote."
    return f"Thanks: noted that this answer {said}. You can change your vote with the other button."


def reply_view(reply: Reply, question_id: int | None = None) -> discord.ui.View | None:
    """A Slide N button per cited slide; then the reply's actions on its first slide, and New topic;
    then 👍 and 👎 under a logged answer."""
    numbers = reply.slides
    items: list[discord.ui.Item] = list(slide_buttons(numbers, row=0))
    if numbers and reply.actions:
        for action in reply.actions:
            if action in FOLLOW_UPS:
                items.append(FollowUpButton(action, numbers[0]))
            elif action == "quiz":
                quiz = QuizButton(numbers[0])
                quiz.row = 1
                items.append(quiz)
        items.append(NewTopicButton())
    if question_id is not None and reply.kind in VOTED_KINDS:
        items += [VoteButton("up", question_id), VoteButton("down", question_id)]
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


# --------------------------------------------------------------------------- the cog


class Ask(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        self.threads: OrderedDict[int, None] = OrderedDict()  # threads the bot has answered in, most recent last
        # Per cooldown length (each server may set its own): questions, "slow down" notices (at most
        # one per window), small talk.
        self._cooldowns: dict[float, tuple[Cooldowns, Cooldowns, Cooldowns]] = {}

    def cooldowns(self, seconds: float) -> tuple[Cooldowns, Cooldowns, Cooldowns]:
        if seconds not in self._cooldowns:
            self._cooldowns[seconds] = (
                per_user_cooldown(seconds),
                per_user_cooldown(seconds),
                per_user_cooldown(seconds),
            )
        return self._cooldowns[seconds]

    async def server_settings(self, guild_id: int | None) -> ServerSettings:
        store = self.bot.services.server_settings
        return store.cached(guild_id) or await storage_call(store.get, guild_id)

    # ------------------------------------------------------------------ messages

    def addressed(self, message: discord.Message) -> bool:
        """Meant for the bot: a DM, a mention, a reply to one of its messages, or in a thread it answers in."""
        me = self.bot.user
        if message.guild is None or message.channel.id in self.threads:
            return True
        if me is None:
            return False
        if me in message.mentions:
            return True
        reference = message.reference
        if reference is not None:
            target = reference.resolved or reference.cached_message
            return isinstance(target, discord.Message) and target.author.id == me.id
        return False

    @staticmethod
    def in_answer_channel(message: discord.Message, answer_channels: tuple[int, ...]) -> bool:
        channel = message.channel
        if channel.id in answer_channels:
            return True
        return isinstance(channel, discord.Thread) and channel.parent_id in answer_channels

    def remember_thread(self, channel: discord.abc.Messageable) -> None:
        if isinstance(channel, discord.Thread):
            self.threads[channel.id] = None
            self.threads.move_to_end(channel.id)
            while len(self.threads) > MAX_THREADS:
                self.threads.popitem(last=False)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        addressed = self.addressed(message)
        tutoring = self.bot.services.tutoring
        key = Asker.of_message(message).key
        server = await self.server_settings(message.guild.id if message.guild else None)
        in_answer_channel = self.in_answer_channel(message, server.answer_channels)
        if not addressed:
            if not in_answer_channel:
                return  # a channel where the bot answers only when asked
            try:
                for_the_tutor = tutoring.expects_reply(key, message.content) or await off_loop(
                    tutoring.covers, message.content, key.place
                )
            except UserError:  # the index is away (logged once by the index): not a reason to speak up
                return
            if not for_the_tutor:
                return  # chatter between learners: not a question, and nothing the slides answer
        small_talk = is_small_talk(message.content)
        send: Send = functools.partial(message.reply, mention_author=False)
        if not await self.admit(message.author.id, small_talk, send, server.question_cooldown_s):
            return
        asker = Asker.of_message(message)
        channel: discord.abc.Messageable = message.channel
        try:
            if small_talk:
                answered = await off_loop(tutoring.answer, asker.key, message.content)
            else:
                async with message.channel.typing():
                    answered = await off_loop(tutoring.answer, asker.key, message.content)
                if server.answer_in_threads and in_answer_channel and isinstance(channel, discord.TextChannel):
                    # The server answers questions in a thread of their own, started on the question.
                    channel = await message.create_thread(
                        name=shorten(clean_message(message.content) or "question", MAX_THREAD_NAME)
                    )
                    send = channel.send
            await self.send_reply(send, answered.reply, asker, question_id=answered.question_id)
        except UserError as error:
            await send(str(error), allowed_mentions=NO_MENTIONS)
        except Exception:
            log.exception("answering a message failed")
            await send(APOLOGY, allowed_mentions=NO_MENTIONS)
        self.remember_thread(channel)

    async def admit(self, user_id: int, small_talk: bool, send: Send, seconds: float) -> bool:
        """Whether a message is answered now. One question (or request) per learner per window
        (``seconds``: the server's question cooldown); when on cooldown, one notice per window and
        then silence. Small talk has its own window and is dropped silently."""
        questions, notices, chatter = self.cooldowns(seconds)
        cooldowns = chatter if small_talk else questions
        if cooldowns is None:
            return True
        wait = cooldowns.update_rate_limit(user_id)
        if wait is None:
            return True
        if not small_talk and notices is not None and notices.update_rate_limit(user_id) is None:
            await send(cooldown_message(wait), allowed_mentions=NO_MENTIONS)
        return False

    # ------------------------------------------------------------------ /ask

    @app_commands.command(name="ask", description="Ask a question about the slides; I answer from the deck.")
    @app_commands.describe(question="Your question, in your own words")
    @app_commands.checks.dynamic_cooldown(question_cooldown)
    async def ask_command(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000]) -> None:
        await interaction.response.defer(thinking=True)
        asker = Asker.of_interaction(interaction)
        answered = await off_loop(self.bot.services.tutoring.answer, asker.key, question)
        await self.send_reply(
            functools.partial(interaction.followup.send, wait=True),
            answered.reply,
            asker,
            echo(question),
            question_id=answered.question_id,
        )

    # ------------------------------------------------------------------ rendering a reply

    async def send_reply(
        self, send: Send, reply: Reply, asker: Asker, prefix: str = "", *, question_id: int | None = None
    ) -> None:
        """``reply`` through ``send`` (a reply to the message, or a followup): its text and buttons,
        or, for a feature asked for in words, that feature led by the reply's text."""
        lead = "\n".join(part for part in (prefix, reply.text) if part)
        if reply.request is not None:
            await self.run_request(send, reply, asker, lead)
            return
        await send_in_parts(send, lead, reply_view(reply, question_id))

    async def run_request(self, send: Send, reply: Reply, asker: Asker, lead: str) -> None:
        request = reply.request
        assert request is not None
        scope, learner = asker.scope, asker.learner
        name = request.name
        if name == "tokenize":
            await send(
                allowed_mentions=NO_MENTIONS,
                **await tokenized(self.bot.services.tokenizers, request.argument, lead=lead),
            )
            return
        if name == "generate":
            await self.cog(Generate).generate_in_reply(
                send, asker.user, scope, request.kind or "story", request.argument, lead
            )
            return
        slides = self.cog(Slides)
        if name == "quiz":
            message = await slides.quiz_message(scope, learner, request.argument)
        elif name in ("next", "prev"):
            message = await slides.step_message(scope, learner, 1 if name == "next" else -1)
        elif name == "slide":
            message = await slides.goto_message(scope, learner, request.argument)
        elif name == "deck":
            message = await slides.deck_message(scope, learner)
        else:  # reset: the tutor has already forgotten the topic; the lead says so
            await send_in_parts(send, lead or NEW_TOPIC)
            return
        await send(content=lead or None, **message)

    def cog(self, kind: type[CogT]) -> CogT:
        # By name, not isinstance: load_extension executes a cog's module afresh, so the loaded
        # cog's class is not the one imported here.
        cog = self.bot.get_cog(kind.__cog_name__)
        if cog is None:
            raise RuntimeError(f"the {kind.__cog_name__} cog is not loaded")
        return cog  # type: ignore[return-value]


async def setup(bot: TutorBot) -> None:
    bot.add_dynamic_items(FollowUpButton, NewTopicButton, VoteButton)
    await bot.add_cog(Ask(bot))
