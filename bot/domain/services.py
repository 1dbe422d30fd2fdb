"""Everything the front ends call, built once from settings and passed to them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bot.domain.courses import Courses, CourseTutoring
from bot.domain.learners import LearnerStore
from bot.domain.quiz import QuizJudge, QuizQuestion, Verdict
from bot.domain.similarity import Similarity
from bot.domain.storage import Database
from bot.domain.tokenizers import Tokenizers
from bot.domain.tutor import Tutor
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.domain.generation import GenerationService

log = logging.getLogger(__name__)


class Services:
    """The tutor (deck, index, answers), similarity, tokenizers, learners' places, the quiz judge and
    generation.

    ``load`` is blocking (models, Chroma, files): front ends call it off the event loop. The
    generative model loads on first use, since many servers never ask for generation.
    """

    def __init__(self, settings: Settings, tutor: Tutor, learners: LearnerStore, tokenizers: Tokenizers) -> None:
        self.settings = settings
        self.tutor = tutor
        self.learners = learners
        self.tokenizers = tokenizers
        self.similarity = Similarity(tutor)
        self.judge = QuizJudge(tutor.embedder)
        self.courses = Courses(settings, tutor)  # each server's own course, or the default deck
        self.tutoring = CourseTutoring(self.courses)
        self._generation: GenerationService | None = None
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
        learners = LearnerStore(settings.state_url, wait_s=settings.database_wait_s)
        return cls(settings, tutor, learners, Tokenizers(cache_dir=settings.models_dir))

    @property
    def database(self) -> Database:
        """The state database (learners' places and scores, and any other store's tables)."""
        return self.learners.database

    @property
    def deck(self):
        return self.tutor.deck

    def deck_for(self, place: str | int | None):
        """The deck a place answers from: its server's course, or the default deck (blocking on a
        server's first use after a start)."""
        return self.courses.tutor_for(place).deck

    def judge_and_record(self, scope: str, user: str, question: QuizQuestion, answer: str) -> Verdict:
        """Judge a learner's quiz answer and keep the score (blocking: the embedding model, the database)."""
        verdict = self.judge.judge(question, answer)
        self.learners.record_quiz(scope, user, question.slide, verdict.verdict)
        return verdict

    def check_index(self) -> None:
        """Raise unless the vector index answers (blocking: a round trip to a Chroma server)."""
        self.tutor.index.ping()

    def check_database(self) -> None:
        """Raise unless learners' state can be read (blocking: one small query)."""
        database = getattr(self.learners, "database", None)
        if database is None:
            self.learners.get("health", "probe")
        elif not database.ping():
            raise RuntimeError(f"the {database.dialect} database does not answer")

    def generation(self) -> GenerationService:
        """The generation service, built from the settings on first call (loads the model: blocking,
        seconds; call it off the event loop). Thread-safe: concurrent first calls load it once. A
        failed load is not remembered, so the next call tries again."""
        service = self._generation
        if service is not None:
            return service
        with self._generation_lock:
            if self._generation is None:
                from bot.domain.generation import GenerationService

                self._generation = GenerationService.from_settings(self.settings, progress=False)
            return self._generation

    @property
    def loaded_generation(self) -> GenerationService | None:
        """The generation service if it is already loaded, else None (never loads; non-blocking)."""
        return self._generation

    def close(self) -> None:
        with self._generation_lock:
            generation, self._generation = self._generation, None
        try:
            if generation is not None:
                _run_to_end(generation.aclose())
        finally:
            self.learners.close()


def _run_to_end(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from synchronous code, on an event loop thread or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:  # a running loop here: finish it on its own loop
        pool.submit(asyncio.run, coroutine).result()
