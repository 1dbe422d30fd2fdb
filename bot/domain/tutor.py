"""The tutor's knowledge: the deck, its index and the answering service, built from settings.

Every front end (the Discord bot, the terminal session, the command line, the benchmarks) builds
one :class:`Tutor` and calls it. Building it is blocking work (models, Chroma, files): call it off
the event loop.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from bot.domain.answering import Answer, Answerer
from bot.domain.deck import Deck
from bot.domain.embedding import Embedder
from bot.domain.index import IngestReport, VectorIndex
from bot.domain.loaders import DeckLimits, Problem, load_deck
from bot.domain.passages import Passage, passages_from_deck
from bot.domain.retrieval import Retriever
from bot.settings import Settings

log = logging.getLogger(__name__)


def open_index(settings: Settings) -> VectorIndex:
    return VectorIndex.open(
        base_name=settings.chroma_collection,
        embedding_model=settings.embedding_model,
        path=None if settings.chroma_host else settings.chroma_dir,
        host=settings.chroma_host,
        port=settings.chroma_port,
    )


@dataclass(frozen=True, slots=True)
class Knowledge:
    """One consistent view of the deck: swapped whole on reload, so readers never see a mix."""

    deck: Deck
    passages: list[Passage]
    problems: list[Problem]
    retriever: Retriever
    answerer: Answerer


class Tutor:
    def __init__(self, settings: Settings, embedder: Embedder, index: VectorIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self._knowledge: Knowledge | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, progress: bool = False) -> tuple[Tutor, IngestReport]:
        """Load the models and the deck, and bring the index up to date (embedding what changed)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tutor = cls(settings, Embedder(settings.embedding_model), open_index(settings))
        return tutor, tutor.reload(progress=progress)

    @property
    def knowledge(self) -> Knowledge:
        if self._knowledge is None:
            raise RuntimeError("the tutor has not loaded its deck yet")
        return self._knowledge

    @property
    def deck(self) -> Deck:
        return self.knowledge.deck

    def reload(self, progress: bool = False) -> IngestReport:
        """Re-read the knowledge folder and re-ingest; answers switch to the new deck at once."""
        with self._reload_lock:
            result = load_deck(self.settings.knowledge_dir, DeckLimits.from_settings(self.settings))
            passages = passages_from_deck(result.deck)
            report = self.index.ingest(passages, self.embedder.encode, len(result.deck), progress=progress)
            if report.rebuilt:
                log.warning("index rebuilt: %s", report.rebuilt)
            retriever = Retriever(passages, self.index, self.embedder.encode_one, self.embedder.vocabulary)
            self._knowledge = Knowledge(result.deck, passages, result.problems, retriever, Answerer(retriever))
            return report

    def ask(self, question: str) -> Answer:
        return self.knowledge.answerer.answer(question)
