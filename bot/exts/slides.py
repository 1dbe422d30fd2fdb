"""Moving through the deck: ``/next``, ``/prev``, ``/slide``, ``/deck``, ``/quiz``, and the buttons
under every slide (Previous, Next, FAQ, Quiz me).

Places. Each learner has one place per server (scope ``guild:<id>``) and one for DMs (``dm``),
kept by ``LearnerStore`` in the state database (SQLite, or PostgreSQL shared by several bot
processes), so they survive restarts.

Buttons act for whoever presses them. Previous / Next move the *presser's* place and show the
presser's slide:

* on a message that is theirs (the response to their own command, or any ephemeral message, which
  only they can see) the message is edited in place;
* on someone else's message they get their slide in a private (ephemeral) reply, and the message
  stays as it is for everyone else. A message whose owner cannot be told counts as someone else's.

FAQ shows the FAQ of the slide on the message, privately. Quiz me asks about the slide on the
message (the one the presser is looking at); ``/quiz`` asks about the learner's current slide.

Requests in words ("next slide", "go to slide 8", "quiz me", sent to the Ask cog) get the same
slides as messages: ``Slides.step_message``, ``goto_message``, ``deck_message`` and
``quiz_message`` (a modal cannot answer a message, so the quiz question is posted with an Answer
button that opens the modal for that very question). Answers carry a Slide N button per cited
slide (``ShowSlideButton``), which shows the slide privately.

Restart-proof: every button is a ``DynamicItem`` matched by its custom id (``slides:next``,
``slides:prev``, ``slides:faq:<n>``, ``slides:quiz:<n>``, ``slides:goto:<n>``,
``slides:question:<slide>:<question index>:<checksum>``, ``slide:show:<n>``), so buttons on old
messages keep working after the bot restarts. The quiz modal is answered statelessly too: its
custom id (``slides:answer:<slide>:<question index>:<checksum>``) names the question, and
``Slides.on_interaction`` handles the submission, so a modal open across a restart still works
and two learners' modals can never be confused.

Judging runs the embedding model: measured at 0.2-1.1 s on the shared 2-core machine (median
0.5 s), so the answer is deferred (ephemeral "thinking") and sent as a followup. Moving between
slides is one small database write on the storage workers (``storage_call``, never queued behind
model work) and is answered at once; should it take over a second (a busy database), ``in_time``
defers the interaction first so the reply still arrives, publicly or privately as it would have.
``/quiz`` answers with a modal, which can only be a first response: when deferred, the question
comes instead as a private message with an Answer button that opens the modal. Every blocking
call goes through ``storage_call`` or ``off_loop``; every error goes to the bot's one error path
(``report_error``).

Why one long module: the slide commands and their restart-proof buttons share the place and
quiz flows; split, each half would import the other.
"""

from __future__ import annotations

import logging
import re
import zlib

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TutorBot, tutor_bot
from bot.domain.deck import Deck, Slide
from bot.domain.errors import UserError
from bot.domain.quiz import QuizQuestion, pick_question, questions_for
from bot.domain.services import Services
from bot.domain.text import shorten
from bot.exts._render import (
    COLOUR,
    deck_embed,
    faq_embed,
    quiz_result_embed,
    slide_choice_name,
    slide_embed,
    slide_position,
)
from bot.plumbing import NO_MENTIONS, in_time, off_loop, report_error, respond, storage_call

log = logging.getLogger(__name__)

DM_SCOPE = "dm"
MAX_CHOICES = 25
ANSWER_INPUT = "answer"
ANSWER_MAX = 1000
MAX_REMEMBERED = 100_000  # learners whose last quiz question is remembered (to vary the next)
MAX_SLIDE_BUTTONS = 5
NOT_STARTED = "You haven't started the deck yet: use `/next` for the first slide, or `/slide` to jump to one."
NOT_STARTED_IN_WORDS = (
    "You haven't started the deck yet: say *next slide* for the first one, or ask me about a topic "
    "and then say *quiz me*."
)
QUESTION_ID = r"(?P<slide>\d{1,4}):(?P<index>\d{1,3}):(?P<check>[0-9a-f]{8})"
ANSWER_ID = re.compile(rf"slides:answer:{QUESTION_ID}")


# --------------------------------------------------------------------------- who and where


def place_scope(guild_id: int | None) -> str:
    """The learner's places are per server, and one set for DMs."""
    return f"guild:{guild_id}" if guild_id else DM_SCOPE


def scope_of(interaction: discord.Interaction) -> str:
    return place_scope(interaction.guild_id)


def learner_of(interaction: discord.Interaction) -> str:
    return str(interaction.user.id)


def owns_message(interaction: discord.Interaction) -> bool:
    """Whether the message under a pressed button is the presser's own: ephemeral (only they can
    see it) or the response to their own interaction. Unknown owners count as someone else."""
    message = interaction.message
    if message is None:
        return False
    if message.flags.ephemeral:
        return True
    metadata = message.interaction_metadata
    return metadata is not None and metadata.user.id == interaction.user.id


def services_of(interaction: discord.Interaction) -> Services:
    return tutor_bot(interaction).services


async def deck_of(services: Services, scope: str) -> Deck:
    """The deck of a place, found on the storage workers; a server's course not loaded since the
    start is loaded on the model workers (its index brought up to date: seconds)."""
    tutor = await storage_call(services.courses.ready, scope)
    return tutor.deck if tutor is not None else await off_loop(services.deck_for, scope)


async def step(services: Services, scope: str, user: str, offset: int) -> tuple[Deck, Slide]:
    """Move the learner ``offset`` slides on (or back); their deck and new slide."""
    deck = await deck_of(services, scope)
    return deck, await storage_call(services.learners.step, deck, scope, user, offset)


async def goto(services: Services, scope: str, user: str, number: int) -> tuple[Deck, Slide]:
    deck = await deck_of(services, scope)
    return deck, await storage_call(services.learners.goto, deck, scope, user, number)


# --------------------------------------------------------------------------- slides as messages


def slide_view(slide: Slide) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StepButton(-1))
    view.add_item(StepButton(1))
    view.add_item(FaqButton(slide.number))
    view.add_item(QuizButton(slide.number))
    return view


def slide_message(deck: Deck, slide: Slide) -> dict:
    """Keyword arguments that send (or edit a message into) a slide with its buttons."""
    return {
        "embed": slide_embed(slide, position=slide_position(deck, slide)),
        "view": slide_view(slide),
        "allowed_mentions": NO_MENTIONS,
    }


def slide_choices(deck: Deck, typed: str, limit: int = MAX_CHOICES) -> list[app_commands.Choice[str]]:
    """Autocomplete: the slide with that number, numbers starting so, then titles containing it."""
    return [app_commands.Choice(name=slide_choice_name(s), value=str(s.number)) for s in deck.search(typed)[:limit]]


def private_reply(interaction: discord.Interaction) -> bool:
    """A slide answers a command publicly, a button press privately."""
    return interaction.type is discord.InteractionType.component


async def send_slide(interaction: discord.Interaction, deck: Deck, slide: Slide, *, edit: bool) -> None:
    """Edit the pressed message into ``slide`` (``edit``), else reply with it: publicly to a
    command, privately to a button press (as the response, or the followup once deferred)."""
    message = slide_message(deck, slide)
    if edit:
        await respond(interaction, edit=True, content=None, **message)
    else:
        await respond(interaction, ephemeral=private_reply(interaction), **message)


async def step_and_show(interaction: discord.Interaction, offset: int, *, edit: bool = False) -> None:
    work = step(services_of(interaction), scope_of(interaction), learner_of(interaction), offset)
    deck, slide = await in_time(interaction, work, ephemeral=private_reply(interaction))
    await send_slide(interaction, deck, slide, edit=edit)


# --------------------------------------------------------------------------- quiz


def question_check(question: QuizQuestion) -> str:
    return f"{zlib.crc32(question.question.encode()):08x}"


def question_id(questions: list[QuizQuestion], question: QuizQuestion) -> str:
    """``<slide>:<index>:<checksum>``: names a question of a slide, and notices when it changed."""
    return f"{question.slide}:{questions.index(question)}:{question_check(question)}"


def answer_custom_id(questions: list[QuizQuestion], question: QuizQuestion) -> str:
    return f"slides:answer:{question_id(questions, question)}"


def question_from_custom_id(deck: Deck, match: re.Match[str]) -> QuizQuestion:
    """The question a modal asked, found again from its custom id (the deck may have changed)."""
    slide = deck.get(int(match["slide"]))
    questions = questions_for(slide) if slide else []
    index = int(match["index"])
    if index >= len(questions) or question_check(questions[index]) != match["check"]:
        raise UserError("The slides changed since I asked that question. Press **Quiz me** for a new one.")
    return questions[index]


def answer_modal(questions: list[QuizQuestion], question: QuizQuestion) -> discord.ui.Modal:
    """The question and a paragraph box for the answer (1-1000 characters)."""
    modal = discord.ui.Modal(
        title=shorten(f"Quiz · Slide {question.slide}", 45),
        custom_id=answer_custom_id(questions, question),
        timeout=None,
    )
    box = discord.ui.TextInput(
        custom_id=ANSWER_INPUT,
        style=discord.TextStyle.paragraph,
        min_length=1,
        max_length=ANSWER_MAX,
        placeholder="In your own words: a sentence or two is enough.",
    )
    if len(question.question) <= 45:
        modal.add_item(discord.ui.Label(text=question.question, component=box))
    else:
        modal.add_item(discord.ui.Label(text="Your answer", description=shorten(question.question, 100), component=box))
    # Answered by ``Slides.on_interaction`` from the custom id: a stopped modal is not kept by
    # discord.py, so nothing is held in memory and the answer still arrives after a restart.
    modal.stop()
    return modal


def submitted_text(data: dict, custom_id: str) -> str:
    """The value of text input ``custom_id`` in a modal submission (in a label or an action row)."""
    stack = list(data.get("components") or [])
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"] or "")
        stack.extend(component.get("components") or [])
        if component.get("component"):
            stack.append(component["component"])
    return ""


def question_embed(slide: Slide, question: QuizQuestion) -> discord.Embed:
    embed = discord.Embed(
        title=shorten(f"Quiz · Slide {slide.number} · {slide.title}", 256),
        description=shorten(question.question, 4000),
        colour=COLOUR,
    )
    embed.set_footer(text="Press Answer and reply in your own words: a sentence or two is enough.")
    return embed


def result_view(question: QuizQuestion) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(GotoButton(question.slide))
    view.add_item(QuizButton(question.slide, label="Another question"))
    return view


# --------------------------------------------------------------------------- buttons


class _SlidesButton(discord.ui.DynamicItem[discord.ui.Button], template=r"slides:_base"):
    """Routes errors of a button to the bot's one error path."""

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.act(interaction)
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)

    async def act(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


async def _slide_or_error(interaction: discord.Interaction, number: int, deck: Deck | None = None) -> Slide:
    """Slide ``number`` of the presser's deck (their server's course, or the default deck)."""
    if deck is None:
        deck = await deck_of(services_of(interaction), scope_of(interaction))
    slide = deck.get(number)
    if slide is None:
        raise UserError(f"Slide {number} is no longer in the deck; slides are {deck.range_text()}.")
    return slide


class StepButton(_SlidesButton, template=r"slides:(?P<direction>next|prev)"):
    """Previous / Next: moves the presser's own place (see the module docstring)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        forward = offset > 0
        super().__init__(
            discord.ui.Button(
                label="Next" if forward else "Previous",
                emoji="▶️" if forward else "◀️",
                style=discord.ButtonStyle.primary if forward else discord.ButtonStyle.secondary,
                custom_id="slides:next" if forward else "slides:prev",
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(1 if match["direction"] == "next" else -1)

    async def act(self, interaction: discord.Interaction) -> None:
        await step_and_show(interaction, self.offset, edit=owns_message(interaction))


class FaqButton(_SlidesButton, template=r"slides:faq:(?P<number>\d{1,4})"):
    """The FAQ of the slide on the message, privately."""

    def __init__(self, number: int) -> None:
        self.number = number
        super().__init__(
            discord.ui.Button(
                label="FAQ", emoji="❓", style=discord.ButtonStyle.secondary, custom_id=f"slides:faq:{number}"
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["number"]))

    async def act(self, interaction: discord.Interaction) -> None:
        slide = await in_time(interaction, _slide_or_error(interaction, self.number), ephemeral=True)
        view = discord.ui.View(timeout=None)
        view.add_item(QuizButton(slide.number))
        await respond(interaction, embed=faq_embed(slide), view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)


class QuizButton(_SlidesButton, template=r"slides:quiz:(?P<number>\d{1,4})"):
    """Quiz me: a question on the slide on the message, answered in a modal."""

    def __init__(self, number: int, label: str = "Quiz me") -> None:
        self.number = number
        super().__init__(
            discord.ui.Button(
                label=label, emoji="🧠", style=discord.ButtonStyle.success, custom_id=f"slides:quiz:{number}"
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["number"]), label=item.label or "Quiz me")

    async def act(self, interaction: discord.Interaction) -> None:
        slide = await _slide_or_error(interaction, self.number)
        await slides_cog(interaction).open_quiz(interaction, slide)


class GotoButton(_SlidesButton, template=r"slides:goto:(?P<number>\d{1,4})"):
    """Under a quiz result: moves the presser's place to the slide and shows it privately."""

    def __init__(self, number: int) -> None:
        self.number = number
        super().__init__(
            discord.ui.Button(
                label=f"Revisit slide {number}",
                emoji="📖",
                style=discord.ButtonStyle.secondary,
                custom_id=f"slides:goto:{number}",
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["number"]))

    async def act(self, interaction: discord.Interaction) -> None:
        work = goto(services_of(interaction), scope_of(interaction), learner_of(interaction), self.number)
        deck, slide = await in_time(interaction, work, ephemeral=True)
        await send_slide(interaction, deck, slide, edit=False)


class AnswerButton(_SlidesButton, template=rf"slides:question:{QUESTION_ID}"):
    """Under a quiz question posted as a message: opens the answer modal for that very question
    (found again from the custom id when pressed: the deck may have changed meanwhile)."""

    def __init__(self, name: str) -> None:
        self.name = name  # <slide>:<index>:<checksum>
        super().__init__(
            discord.ui.Button(
                label="Answer", emoji="✍️", style=discord.ButtonStyle.success, custom_id=f"slides:question:{name}"
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(f"{match['slide']}:{match['index']}:{match['check']}")

    async def act(self, interaction: discord.Interaction) -> None:
        deck = await deck_of(services_of(interaction), scope_of(interaction))
        question = question_from_custom_id(deck, re.fullmatch(QUESTION_ID, self.name))
        slide = await _slide_or_error(interaction, question.slide, deck)
        await interaction.response.send_modal(answer_modal(questions_for(slide), question))


class ShowSlideButton(discord.ui.DynamicItem[discord.ui.Button], template=r"slide:show:(?P<number>\d{1,4})"):
    """Under an answer: shows one cited slide, privately, to whoever presses it."""

    def __init__(self, number: int, *, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Slide {number}",
                emoji="📖",
                style=discord.ButtonStyle.secondary,
                custom_id=f"slide:show:{number}",
            ),
            row=row,
        )
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        return cls(int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            slide = await in_time(interaction, _slide_or_error(interaction, self.number), ephemeral=True)
            await respond(interaction, embed=slide_embed(slide), ephemeral=True)
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)


def slide_buttons(numbers: list[int], *, row: int | None = None) -> list[ShowSlideButton]:
    """A Slide N button per cited slide (the first ``MAX_SLIDE_BUTTONS``)."""
    return [ShowSlideButton(number, row=row) for number in numbers[:MAX_SLIDE_BUTTONS]]


def slides_view(numbers: list[int]) -> discord.ui.View | None:
    if not numbers:
        return None
    view = discord.ui.View(timeout=None)
    for button in slide_buttons(numbers):
        view.add_item(button)
    return view


BUTTONS = (StepButton, FaqButton, QuizButton, GotoButton, AnswerButton, ShowSlideButton)


def slides_cog(interaction: discord.Interaction) -> Slides:
    cog = tutor_bot(interaction).get_cog(Slides.__cog_name__)
    if not isinstance(cog, Slides):
        raise RuntimeError("the slides cog is not loaded")
    return cog


# --------------------------------------------------------------------------- the cog


class Slides(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        # The last question asked per learner, so that the next one differs when the slide has more.
        self.last_asked: dict[tuple[str, str], str] = {}

    @property
    def services(self) -> Services:
        return self.bot.services

    @app_commands.command(name="next", description="Go to your next slide.")
    async def next_command(self, interaction: discord.Interaction) -> None:
        await step_and_show(interaction, 1)

    @app_commands.command(name="prev", description="Go back to your previous slide.")
    async def prev_command(self, interaction: discord.Interaction) -> None:
        await step_and_show(interaction, -1)

    @app_commands.command(name="slide", description="Jump to a slide by number or title.")
    @app_commands.rename(query="number-or-title")
    @app_commands.describe(query="A slide number, or part of its title (pick from the list)")
    async def slide_command(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 100]) -> None:
        message = await in_time(interaction, self.goto_message(scope_of(interaction), learner_of(interaction), query))
        await respond(interaction, **message)

    @slide_command.autocomplete("query")
    async def slide_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return slide_choices(await deck_of(self.services, scope_of(interaction)), current)

    @app_commands.command(name="deck", description="The contents of the deck, with your place marked.")
    async def deck_command(self, interaction: discord.Interaction) -> None:
        work = self.deck_message(scope_of(interaction), learner_of(interaction))
        message = await in_time(interaction, work, ephemeral=True)
        await respond(interaction, ephemeral=True, **message)

    @app_commands.command(name="quiz", description="A question on your current slide; answer in your own words.")
    async def quiz_command(self, interaction: discord.Interaction) -> None:
        scope, user = scope_of(interaction), learner_of(interaction)
        slide = await in_time(interaction, self.current_slide(scope, user), ephemeral=True)
        if slide is None:
            raise UserError(NOT_STARTED)
        if interaction.response.is_done():
            # Deferred (the place was slow to read): a modal can only be the first response, so
            # the question comes privately with an Answer button that opens the modal for it.
            await interaction.followup.send(ephemeral=True, **self.question_message(scope, user, slide))
        else:
            await self.open_quiz(interaction, slide)

    async def current_slide(self, scope: str, user: str) -> Slide | None:
        deck = await deck_of(self.services, scope)
        return await storage_call(self.services.learners.current, deck, scope, user)

    async def open_quiz(self, interaction: discord.Interaction, slide: Slide) -> None:
        """Ask a question on ``slide`` in a modal (not the learner's last one when there are others)."""
        question = self.pick_question(scope_of(interaction), learner_of(interaction), slide)
        await interaction.response.send_modal(answer_modal(questions_for(slide), question))

    def pick_question(self, scope: str, user: str, slide: Slide) -> QuizQuestion:
        key = (scope, user)
        question = pick_question(slide, exclude=[self.last_asked[key]] if key in self.last_asked else ())
        if question is None:
            raise UserError(f"Slide {slide.number} has nothing to quiz you on; try `/next`.")
        if len(self.last_asked) >= MAX_REMEMBERED:
            self.last_asked.clear()  # a memory bound; forgetting only allows one repeat
        self.last_asked[key] = question.question
        return question

    # ------------------------------------------------------------------ as messages (requests in words)

    async def step_message(self, scope: str, user: str, offset: int) -> dict:
        """The learner's next (``offset`` 1) or previous (-1) slide, as keyword arguments of a send."""
        deck, slide = await step(self.services, scope, user, offset)
        return slide_message(deck, slide)

    async def goto_message(self, scope: str, user: str, query: str) -> dict:
        """The slide ``query`` names (a number or part of a title); the learner's place moves there."""
        deck = await deck_of(self.services, scope)
        slide = await storage_call(self.services.learners.goto, deck, scope, user, deck.resolve(query))
        return slide_message(deck, slide)

    async def deck_message(self, scope: str, user: str) -> dict:
        deck, places = await deck_of(self.services, scope), self.services.learners

        def read():
            return places.current(deck, scope, user), places.scores(scope, user)

        place, scores = await storage_call(read)
        return {"embed": deck_embed(deck, place, scores), "allowed_mentions": NO_MENTIONS}

    async def quiz_message(self, scope: str, user: str, slide_number: str = "") -> dict:
        """A question on slide ``slide_number`` (else the learner's current slide) with an Answer
        button that opens the modal: the quiz for a request in words, where no modal can open."""
        if slide_number:
            deck = await deck_of(self.services, scope)
            slide = deck.get(int(slide_number))
            if slide is None:
                raise UserError(f"Slide {slide_number} is no longer in the deck; slides are {deck.range_text()}.")
        else:
            slide = await self.current_slide(scope, user)
            if slide is None:
                raise UserError(NOT_STARTED_IN_WORDS)
        return self.question_message(scope, user, slide)

    def question_message(self, scope: str, user: str, slide: Slide) -> dict:
        """A question on ``slide`` with an Answer button that opens the modal for it."""
        question = self.pick_question(scope, user, slide)
        view = discord.ui.View(timeout=None)
        view.add_item(AnswerButton(question_id(questions_for(slide), question)))
        return {"embed": question_embed(slide, question), "view": view, "allowed_mentions": NO_MENTIONS}

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        match = ANSWER_ID.fullmatch(str((interaction.data or {}).get("custom_id", "")))
        if match is None:
            return
        try:
            await self.answer_quiz(interaction, match)
        except Exception as error:  # noqa: BLE001 - routed to the one error path
            await report_error(interaction, error)

    async def answer_quiz(self, interaction: discord.Interaction, match: re.Match[str]) -> None:
        # Judging runs the model (0.2-1.1 s measured on a busy machine): defer, then follow up.
        await interaction.response.defer(ephemeral=True, thinking=True)
        question = question_from_custom_id(await deck_of(self.services, scope_of(interaction)), match)
        answer = submitted_text(interaction.data or {}, ANSWER_INPUT)
        verdict = await off_loop(
            self.services.judge_and_record, scope_of(interaction), learner_of(interaction), question, answer
        )
        log.info("quiz on slide %d: %s", question.slide, verdict.verdict)
        await interaction.followup.send(
            embed=quiz_result_embed(question, answer, verdict),
            view=result_view(question),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: TutorBot) -> None:
    bot.add_dynamic_items(*BUTTONS)
    await bot.add_cog(Slides(bot))
