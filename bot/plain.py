"""Plain-text rendering for the terminal session and the command line (Discord renders its own)."""

from __future__ import annotations

from bot.domain.conversation import Reply
from bot.domain.deck import Slide

_ACTION_HINTS = {"simpler": "“explain it simpler”", "example": "“give me an example”", "quiz": "“quiz me”"}


def format_reply(reply: Reply) -> str:
    """A tutor's reply as terminal text: the reply, then what the learner can say next."""
    hints = [_ACTION_HINTS[action] for action in reply.actions if action in _ACTION_HINTS]
    return f"{reply.text}\n(next: {', '.join(hints)}, or /reset for a new topic)" if hints else reply.text


def format_slide(slide: Slide) -> str:
    lines = [f"Slide {slide.number}: {slide.title}"]
    if slide.subtitle:
        lines.append(slide.subtitle)
    for section in slide.sections:
        lines += ["", f"## {section.heading}", section.text]
    if slide.faq:
        lines += ["", "## FAQ"]
        for pair in slide.faq:
            lines += [f"Q: {pair.q}", f"A: {pair.a}"]
    return "\n".join(lines)
