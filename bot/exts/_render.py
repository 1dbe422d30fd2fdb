"""Domain objects as Discord messages: embeds and buttons within Discord's limits."""

from __future__ import annotations

import re

import discord

from bot.domain.deck import Slide
from bot.exts._common import clip

EMBED_DESCRIPTION = 4096
EMBED_TOTAL = 6000
EMBED_FIELD_VALUE = 1024
COLOUR = discord.Colour.blurple()


def _chat_markdown(text: str) -> str:
    """Slide Markdown in chat form: ``### Heading`` lines become bold (Discord has no h3 in embeds)."""
    return re.sub(r"^### (.+)$", r"**\1**", text, flags=re.MULTILINE)


def slide_embed(slide: Slide, *, position: str = "") -> discord.Embed:
    """A slide: number, title, subtitle and its sections, cut at section ends to fit one embed."""
    parts: list[str] = [f"*{slide.subtitle}*"] if slide.subtitle else []
    budget = EMBED_DESCRIPTION - 200
    for section in slide.sections:
        block = f"__**{section.heading}**__\n{_chat_markdown(section.text)}"
        if sum(len(p) + 2 for p in parts) + len(block) > budget:
            parts.append(f"*…more on this slide: `/slide {slide.number}` then **FAQ**, or ask me about it.*")
            break
        parts.append(block)
    embed = discord.Embed(
        title=clip(f"Slide {slide.number} · {slide.title}", 256),
        description=clip("\n\n".join(parts), EMBED_DESCRIPTION),
        colour=COLOUR,
    )
    footer = f"{len(slide.faq)} FAQ questions · Previous / Next to move, Quiz me to test yourself"
    embed.set_footer(text=clip(f"{position} · {footer}" if position else footer, 2048))
    return embed


def faq_embed(slide: Slide) -> discord.Embed:
    embed = discord.Embed(title=clip(f"Slide {slide.number} · FAQ", 256), colour=COLOUR)
    for pair in slide.faq[:25]:
        if len(embed) + len(pair.q) + len(pair.a) > EMBED_TOTAL - 100:
            break
        embed.add_field(name=clip(pair.q, 256), value=clip(pair.a, EMBED_FIELD_VALUE), inline=False)
    return embed
