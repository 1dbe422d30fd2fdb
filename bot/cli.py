"""The command line: ``python -m bot COMMAND`` (also installed as ``slide-tutor``).

Each command parses its arguments, calls the domain layer and prints: JSON with ``--json``,
readable text otherwise. Usage errors exit 2 with a one-line message.

Why one long module: one short function per command and the parser that lists them, so that
``--help`` and the commands are read side by side; the work is in the domain.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from bot.domain.errors import ServiceUnavailable, UserError
from bot.logs import configure_logging
from bot.plain import format_slide
from bot.settings import Settings

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A problem with what the user typed: printed as one line, exit status 2."""


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _progress() -> bool:
    return sys.stderr.isatty()


def _load_tutor(settings: Settings):
    from bot.domain.tutor import Tutor

    tutor, report = Tutor.load(settings, progress=_progress())
    if tutor.index.recovered_from:
        print(f"The index was damaged ({tutor.index.recovered_from}); it has been rebuilt.", file=sys.stderr)
    for problem in tutor.knowledge.problems:
        print(f"skipped {problem}", file=sys.stderr)
    return tutor, report


def _load_services(settings: Settings):
    """The services the bot and the terminal use, built the same way (close them after use)."""
    from bot.domain.services import Services

    services = Services.load(settings, progress=_progress())  # logs a rebuilt index as a warning
    for problem in services.tutor.knowledge.problems:
        print(f"skipped {problem}", file=sys.stderr)
    return services


def _load_deck(settings: Settings, guild: int | None = None):
    """The default deck in KNOWLEDGE_DIR; with ``guild``, that server's own course if it has one
    (as the bot answers there), else the default deck."""
    from bot.domain.loaders import DeckLimits, load_deck

    limits = DeckLimits.from_settings(settings)
    if guild is not None:
        from bot.domain.courses import CourseFiles

        files = CourseFiles(settings.data_dir / "courses", limits)
        if files.files(guild):
            result = files.load(guild)
            for problem in result.problems:
                print(f"skipped {problem}", file=sys.stderr)
            return result.deck
    result = load_deck(settings.knowledge_dir, limits)
    for problem in result.problems:
        print(f"skipped {problem}", file=sys.stderr)
    return result.deck


# ------------------------------------------------------------------------------------ commands


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    tutor, report = _load_tutor(settings)
    for change in report.changes:
        print(f"changed: {change}", file=sys.stderr)
    if args.json:
        _print_json({**report.to_dict(), "problems": [str(p) for p in tutor.knowledge.problems]})
    else:
        print(
            f"{report.slides} slides, {report.passages} passages: {report.embedded} embedded, "
            f"{report.deleted} deleted in {report.seconds:.2f} s"
        )
    problems = tutor.knowledge.problems
    if args.strict and problems:
        print(f"slide-tutor ingest: --strict: {len(problems)} problem(s), listed above", file=sys.stderr)
        return 1
    return 0


def cmd_deck(args: argparse.Namespace, settings: Settings) -> int:
    deck = _load_deck(settings, args.guild)
    if args.json:
        _print_json([{"number": s.number, "title": s.title} for s in deck])
    else:
        for slide in deck:
            print(f"{slide.number:>3}  {slide.title}")
    return 0


def print_slide(slide, as_json: bool) -> None:
    if as_json:
        _print_json(slide.to_dict())
    else:
        print(format_slide(slide))


def cmd_slide(args: argparse.Namespace, settings: Settings) -> int:
    deck = _load_deck(settings, args.guild)
    slide = deck.get(args.number)
    if slide is None:
        raise UsageError(f"there is no slide {args.number}; valid slides are {deck.range_text()}")
    print_slide(slide, args.json)
    return 0


def _step(args: argparse.Namespace, settings: Settings, offset: int) -> int:
    """Move the learner's stored place by ``offset`` and print that slide. Needs only the deck and
    the state database (no model), so it is quick; the place is the terminal session's (scope "local")."""
    from bot.domain.learners import LearnerStore, NewerSchema, SlideNotFound
    from bot.domain.storage import StorageUnavailable
    from bot.terminal import LOCAL_SCOPE, local_user

    user = local_user() if args.user is None else args.user.strip()
    if not user:
        raise UsageError("--user must not be empty")
    deck = _load_deck(settings, args.guild)
    scope = f"guild:{args.guild}" if args.guild is not None else LOCAL_SCOPE  # as `chat --guild` keeps it
    try:
        with LearnerStore(settings.state_url, wait_s=settings.database_wait_s) as places:
            slide = places.step(deck, scope, user, offset)
    except (SlideNotFound, NewerSchema) as error:
        raise UsageError(str(error)) from error
    except StorageUnavailable as error:
        print(f"slide-tutor {args.command}: {error}", file=sys.stderr)
        return 1
    print_slide(slide, args.json)
    return 0


def cmd_next(args: argparse.Namespace, settings: Settings) -> int:
    return _step(args, settings, 1)


def cmd_prev(args: argparse.Namespace, settings: Settings) -> int:
    return _step(args, settings, -1)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.answering import EmptyQuestion

    if args.question != "-" and not args.question.strip():
        raise UsageError(str(EmptyQuestion()))
    tutor, _ = _load_tutor(settings)
    if args.guild is not None:
        from bot.domain.courses import Courses

        tutor = Courses(settings, tutor).tutor_for(args.guild)  # the server's course, or the default deck
    questions = (line.rstrip("\n") for line in sys.stdin) if args.question == "-" else [args.question]
    failed = 0
    for question in questions:
        if args.question == "-" and not question.strip():
            continue
        try:
            answer = tutor.ask(question)
        except UserError as error:  # the index is away, say: one line for this question, the stream goes on
            failed += 1
            if args.json:
                _print_json({"question": question, "error": str(error)})
            else:
                print(f"error: {error}")
                print()
        else:
            if args.json:
                _print_json(answer.to_dict())
            else:
                print(answer.text)
                print()
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_tokenize(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ansi import render_ansi
    from bot.domain.similarity import EmptyText
    from bot.domain.tokenizers import TOKENIZER_NAMES, Tokenizers, TokenizerUnavailable, tokenize_command

    if not args.text.strip():
        raise UsageError(str(EmptyText()))
    tokenizers = Tokenizers(cache_dir=settings.models_dir)
    names = TOKENIZER_NAMES if args.tokenizer == "all" else (args.tokenizer,)
    try:
        if args.json:
            _print_json(tokenize_command(args.text, args.tokenizer, tokenizers))
            return 0
        results = [tokenizers.tokenize(args.text, name) for name in names]
    except TokenizerUnavailable as error:
        raise UsageError(str(error)) from error
    for tok in results:
        print(f"{tok.label}: {tok.count} tokens, {tok.chars_per_token:.1f} characters per token")
        shown = render_ansi(tok, 1 << 30, fence=False) if sys.stdout.isatty() else "|".join(tok.tokens)
        print(f"  tokens: {shown}")
        print(f"  ids:    {', '.join(map(str, tok.ids))}")
    return 0


def cmd_similar(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.similarity import EmptyText

    if not args.text.strip():
        raise UsageError(str(EmptyText()))
    if args.other is not None and not args.other.strip():
        raise UsageError(str(EmptyText("second text")))
    services = _load_services(settings)
    try:
        return _print_similar(args, services.similarity_for(args.guild))  # the server's course, or the default
    finally:
        services.close()


def _print_similar(args: argparse.Namespace, similarity) -> int:
    from pathlib import Path

    texts = [args.text] if args.other is None else [args.text, args.other]
    if args.other is not None:
        comparison = similarity.compare(args.text, args.other)
        result: dict[str, object] = comparison.to_dict()
        lines = [f"similarity {comparison.score:.3f}: {comparison.reading}"] + (
            [comparison.note] if comparison.note else []
        )
    else:
        neighbours = similarity.neighbours(args.text, args.top)
        result = {"neighbours": [n.to_dict() for n in neighbours]}
        lines = [f"{n.score:.3f}  {n.citation}" for n in neighbours]
    if args.png:
        try:
            Path(args.png).write_bytes(similarity.map_png(texts))
        except OSError as error:
            raise UsageError(f"cannot write the map to {args.png}: {error.strerror or error}") from error
        result["png"] = args.png
        lines.append(f"map written to {args.png}")
    if args.json:
        _print_json(result)
    else:
        print("\n".join(lines))
    return 0


# Kinds of /generate (bot.domain.generation.KINDS; kept here so that building the parser stays light).
GENERATE_KINDS = ("story", "marketing", "brainstorm", "poem", "example")


def _example_slide_text(settings: Settings, prompt: str, number: int | None, guild: int | None) -> tuple[str, str]:
    """The slide text for ``--kind example`` (``--slide N``, or "slide N" in the prompt) and the
    rest of the prompt."""
    from bot.domain.errors import UserError
    from bot.domain.generation import example_slide, slide_context

    try:
        slide, prompt = example_slide(
            _load_deck(settings, guild), f"slide {number} {prompt}" if number else prompt, lambda: None
        )
    except UserError as error:
        raise UsageError(f"{error} (--slide N names one)") from None
    return slide_context(slide), prompt


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.domain.generation import (
        GenerationError,
        GenerationService,
        build_request,
        generate_command,
    )
    from bot.terminal import stream_to_stdout

    prompt = " ".join(args.prompt.split())
    if not prompt and args.kind != "example":
        raise UsageError("the prompt is empty: say what to write about, e.g. 'a robot learning to paint'")
    if not 0 <= args.temperature <= 2:
        raise UsageError("--temperature must be between 0 (always the likeliest token) and 2")
    if args.max_new_tokens is not None and not 1 <= args.max_new_tokens <= 4096:
        raise UsageError("--max-new-tokens must be between 1 and 4096")
    slide_text = None
    if args.kind == "example":
        slide_text, prompt = _example_slide_text(settings, prompt, args.slide, args.guild)
    try:
        service = GenerationService.from_settings(settings, progress=_progress())
    except GenerationError as error:
        print(f"slide-tutor generate: {error.one_line}", file=sys.stderr)
        return 1
    if args.max_new_tokens is not None:
        service.max_new_tokens = args.max_new_tokens  # the operator's own limit here, not the bot's
    try:  # every generation failure (time limit, server down, model failed) is one line on stderr
        if args.json:
            result = generate_command(
                prompt,
                args.kind,
                args.max_new_tokens,
                args.temperature,
                args.seed,
                service,
                slide_text=slide_text,
            )
            _print_json(result)
            return 0
        request = build_request(
            args.kind,
            prompt,
            slide_text=slide_text,
            max_new_tokens=service.max_new_tokens,
            temperature=args.temperature,
            seed=args.seed,
        )

        stats = stream_to_stdout(service, request)
        print()
        print(
            f"— {stats.model} · {stats.tokens} tokens in {stats.seconds:.1f} s · "
            f"{stats.tokens_per_second:.1f} tok/s · generated text, not course material",
            file=sys.stderr,
        )
        return 0
    except GenerationError as error:
        if not args.json:
            print(file=sys.stdout)  # end the streamed text's line
        print(f"slide-tutor generate: {error.one_line}", file=sys.stderr)
        return 1
    finally:
        asyncio.run(service.aclose())


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.generation import GenerationError, predict_command

    if not args.text.strip():
        raise UsageError("the text is empty: give the start of a sentence, e.g. 'The capital of France is'")
    if not 1 <= args.top <= 100:
        raise UsageError("--top must be between 1 and 100")
    try:
        result = predict_command(
            args.text, args.top, png=args.png, model=settings.generation_model, models_dir=settings.models_dir
        )
    except GenerationError as error:
        print(f"slide-tutor predict: {error.one_line}", file=sys.stderr)
        return 1
    except OSError as error:
        raise UsageError(f"cannot write the chart to {args.png}: {error.strerror or error}") from error
    if args.json:
        _print_json(result)
        return 0
    for row in result["next"]:
        print(f"{row['probability']:>7.1%}  {row['token']}")
    for panel in result.get("temperatures", []):
        shown = ", ".join(f"{row['token']} {row['probability']:.0%}" for row in panel["next"][:5])
        print(f"T={panel['temperature']:g}: {shown}, others {panel['other']:.0%}")
    if args.png:
        print(f"chart written to {args.png}")
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.terminal import run_terminal

    if args.user is not None and not args.user.strip():
        raise UsageError("--user must not be empty")
    return run_terminal(settings, args.user and args.user.strip(), as_json=args.json, guild=args.guild)


def cmd_course(args: argparse.Namespace, settings: Settings) -> int:
    """A server's own course: add, list, remove files, or reset to the default deck."""
    from bot.domain.courses import CourseError, CourseFiles, Courses
    from bot.domain.loaders import DeckLimits

    if args.guild <= 0:
        raise UsageError("--guild must be a server id (a positive number)")
    if args.action in ("add", "remove") and not args.file:
        raise UsageError(f"course {args.action} needs a FILE")
    if args.action == "list":
        files = CourseFiles(settings.data_dir / "courses", DeckLimits.from_settings(settings)).files(args.guild)
        result = {"guild": str(args.guild), "files": [f.to_dict() for f in files]}
        lines = [f"{f.name}: {f.slides} slides, {f.size / 1024:.0f} KB" for f in files] or [
            "no course: this server uses the default deck"
        ]
    else:
        tutor, _ = _load_tutor(settings)
        courses = Courses(settings, tutor)
        try:
            if args.action == "add":
                from pathlib import Path

                path = Path(args.file)
                try:
                    data = path.read_bytes()
                except OSError as error:
                    raise UsageError(f"cannot read {args.file}: {error.strerror or error}") from error
                change = courses.add(args.guild, path.name, data)
            elif args.action == "remove":
                change = courses.remove(args.guild, args.file)
            else:
                change = courses.reset(args.guild)
        except CourseError as error:
            raise UsageError(str(error)) from error
        result = change.to_dict()
        lines = [f"{len(change.files)} files, {change.slides} slides"]
        lines += [f"not added: {p}" for p in change.problems]
        if change.files:
            lines.append("A running bot answers from the change after /reload in that server (or a restart).")
    if args.json:
        _print_json(result)
    else:
        print("\n".join(lines))
    failed = args.action == "add" and result.get("index") is None
    return 1 if failed else 0


def _state(settings: Settings):
    from bot.domain.feedback import Feedback
    from bot.domain.learners import LearnerStore

    learners = LearnerStore(settings.state_url, wait_s=settings.database_wait_s)
    return learners, Feedback(learners.database, settings.question_log_days)


def cmd_insights(args: argparse.Namespace, settings: Settings) -> int:
    """The figures of /insights: one server, or (no --guild) every server and the terminal together."""
    from pathlib import Path

    from bot.domain.insights import csv_within, gather, picture

    place = str(args.guild) if args.guild is not None else None
    deck = _load_deck(settings, args.guild)
    learners, feedback = _state(settings)
    try:
        insights = gather(feedback, learners, place, deck)
        result = insights.to_dict()
        try:
            if args.png:
                Path(args.png).write_bytes(picture(insights))
                result["png"] = args.png
            if args.csv:
                data, _ = csv_within(feedback, place, 1 << 40)
                Path(args.csv).write_bytes(data)
                result["csv"] = args.csv
        except OSError as error:
            raise UsageError(f"cannot write {error.filename}: {error.strerror or error}") from error
    finally:
        learners.close()
    if args.json:
        _print_json(result)
        return 0
    print(
        f"{insights.questions} questions from {insights.learners} learners, {insights.declined_share:.0%} declined; "
        f"votes {insights.up} up, {insights.down} down"
    )
    for slide in result["slides"]:
        accuracy = f", quiz {slide['quiz_accuracy']:.0%}" if slide["quiz_accuracy"] is not None else ""
        print(f"  slide {slide['slide']:>3}: {slide['questions']} questions, +{slide['up']}/-{slide['down']}{accuracy}")
    for gap in insights.gaps:
        print(f"  gap: {gap.summary}")
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    """Delete everything kept about a learner: places, quiz scores, logged questions, votes."""
    user = args.user.strip()
    if not user:
        raise UsageError("--user must not be empty")
    learners, feedback = _state(settings)
    try:
        removed = learners.forget_everywhere(user)
        removed.update(feedback.forget(user))
        left = learners.holds(user) + feedback.holds(user)
    finally:
        learners.close()
    if args.json:
        _print_json({"user": user, "deleted": removed, "left": left})
    else:
        print(f"deleted {sum(removed.values())} records of {user}; {left} left")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_token is None:
        from bot.terminal import run_terminal

        print("No DISCORD_TOKEN set: starting a terminal session (type /help for commands).", file=sys.stderr)
        return run_terminal(settings)
    from bot.client import run_bot, startup_problem

    try:
        run_bot(settings)
    except Exception as error:
        problem = startup_problem(error)
        if problem is None:
            raise
        print(f"slide-tutor run: {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Log in, push the slash commands to Discord, and exit."""
    import asyncio

    from bot.client import TutorBot, startup_problem

    if settings.discord_token is None:
        raise UsageError("DISCORD_TOKEN is not set: syncing needs the bot's token")

    async def sync() -> int:
        # The command definitions only: no models load and the deck is not re-indexed.
        bot = TutorBot(settings, commands_only=True)
        async with bot:
            await bot.login(settings.discord_token.get_secret_value())  # runs setup_hook: cogs load
            synced = await bot.sync_commands(args.guild or settings.sync_guild_id)
        return len(synced)

    try:
        count = asyncio.run(sync())
    except Exception as error:
        problem = startup_problem(error)
        if problem is None:
            raise
        print(f"slide-tutor sync: {problem}", file=sys.stderr)
        return 1
    print(f"synced {count} commands")
    return 0


# ------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slide-tutor",
        description="Slide Tutor: a Discord bot that tutors learners through a Generative-AI slide deck.",
        epilog="Settings come from the environment and .env (see .env.example).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(handler=handler)
        return p

    p = command(
        "ingest", cmd_ingest, "Load the deck and bring the vector index up to date (only changes are embedded)."
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when any deck file has a problem (it is still skipped)",
    )
    p = command("deck", cmd_deck, "List the slides of the deck.")
    p.add_argument("--guild", type=int, metavar="ID", help="this server's course (default: the default deck)")
    p = command("slide", cmd_slide, "Show one slide: its sections and FAQ.")
    p.add_argument("number", type=int, help="the slide number")
    p.add_argument("--guild", type=int, metavar="ID", help="from this server's course (default: the default deck)")
    places_note = (
        "Places are kept per user in DATA_DIR/state.sqlite3 (or DATABASE_URL) and shared with the terminal session "
        "(`python -m bot run` without a token); not started, both commands show the first slide, "
        "and at either end of the deck they stay there. Loads no model: only the deck and the database."
    )
    for name, handler, text in (
        ("next", cmd_next, "Move your place on to the next slide and show it."),
        ("prev", cmd_prev, "Move your place back to the previous slide and show it."),
    ):
        p = command(name, handler, text)
        p.epilog = places_note
        p.add_argument(
            "--user", metavar="NAME", help="whose place to move (default: your login name, as in the terminal session)"
        )
        p.add_argument(
            "--guild", type=int, metavar="ID", help="this server's course, and the place `chat --guild ID` keeps there"
        )
    p = command("ask", cmd_ask, "Answer a question from the slides, citing them.")
    p.add_argument("question", help="the question, or - to read one question per line from standard input")
    p.add_argument(
        "--guild", type=int, metavar="ID", help="answer from this server's course (default: the default deck)"
    )
    p = command("tokenize", cmd_tokenize, "Show how a tokenizer cuts text into tokens, with their ids.")
    p.add_argument("text", help="the text to tokenize")
    p.add_argument(
        "--tokenizer",
        choices=("gpt2", "cl100k", "wordpiece", "smollm2", "all"),
        default="all",
        help="gpt2 (GPT-2 BPE), cl100k (GPT-4), wordpiece (BERT/MiniLM), smollm2 (the bot's generator), "
        "or all four (default)",
    )
    p = command(
        "similar",
        cmd_similar,
        "Cosine similarity of two texts, or the slides nearest to one text; optionally a 2-D map.",
    )
    p.add_argument("text", help="a word or a sentence")
    p.add_argument("other", nargs="?", help="a second text: print the similarity of the two instead of neighbours")
    p.add_argument("--top", type=int, default=5, help="how many nearest passages to list (default 5)")
    p.add_argument("--png", metavar="PATH", help="also draw the text(s) among the slides and write the PNG there")
    p.add_argument(
        "--guild",
        type=int,
        metavar="ID",
        help="nearest slides and the map from this server's course (default: the default deck)",
    )
    p = command(
        "generate",
        cmd_generate,
        "Write something creative with the generation model, streamed as it comes "
        "(with --json: the text, token count, time and speed once done).",
    )
    p.add_argument("prompt", help="what to write about, e.g. 'a robot learning to paint'")
    p.add_argument(
        "--kind",
        choices=GENERATE_KINDS,
        default="story",
        help="what to write (default story); example illustrates a slide: give --slide N",
    )
    p.add_argument("--slide", type=int, metavar="N", help="for --kind example: the slide to illustrate")
    p.add_argument(
        "--guild",
        type=int,
        metavar="ID",
        help="for --kind example: a slide of this server's course (default: the default deck)",
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        help="the most new tokens to write (default GENERATION_MAX_NEW_TOKENS, 200)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        metavar="T",
        help="0 = always the likeliest token, up to 2 (default 0.8)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="random seed: the same seed and settings give the same text")
    p = command(
        "predict",
        cmd_predict,
        "The tokens the generation model finds most likely to come next, with their probabilities.",
    )
    p.add_argument("text", help="the start of a sentence, e.g. 'The capital of France is'")
    p.add_argument("--top", type=int, default=10, metavar="K", help="how many tokens to list (default 10)")
    p.add_argument(
        "--png",
        metavar="PATH",
        help="also chart them at a low, neutral and high temperature and write the PNG there",
    )
    p = command(
        "chat",
        cmd_chat,
        "Talk to the tutor in the terminal: questions, follow-ups, small talk and /commands "
        "(with --json: one JSON object per input line: message, reply, kind, confident, sources).",
    )
    p.add_argument(
        "--user",
        metavar="NAME",
        help="who is talking (default: your login name); keeps your slide place, and questions are logged under it",
    )
    p.add_argument("--guild", type=int, metavar="ID", help="talk to this server's course (default: the default deck)")
    p.epilog = "Type /help in the session for its commands, /reset for a new topic, /quit to leave."
    p = command(
        "course",
        cmd_course,
        "A server's own course: add a file (md, txt, html, pdf, pptx), list, remove one, or reset to the default deck.",
    )
    p.add_argument("action", choices=("add", "list", "remove", "reset"))
    p.add_argument("file", nargs="?", help="add: the file to add; remove: the name of the file to remove")
    p.add_argument("--guild", type=int, metavar="ID", required=True, help="the server's id")
    p.epilog = (
        "Files are kept in DATA_DIR/courses/ID/. A file that cannot be read is reported (exit status 1) and "
        "nothing changes. A running bot picks the change up with /reload in that server."
    )
    p = command(
        "insights",
        cmd_insights,
        "What learners asked: questions and votes per slide, share declined, quiz accuracy, knowledge gaps.",
    )
    p.add_argument("--guild", type=int, metavar="ID", help="one server (default: every server and the terminal)")
    p.add_argument("--png", metavar="PATH", help="also draw the picture /insights shows and write it there")
    p.add_argument("--csv", metavar="PATH", help="also write the question log there (gzip-compressed CSV)")
    p = command(
        "forget",
        cmd_forget,
        "Delete everything kept about a learner: places, quiz scores, logged questions and votes.",
    )
    p.add_argument("--user", metavar="NAME", required=True, help="the learner: a terminal name or a Discord user id")
    command("run", cmd_run, "Start the bot: on Discord when DISCORD_TOKEN is set, else a terminal session.", False)
    p = command("sync", cmd_sync, "Register the slash commands with Discord (once, or after adding commands).", False)
    p.add_argument("--guild", type=int, help="sync to this server only (shows at once); default: globally")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as error:  # noqa: BLE001 - a bad setting is a usage problem: say which
        print(f"slide-tutor: invalid settings: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return args.handler(args, settings)
    except UsageError as error:
        print(f"slide-tutor {args.command}: {error}", file=sys.stderr)
        return 2
    except ServiceUnavailable as error:
        print(f"slide-tutor {args.command}: {error}", file=sys.stderr)
        return 1
    except UserError as error:  # a known problem the learner would be told: one line
        print(f"slide-tutor {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`slide-tutor deck | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
