"""Which slide an ``example`` generation illustrates, and that slide as the model's context."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.domain.deck import Deck, Slide
from bot.domain.errors import UserError

_SLIDE_REF = re.compile(r"\bslide\s*#?\s*(\d{1,4})\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"#?\s*(\d{1,4})")
_LEADING_FILLER = re.compile(r"^(?:(?:an?|the)?\s*example\b|about\b|on\b|for\b|of\b|with\b|[\s,.:;!-])+", re.IGNORECASE)


def example_slide(deck: Deck, topic: str, current: Callable[[], Slide | None]) -> tuple[Slide, str]:
    """The slide an example is about and what is left of the topic: the slide named in the topic
    ("slide 13", or just "13"), else ``current()`` (the learner's place; may be blocking)."""
    match = _SLIDE_REF.search(topic) or _BARE_NUMBER.fullmatch(topic.strip())
    if match is not None:
        number = int(match.group(1))
        slide = deck.get(number)
        if slide is None:
            raise UserError(f"There is no slide {number}; slides are {deck.range_text()}.")
        rest = topic[: match.start()] + " " + topic[match.end() :] if match.re is _SLIDE_REF else ""
    else:
        slide = current()
        if slide is None:
            raise UserError(
                "An example needs a slide: name one in the topic (e.g. *slide 13*), "
                "or open the deck first so that I know which slide you are on."
            )
        rest = topic
    rest = _LEADING_FILLER.sub("", " ".join(rest.split())).strip(" ,.:;-")
    return slide, rest


def slide_context(slide: Slide) -> str:
    """The slide's text, as the model's context for an example."""
    lines = [slide.title] + ([slide.subtitle] if slide.subtitle else [])
    lines += [f"{section.heading}: {section.text}" for section in slide.sections]
    return "\n".join(lines)
