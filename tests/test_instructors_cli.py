"""``python -m bot insights`` and ``forget``: real processes on the state database the bot writes."""

from __future__ import annotations

import gzip
import json

from bot.domain.feedback import Feedback
from bot.domain.learners import LearnerStore
from tests.test_places_cli import run


def test_insights_per_server_and_together_and_forget_leaves_nothing(tmp_path):
    with LearnerStore(tmp_path / "state.sqlite3") as learners:
        feedback = Feedback(learners.database, 90)
        first = feedback.log("111", "c", "ana", "what is attention?", "answer", [8])
        feedback.log("111", "c", "ben", "what is a token?", "answer", [13])
        feedback.log("222", "c", "ana", "what is rag?", "answer", [17])
        feedback.log("local", "terminal", "ana", "how do I bake bread?", "decline", [])
        feedback.vote(first, "ben", -1)
        learners.set("guild:111", "ana", 8)
        learners.record_quiz("guild:111", "ana", 8, "right")

    result = run("insights", "--guild", "111", "--json", "--csv", str(tmp_path / "log.csv.gz"), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    one = json.loads(result.stdout)
    assert one["questions"] == 2 and one["votes"] == {"up": 0, "down": 1}
    slide8 = next(s for s in one["slides"] if s["slide"] == 8)
    assert slide8["title"], "titles from the deck"
    assert slide8["quiz_accuracy"] == 1.0
    assert gzip.decompress((tmp_path / "log.csv.gz").read_bytes()).decode().count("\n") == 3

    together = json.loads(run("insights", "--json", data_dir=tmp_path).stdout)
    assert together["questions"] == 4 and together["kinds"]["decline"] == 1

    forgot = run("forget", "--user", "ana", "--json", data_dir=tmp_path)
    assert forgot.returncode == 0, forgot.stderr
    answer = json.loads(forgot.stdout)
    assert answer["left"] == 0 and answer["deleted"]["questions"] == 3 and answer["deleted"]["places"] == 1
    assert json.loads(run("insights", "--json", data_dir=tmp_path).stdout)["questions"] == 1
