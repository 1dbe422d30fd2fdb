"""Prompts for /generate, and the guard that spots factual course questions."""

from __future__ import annotations

import re

from bot.domain.text import shorten

from ._types import ChatMessage, GenerationRequest

KINDS: tuple[str, ...] = ("story", "marketing", "brainstorm", "poem", "example")

MAX_TOPIC_CHARS = 300
MAX_SLIDE_CHARS = 1500

SYSTEM_PROMPT = (
    "You are a creative writing assistant for students of a course on generative AI. "
    "Write only the creative piece you are asked for: no introduction, no explanation "
    "of how you wrote it, and no facts stated as if they were true. "
    "Keep it short, friendly and suitable for a classroom."
)

_INSTRUCTIONS: dict[str, str] = {
    "story": "Write a short story, at most three paragraphs, about {topic}.",
    "marketing": "Write three short, catchy marketing lines for {topic}.",
    "brainstorm": "Brainstorm eight creative ideas about {topic}. Write one idea per line.",
    "poem": "Write a short poem, at most twelve lines, about {topic}.",
}

_EXAMPLE_INSTRUCTION = (
    'Here is the text of a slide from the course:\n"""\n{slide}\n"""\n'
    "Write one short, concrete, everyday example that illustrates the idea of this slide{about}. "
    "Only the example, in a few sentences."
)


def build_messages(kind: str, topic: str, slide_text: str | None = None) -> tuple[ChatMessage, ...]:
    """Chat messages for one /generate request; ``example`` needs the slide's text as context."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    topic = shorten(" ".join(topic.split()), MAX_TOPIC_CHARS)
    if kind == "example":
        if not slide_text or not slide_text.strip():
            raise ValueError("an example needs the slide's text as context")
        about = f", about {topic}" if topic else ""
        user = _EXAMPLE_INSTRUCTION.format(slide=shorten(slide_text, MAX_SLIDE_CHARS), about=about)
    else:
        if not topic:
            raise ValueError("a topic is needed")
        user = _INSTRUCTIONS[kind].format(topic=topic)
    return (ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user))


def build_request(
    kind: str,
    topic: str,
    *,
    slide_text: str | None = None,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        messages=build_messages(kind, topic, slide_text),
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        kind=kind,
    )


# --- The course-question guard -------------------------------------------------------------
# Creative premises that look like questions ("what if ...?") are requests, not questions.
_CREATIVE_START = re.compile(
    r"^(what if|imagine|write|tell (me )?a (story|joke|poem)|a (story|poem|song|tale)|once upon"
    r"|pretend|story|poem|slogan|ideas?|names?"
    r"|(?:what|which)(?: is|'s| are)? (?:a |some )?(?:good|cool|fun|funny|catchy|creative|fancy))\b"
)
# Asked this way, it is a question even without a question mark.
_STRONG = re.compile(
    r"^(?:(?:can|could|would) you |please )?"
    r"(?:explain|define|describe how|describe what"
    r"|what(?:'s| is| are| does| do) (?:an? |the )?\w+"
    r"|how (?:does|do|is|are|can|could|should|would) \w+"
    r"|why (?:does|do|is|are|can|would|should) \w+"
    r"|what(?:'s| is) the (?:difference|meaning|purpose|role|point)"
    r"|(?:the )?difference between"
    r"|meaning of|definition of"
    r"|tell me (?:about|what|how|why))\b"
)
# With a question mark, these openings also ask (yes/no and wh-questions).
_WEAK = re.compile(
    r"^(?:is|are|does|do|did|can|could|should|would|will|was|were|has|have"
    r"|what|whats|how|why|when|where|which|who|whom|whose)\b"
)


def looks_like_course_question(topic: str) -> bool:
    """True when a /generate topic is really a factual question ("what is an embedding",
    "explain attention", "how does temperature work?"), so the caller can answer it from the
    slides instead. Creative premises ("what if robots dreamed?", "a poem about attention")
    pass."""
    text = " ".join(topic.lower().replace("\u2019", "'").split()).strip(" \"'`")
    if not text or _CREATIVE_START.match(text):
        return False
    if _STRONG.match(text):
        return True
    return text.endswith("?") and bool(_WEAK.match(text))
