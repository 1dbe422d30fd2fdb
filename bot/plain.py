"""Plain-text rendering for the terminal session and the command line (Discord renders its own)."""

from __future__ import annotations

from bot.domain.conversation import Reply
from bot.domain.deck import Slide
from bot.domain.generation import SamplingView
from bot.domain.text import shorten

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


def prediction_table(view: SamplingView, token_width: int = 18) -> list[str]:
    """The next-token predictions as table rows: one row per token, one column per temperature
    (the terminal prints them; Discord puts them in a code block)."""
    panels = view.panels
    tokens = [shorten(choice.token.replace("`", "ˋ"), token_width) for choice in panels[0].choices]
    width = max(len("(all others)"), *(len(token) for token in tokens))
    columns = "".join(f"{'T=' + format(panel.temperature, 'g'):>8}" for panel in panels)
    rows = [f"{'token':<{width}}{columns}"]
    for index, token in enumerate(tokens):
        rows.append(f"{token:<{width}}" + "".join(f"{panel.choices[index].probability:>8.1%}" for panel in panels))
    rows.append(f"{'(all others)':<{width}}" + "".join(f"{panel.other:>8.1%}" for panel in panels))
    return rows
