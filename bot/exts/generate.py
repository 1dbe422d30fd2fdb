"""Generation on Discord: ``/generate`` (streamed, stoppable, queued) and ``/predict`` (next-token odds).

Thin commands around ``bot.domain.generation``: the model loads lazily through
``Services.generation`` in a worker thread, the service runs it off the event loop, and this module
only renders. Facts go to the deck: a topic that is really a question about the course is answered
from the slides, never by the generator; everything generated is labelled as such. Generation asked
for in words ("write a poem about tokens", through the Ask cog) runs the same flow into a reply
(``Generate.generate_in_reply``).

Why one long module: ``/generate``, ``/predict`` and generation asked for in words share the
queue, the streamed reply and its Stop button.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePath

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from bot.client import TutorBot
from bot.domain.deck import Slide
from bot.domain.errors import UserError
from bot.domain.generation import (
    DEFAULT_TEMPERATURES,
    KINDS,
    MAX_TOPIC_CHARS,
    Chunk,
    Finished,
    GenerationError,
    GenerationRequest,
    GenerationService,
    GenerationStats,
    GenerationTimeout,
    Queued,
    QueueFull,
    Retrying,
    SamplingView,
    Started,
    build_request,
    example_slide,
    looks_like_course_question,
    render_prediction_png,
    slide_context,
)
from bot.domain.text import shorten
from bot.exts.slides import place_scope, slides_view
from bot.plain import prediction_table
from bot.plumbing import (
    MESSAGE_LIMIT,
    NO_MENTIONS,
    TOKEN_MARGIN_S,
    can_post_in,
    cooldown_message,
    generation_cooldown,
    in_time,
    off_loop,
    per_user_cooldown,
    question_cooldown,
    report_error,
    send_ephemeral,
    send_in_parts,
    token_seconds_left,
)

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.0  # at most one edit of a streaming reply per second (Discord's rate limits)
MIN_LENGTH, MAX_LENGTH = 20, 400  # new tokens a learner may ask for
MAX_PREDICT_CHARS = 500
PREDICT_TOP_K = 8
PNG_NAME = "next-token.png"
GENERATED_LABEL = "generated text, not course material"

KIND_LABELS = {
    "story": "a short story",
    "marketing": "three marketing lines",
    "brainstorm": "a list of ideas",
    "poem": "a short poem",
    "example": "an everyday example of a slide",
}
KIND_CHOICES = [app_commands.Choice(name=f"{kind}: {KIND_LABELS[kind]}", value=kind) for kind in KINDS]

STOPPED = "(stopped)"


def busy_message(waiting: int) -> str:
    return (
        f"The text generator is busy ({waiting} request{'s' if waiting != 1 else ''} waiting). "
        "Please try again in a minute."
    )


# ------------------------------------------------------------------------------ pure helpers


def model_label(model: str) -> str:
    """A model name for a footer: the last part of a path or a hub id."""
    return PurePath(model).name or model


def stats_footer(stats: GenerationStats) -> str:
    return (
        f"-# — {model_label(stats.model)} · {stats.tokens} token{'s' if stats.tokens != 1 else ''} · "
        f"{stats.tokens_per_second:.1f} tok/s · {GENERATED_LABEL}"
    )


def compose(header: str, body: str, *tail: str | None, limit: int = MESSAGE_LIMIT) -> str:
    """Header, body and tail lines within ``limit`` characters: the body is cut (with "…")."""
    tail_text = "\n".join(line for line in tail if line)
    budget = limit - len(header) - len(tail_text) - 2
    body = shorten(body.strip(), max(budget, 1)) if body.strip() else ""
    return "\n".join(part for part in (header, body, tail_text) if part)[:limit]


def generation_header(kind: str, topic: str, slide: Slide | None) -> str:
    if slide is not None:
        about = f" · {escape_markdown(shorten(topic, 120))}" if topic else ""
        return f"✍️ **Example** for slide {slide.number} ({escape_markdown(shorten(slide.title, 80))}){about}"
    return f"✍️ **{kind.capitalize()}** · {escape_markdown(shorten(topic, 150))}"


def render_prediction(view: SamplingView) -> str:
    """The predictions as a small table in a code block: one row per token, one column per temperature."""
    panels = view.panels
    rows = prediction_table(view)
    low, high = min(p.temperature for p in panels), max(p.temperature for p in panels)
    shown = escape_markdown(shorten(" ".join(view.text.split()), 200))
    return "\n".join(
        [
            f"**What the model would write next** after “{shown}”",
            "```",
            *rows,
            "```",
            f"-# T=1 is the model's own odds. Sampling at a low temperature (T={low:g}) piles them onto the "
            f"likeliest token; a high one (T={high:g}) spreads them out, so the text gets more surprising. "
            "`·` is a space, `↵` a newline.",
        ]
    )


# ------------------------------------------------------------------------------ the Stop button


class StopView(discord.ui.View):
    """One Stop button, usable only by the learner who asked; its custom id is unique per generation."""

    def __init__(self, owner: discord.abc.User, custom_id: str) -> None:
        super().__init__(timeout=None)  # removed by the final edit
        self.owner_id = owner.id
        self.owner_name = escape_markdown(owner.display_name)
        self.stop_requested = asyncio.Event()
        self.when_stopped: Callable[[], None] | None = None
        button = discord.ui.Button(label="Stop", emoji="⏹️", style=discord.ButtonStyle.danger, custom_id=custom_id)
        button.callback = self._stop_clicked
        self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, f"Only {self.owner_name} can stop this.")
        return False

    async def _stop_clicked(self, interaction: discord.Interaction) -> None:
        self.stop_requested.set()
        if self.when_stopped is not None:
            self.when_stopped()
        await interaction.response.defer()  # the generation's own edit says "(stopped)"

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await report_error(interaction, error)


# ------------------------------------------------------------------------------ streaming


@dataclass
class _Progress:
    """What the generation has reached; the pump writes it, the renderer reads it."""

    position: int | None = None
    started: bool = False
    retrying: str | None = None  # why the text is being written again, while it is
    pieces: list[str] = field(default_factory=list)
    stats: GenerationStats | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class ReplyGone(Exception):
    """The reply can no longer be updated: it was deleted, or its interaction token is expiring
    and there is nowhere to carry on. The generation stops."""


class Edit:
    """Where a streamed reply is shown: ``await edit(content, view)`` updates it; ``due()`` is how
    many seconds may pass before the next update must happen (None: no deadline)."""

    async def __call__(self, content: str, view: discord.ui.View | None) -> None:
        raise NotImplementedError

    def due(self) -> float | None:
        return None


class edit_message(Edit):  # noqa: N801 - used like the function it replaced
    """Edits of a message the bot sent (a reply, or a followup)."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message

    async def __call__(self, content: str, view: discord.ui.View | None) -> None:
        await self.message.edit(content=content, view=view, allowed_mentions=NO_MENTIONS)


class edit_original(Edit):  # noqa: N801 - used like the function it replaced
    """Edits of a deferred interaction's original response, while its token lives. Discord
    refuses edits on a token older than 15 minutes, and a long line for the generator can outlast
    it: a minute before that, the reply moves to a normal message in the channel (the original
    then points to it), and edits go there. Where the bot may not post, the generation stops
    with a note that says why (the command refuses such a wait up front when it can tell)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.moved: discord.Message | None = None

    def due(self) -> float | None:
        if self.moved is not None:
            return None
        return max(0.0, token_seconds_left(self.interaction) - TOKEN_MARGIN_S)

    async def __call__(self, content: str, view: discord.ui.View | None) -> None:
        if self.moved is not None:
            await self.moved.edit(content=content, view=view, allowed_mentions=NO_MENTIONS)
            return
        if self.due():
            await self.interaction.edit_original_response(content=content, view=view, allowed_mentions=NO_MENTIONS)
            return
        header = content.split("\n", 1)[0]
        channel = self.interaction.channel
        if not can_post_in(self.interaction) or channel is None:
            await self.interaction.edit_original_response(
                content=compose(header, "", f"{STOPPED} {TOKEN_EXPIRING}, and I can't post in this channel."),
                view=None,
                allowed_mentions=NO_MENTIONS,
            )
            raise ReplyGone("the interaction token is expiring")
        try:
            self.moved = await channel.send(content, view=view, allowed_mentions=NO_MENTIONS)  # type: ignore[union-attr]
        except discord.HTTPException as error:
            with contextlib.suppress(discord.HTTPException):
                await self.interaction.edit_original_response(
                    content=compose(header, "", f"{STOPPED} {TOKEN_EXPIRING}, and I could not post here."),
                    view=None,
                    allowed_mentions=NO_MENTIONS,
                )
            raise ReplyGone(f"the interaction token is expiring and posting failed ({error})") from error
        log.info("a generation outlived its interaction token; it carries on in message %s", self.moved.id)
        await self.interaction.edit_original_response(
            content=compose(header, "", f"-# {TOKEN_EXPIRING}: it carries on in {self.moved.jump_url}"),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


TOKEN_EXPIRING = "Discord lets a command's reply be updated for 15 minutes only"


async def stream_reply(
    edit: Edit,
    owner: discord.abc.User,
    tag: int,
    service: GenerationService,
    request: GenerationRequest,
    header: str,
    *,
    interval: float = EDIT_INTERVAL_S,
) -> None:
    """Run ``request`` and show it through ``edit`` (of the deferred original response, or of a
    placeholder message): at most one edit per ``interval`` seconds, the final one included, which
    always happens and carries the footer. Only ``owner`` may stop it; ``tag`` (the interaction's
    or message's id) makes the Stop button's custom id unique."""
    loop = asyncio.get_running_loop()
    progress = _Progress()
    view = StopView(owner, f"generate:stop:{tag}")

    async def pump() -> None:
        async with contextlib.aclosing(service.events(request, view.stop_requested)) as events:
            async for event in events:
                if isinstance(event, Queued):
                    progress.position = event.position
                elif isinstance(event, Started):
                    progress.started = True
                elif isinstance(event, Chunk):
                    progress.pieces.append(event.text)
                elif isinstance(event, Retrying):
                    progress.pieces.clear()
                    progress.retrying = event.reason
                elif isinstance(event, Finished):
                    progress.stats = event.stats
                progress.changed.set()

    task = asyncio.create_task(pump(), name=f"generate-{tag}")
    # Stop while waiting in line: leave the line at once (the service watches the event only once running).
    view.when_stopped = lambda: None if progress.started else task.cancel()
    last_edit: float | None = None
    shown: str | None = None

    async def show(content: str, live: bool) -> None:
        nonlocal last_edit, shown
        last_edit = loop.time()  # a failed attempt counts too: never more than one a second
        await edit(content, view if live else None)
        shown = content

    def throttle() -> float:
        return 0.0 if last_edit is None else max(0.0, last_edit + interval - loop.time())

    try:
        while not task.done():
            waiter = asyncio.create_task(progress.changed.wait())
            try:  # (wakes at the edit's deadline too: a reply on an expiring token must move in time)
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=edit.due())
            finally:
                waiter.cancel()
            if not task.done() and (delay := throttle()):
                await asyncio.wait({task}, timeout=delay)  # wakes early when it ends: the final edit follows
            if task.done():
                break
            progress.changed.clear()  # what is rendered now includes every change so far
            content = _live_content(header, progress)
            if content == shown and edit.due() != 0:
                continue
            try:
                await show(content, live=True)
            except discord.NotFound:
                log.info("the reply to a generation was deleted; stopping it")
                return
            except ReplyGone as gone:
                log.info("stopping a generation: %s", gone)
                return
            except discord.HTTPException:
                log.warning("could not update a streaming reply; trying again at the next step", exc_info=True)
    finally:
        view.stop()
        if not task.done():  # the reply vanished, or this command was cancelled: stop generating
            view.stop_requested.set()
            task.cancel()
            await asyncio.wait({task})

    error = None if task.cancelled() else task.exception()
    if isinstance(error, QueueFull):  # filled up between the check and the defer: say so privately
        raise UserError(busy_message(error.waiting)) from error
    if isinstance(error, GenerationError) and not isinstance(error, GenerationTimeout):
        raise as_user_error(error) from error  # one clear line, privately (the placeholder goes)
    if error is not None and not isinstance(error, GenerationTimeout):
        raise error  # the one error path logs it and apologises privately (the placeholder goes)
    stats = progress.stats
    if task.cancelled():
        content = compose(header, "", STOPPED, f"-# {GENERATED_LABEL}: nothing was written")
    elif isinstance(error, GenerationTimeout):
        stats = error.stats
        status = f"(stopped at the time limit of {error.timeout_s:g} s)"
        content = compose(header, stats.text if stats else progress.text, status, stats and stats_footer(stats))
    else:
        assert stats is not None
        status = STOPPED if stats.finish_reason == "cancelled" else None
        content = compose(header, stats.text or "(the model wrote nothing)", status, stats_footer(stats))
    await asyncio.sleep(throttle())
    with contextlib.suppress(ReplyGone):  # (its note is already shown)
        await show(content, live=False)


def _live_content(header: str, progress: _Progress) -> str:
    if not progress.started:
        position = progress.position or 1
        return compose(header, "", f"Waiting in line: position {position}", "-# Stop to leave the line.")
    again = f" (again: the first try had {progress.retrying})" if progress.retrying else ""
    return compose(header, progress.text or "…", f"-# ✍️ writing…{again} · {GENERATED_LABEL}")


def as_user_error(error: GenerationError) -> UserError:
    """A generation failure as the one clear line a learner sees; the details go to the log."""
    if isinstance(error, UserError):
        return error
    log.warning("generation failed: %s", error.one_line)
    return UserError(error.for_learner)


# ------------------------------------------------------------------------------ the cog


class Generate(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        # Generation asked for in words ("write a poem about tokens"): the same cooldown as /generate.
        self.message_cooldowns = per_user_cooldown(bot.settings.generation_cooldown_s)

    @app_commands.command(name="generate", description="A small language model writes something creative for you.")
    @app_commands.describe(
        kind="What to write",
        topic="What it is about, e.g. 'a robot learning to paint' (for example: 'slide 13', or your slide)",
        temperature="0 = always the likeliest word, 2 = wild (default 0.8)",
        length=f"At most this many new tokens ({MIN_LENGTH}-{MAX_LENGTH})",
    )
    @app_commands.choices(kind=KIND_CHOICES)
    @app_commands.checks.dynamic_cooldown(generation_cooldown)
    async def generate_command(
        self,
        interaction: discord.Interaction,
        kind: str,
        topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS],
        temperature: app_commands.Range[float, 0.0, 2.0] = 0.8,
        length: app_commands.Range[int, MIN_LENGTH, MAX_LENGTH] | None = None,
    ) -> None:
        topic = " ".join(topic.split())
        if not topic:
            raise UserError("Give a topic, e.g. *a robot learning to paint*.")
        if looks_like_course_question(topic):
            await interaction.response.defer(thinking=True)
            await self._answer_from_slides(interaction.followup.send, topic, place_scope(interaction.guild_id))
            return
        work = self._example_slide(kind, topic, place_scope(interaction.guild_id), interaction.user.id)
        slide, topic = await in_time(interaction, work)  # reads the learner's place: may wait
        self._refuse_when_full()
        self._refuse_when_too_long(interaction)
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        service = await self._service()
        request = self._request(kind, topic, slide, temperature, length)
        await stream_reply(
            edit_original(interaction),
            interaction.user,
            interaction.id,
            service,
            request,
            generation_header(kind, topic, slide),
        )

    async def generate_in_reply(
        self,
        send: Callable[..., Awaitable[discord.Message]],
        owner: discord.abc.User,
        scope: str,
        kind: str,
        topic: str,
        lead: str = "",
    ) -> None:
        """Generation asked for in words: the flow of ``/generate`` (its checks, its cooldown, the
        course-question rule), streamed by editing a placeholder sent with ``send`` (a reply to the
        message, or a followup). Errors are raised for the caller to tell (``UserError`` for known
        problems); a placeholder already sent is removed first."""
        if self.message_cooldowns is not None:
            wait = self.message_cooldowns.update_rate_limit(owner.id)
            if wait:
                raise UserError(cooldown_message(wait))
        topic = " ".join(topic.split())[:MAX_TOPIC_CHARS]
        if not topic and kind != "example":
            raise UserError(f"Tell me what it should be about, e.g. *write a {kind} about a robot learning to paint*.")
        if looks_like_course_question(topic):
            await self._answer_from_slides(send, topic, scope)
            return
        slide, topic = await self._example_slide(kind, topic, scope, owner.id)
        self._refuse_when_full()
        header = generation_header(kind, topic, slide)
        placeholder = await send(compose(header, "", lead and f"-# {lead}"), allowed_mentions=NO_MENTIONS)
        try:
            service = await self._service()
            request = self._request(kind, topic, slide, 0.8, None)
            await stream_reply(edit_message(placeholder), owner, placeholder.id, service, request, header)
        except Exception:
            with contextlib.suppress(discord.HTTPException):
                await placeholder.delete()  # the error is said instead, by the caller
            raise

    async def _example_slide(self, kind: str, topic: str, scope: str, user_id: int) -> tuple[Slide | None, str]:
        """For ``example``: the slide named in the topic, else the learner's current one."""
        if kind != "example":
            return None, topic
        services = self.bot.services

        def pick() -> tuple[Slide | None, str]:
            deck = services.deck_for(scope)  # the server's own course, if it has one
            return example_slide(deck, topic, lambda: services.learners.current(deck, scope, str(user_id)))

        return await off_loop(pick)

    async def _service(self) -> GenerationService:
        """The generation service, loaded on first use; a model that cannot load is one clear line."""
        try:
            return await off_loop(self.bot.services.generation)
        except GenerationError as error:
            raise as_user_error(error) from error

    def _refuse_when_full(self) -> None:
        loaded = self.bot.services.loaded_generation
        if loaded is not None and loaded.is_full:
            raise UserError(busy_message(loaded.waiting))

    def _refuse_when_too_long(self, interaction: discord.Interaction) -> None:
        """Refuse a generation whose worst-case wait and run would outlast the interaction's token
        where its reply cannot move to a normal message (the bot may not post in the channel)."""
        loaded = self.bot.services.loaded_generation
        if loaded is None or can_post_in(interaction):
            return
        turns = math.ceil((loaded.waiting + loaded.running + 1) / loaded.concurrency)
        worst = turns * loaded.timeout_s
        if worst > token_seconds_left(interaction) - TOKEN_MARGIN_S:
            raise UserError(
                f"The text generator has a long line: this could take up to {math.ceil(worst / 60)} minutes, longer "
                "than Discord lets me update a command's reply, and I can't post in this channel. "
                "Please try again in a few minutes."
            )

    def _request(
        self, kind: str, topic: str, slide: Slide | None, temperature: float, length: int | None
    ) -> GenerationRequest:
        return build_request(
            kind,
            topic,
            slide_text=slide_context(slide) if slide is not None else None,
            max_new_tokens=length or self.bot.settings.generation_max_new_tokens,
            temperature=temperature,
        )

    async def _answer_from_slides(self, send: Callable[..., Awaitable[object]], question: str, scope: str) -> None:
        """A course question asked as a generation topic: answered from the place's own deck."""
        reply = await off_loop(self.bot.services.tutoring.instead_of_generating, question, scope)
        if reply is not None:  # None only if the guard changed its mind: nothing to say then
            await send_in_parts(send, reply.text, slides_view(reply.slides))

    @app_commands.command(
        name="predict", description="See which tokens the model would write next, and how temperature changes the odds."
    )
    @app_commands.describe(text="The start of a sentence, e.g. 'The capital of France is'")
    @app_commands.checks.dynamic_cooldown(question_cooldown)
    async def predict_command(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_PREDICT_CHARS]
    ) -> None:
        if not text.strip():
            raise UserError("Give the start of a sentence, e.g. *The capital of France is*.")
        await interaction.response.defer(thinking=True)
        service = await self._service()
        try:  # in the same line, and on the same model thread, as /generate
            view = await service.sampling_view(text, PREDICT_TOP_K, DEFAULT_TEMPERATURES)
        except QueueFull as error:
            raise UserError(busy_message(error.waiting)) from error
        except GenerationError as error:
            raise as_user_error(error) from error
        png = await off_loop(render_prediction_png, view)
        await interaction.followup.send(
            render_prediction(view), file=discord.File(io.BytesIO(png), filename=PNG_NAME), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Generate(bot))
