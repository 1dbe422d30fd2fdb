"""Everything the front ends call, built once from settings and passed to them."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bot.domain.conversation import Key, Reply
from bot.domain.courses import Courses, CourseTutoring, place_guild
from bot.domain.feedback import Feedback, Vote
from bot.domain.insights import Insights, gather
from bot.domain.learners import LearnerStore
from bot.domain.quiz import QuizJudge, QuizQuestion, Verdict
from bot.domain.server_settings import ServerSettingsStore
from bot.domain.similarity import Similarity
from bot.domain.storage import Database
from bot.domain.tokenizers import Tokenizers
from bot.domain.tutor import Tutor
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.domain.generation import GenerationService

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600


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
        self.similarity = Similarity(tutor)  # the default deck's (DMs, the terminal): see similarity_for
        self._similarities: dict[int, Similarity] = {}  # per server with a course of its own
        self._similarity_lock = threading.Lock()
        self.judge = QuizJudge(tutor.embedder)
        self.courses = Courses(settings, tutor)  # each server's own course, or the default deck
        self.feedback = Feedback(learners.database, settings.question_log_days)
        self.server_settings = ServerSettingsStore(learners.database, lambda: self.settings)
        self.tutoring = CourseTutoring(self.courses, recorder=self.record_question)
        self._purged_at = 0.0
        # Issue 15: ANSWER_STYLE=synthesis words answers with the generator, checked against the slides.
        if settings.answer_style == "synthesis":
            from bot.domain.synthesis import SynthesizingCourseTutoring, synthesizer_for

            synthesizer = synthesizer_for(self.generation, tutor.embedder.encode, settings.synthesis_timeout_s)
            self.tutoring = SynthesizingCourseTutoring(self.courses, synthesizer, recorder=self.record_question)
        self._generation: GenerationService | None = None
        # The bot's event loop (set by the client): generation asked for from a worker thread runs there.
        self.home_loop: asyncio.AbstractEventLoop | None = None
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

    def similarity_for(self, place: str | int | None) -> Similarity:
        """Similarity (nearest slides, the map) over a place's deck: its server's course, or the
        default deck (blocking on a server's first use after a start). One per course, kept while
        that course is: its map is fitted once per version of the deck."""
        tutor = self.courses.tutor_for(place)
        if tutor is self.tutor:
            return self.similarity
        guild = place_guild(place)
        with self._similarity_lock:
            similarity = self._similarities.get(guild)
            if similarity is None or similarity.tutor is not tutor:  # (a course reset and uploaded again)
                similarity = self._similarities[guild] = Similarity(tutor)
        return similarity

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

    # -- the question log, votes, instructors, learners' data ----------------------------------

    def record_question(self, key: Key, question: str, reply: Reply) -> int:
        """Log an answered or declined question (a declined one with its vector, for the gaps);
        purges what is past ``QUESTION_LOG_DAYS`` at most once an hour. Blocking."""
        vector = self.tutor.embedder.encode_one(question) if reply.kind == "decline" else None
        now = time.time()
        if now - self._purged_at > PURGE_EVERY_S:
            self._purged_at = now
            purged = self.feedback.purge(now)
            if purged:
                log.info("purged %d logged questions older than %g days", purged, self.settings.question_log_days)
        return self.feedback.log(key.place, key.channel, key.user, question, reply.kind, reply.slides, vector)

    def vote(self, question_id: int, learner: str, vote: int) -> Vote:
        """A learner's 👍 (+1) or 👎 (-1) on a logged answer; an answer voted down keeps its question's
        vector for the gaps. Blocking."""
        result = self.feedback.vote(question_id, learner, vote)
        if vote < 0:
            text = self.feedback.needs_vector(question_id)
            if text is not None:
                self.feedback.set_vector(question_id, self.tutor.embedder.encode_one(text))
        return result

    def instructor_role(self, guild_id: int | None) -> int | None:
        """The server's instructor role, if it set one (never blocks: None until its settings were read)."""
        found = self.server_settings.cached(guild_id)
        return found.instructor_role if found is not None else None

    def forget(self, learner: str) -> dict[str, int]:
        """Delete everything kept about a learner: places, quiz scores, logged questions, votes, and
        the conversations in memory. Blocking."""
        removed = self.learners.forget_everywhere(learner)
        removed.update(self.feedback.forget(learner))
        removed["conversations"] = self.tutoring.conversations.forget_user(learner)
        return removed

    def holds(self, learner: str) -> int:
        """Rows still kept about a learner (0 after ``forget``)."""
        return self.learners.holds(learner) + self.feedback.holds(learner)

    def insights(self, place: str | None) -> Insights:
        """Every figure of a place's insights (a server id, "dm", "local", or None for all). Blocking."""
        deck = self.deck_for(place) if place is not None else self.deck
        return gather(self.feedback, self.learners, place, deck, self.tutor.embedder.encode_one)

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
                self._generation.home_loop = self.home_loop
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
