"""Everything the front ends call, built once from settings and passed to them."""

from __future__ import annotations

import logging
import threading

from bot.domain.places import PlaceStore
from bot.domain.quiz import QuizJudge
from bot.domain.tokenizers import Tokenizers
from bot.domain.tutor import Tutor
from bot.settings import Settings

log = logging.getLogger(__name__)


class Services:
    """The tutor (deck, index, answers), tokenizers, learners' places, the quiz judge and generation.

    ``load`` is blocking (models, Chroma, files): front ends call it off the event loop. The
    generative model loads on first use, since many servers never ask for generation.
    """

    def __init__(self, settings: Settings, tutor: Tutor, places: PlaceStore, tokenizers: Tokenizers) -> None:
        self.settings = settings
        self.tutor = tutor
        self.places = places
        self.tokenizers = tokenizers
        self.judge = QuizJudge(tutor.embedder)
        self._generation = None
        self._generation_lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, progress: bool = False) -> Services:
        tutor, report = Tutor.load(settings, progress=progress)
        if tutor.index.recovered_from:
            log.warning("the index was damaged and has been rebuilt: %s", tutor.index.recovered_from)
        log.info(
            "deck: %d slides, %d passages (%d embedded, %d deleted)",
            report.slides,
            report.passages,
            report.embedded,
            report.deleted,
        )
        places = PlaceStore(settings.state_db)
        return cls(settings, tutor, places, Tokenizers(cache_dir=settings.models_dir))

    @property
    def deck(self):
        return self.tutor.deck

    def close(self) -> None:
        self.places.close()
