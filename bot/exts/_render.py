"""Domain objects as Discord messages: embeds and buttons within Discord's limits.

Limits (Discord's, checked by the loopback fake in the tests): title 256, description 4096, 25
fields of name 256 and value 1024, footer 2048, and 6000 characters in all the embeds of a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import discord

from bot.domain.deck import Deck, Section, Slide, chat_markdown
from bot.domain.learners import Score
from bot.domain.quiz import QuizQuestion, Verdict
from bot.domain.text import shorten

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
CHOICE_NAME = 100
COLOUR = discord.Colour.blurple()
# Room kept free when sizing an embed's body (a closing note; rounding).
_RESERVE = 150
# A short bullet list (one side of a comparison) sits side by side with its neighbours.
_INLINE_FIELD = 400

VERDICT_LABELS = {"right": "✅ Right", "partly": "🟡 Partly right", "not_yet": "❌ Not yet"}
VERDICT_COLOURS = {
    "right": discord.Colour.green(),
    "partly": discord.Colour.gold(),
    "not_yet": discord.Colour.red(),
}


def _subsections(section: Section) -> list[tuple[str, str]]:
    """A section's ``### Name`` blocks as (name, text); one unnamed block for a section without."""
    parts = re.split(r"^### (.+)$", section.text, flags=re.MULTILINE)
    blocks = [("", parts[0].strip())] if parts[0].strip() else []
    blocks += [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return blocks


def _is_short_list(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return len(text) <= _INLINE_FIELD and bool(lines) and all(line.lstrip().startswith(("- ", "* ")) for line in lines)


def slide_position(deck: Deck, slide: Slide) -> str:
    """Where a slide sits in the deck, for a footer: "13 of 22", "22 of 22 · the last slide"."""
    numbers = deck.numbers
    if slide.number not in numbers:
        return ""
    index = numbers.index(slide.number)
    text = f"{index + 1} of {len(numbers)}"
    if index == len(numbers) - 1:
        text += " · the last slide"
    return text


def slide_embed(slide: Slide, *, position: str = "") -> discord.Embed:
    """A slide: number and title, subtitle and every section, fitted into one embed.

    Whole sections go into the description while they fit; the rest become fields, one per
    ``### sub-section`` (short ones side by side), shortened at sentence ends so that all of the
    slide's sections show within the 6000 characters an embed may hold.
    """
    embed = discord.Embed(title=shorten(f"Slide {slide.number} · {slide.title}", EMBED_TITLE), colour=COLOUR)
    footer = f"{len(slide.faq)} FAQ questions · Previous / Next to move, Quiz me to test yourself"
    embed.set_footer(text=shorten(f"{position} · {footer}" if position else footer, 2048))

    parts: list[str] = [f"*{shorten(slide.subtitle, 500)}*"] if slide.subtitle else []
    budget = EMBED_DESCRIPTION - 96
    rest = list(slide.sections)
    while rest:
        block = f"__**{rest[0].heading}**__\n{chat_markdown(rest[0].text)}"
        used = sum(len(p) + 2 for p in parts)
        if used + len(block) > budget:
            if parts:
                break
            block = shorten(block, budget)  # a first section longer than a whole description
        parts.append(block)
        rest.pop(0)
    embed.description = shorten("\n\n".join(parts), EMBED_DESCRIPTION) or None

    fields: list[tuple[str, str]] = []
    for section in rest:
        for name, text in _subsections(section):
            label = f"{section.heading} · {name}" if name else section.heading
            fields.append((shorten(label, EMBED_FIELD_NAME), text))
    fields = fields[: EMBED_FIELDS - 1]
    room = EMBED_TOTAL - _RESERVE - len(embed) - sum(len(name) for name, _ in fields)
    # Share the room out: short fields keep all their text, long ones share what the short left.
    shares: dict[int, int] = {}
    pending = sorted(range(len(fields)), key=lambda i: len(fields[i][1]))
    while pending:
        share = max(0, room // len(pending))
        index = pending.pop(0)
        shares[index] = min(len(fields[index][1]), share, EMBED_FIELD_VALUE)
        room -= shares[index]
    for index, (name, text) in enumerate(fields):
        if shares[index] < 40:
            embed.add_field(name="…", value=f"More on this slide: ask me about slide {slide.number}.", inline=False)
            break
        value = shorten(chat_markdown(text), shares[index])
        embed.add_field(name=name, value=value, inline=_is_short_list(text))
    return embed


def faq_embed(slide: Slide) -> discord.Embed:
    embed = discord.Embed(title=shorten(f"Slide {slide.number} · FAQ", EMBED_TITLE), colour=COLOUR)
    if not slide.faq:
        embed.description = "This slide has no FAQ. Ask me about it instead: mention me with your question."
        return embed
    shown = 0
    for pair in slide.faq[: EMBED_FIELDS - 1]:
        if len(embed) + len(pair.q) + len(pair.a) > EMBED_TOTAL - _RESERVE:
            break
        embed.add_field(name=shorten(pair.q, EMBED_FIELD_NAME), value=shorten(pair.a, EMBED_FIELD_VALUE), inline=False)
        shown += 1
    if shown < len(slide.faq):
        embed.set_footer(text=f"{shown} of {len(slide.faq)} questions shown; ask me about the others.")
    else:
        embed.set_footer(text="Quiz me to test yourself on this slide.")
    return embed


def slide_choice_name(slide: Slide) -> str:
    """How a slide appears in autocomplete: "13 · Tokenization, Embeddings and Latent Space"."""
    return shorten(f"{slide.number} · {slide.title}", CHOICE_NAME)


def _quiz_mark(score: Score | None) -> str:
    if not score:
        return ""
    if score["right"]:
        return " ✅"
    if score["partly"]:
        return " 🟡"
    return " ·"


def deck_embed(deck: Deck, place: Slide | None, scores: Mapping[int, Score] | None = None) -> discord.Embed:
    """The contents with the learner's place marked (▶ and bold) and their quiz results.

    A deck too long for one description shows the slides around the learner's place.
    """
    scores = scores or {}
    lines = []
    for slide in deck:
        title = shorten(slide.title, 90)
        mark = _quiz_mark(scores.get(slide.number))
        if place is not None and slide.number == place.number:
            lines.append(f"▶ **`{slide.number:>2}` {title}**{mark}")
        else:
            lines.append(f"`{slide.number:>2}` {title}{mark}")
    intro = (
        "Your place is marked ▶ · quiz answers: ✅ right, 🟡 partly"
        if place is not None
        else "You haven't started yet: `/next` opens the first slide."
    )
    here = deck.numbers.index(place.number) if place is not None and place.number in deck.numbers else 0
    shown = _window(lines, here, EMBED_DESCRIPTION - len(intro) - 64)
    embed = discord.Embed(title="The deck", description=intro + "\n\n" + "\n".join(shown), colour=COLOUR)
    asked = sum(s["asked"] for s in scores.values())
    footer = f"{len(deck)} slides"
    if place is not None:
        footer = f"You are on slide {place.number} · {footer}"
    if asked:
        right = sum(s["right"] for s in scores.values())
        partly = sum(s["partly"] for s in scores.values())
        footer += f" · quiz: {asked} answered, {right} right, {partly} partly"
    embed.set_footer(text=footer + " · /slide N to jump")
    return embed


def _window(lines: Sequence[str], centre: int, budget: int) -> list[str]:
    """All lines if they fit in ``budget`` characters, else the ones around ``centre`` with "…"."""
    if sum(len(line) + 1 for line in lines) <= budget:
        return list(lines)
    low = high = centre
    used = len(lines[centre]) + 1 if lines else 0
    while True:
        grew = False
        for candidate in (high + 1, low - 1):
            if 0 <= candidate < len(lines) and not low <= candidate <= high:
                if used + len(lines[candidate]) + 1 > budget - 40:
                    continue
                used += len(lines[candidate]) + 1
                low, high = min(low, candidate), max(high, candidate)
                grew = True
        if not grew:
            break
    shown = list(lines[low : high + 1])
    if low > 0:
        shown.insert(0, f"… {low} earlier")
    if high < len(lines) - 1:
        shown.append(f"… {len(lines) - 1 - high} more")
    return shown


def quiz_result_embed(question: QuizQuestion, answer: str, verdict: Verdict) -> discord.Embed:
    """The verdict on a quiz answer: feedback, the question, the learner's and the slide's answers."""
    embed = discord.Embed(
        title=shorten(f"{VERDICT_LABELS[verdict.verdict]} · Slide {question.slide}", EMBED_TITLE),
        description=shorten(verdict.feedback, 1000),
        colour=VERDICT_COLOURS[verdict.verdict],
    )
    embed.add_field(name="Question", value=shorten(question.question, EMBED_FIELD_VALUE), inline=False)
    embed.add_field(name="Your answer", value=shorten(answer.strip() or "(empty)", EMBED_FIELD_VALUE), inline=False)
    embed.add_field(name="The slide's answer", value=shorten(question.answer, EMBED_FIELD_VALUE), inline=False)
    embed.add_field(
        name="Revisit",
        value=shorten(f"Slide {question.slide} · {question.title}", EMBED_FIELD_VALUE),
        inline=False,
    )
    embed.set_footer(text="Your score is saved: /deck shows ✅ for slides you've answered right.")
    return embed
