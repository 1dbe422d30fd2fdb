"""Prompts for /generate, and the guard that spots factual course questions."""

from __future__ import annotations

import re

from bot.domain.text import sentences, shorten, terms

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

# The topic comes last, right before the model writes: a small model keeps to what it read last.
_INSTRUCTIONS: dict[str, str] = {
    "story": "Write a short story, at most three paragraphs, about {topic}.",
    "marketing": "Write three short, catchy marketing lines, one line each, numbered 1 to 3, for {topic}.",
    "brainstorm": (
        "Brainstorm six creative ideas about {topic}. Number them 1 to 6, one idea per line, "
        "each a full sentence that mentions {topic}."
    ),
    "poem": "Write a short poem, at most eight lines, every line different, about {topic}.",
}

_EXAMPLE_INSTRUCTION = (
    'Here are sentences from a slide of the course, "{title}":\n"""\n{slide}\n"""\n'
    "Write one short, concrete, everyday example that illustrates the idea of these sentences{about}. "
    "Only the example, in two to four sentences."
)

# A worked example per kind, shown to the model as an earlier turn of the chat: a small model
# copies its shape (numbered items, distinct lines, a natural end) far better than it follows words.
# It copies the example's content too: brainstorm has none (its museum ideas leaked into the
# learner's topic: meaning-to-topic 0.35 on bench/generate.py, 0.55 with none and every idea told
# to mention the topic, baseline 0.56); its instruction spells out the shape.
WORKED_EXAMPLES: dict[str, tuple[str, str]] = {
    "story": (
        "a lighthouse keeper who collects lost letters",
        "Every storm washed a few letters onto Mara's rocks, their ink blurred but still readable. "
        "She dried them by the lamp and kept them in a tin, one for each year she had tended the light.\n\n"
        "One winter a letter arrived addressed to her, in her grandmother's hand. It said only: "
        '"Keep the light burning; someone is always on the way home." '
        "Mara smiled, trimmed the wick, and wrote a reply she never sent.",
    ),
    "marketing": (
        "a bicycle repair café",
        "1. A bicycle repair café: espresso while we true your wheels.\n"
        "2. Flat tyre at nine? The repair café has you rolling again by ten.\n"
        "3. Good coffee, honest bike repairs, and a ride that feels new.",
    ),
    "poem": (
        "autumn rain",
        "Autumn Rain\n\n"
        "Grey clouds gather over quiet streets,\n"
        "the first drops tap on copper leaves,\n"
        "puddles hold a borrowed sky,\n"
        "umbrellas bloom as people hurry by.\n"
        "The gutters sing a running tune,\n"
        "and the storm is gone by afternoon.",
    ),
    "example": (
        "Temperature divides the model's scores before they become probabilities. "
        "A low temperature makes the likeliest word win almost every time.",
        "A music app picks the next song for you. Set to low temperature, it always plays your single "
        "favourite band; turned up, it starts slipping in songs you would never have chosen yourself.",
    ),
}
_EXAMPLE_TITLE = "Sampling and Temperature"

# Sentences of a slide an example is grounded in: its overview and its plain-words section first,
# then the rest, the ones sharing the learner's topic words preferred.
MAX_EXAMPLE_SENTENCES = 4
_GROUNDING_SECTIONS = ("overview", "in plain words")


def grounding_sentences(slide_text: str, topic: str = "", limit: int = MAX_EXAMPLE_SENTENCES) -> list[str]:
    """The slide's own sentences that an example illustrates: those sharing the most words with
    the topic (when there is one), else the slide's first explanatory sentences. ``slide_text``
    is ``slide_context``'s form: a title line, then "Heading: text" lines."""
    lines = [line for line in slide_text.splitlines()[1:] if line.strip()]
    candidates: list[tuple[int, str]] = []  # (section rank, sentence)
    for line in lines:
        heading, _, body = line.partition(": ")
        if not body:
            heading, body = "", line
        rank = _GROUNDING_SECTIONS.index(heading.casefold()) if heading.casefold() in _GROUNDING_SECTIONS else 2
        for sentence in sentences(body.replace(" - ", ". ")):
            if len(sentence.split()) >= 5:
                candidates.append((rank, sentence))
    if not candidates:
        return [shorten(slide_text, MAX_SLIDE_CHARS)]
    wanted = set(terms(topic))
    if wanted:
        ordered = sorted(
            enumerate(candidates), key=lambda item: (-len(wanted & set(terms(item[1][1]))), item[1][0], item[0])
        )
    else:
        ordered = sorted(enumerate(candidates), key=lambda item: (item[1][0], item[0]))
    chosen = sorted(ordered[:limit], key=lambda item: item[0])  # back in the slide's order
    return [sentence for _, (_, sentence) in chosen]


def build_messages(
    kind: str, topic: str, slide_text: str | None = None, *, worked_example: bool = True
) -> tuple[ChatMessage, ...]:
    """Chat messages for one /generate request: the system prompt, a worked example of the kind
    (an earlier user turn and its answer) where the kind has one, then the request. ``example``
    needs the slide's text (``slide_context``) and is grounded in a few of its own sentences."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    topic = shorten(" ".join(topic.split()), MAX_TOPIC_CHARS)
    if kind == "example":
        if not slide_text or not slide_text.strip():
            raise ValueError("an example needs the slide's text as context")
        about = f", about {topic}" if topic else ""
        title = slide_text.strip().splitlines()[0]
        grounding = "\n".join(grounding_sentences(slide_text, topic))
        user = _EXAMPLE_INSTRUCTION.format(title=title, slide=grounding, about=about)
    else:
        if not topic:
            raise ValueError("a topic is needed")
        user = _INSTRUCTIONS[kind].format(topic=topic)
    messages = [ChatMessage("system", SYSTEM_PROMPT)]
    if worked_example and kind in WORKED_EXAMPLES:
        shot_topic, shot_answer = WORKED_EXAMPLES[kind]
        if kind == "example":
            shot = _EXAMPLE_INSTRUCTION.format(title=_EXAMPLE_TITLE, slide=shot_topic, about="")
        else:
            shot = _INSTRUCTIONS[kind].format(topic=shot_topic)
        messages += [ChatMessage("user", shot), ChatMessage("assistant", shot_answer)]
    messages.append(ChatMessage("user", user))
    return tuple(messages)


# The first words of the answer, written for the model: a small model keeps to a topic its answer
# already names (it does not follow "name the topic in the first line"). The worked examples
# open the same way. Only for a short topic (a long one makes a poor title or first line).
# Measured on the tune half of bench/generate.py (meaning-to-topic of the text without its opening,
# i.e. what the model wrote itself; 6 outputs a kind): poem 0.36 -> 0.48, marketing 0.44 -> 0.53.
# A brainstorm heading ("Ways to ...:") raised the whole text's score only by naming the topic
# (its ideas: 0.54 -> 0.52), so brainstorm has none.
_OPENINGS: dict[str, str] = {"poem": "{title}\n\n", "marketing": "1. {first}"}
MAX_OPENING_WORDS = 8
_SMALL_WORDS = frozenset("a an and as at but by for from in into of on or the to with".split())


def _title(topic: str) -> str:
    words = topic.split()
    return " ".join(
        w if (i and w.lower() in _SMALL_WORDS) or not w[:1].islower() else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def opening(kind: str, topic: str) -> str:
    """The start of the answer for ``kind`` (a poem's title, a marketing list's first product
    name), or "" where the kind has none or the topic is too long or not a plain phrase."""
    topic = " ".join(topic.split()).rstrip(" .!?;:,")
    if kind not in _OPENINGS or not topic or len(topic.split()) > MAX_OPENING_WORDS:
        return ""
    if any(c in topic for c in '"`*_#<>[]{}|') or looks_like_course_question(topic):
        return ""
    return _OPENINGS[kind].format(title=_title(topic), first=topic[:1].upper() + topic[1:])


# Decoding for every kind, chosen on bench/generate.py (see its docstring for the figures).
REPETITION_PENALTY = 1.15
NO_REPEAT_NGRAM_SIZE = 3


def build_request(
    kind: str,
    topic: str,
    *,
    slide_text: str | None = None,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int | None = None,
    repetition_penalty: float = REPETITION_PENALTY,
    no_repeat_ngram_size: int = NO_REPEAT_NGRAM_SIZE,
    natural_end: bool = True,
    worked_example: bool = True,
    open_with_topic: bool = True,
) -> GenerationRequest:
    """A checked request for ``kind``: its messages (``build_messages``), the decoding settings
    and (``open_with_topic``) the answer opened with the topic where the kind has an opening."""
    return GenerationRequest(
        messages=build_messages(kind, topic, slide_text, worked_example=worked_example),
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        kind=kind,
        repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
        natural_end=natural_end,
        opening=opening(kind, topic) if open_with_topic else "",
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
