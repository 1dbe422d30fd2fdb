"""Generation on Discord: ``/generate`` (streamed, stoppable, queued) and ``/predict`` (next-token odds).

Thin commands around ``bot.domain.generation``: the model loads lazily through
``Services.generation`` in a worker thread, the service runs it off the event loop, and this module
only renders. Facts go to the deck: a topic that is really a question about the course is answered
from the slides, never by the generator; everything generated is labelled as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable
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
    GenerationRequest,
    GenerationService,
    GenerationStats,
    GenerationTimeout,
    Queued,
    QueueFull,
    SamplingView,
    Started,
    build_request,
    example_slide,
    looks_like_course_question,
    render_prediction_png,
    slide_context,
)
from bot.domain.text import shorten
from bot.exts.ask import answer_view
from bot.plumbing import (
    MESSAGE_LIMIT,
    NO_MENTIONS,
    Cooldown,
    cooldown_message,
    off_loop,
    report_error,
    send_ephemeral,
    send_in_parts,
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

COURSE_NOTE = "That's a question about the course, so here is what the slides say (generated text could be wrong):"
NOT_COVERED = (
    "That looks like a question about the course, and I don't answer those with generated text: it "
    "could sound right and be wrong. The slides don't clearly cover it, so ask it with `/ask` (try "
    "other words), or ask your teacher. For something creative, give `/generate` a topic such as "
    "*a robot learning to paint*."
)
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


def _table_token(token: str, width: int) -> str:
    return shorten(token.replace("`", "ˋ"), width)  # a backtick would end the code block


def render_prediction(view: SamplingView) -> str:
    """The predictions as a small table in a code block: one row per token, one column per temperature."""
    panels = view.panels
    tokens = [_table_token(choice.token, 18) for choice in panels[0].choices]
    width = max(len("(all others)"), *(len(token) for token in tokens))
    columns = "".join(f"{'T=' + format(panel.temperature, 'g'):>8}" for panel in panels)
    rows = [f"{'token':<{width}}{columns}"]
    for index, token in enumerate(tokens):
        rows.append(f"{token:<{width}}" + "".join(f"{panel.choices[index].probability:>8.1%}" for panel in panels))
    rows.append(f"{'(all others)':<{width}}" + "".join(f"{panel.other:>8.1%}" for panel in panels))
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
    pieces: list[str] = field(default_factory=list)
    stats: GenerationStats | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


async def stream_reply(
    interaction: discord.Interaction,
    service: GenerationService,
    request: GenerationRequest,
    header: str,
    *,
    interval: float = EDIT_INTERVAL_S,
) -> None:
    """Run ``request`` and show it by editing the (deferred) original response: at most one edit
    per ``interval`` seconds, the final one included, which always happens and carries the footer."""
    loop = asyncio.get_running_loop()
    progress = _Progress()
    view = StopView(interaction.user, f"generate:stop:{interaction.id}")

    async def pump() -> None:
        async with contextlib.aclosing(service.events(request, view.stop_requested)) as events:
            async for event in events:
                if isinstance(event, Queued):
                    progress.position = event.position
                elif isinstance(event, Started):
                    progress.started = True
                elif isinstance(event, Chunk):
                    progress.pieces.append(event.text)
                elif isinstance(event, Finished):
                    progress.stats = event.stats
                progress.changed.set()

    task = asyncio.create_task(pump(), name=f"generate-{interaction.id}")
    # Stop while waiting in line: leave the line at once (the service watches the event only once running).
    view.when_stopped = lambda: None if progress.started else task.cancel()
    last_edit: float | None = None
    shown: str | None = None

    async def edit(content: str, live: bool) -> None:
        nonlocal last_edit, shown
        last_edit = loop.time()  # a failed attempt counts too: never more than one a second
        await interaction.edit_original_response(
            content=content, view=view if live else None, allowed_mentions=NO_MENTIONS
        )
        shown = content

    def throttle() -> float:
        return 0.0 if last_edit is None else max(0.0, last_edit + interval - loop.time())

    try:
        while not task.done():
            waiter = asyncio.create_task(progress.changed.wait())
            try:
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not task.done() and (delay := throttle()):
                await asyncio.wait({task}, timeout=delay)  # wakes early when it ends: the final edit follows
            if task.done():
                break
            progress.changed.clear()  # what is rendered now includes every change so far
            content = _live_content(header, progress)
            if content == shown:
                continue
            try:
                await edit(content, live=True)
            except discord.NotFound:
                log.info("the reply to a generation was deleted; stopping it")
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
    await edit(content, live=False)


def _live_content(header: str, progress: _Progress) -> str:
    if not progress.started:
        position = progress.position or 1
        return compose(header, "", f"Waiting in line: position {position}", "-# Stop to leave the line.")
    return compose(header, progress.text or "…", f"-# ✍️ writing… · {GENERATED_LABEL}")


# ------------------------------------------------------------------------------ the cog


def _scope(interaction: discord.Interaction) -> str:
    return f"guild:{interaction.guild_id}" if interaction.guild_id else "dm"


class Generate(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot
        self.cooldown = Cooldown(bot.settings.generation_cooldown_s)
        self.predict_cooldown = Cooldown(bot.settings.question_cooldown_s)

    @app_commands.command(name="generate", description="A small language model writes something creative for you.")
    @app_commands.describe(
        kind="What to write",
        topic="What it is about, e.g. 'a robot learning to paint' (for example: 'slide 13', or your slide)",
        temperature="0 = always the likeliest word, 2 = wild (default 0.8)",
        length=f"At most this many new tokens ({MIN_LENGTH}-{MAX_LENGTH})",
    )
    @app_commands.choices(kind=KIND_CHOICES)
    async def generate_command(
        self,
        interaction: discord.Interaction,
        kind: str,
        topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS],
        temperature: app_commands.Range[float, 0.0, 2.0] = 0.8,
        length: app_commands.Range[int, MIN_LENGTH, MAX_LENGTH] | None = None,
    ) -> None:
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await send_ephemeral(interaction, cooldown_message(wait))
            return
        topic = " ".join(topic.split())
        if not topic:
            raise UserError("Give a topic, e.g. *a robot learning to paint*.")
        services = self.bot.services
        if looks_like_course_question(topic):
            await interaction.response.defer(thinking=True)
            await self._answer_from_slides(interaction, topic)
            return
        slide = None
        if kind == "example":
            scope, user = _scope(interaction), str(interaction.user.id)
            slide, topic = await off_loop(
                example_slide, services.deck, topic, lambda: services.places.current(services.deck, scope, user)
            )
        loaded = services.loaded_generation
        if loaded is not None and loaded.is_full:
            await send_ephemeral(interaction, busy_message(loaded.waiting))
            return
        await interaction.response.defer(thinking=True)
        service = await off_loop(services.generation)
        request = build_request(
            kind,
            topic,
            slide_text=slide_context(slide) if slide is not None else None,
            max_new_tokens=length or self.bot.settings.generation_max_new_tokens,
            temperature=temperature,
        )
        await stream_reply(interaction, service, request, generation_header(kind, topic, slide))

    async def _answer_from_slides(self, interaction: discord.Interaction, question: str) -> None:
        answer = await off_loop(self.bot.services.tutor.ask, question)
        if not answer.confident:
            await interaction.followup.send(NOT_COVERED, allowed_mentions=NO_MENTIONS)
            return
        await send_in_parts(interaction.followup.send, f"{COURSE_NOTE}\n\n{answer.text}", answer_view(answer))

    @app_commands.command(
        name="predict", description="See which tokens the model would write next, and how temperature changes the odds."
    )
    @app_commands.describe(text="The start of a sentence, e.g. 'The capital of France is'")
    async def predict_command(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_PREDICT_CHARS]
    ) -> None:
        wait = self.predict_cooldown.retry_after(interaction.user.id)
        if wait:
            await send_ephemeral(interaction, cooldown_message(wait))
            return
        if not text.strip():
            raise UserError("Give the start of a sentence, e.g. *The capital of France is*.")
        await interaction.response.defer(thinking=True)
        service = await off_loop(self.bot.services.generation)
        view = await service.sampling_view(text, PREDICT_TOP_K, DEFAULT_TEMPERATURES)
        png = await off_loop(render_prediction_png, view)
        await interaction.followup.send(
            render_prediction(view), file=discord.File(io.BytesIO(png), filename=PNG_NAME), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Generate(bot))
