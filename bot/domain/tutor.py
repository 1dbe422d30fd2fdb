"""The tutor's knowledge: the deck, its index and the answering service, built from settings.

Every front end (the Discord bot, the terminal session, the command line, the benchmarks) builds
one :class:`Tutor` and calls it. Building it is blocking work (models, Chroma, files): call it off
the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.answering import Answer, Answerer
from bot.domain.deck import Deck
from bot.domain.elsewhere import other_subject_vectors
from bot.domain.embedding import Embedder
from bot.domain.index import IngestReport, ServerAccess, VectorIndex
from bot.domain.loaders import DeckLimits, LoadResult, Problem, load_deck, start_readers
from bot.domain.passages import Passage, passages_from_deck
from bot.domain.retrieval import Retriever
from bot.settings import Settings

log = logging.getLogger(__name__)


def server_access(settings: Settings) -> ServerAccess | None:
    """How to reach the Chroma server the settings name, or None for the embedded store."""
    if not settings.chroma_host:
        return None
    token = settings.chroma_auth_token
    return ServerAccess(
        host=settings.chroma_host,
        port=settings.chroma_port,
        token=token.get_secret_value() if token is not None else None,
        header=settings.chroma_auth_header,
        ssl=settings.chroma_ssl,
        ca_file=settings.chroma_ssl_ca_file,
    )


def open_index(settings: Settings) -> VectorIndex:
    return VectorIndex.open(
        base_name=settings.chroma_collection,
        embedding_model=settings.embedding_model,
        path=None if settings.chroma_host else settings.chroma_dir,
        server=server_access(settings),
        wait_s=settings.chroma_wait_s,
    )


def deck_changes(before: dict[int, tuple[str, str]], deck: Deck) -> list[str]:
    """What a new deck does to the slides indexed ``before`` (number -> (source, title)): each
    slide it drops, and each it replaces with another file's."""
    changes = []
    for number, (source, title) in sorted(before.items()):
        slide = deck.get(number)
        if slide is None:
            changes.append(f"slide {number} ('{title}', from {source}) is no longer in the deck")
        elif slide.source != source:
            changes.append(
                f"slide {number} is replaced: '{slide.title}' from {slide.source}, was '{title}' from {source}"
            )
    return changes


@dataclass(frozen=True, slots=True)
class Knowledge:
    """One consistent view of the deck: swapped whole on reload, so readers never see a mix."""

    deck: Deck
    passages: list[Passage]
    problems: list[Problem]
    retriever: Retriever
    answerer: Answerer


class Tutor:
    """The deck in ``KNOWLEDGE_DIR`` by default; a server's own course passes ``load`` (its files)
    and an index of its own (:mod:`bot.domain.courses`)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: VectorIndex,
        load: Callable[[], LoadResult] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self._load = load or (lambda: load_deck(settings.knowledge_dir, DeckLimits.from_settings(settings)))
        self._own_deck = load is None  # the knowledge folder, whose duplicates the index helps settle
        self._knowledge: Knowledge | None = None
        self._reload_lock = threading.Lock()
        self.generation: str | None = None  # the index generation the knowledge was loaded with

    @classmethod
    def load(cls, settings: Settings, progress: bool = False) -> tuple[Tutor, IngestReport]:
        """Load the models and the deck, and bring the index up to date (embedding what changed)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        start_readers()  # the processes that read the deck's files start while the model loads
        index = open_index(settings)  # first: an unusable server is reported before the model loads
        tutor = cls(settings, Embedder(settings.embedding_model), index)
        return tutor, tutor.reload(progress=progress)

    @property
    def knowledge(self) -> Knowledge:
        if self._knowledge is None:
            raise RuntimeError("the tutor has not loaded its deck yet")
        return self._knowledge

    @property
    def deck(self) -> Deck:
        return self.knowledge.deck

    def reload(self, progress: bool = False, follow: bool = False) -> IngestReport:
        """Re-read the deck's files and re-ingest; answers switch to the new deck at once, and keep
        coming from the old one until then. ``follow``: start from the newest generation in the
        store (another process's ingest) rather than the one this process last read."""
        with self._reload_lock:
            if follow:
                self.index.follow()
            before = self.index.indexed_slides()
            if self._own_deck:  # (a server's course numbers its own slides: no duplicates to settle)
                indexed = {number: source for number, (source, _) in before.items()}
                result = load_deck(self.settings.knowledge_dir, DeckLimits.from_settings(self.settings), indexed)
            else:
                result = self._load()
            passages = passages_from_deck(result.deck)
            report = self.index.ingest(passages, self.embedder.encode, len(result.deck), progress=progress)
            report = dataclasses.replace(report, changes=tuple(deck_changes(before, result.deck)))
            if report.rebuilt:
                log.warning("index rebuilt: %s", report.rebuilt)
            for change in report.changes:
                log.warning("deck changed: %s", change)
            elsewhere = other_subject_vectors(self.embedder)
            retriever = Retriever(passages, self.index, self.embedder.encode_one, self.embedder.vocabulary, elsewhere)
            self._knowledge = Knowledge(result.deck, passages, result.problems, retriever, Answerer(retriever))
            self.generation = self.index.in_use
            return report

    def refresh(self) -> IngestReport | None:
        """Follow an ingest made by another process (the host's ``python -m bot ingest`` after
        changing the deck's files): when the index's newest complete generation is not the one this
        deck was loaded with, re-read the files and switch to it. Nothing is embedded when the files
        are those that process ingested (their fingerprint matches). None when nothing changed.
        Blocking (a round trip to the index; the files and the retriever when it changed)."""
        if self._knowledge is None or self._reload_lock.locked():
            return None  # not loaded yet, or a reload under way (it reads the newest generation itself)
        newest = self.index.newest()
        if newest is None or newest == self.generation:
            return None
        log.info("the index has a newer generation (%s, was %s): reloading the deck", newest, self.generation)
        return self.reload(follow=True)

    def ask(self, question: str) -> Answer:
        return self.knowledge.answerer.answer(question)
