"""Plain-text rendering for the terminal session and the command line (Discord renders its own)."""

from __future__ import annotations

from bot.domain.deck import Slide


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
