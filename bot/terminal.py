"""The terminal session (``python -m bot chat``): the bot without Discord, for trying it out and
for instructors offline.

The same services, conversation layer and stored places as the Discord bot: messages go to
``Tutoring.respond`` and the reply is rendered as text; ``/next``, ``/slide``, ``/quiz``, ``/reset``
and the teaching commands work as they do on Discord. With ``--json``, each input line gives one
JSON object.
"""

from __future__ import annotations

import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

from bot.domain.conversation import Key, Reply
from bot.domain.courses import place_guild
from bot.domain.errors import UserError
from bot.domain.index import IngestReport
from bot.domain.messages import Request, request_in_words
from bot.domain.services import Services
from bot.plain import format_reply, format_slide, prediction_table
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.domain.quiz import QuizQuestion

# What a learner types to see a quiz question's answer without being marked
_SKIP_WORDS = frozenset({"skip", "pass", "next question", "show answer", "show me the answer", "give up"})

LOCAL_SCOPE = "local"


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "learner"


class TerminalSession:
    """Turns typed lines into replies. ``handle`` is pure text in, text out (easy to test)."""

    def __init__(self, services: Services, user: str, stream: bool = True, guild: int | None = None) -> None:
        self.services = services
        self.user = user
        self.stream = stream  # generated text goes to stdout as it comes (else it is returned)
        # With a server (``chat --guild ID``): that server's course and the learner's places there.
        self.scope = f"guild:{guild}" if guild else LOCAL_SCOPE
        self.key = Key(str(guild) if guild else LOCAL_SCOPE, "terminal", user)
        self.pending_quiz = None  # the question waiting for the learner's answer
        self.commands: dict[str, tuple[Callable[[str], str], str]] = {
            "help": (self.help, "this list"),
            "reset": (self.reset, "start a new conversation (forget the topic)"),
            "ask": (self.ask, "QUESTION: answer from the slides (plain text works too)"),
            "next": (lambda _: self.step(1), "the next slide"),
            "prev": (lambda _: self.step(-1), "the previous slide"),
            "slide": (self.slide, "N or TITLE: jump to a slide"),
            "deck": (self.deck, "the contents, with your place marked"),
            "faq": (self.faq, "the FAQ of your current slide"),
            "quiz": (self.quiz, "a question on your current slide; type your answer next"),
            "tokenize": (self.tokenize, "[gpt2|cl100k|wordpiece|smollm2|all] TEXT: how text becomes tokens"),
            "generate": (self.generate, "KIND TOPIC: the small model writes a story, poem… (streamed)"),
            "predict": (self.predict, "TEXT: the tokens the model finds likeliest to come next"),
            "reload": (self.reload, "re-read the deck and update the index"),
            "quit": (lambda _: "", "leave"),
        }

    @property
    def course_deck(self):
        """The deck this session answers from: the server's course (``--guild``), else the default."""
        return self.services.deck_for(self.key.place)

    # ------------------------------------------------------------------ dispatch

    def handle(self, line: str) -> str:
        """The text to print for one typed line ("" for none)."""
        reply = self.reply(line)
        return reply.text if reply is not None else ""

    def reply(self, line: str) -> Reply | None:
        """One typed line in, one reply out (None for a blank line)."""
        line = line.strip()
        if not line:
            return None
        try:
            if self.pending_quiz is not None and not line.startswith("/"):
                folded = line.casefold().strip(" .!?")
                if folded in _SKIP_WORDS:
                    return Reply("command", self.skip())
                if request_in_words(folded) is None:
                    return Reply("command", self.judge(line))
                self.pending_quiz = None  # "next slide", "quiz me on RAG": moving on, not an answer
            if not line.startswith("/"):
                return self.converse(line)
            name, _, rest = line[1:].partition(" ")
            entry = self.commands.get(name.lower())
            if entry is None:
                return Reply("error", f"Unknown command /{name}. Type /help for the list.")
            return Reply("command", entry[0](rest.strip()))
        except UserError as error:
            return Reply("error", str(error))

    def converse(self, message: str) -> Reply:
        reply = self.services.tutoring.respond(self.key, message)
        if reply.request is not None:
            lead = reply.text
            if self.stream and reply.request.name == "generate":
                print(lead + "\n", flush=True)  # before the text streams in, not after it
                lead = ""
            shown = self.run_request(reply.request)
            text = "\n\n".join(part for part in (lead, shown) if part)
            return Reply(reply.kind, text, reply.sources, reply.confident, reply.actions, reply.request)
        return Reply(reply.kind, format_reply(reply), reply.sources, reply.confident, reply.actions)

    def run_request(self, request: Request) -> str:
        """What a request in words ("quiz me", "go to slide 8") shows: the same as its command."""
        if request.name == "slide":
            return self.slide(request.argument)
        if request.name == "tokenize":
            return self.tokenize(f"all {request.argument}")
        if request.name == "generate":
            return self.generate(f"{request.kind} {request.argument}")
        handler = {
            "quiz": self.quiz,
            "next": lambda _: self.step(1),
            "prev": lambda _: self.step(-1),
            "deck": self.deck,
        }
        return handler[request.name](request.argument) if request.name in handler else ""

    def reset(self, _: str = "") -> str:
        self.pending_quiz = None
        self.services.tutoring.reset(self.key)
        return "New topic: ask me anything about the slides."

    def help(self, _: str = "") -> str:
        lines = ["Type a question, or one of these:"]
        lines += [f"  /{name:<9} {text}" for name, (_, text) in self.commands.items()]
        return "\n".join(lines)

    # ------------------------------------------------------------------ commands

    def ask(self, question: str) -> str:
        return format_reply(self.converse(question))

    def step(self, offset: int) -> str:
        slide = self.services.learners.step(self.course_deck, self.scope, self.user, offset)
        return format_slide(slide)

    def slide(self, query: str) -> str:
        deck = self.course_deck
        if not query:
            raise UserError(f"Which slide? Give a number ({deck.range_text()}) or part of a title.")
        slide = self.services.learners.goto(deck, self.scope, self.user, deck.resolve(query))
        return format_slide(slide)

    def deck(self, _: str = "") -> str:
        place = self.services.learners.get(self.scope, self.user)
        return "\n".join(
            f"{'→' if slide.number == place else ' '} {slide.number:>3}  {slide.title}" for slide in self.course_deck
        )

    def _current(self):
        slide = self.services.learners.current(self.course_deck, self.scope, self.user)
        if slide is None:
            raise UserError("You haven't started yet: type /next for the first slide.")
        return slide

    def faq(self, _: str = "") -> str:
        slide = self._current()
        return "\n".join(f"Q: {pair.q}\nA: {pair.a}\n" for pair in slide.faq) or "This slide has no FAQ."

    def quiz(self, number: str = "") -> str:
        """A question on slide ``number`` (the conversation's topic), else on the learner's place."""
        from bot.domain.quiz import pick_question

        slide = self.course_deck.get(int(number)) if number.isdigit() else None
        slide = slide or self._current()
        question = pick_question(slide)
        if question is None:
            raise UserError(f"Slide {slide.number} has nothing to quiz you on.")
        self.pending_quiz = question
        return f"Quiz on slide {slide.number} ({slide.title}):\n{question.question}\n(type your answer, or skip)"

    def skip(self) -> str:
        question, self.pending_quiz = self.pending_quiz, None
        return f"Skipped. {_the_answer(question)}"

    def judge(self, answer: str) -> str:
        question, self.pending_quiz = self.pending_quiz, None
        verdict = self.services.judge_and_record(self.scope, self.user, question, answer)
        return f"{verdict.feedback}\n{_the_answer(question)}"

    def tokenize(self, rest: str) -> str:
        from bot.domain.tokenizers import TOKENIZER_NAMES

        name, _, text = rest.partition(" ")
        if name not in (*TOKENIZER_NAMES, "all"):
            name, text = "all", rest
        if not text.strip():
            raise UserError("Give some text to tokenize, e.g. /tokenize all Tokenization is fun!")
        tokenizations = (
            self.services.tokenizers.tokenize_all(text)
            if name == "all"
            else [self.services.tokenizers.tokenize(text, name)]
        )
        blocks = []
        for tok in tokenizations:
            shown = " | ".join(tok.tokens[:80]) + (f" | … {tok.count - 80} more" if tok.count > 80 else "")
            blocks.append(f"{tok.label}: {tok.count} tokens ({tok.chars_per_token:.1f} chars/token)\n  {shown}")
        return "\n".join(blocks)

    def generate(self, rest: str) -> str:
        """Streams the text to the terminal as it comes; returns the footer."""

        from bot.domain.generation import (
            KINDS,
            GenerationError,
            build_request,
            example_slide,
            slide_context,
        )

        kind, _, topic = rest.partition(" ")
        kind, topic = kind.lower(), " ".join(topic.split())
        if kind not in KINDS:
            raise UserError(f"Usage: /generate KIND TOPIC, KIND one of {', '.join(KINDS)}; e.g. /generate poem the sea")
        course = self.services.tutoring.instead_of_generating(topic, self.key.place)
        if course is not None:
            return course.text
        slide_text = None
        if kind == "example":
            slide, topic = example_slide(self.course_deck, topic, self._current)
            slide_text = slide_context(slide)
        elif not topic:
            raise UserError(f"What about? e.g. /generate {kind} a robot learning to paint")
        try:  # a failed generation is one line, like any other problem here
            service = self.services.generation()
            request = build_request(kind, topic, slide_text=slide_text, max_new_tokens=service.max_new_tokens)
            stats, text = generate_text(service, request, echo=self.stream)
        except KeyboardInterrupt:
            return "\n(stopped)"
        except GenerationError as error:
            raise generation_failed(error, self.stream) from error
        footer = (
            f"— {stats.model} · {stats.tokens} tokens · {stats.tokens_per_second:.1f} tok/s · "
            "generated text, not course material"
        )
        return f"\n{footer}" if self.stream else f"{text.strip()}\n{footer}"

    def predict(self, text: str) -> str:
        import asyncio

        from bot.domain.generation import GenerationError

        if not text.strip():
            raise UserError("Give the start of a sentence, e.g. /predict The capital of France is")
        try:
            view = asyncio.run(self.services.generation().sampling_view(text, 8))
        except GenerationError as error:
            raise generation_failed(error) from error
        note = "T=1 is the model's own odds; low T sharpens them, high T flattens them."
        return "\n".join([*prediction_table(view), note])

    def reload(self, _: str = "") -> str:
        report = self.services.courses.reload(place_guild(self.key.place))
        if not isinstance(report, IngestReport):
            report = report.report
        return f"Reloaded {report.slides} slides: {report.embedded} passages re-embedded, {report.deleted} removed."


def generation_failed(error, streamed: bool = False) -> UserError:
    """A generation failure as one line: what a learner is told, and what went wrong."""
    if isinstance(error, UserError) and not streamed:
        return error
    lead = "\n" if streamed else ""  # after text that streamed in, on a line of its own
    return UserError(f"{lead}{error.for_learner} ({error.one_line})")


def generate_text(service, request, echo: bool):
    """Run a generation; with ``echo``, its text goes to standard output as it comes. Returns its
    stats and the text."""
    import asyncio

    from bot.domain.generation import Chunk, Retrying

    parts: list[str] = []

    def show(event: object) -> None:
        if isinstance(event, Chunk):
            parts.append(event.text)
            if echo:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        elif isinstance(event, Retrying):
            parts.clear()
            if echo:
                sys.stdout.write(f"\n(writing it again: {event.reason})\n")
                sys.stdout.flush()

    stats = asyncio.run(service.generate(request, on_event=show))
    return stats, stats.text


def stream_to_stdout(service, request):
    """Run a generation, writing its text to standard output as it comes; returns its stats."""
    return generate_text(service, request, echo=True)[0]


def lines_from(stream: TextIO, prompt: str, interactive: bool) -> Iterator[str]:
    while True:
        if interactive:
            try:
                yield input(prompt)
            except EOFError:
                return
        else:
            line = stream.readline()
            if not line:
                return
            yield line


def run_terminal(settings: Settings, user: str | None = None, as_json: bool = False, guild: int | None = None) -> int:
    """The terminal session on standard input; with ``as_json``, one JSON object per input line."""
    interactive = sys.stdin.isatty() and not as_json
    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)  # a learner at the prompt wants answers, not logs
    print("Loading the deck and models…", file=sys.stderr)
    services = Services.load(settings, progress=interactive)
    session = TerminalSession(services, user or local_user(), stream=not as_json, guild=guild)
    print(
        f"Slide Tutor: {len(session.course_deck)} slides. Ask a question, or type /help. /quit to leave.",
        file=sys.stderr,
    )
    try:
        for line in lines_from(sys.stdin, "you> ", interactive):
            if line.strip().lower() in ("/quit", "/exit"):
                break
            if as_json:
                reply = session.reply(line) or session.converse(line)  # a blank line gets a reply too
                print(json.dumps(reply.to_dict(line.strip()), ensure_ascii=False), flush=True)
                continue
            text = session.handle(line)
            if text:
                print(text + "\n", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
    return 0


def _the_answer(question: QuizQuestion) -> str:
    """A quiz question's answer and where to revisit it, as judging and skipping both show them."""
    return f"The slide's answer: {question.answer}\nRevisit: slide {question.slide} ({question.title})"
