"""Teaching tools: ``/tokenize``, ``/similar`` and ``/pipeline`` (slide 13, on the learner's own text).

Thin commands: parse, call the domain (``bot.domain.similarity``, ``bot.domain.tokenizers``) off
the event loop, render within Discord's limits. Known problems raise ``UserError`` and reach the
bot's one error path.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.ansi import render_ansi
from bot.client import TutorBot
from bot.domain.errors import UserError
from bot.domain.latent_map import MAP_FILENAME
from bot.domain.pipeline import Pipeline, Predict, build_pipeline
from bot.domain.similarity import COSINE_EXPLANATION, MAX_TEXT_CHARS, Comparison, EmptyText, Neighbour, Similarity
from bot.domain.text import shorten
from bot.domain.tokenizers import LABELS, TOKENIZER_NAMES, Tokenization, Tokenizers, TokenizerUnavailable
from bot.exts._render import COLOUR, EMBED_DESCRIPTION, EMBED_FIELD_VALUE
from bot.exts.slides import place_scope
from bot.plumbing import MESSAGE_LIMIT, NO_MENTIONS, in_time, learner_text, off_loop, question_cooldown, respond

log = logging.getLogger(__name__)

# ``all`` is the default: the same text cut four ways is the lesson (counts differ, splits differ,
# WordPiece adds [CLS]/[SEP]); one tokenizer alone is a pick from the list.
DEFAULT_TOKENIZER = "all"
TOKENIZER_CHOICES = [
    app_commands.Choice(name="all four, side by side", value="all"),
    *(app_commands.Choice(name=LABELS[name], value=name) for name in TOKENIZER_NAMES),
]
LEGEND = "-# Each colour is one token · `·` is a space, `↵` a newline, `##` joins a word piece to the one before."
NEIGHBOURS = 5
PREDICTION_TIMEOUT_S = 60.0


class Teach(commands.Cog):
    def __init__(self, bot: TutorBot) -> None:
        self.bot = bot

    def similarity(self, interaction: discord.Interaction) -> Similarity:
        """Similarity over the caller's deck: their server's course, or the default deck (blocking
        on a course's first use after a start: call it off the event loop)."""
        return self.bot.services.similarity_for(place_scope(interaction.guild_id))

    # ------------------------------------------------------------------ /tokenize

    @app_commands.command(name="tokenize", description="See how a model cuts your text into tokens, with their ids.")
    @app_commands.describe(text="Any text: a word, a sentence, emoji…", tokenizer="Which tokenizer (default: all four)")
    @app_commands.choices(tokenizer=TOKENIZER_CHOICES)
    @app_commands.checks.dynamic_cooldown(question_cooldown)
    async def tokenize_command(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, MAX_TEXT_CHARS],
        tokenizer: app_commands.Choice[str] | None = None,
    ) -> None:
        name = tokenizer.value if tokenizer else DEFAULT_TOKENIZER
        if not text.strip():
            raise EmptyText()
        tokenizers = self.bot.services.tokenizers
        names = TOKENIZER_NAMES if name == "all" else (name,)
        if not all(tokenizers.is_loaded(n) for n in names):
            await interaction.response.defer(thinking=True)  # a first load takes seconds (SmolLM2's)
        message = await in_time(interaction, tokenized(tokenizers, text, name))  # the workers may be busy
        await respond(interaction, allowed_mentions=NO_MENTIONS, **message)

    # ------------------------------------------------------------------ /similar

    @app_commands.command(
        name="similar", description="How close in meaning are two texts? Or which slides is one near?"
    )
    @app_commands.describe(
        text="A word or a sentence",
        other="A second text to compare with (leave out to find the nearest slides)",
        picture="Also draw where the text sits among the slides (a 2-D map)",
    )
    @app_commands.checks.dynamic_cooldown(question_cooldown)
    async def similar_command(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, MAX_TEXT_CHARS],
        other: app_commands.Range[str, 1, MAX_TEXT_CHARS] | None = None,
        picture: bool = False,
    ) -> None:
        if not text.strip():
            raise EmptyText()
        if other is not None and not other.strip():
            raise EmptyText("second text")
        await interaction.response.defer(thinking=True)
        result, png = await off_loop(lambda: _similar(self.similarity(interaction), text, other, picture))
        embed = comparison_embed(result) if isinstance(result, Comparison) else neighbours_embed(text, result)
        kwargs = {}
        if png is not None:
            embed.set_image(url=f"attachment://{MAP_FILENAME}")
            kwargs["file"] = discord.File(io.BytesIO(png), MAP_FILENAME)
        await interaction.followup.send(embed=embed, allowed_mentions=NO_MENTIONS, **kwargs)

    # ------------------------------------------------------------------ /pipeline

    @app_commands.command(
        name="pipeline", description="Follow your text through slide 13: tokens, embedding, next word."
    )
    @app_commands.describe(text="A sentence to follow through the model, e.g. 'The cat sat on the'")
    @app_commands.checks.dynamic_cooldown(question_cooldown)
    async def pipeline_command(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_TEXT_CHARS]
    ) -> None:
        if not text.strip():
            raise EmptyText()
        await interaction.response.defer(thinking=True)
        predict = await self._predictor()
        tokenizers = self.bot.services.tokenizers
        pipeline = await off_loop(lambda: build_pipeline(text, self.similarity(interaction), tokenizers, predict))
        await interaction.followup.send(embed=pipeline_embed(pipeline), allowed_mentions=NO_MENTIONS)

    async def _predictor(self) -> Predict:
        """A blocking ``predict(text, top_k)`` for the worker thread, backed by the bot's generation
        service; one that raises when the service cannot load (step 4 then says why)."""
        try:
            service = await off_loop(self.bot.services.generation)
        except Exception as error:  # noqa: BLE001 - a missing generator must not sink the other three steps
            log.warning("the generation service could not load for /pipeline", exc_info=True)

            def unavailable(_text: str, _top_k: int, error: Exception = error):
                raise error

            return unavailable
        loop = asyncio.get_running_loop()

        def predict(text: str, top_k: int):
            # From the worker thread: run the service's own (queued, off-loop) call on the bot's loop.
            future = asyncio.run_coroutine_threadsafe(service.predict_next(text, top_k), loop)
            try:
                return future.result(PREDICTION_TIMEOUT_S)
            except TimeoutError:
                future.cancel()
                raise

        return predict


async def tokenized(tokenizers: Tokenizers, text: str, name: str = DEFAULT_TOKENIZER, *, lead: str = "") -> dict:
    """``text`` cut by tokenizer ``name`` (or ``all``), as keyword arguments of a send (content,
    and an embed for ``all``), with ``lead`` as a first line; for ``/tokenize`` and for
    tokenizing asked for in words. Loading a tokenizer the first time takes seconds."""
    names = TOKENIZER_NAMES if name == "all" else (name,)
    try:
        results = await off_loop(lambda: [tokenizers.tokenize(text, n) for n in names])
    except TokenizerUnavailable as error:
        log.warning("tokenizer %s unavailable: %s", name, error)
        raise UserError("That tokenizer isn't available on this bot right now; try another one.") from error
    room = MESSAGE_LIMIT - (len(lead) + 1 if lead else 0)
    if name == "all":
        content, embed = render_comparison(results, room)
        return {"content": f"{lead}\n{content}" if lead else content, "embed": embed}
    content = render_tokenization(results[0], room)
    return {"content": f"{lead}\n{content}" if lead else content}


def _similar(similarity: Similarity, text: str, other: str | None, picture: bool):
    """The blocking part of /similar, in one worker-thread hop."""
    result = similarity.compare(text, other) if other is not None else similarity.neighbours(text, NEIGHBOURS)
    png = similarity.map_png([text] if other is None else [text, other]) if picture else None
    return result, png


# ------------------------------------------------------------------------------ rendering


def _summary(tok: Tokenization) -> str:
    return (
        f"**{tok.label}** · {tok.count:,} token{'s' if tok.count != 1 else ''} · "
        f"{tok.chars_per_token:.1f} characters per token · vocabulary of {tok.vocab_size:,}"
    )


def _ids_text(ids: Sequence[int], limit: int) -> str:
    """``ids`` comma-separated, as many as fit in ``limit`` characters, then ``… +N more``."""
    parts: list[str] = []
    used = 0
    for index, token_id in enumerate(ids):
        piece = f"{', ' if parts else ''}{token_id}"
        tail = len(f" … +{len(ids) - index} more")
        if used + len(piece) + (tail if index < len(ids) - 1 else 0) > limit:
            return "".join(parts) + f" … +{len(ids) - index} more"
        parts.append(piece)
        used += len(piece)
    return "".join(parts) or "(none)"


def render_tokenization(tok: Tokenization, limit: int = MESSAGE_LIMIT) -> str:
    """One tokenizer: a summary line, the coloured tokens, their ids and a legend, in ``limit``."""
    head = _summary(tok)
    ids = f"**Token ids**\n```\n{_ids_text(tok.ids, 450)}\n```"
    room = limit - len(head) - len(ids) - len(LEGEND) - 3  # three newlines join the four parts
    return "\n".join([head, render_ansi(tok, room), ids, LEGEND])


def _shares(needs: Sequence[int], total: int) -> list[int]:
    """Split ``total`` characters between blocks that need ``needs``: small ones get all they need,
    the rest share what is left equally."""
    shares = [0] * len(needs)
    pending = sorted(range(len(needs)), key=lambda i: needs[i])
    left = total
    while pending:
        fair = left // len(pending)
        index = pending.pop(0)
        shares[index] = min(needs[index], fair)
        left -= shares[index]
    return shares


def render_comparison(results: Sequence[Tokenization], limit: int = MESSAGE_LIMIT) -> tuple[str, discord.Embed]:
    """All tokenizers: their coloured splits in the message (``limit`` characters), counts and ids in an embed."""
    heads = [f"**{tok.label}** · {tok.count:,} tokens" for tok in results]
    frame = sum(len(head) + 2 for head in heads) + len(LEGEND)
    # render_ansi keeps room for its "… N more tokens" line until the last token: a little slack.
    needs = [len(render_ansi(tok, MESSAGE_LIMIT)) + 24 for tok in results]
    shares = _shares(needs, limit - frame)
    blocks = [f"{head}\n{render_ansi(tok, share)}" for head, tok, share in zip(heads, results, shares, strict=True)]
    content = "\n".join([*blocks, LEGEND])

    rows = ["tokenizer  tokens  chars/token  vocabulary"]
    rows += [
        f"{tok.tokenizer:<9}  {tok.count:>6,}  {tok.chars_per_token:>11.1f}  {tok.vocab_size:>10,}" for tok in results
    ]
    least = min(tok.count for tok in results)
    names = [f"**{tok.label}**" for tok in results if tok.count == least]
    fewest = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    embed = discord.Embed(
        title="Same text, four tokenizers",
        colour=COLOUR,
        description=shorten(
            "```\n" + "\n".join(rows) + "\n```\n"
            f"Fewest tokens here: {fewest}. Fewer tokens means cheaper, faster models "
            "and more text fitting in their context; each model can only use its own tokenizer.",
            EMBED_DESCRIPTION,
        ),
    )
    for tok in results:
        embed.add_field(name=f"ids · {tok.label}", value=f"`{_ids_text(tok.ids, 900)}`", inline=False)
    embed.set_footer(text="WordPiece's count includes its [CLS] and [SEP] markers. Pick one tokenizer to see it alone.")
    return content, embed


def _bar(score: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, score)) * width)
    return "█" * filled + "░" * (width - filled)


def comparison_embed(comparison: Comparison) -> discord.Embed:
    lines = [f"`{_bar(comparison.score)}` **{comparison.score:.2f}**", "", COSINE_EXPLANATION]
    if comparison.note:
        lines += ["", f"*{comparison.note}*"]
    embed = discord.Embed(
        title=f"Similarity {comparison.score:.2f}: {comparison.reading}", colour=COLOUR, description="\n".join(lines)
    )
    embed.add_field(name="First text", value=learner_text(comparison.text, EMBED_FIELD_VALUE // 2), inline=False)
    embed.add_field(name="Second text", value=learner_text(comparison.other, EMBED_FIELD_VALUE // 2), inline=False)
    embed.set_footer(text="≥0.8 nearly the same meaning · 0.6 closely · 0.4 somewhat · 0.2 loosely related")
    return embed


def neighbours_embed(text: str, neighbours: Sequence[Neighbour]) -> discord.Embed:
    lines = [
        f"**{index}.** Slide {n.slide} · {shorten(n.title, 80)} — {shorten(n.section, 120)}  `{n.score:.2f}`"
        for index, n in enumerate(neighbours, 1)
    ]
    if not lines:
        lines = ["The deck has no passages indexed yet."]
    lines += [
        "",
        "Scores are cosine similarities between your text's embedding and each passage's "
        "(1 = same meaning, 0 = unrelated). Search by meaning finds these even without shared words.",
    ]
    embed = discord.Embed(title="Nearest slides to your text", colour=COLOUR, description="\n".join(lines))
    embed.add_field(name="Your text", value=learner_text(text, EMBED_FIELD_VALUE // 2), inline=False)
    embed.set_footer(text="Add other: to compare two texts, picture: True to see the map.")
    return embed


def _field_value(explanation: str, details: Sequence[str], limit: int = EMBED_FIELD_VALUE) -> str:
    """The explanation, then as many whole detail lines as fit (never a cut code span)."""
    value = explanation
    for line in details:
        if len(value) + 1 + len(line) > limit - 2:
            return value + "\n…"
        value += "\n" + line
    return value


def pipeline_embed(pipeline: Pipeline) -> discord.Embed:
    embed = discord.Embed(
        title="Your text through the model: slide 13's four steps",
        colour=COLOUR,
        description=f"> {learner_text(pipeline.text, 300)}",
    )
    for step in pipeline.steps():
        embed.add_field(
            name=f"{step.number}. {step.title}", value=_field_value(step.explanation, step.details), inline=False
        )
    embed.set_footer(text="Slide 13 · Tokenization, Embeddings and Latent Space — /similar and /tokenize dig deeper.")
    return embed


async def setup(bot: TutorBot) -> None:
    await bot.add_cog(Teach(bot))
