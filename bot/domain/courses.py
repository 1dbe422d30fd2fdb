"""A course per server: the files an instructor uploaded, and the tutor that answers from them.

A server's files live in ``DATA_DIR/courses/<guild>/`` with ``course.json`` listing them in upload
order. They are read by the deck's own loaders (Markdown, plain text, HTML, PDF, PowerPoint) under
the same limits, and indexed apart, in the server's own Chroma collections
(``<CHROMA_COLLECTION>-guild<id>``), so a question is answered only from its own server's deck.
A server without files (and DMs, and the terminal) uses the default deck in ``KNOWLEDGE_DIR``.

Slide numbers: a file keeps its own numbers unless one is already taken by an earlier file; then
the whole file is numbered on after the highest slide so far (a 50-page PDF is slides 1-50, a
10-slide PowerPoint uploaded after it is 51-60).

Changing a course builds first and swaps after: an upload is checked on its own (a broken file is
reported by name and reason, and nothing already there changes), then the server's index is
brought up to date in a new generation while the old deck keeps answering, and only then do
answers switch to the new deck.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.domain.conversation import Conversations, Key, Reply, Tutoring
from bot.domain.deck import Deck, Slide
from bot.domain.errors import UserError
from bot.domain.index import IngestReport
from bot.domain.loaders import LOADERS, DeckLimits, LoadResult, MalformedFile, Problem, load_file_isolated
from bot.domain.tutor import Tutor
from bot.settings import Settings

log = logging.getLogger(__name__)

MANIFEST = "course.json"
INCOMING = ".incoming"
MAX_COURSE_FILES = 50
MAX_NAME_CHARS = 100
SUFFIXES = tuple(sorted(LOADERS))


class CourseError(UserError):
    """Something about a course request the instructor can fix (shown as is)."""


@dataclass(frozen=True, slots=True)
class CourseFile:
    name: str
    size: int
    slides: int
    added: float

    def to_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "slides": self.slides, "added": round(self.added, 3)}


@dataclass(frozen=True, slots=True)
class CourseChange:
    """What a change did: the server's files now, the index update, and any file not taken."""

    guild: int
    files: list[CourseFile]
    slides: int
    report: IngestReport | None = None
    problems: tuple[Problem, ...] = ()

    def to_dict(self) -> dict:
        return {
            "guild": str(self.guild),
            "files": [f.to_dict() for f in self.files],
            "slides": self.slides,
            "index": self.report.to_dict() if self.report else None,
            "problems": [{"file": p.file, "line": p.line, "reason": p.message} for p in self.problems],
        }


def safe_file_name(name: str) -> str:
    """An uploaded file's name made safe to store: its last part, letters, digits, '.', '-', '_'
    only; a suffix a loader reads."""
    base = re.split(r"[\\/]", name)[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in LOADERS:
        raise CourseError(f"{shown_name(base)}: not a deck file; send one of {', '.join(SUFFIXES)}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "file"
    return f"{stem[: MAX_NAME_CHARS - len(suffix) - 1]}.{suffix.lower()}"


def shown_name(name: str) -> str:
    """A name fit to print back: no control characters or markup-breaking backticks, bounded."""
    return re.sub(r"[\x00-\x1f\x7f`]", "?", name)[:MAX_NAME_CHARS] or "(no name)"


def place_guild(place: str | int | None) -> int | None:
    """The server of a conversation's place ("123", 123, or a learner's scope "guild:123"); None
    for DMs and the terminal."""
    if isinstance(place, int):
        return place or None
    place = (place or "").removeprefix("guild:")
    return int(place) if place.isdigit() else None


class CourseFiles:
    """The files of every server's course on disk (no index, no models)."""

    def __init__(self, root: Path, limits: DeckLimits) -> None:
        self.root = root
        self.limits = limits

    def folder(self, guild: int) -> Path:
        return self.root / str(int(guild))

    def files(self, guild: int) -> list[CourseFile]:
        path = self.folder(guild) / MANIFEST
        if not path.is_file():
            return []
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("course manifest %s cannot be read (%s): the folder's files are listed instead", path, error)
            return self._rebuilt(guild)
        return [CourseFile(e["name"], int(e["size"]), int(e["slides"]), float(e["added"])) for e in entries]

    def _rebuilt(self, guild: int) -> list[CourseFile]:
        folder = self.folder(guild)
        return [
            CourseFile(p.name, p.stat().st_size, 0, p.stat().st_mtime)
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in LOADERS
        ]

    def guilds(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit() and self.files(int(p.name)))

    def _write_manifest(self, guild: int, files: list[CourseFile]) -> None:
        folder = self.folder(guild)
        temporary = folder / f".{MANIFEST}.tmp"
        temporary.write_text(json.dumps([f.to_dict() for f in files], indent=1), encoding="utf-8")
        os.replace(temporary, folder / MANIFEST)

    def check(self, guild: int, name: str, data: bytes) -> list[Slide]:
        """The slides an upload gives, read on its own before anything is stored; raises
        :class:`MalformedFile` (with the reason) for a file that cannot be read."""
        if len(data) > self.limits.file_bytes:
            raise MalformedFile(
                f"is {len(data) / 2**20:.1f} MB, over MAX_DECK_FILE_MB={self.limits.file_mb:g}; not read"
            )
        incoming = self.folder(guild) / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        staged = incoming / name
        staged.write_bytes(data)
        try:
            return load_file_isolated(staged, incoming, self.limits)
        finally:
            staged.unlink(missing_ok=True)

    def store(self, guild: int, name: str, data: bytes, slides: int) -> list[CourseFile]:
        """Keep a checked upload (a file of the same name is replaced, in its place in the order)."""
        files = self.files(guild)
        if len(files) >= MAX_COURSE_FILES and all(f.name != name for f in files):
            raise CourseError(f"a course holds at most {MAX_COURSE_FILES} files; remove one first")
        folder = self.folder(guild)
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / INCOMING / f"{name}.part"
        temporary.parent.mkdir(exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, folder / name)
        entry = CourseFile(name, len(data), slides, time.time())
        kept = [entry if f.name == name else f for f in files]
        if entry not in kept:
            kept.append(entry)
        self._write_manifest(guild, kept)
        return kept

    def remove(self, guild: int, name: str) -> list[CourseFile]:
        files = self.files(guild)
        if all(f.name != name for f in files):
            listed = ", ".join(f.name for f in files) or "none"
            raise CourseError(f"this server's course has no file {shown_name(name)} (its files: {listed})")
        kept = [f for f in files if f.name != name]
        self._write_manifest(guild, kept)
        (self.folder(guild) / name).unlink(missing_ok=True)
        return kept

    def reset(self, guild: int) -> None:
        shutil.rmtree(self.folder(guild), ignore_errors=True)

    def load(self, guild: int) -> LoadResult:
        """The server's deck: its files in upload order, numbered as the module says."""
        folder = self.folder(guild)
        slides: list[Slide] = []
        problems: list[Problem] = []
        taken: set[int] = set()
        for entry in self.files(guild):
            try:
                loaded = load_file_isolated(folder / entry.name, folder, self.limits)
            except MalformedFile as error:
                problems.append(Problem(entry.name, error.line, str(error)))
                continue
            except OSError as error:
                problems.append(Problem(entry.name, None, f"cannot be read ({error.strerror or error})"))
                continue
            except Exception as error:  # noqa: BLE001 - one bad file never takes the course down
                problems.append(Problem(entry.name, None, f"cannot be loaded ({type(error).__name__})"))
                continue
            numbers = [s.number for s in loaded]
            if taken.intersection(numbers) or len(set(numbers)) < len(numbers):
                top = max(taken, default=0)
                ordered = sorted(loaded, key=lambda s: s.number)
                loaded = [replace(s, number=top + i) for i, s in enumerate(ordered, start=1)]
            slides += loaded
            taken.update(s.number for s in loaded)
        return LoadResult(Deck(tuple(slides)), problems)


class Courses:
    """Every server's tutor: its own course, or the default deck. Thread-safe; the blocking methods
    (models, Chroma, files) are called off the event loop."""

    def __init__(self, settings: Settings, default: Tutor) -> None:
        self.settings = settings
        self.default = default
        self.files = CourseFiles(settings.data_dir / "courses", DeckLimits.from_settings(settings))
        self._tutors: dict[int, Tutor] = {}
        self._lock = threading.Lock()
        self._guild_locks: dict[int, threading.Lock] = {}

    def _guild_lock(self, guild: int) -> threading.Lock:
        with self._lock:
            return self._guild_locks.setdefault(guild, threading.Lock())

    def index_name(self, guild: int) -> str:
        return f"{self.settings.chroma_collection}-guild{int(guild)}"

    def has_course(self, guild: int | None) -> bool:
        return guild is not None and (guild in self._tutors or bool(self.files.files(guild)))

    def ready(self, place: str | int | None) -> Tutor | None:
        """The tutor of a place when nothing needs loading: the default deck's, or its server's
        course already loaded; None when the server's course must be loaded first (``tutor_for``).
        Blocking only on reading the server's small course manifest."""
        guild = place_guild(place)
        if guild is None:
            return self.default
        tutor = self._tutors.get(guild)
        if tutor is not None:
            return tutor
        return None if self.files.files(guild) else self.default

    def tutor_for(self, place: str | int | None) -> Tutor:
        """The tutor of a conversation's place: its server's course if it has one, else the default
        deck (loads a server's course on first use after a start: blocking)."""
        tutor = self.ready(place)
        if tutor is not None:
            return tutor
        guild = place_guild(place)
        assert guild is not None
        with self._guild_lock(guild):
            tutor = self._tutors.get(guild)
            if tutor is None:
                tutor = self._build(guild)
                tutor.reload()
                self._tutors[guild] = tutor
        return tutor

    def _build(self, guild: int) -> Tutor:
        index = self.default.index.sibling(self.index_name(guild))
        return Tutor(self.settings, self.default.embedder, index, load=lambda: self.files.load(guild))

    # ---------------------------------------------------------------- changing a course

    def add(self, guild: int, filename: str, data: bytes) -> CourseChange:
        """Check an upload on its own, keep it, and re-index the server's course (build, then swap).
        A file that cannot be read changes nothing: it comes back as the change's problem."""
        name = safe_file_name(filename)
        with self._guild_lock(guild):
            try:
                slides = self.files.check(guild, name, data)
            except MalformedFile as error:
                problem = Problem(name, error.line, str(error))
                return self._change(guild, problems=(problem,))
            except Exception as error:  # noqa: BLE001 - any failure to read an upload is reported
                log.debug("reading upload %s failed", name, exc_info=True)
                problem = Problem(name, None, f"cannot be loaded ({type(error).__name__})")
                return self._change(guild, problems=(problem,))
            self.files.store(guild, name, data, len(slides))
            return self._reindex(guild)

    def remove(self, guild: int, filename: str) -> CourseChange:
        with self._guild_lock(guild):
            if not self.files.remove(guild, filename):
                return self._drop(guild)
            return self._reindex(guild)

    def reset(self, guild: int) -> CourseChange:
        """Back to the default deck: the server's files and index are deleted."""
        with self._guild_lock(guild):
            return self._drop(guild)

    def reload(self, guild: int | None) -> CourseChange | IngestReport:
        """Re-read one server's course (its files may have been changed on the host); a server
        without one, or None, reloads the default deck."""
        if guild is None or not self.has_course(guild):
            return self.default.reload()
        with self._guild_lock(guild):
            return self._reindex(guild)

    def _reindex(self, guild: int) -> CourseChange:
        tutor = self._tutors.get(guild) or self._build(guild)
        report = tutor.reload()  # the old knowledge answers until this returns
        with self._lock:
            self._tutors[guild] = tutor
        return self._change(guild, report=report, problems=tuple(tutor.knowledge.problems))

    def _drop(self, guild: int) -> CourseChange:
        with self._lock:
            tutor = self._tutors.pop(guild, None)  # answers come from the default deck from here on
        (tutor.index if tutor else self.default.index.sibling(self.index_name(guild))).drop()
        self.files.reset(guild)
        return self._change(guild)

    def _change(self, guild: int, report: IngestReport | None = None, problems: tuple[Problem, ...] = ()):
        tutor = self._tutors.get(guild)
        slides = len(tutor.deck) if tutor is not None else len(self.default.deck)
        return CourseChange(guild, self.files.files(guild), slides, report, problems)

    def listing(self, guild: int) -> CourseChange:
        """The server's files and how many slides answer there (its course's, or the default deck's)."""
        if self.has_course(guild):
            tutor = self.tutor_for(guild)
            return CourseChange(guild, self.files.files(guild), len(tutor.deck), None, tuple(tutor.knowledge.problems))
        return self._change(guild)


# --------------------------------------------------------------------------- conversations per server

# What an answered (or declined) question is kept as: (key, question, reply) -> the logged id.
Recorder = Callable[[Key, str, Reply], "int | None"]
LOGGED_KINDS = frozenset({"answer", "partial", "decline"})


@dataclass(frozen=True, slots=True)
class Answered:
    """A reply, and the id it was logged under (None when not logged: small talk, commands)."""

    reply: Reply
    question_id: int | None = None


class CourseTutoring:
    """The conversation layer (:class:`Tutoring`) with each message answered from its own server's
    course (``Key.place``), and every answer handed to the question log. Front ends call it as they
    would ``Tutoring``; conversations are kept per place, so one memory serves every server."""

    def __init__(self, courses: Courses, recorder: Recorder | None = None) -> None:
        self.courses = courses
        self.recorder = recorder
        self.conversations = Conversations()
        self._tutorings: weakref.WeakKeyDictionary[Tutor, Tutoring] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @property
    def tutor(self) -> Tutor:
        return self.courses.default

    def for_place(self, place: str | int | None) -> Tutoring:
        """The conversation layer on the place's deck (blocking on a server's first use)."""
        tutor = self.courses.tutor_for(place)
        with self._lock:
            tutoring = self._tutorings.get(tutor)
            if tutoring is None:
                tutoring = self._tutorings[tutor] = Tutoring(tutor, self.conversations)
        return tutoring

    def answer(self, key: Key, message: str) -> Answered:
        """The reply to one message, logged (blocking: retrieval and models, the database)."""
        return self._logged(key, message, self.for_place(key.place).respond(key, message))

    def respond(self, key: Key, message: str) -> Reply:
        return self.answer(key, message).reply

    def follow_up(self, key: Key, slide: int, message: str) -> Answered:
        """A follow-up asked by a button under an answer about ``slide``, logged."""
        return self._logged(key, message, self.for_place(key.place).follow_up_on(key, slide, message))

    def follow_up_on(self, key: Key, slide: int, message: str) -> Reply:
        return self.follow_up(key, slide, message).reply

    def _logged(self, key: Key, message: str, reply: Reply) -> Answered:
        if self.recorder is None or reply.kind not in LOGGED_KINDS:
            return Answered(reply)
        try:
            return Answered(reply, self.recorder(key, message, reply))
        except Exception:  # noqa: BLE001 - a learner still gets the answer when the log fails
            log.exception("logging a question failed")
            return Answered(reply)

    def covers(self, message: str, place: str | int | None = None) -> bool:
        return self.for_place(place).covers(message)

    def expects_reply(self, key: Key, message: str) -> bool:
        return self.for_place(key.place).expects_reply(key, message)

    def instead_of_generating(self, topic: str, place: str | int | None = None) -> Reply | None:
        return self.for_place(place).instead_of_generating(topic)

    def reset(self, key: Key) -> None:
        self.conversations.reset(key)
