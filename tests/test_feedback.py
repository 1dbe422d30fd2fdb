"""The question log, votes, knowledge gaps, insights and learners' data rights, on the real state
database (SQLite, and PostgreSQL where TEST_DATABASE_URL is set) and the real embedding model."""

from __future__ import annotations

import csv
import gzip
import io
import re
import time

import numpy as np
import pytest

from bot.domain.feedback import Feedback, UnknownQuestion
from bot.domain.gaps import GapQuestion, cluster, gaps
from bot.domain.insights import csv_within, gather, picture
from bot.domain.learners import LearnerStore
from bot.domain.server_settings import BadSetting, ServerSettingsStore, parse_value
from tests.conftest import make_settings

pytestmark = pytest.mark.both_backends


@pytest.fixture
def stores(state_url):
    learners = LearnerStore(state_url)
    yield learners, Feedback(learners.database, retention_days=30)
    learners.close()


def test_questions_are_logged_and_votes_are_one_per_learner_and_changeable(stores):
    _, feedback = stores
    qid = feedback.log("123", "456", "ana", "what is attention?", "answer", [8, 9])
    assert feedback.question(qid) == ("123", "what is attention?", "answer")
    first = feedback.vote(qid, "ben", 1)
    assert (first.up, first.down, first.changed) == (1, 0, True)
    again = feedback.vote(qid, "ben", 1)
    assert (again.up, again.down, again.changed) == (1, 0, False), "one vote per learner"
    changed = feedback.vote(qid, "ben", -1)
    assert (changed.up, changed.down, changed.changed) == (0, 1, True)
    feedback.vote(qid, "cy", 1)
    assert feedback.votes_of(qid) == {"ben": -1, "cy": 1}
    with pytest.raises(UnknownQuestion):
        feedback.vote(qid + 1000, "ben", 1)


def test_old_questions_are_purged_with_their_votes(stores):
    _, feedback = stores
    now = time.time()
    old = feedback.log("1", "c", "ana", "old question", "answer", [1], at=now - 31 * 86_400)
    new = feedback.log("1", "c", "ana", "new question", "answer", [1], at=now - 29 * 86_400)
    feedback.vote(old, "ben", 1)
    assert feedback.purge(now) == 1
    assert feedback.question(old) is None and feedback.question(new) is not None
    assert feedback.votes_of(old) == {}


def test_forgetting_a_learner_leaves_no_row_of_them(stores):
    learners, feedback = stores
    learners.set("guild:1", "ana", 3)
    learners.set("dm", "ana", 4)
    learners.record_quiz("guild:1", "ana", 3, "right")
    learners.set("guild:1", "ben", 2)
    mine = feedback.log("1", "c", "ana", "what is lora?", "answer", [19])
    theirs = feedback.log("1", "c", "ben", "what is rag?", "answer", [17])
    feedback.vote(theirs, "ana", -1)
    feedback.vote(mine, "ben", 1)
    assert learners.holds("ana") + feedback.holds("ana") > 0
    learners.forget_everywhere("ana")
    feedback.forget("ana")
    assert learners.holds("ana") + feedback.holds("ana") == 0
    assert feedback.votes_of(theirs) == {}, "their vote went with them"
    assert learners.get("guild:1", "ben") == 2 and feedback.question(theirs) is not None, "others stay"


def test_failed_questions_group_by_meaning(embedder):
    asked = [
        ("can I run a local model on my GPU?", "ana"),
        ("which GPU do I need to run a model locally?", "ben"),
        ("how much VRAM for running LLMs at home on a graphics card?", "cy"),
        ("what graphics card is needed to run a local LLM?", "dee"),
        ("how do I cook pasta?", "ana"),
        ("how long should I boil spaghetti?", "ben"),
        ("who won the football world cup?", "cy"),
    ]
    questions = [GapQuestion(text, who, "decline") for text, who in asked]
    vectors = embedder.encode([text for text, _ in asked])
    found = gaps(questions, vectors)
    assert found[0].learners == 4 and ("GPU" in found[0].summary or "graphics" in found[0].summary)
    assert found[0].summary.startswith("4 learners asked about")
    assert found[1].learners == 2 and "pasta" in " ".join(found[1].examples) + " spaghetti"
    assert sum(gap.questions for gap in found) == len(asked)


def test_clustering_is_by_meaning_not_order():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 32)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    which = rng.integers(0, 5, 600)
    vectors = centres[which] + rng.normal(scale=0.02, size=(600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = cluster(vectors, block=64)
    assert len(set(labels)) == 5
    for topic in range(5):
        assert len(set(labels[which == topic])) == 1


def test_insights_figures_picture_and_a_csv_within_the_limit(stores, embedder):
    learners, feedback = stores
    now = time.time()
    for day in range(40):
        feedback.log(
            "7",
            "c",
            f"learner{day % 5}",
            f"what is slide {day % 3 + 1} about?",
            "answer",
            [day % 3 + 1],
            at=now - day * 3600,
        )
    feedback.log(
        "7",
        "c",
        "ana",
        "=cmd|' /C calc'!A0 how do GPUs run models?",
        "decline",
        [],
        embedder.encode_one("how do GPUs run models?"),
    )
    down = feedback.log("7", "c", "ben", "which gpu for local models?", "answer", [2])
    feedback.vote(down, "ben", -1)  # no vector yet: insights embed it
    feedback.log("8", "c", "zed", "another server's question", "answer", [5])
    learners.record_quiz("guild:7", "ana", 2, "right")
    learners.record_quiz("guild:7", "ben", 2, "not_yet")
    insights = gather(feedback, learners, "7", embed=embedder.encode_one)
    figures = insights.to_dict()
    assert figures["questions"] == 42 and figures["kinds"] == {"answer": 41, "decline": 1}
    slide2 = next(s for s in figures["slides"] if s["slide"] == 2)
    assert slide2["down"] == 1 and slide2["quiz_asked"] == 2 and slide2["quiz_accuracy"] == 0.5
    assert insights.gaps and insights.gaps[0].questions == 2, "the GPU questions group together"
    assert gather(feedback, learners, None).questions == 43, "everything together"
    png = picture(insights)
    assert png.startswith(b"\x89PNG")
    data, since = csv_within(feedback, "7", 10 * 1024 * 1024)
    rows = list(csv.reader(io.StringIO(gzip.decompress(data).decode("utf-8"))))
    assert since is None and len(rows) == 43 and rows[0][0] == "id"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[1][1]), rows[1][1]
    assert any(row[5].startswith("'=cmd") for row in rows), "no formula injection in spreadsheets"
    small, since = csv_within(feedback, "7", len(data) - 200)
    assert since is not None and len(small) <= len(data) - 200
    assert 1 < len(gzip.decompress(small).decode().splitlines()) < 43


def test_server_settings_override_the_environment(stores, tmp_path):
    learners, _ = stores
    settings = make_settings(tmp_path, answer_channel_ids=[1, 2], question_cooldown_s=5)
    store = ServerSettingsStore(learners.database, lambda: settings)
    assert store.get(9).answer_channels == (1, 2) and store.get(9).overridden == frozenset()
    changed = store.set(9, "answer_channels", parse_value("answer_channels", "<#30> <#31>"))
    assert changed.answer_channels == (30, 31) and changed.question_cooldown_s == 5
    store.set(9, "instructor_role", parse_value("instructor_role", "<@&77>"))
    store.set(9, "answer_in_threads", parse_value("answer_in_threads", "yes"))
    fresh = ServerSettingsStore(learners.database, lambda: settings).get(9)
    assert (fresh.instructor_role, fresh.answer_in_threads) == (77, True)
    assert store.set(9, "answer_channels", parse_value("answer_channels", "default")).answer_channels == (1, 2)
    assert store.get(10).answer_channels == (1, 2), "another server keeps the defaults"
    with pytest.raises(BadSetting):
        parse_value("question_cooldown_s", "-3")
