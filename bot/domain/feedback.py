"""What learners asked and what they thought of the answers: the question log and the votes.

Every answer the tutor gives (answered, partly answered, declined) is logged: the server ("dm",
"local" for the terminal), channel, learner, question, the reply's kind, the slides it cited and
the time. Declined questions also keep the question's vector (for :mod:`bot.domain.gaps`); an
answer voted down gets its vector when the vote comes. Learners vote 👍 or 👎 once per answer,
and may change their vote. Logged questions older than ``QUESTION_LOG_DAYS`` are purged, with
their votes.

Tables live in the state database (:mod:`bot.domain.storage`), made by :mod:`bot.domain.schema`.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.domain.errors import UserError
from bot.domain.gaps import GapQuestion

DAY_S = 86_400
VOTES = {"up": 1, "down": -1}
CSV_COLUMNS = ("id", "time_utc", "server", "channel", "learner", "question", "kind", "slides", "up", "down")


class UnknownQuestion(UserError, LookupError):
    def __init__(self) -> None:
        super().__init__("That answer is no longer in the log (it was deleted or is past its keeping time).")


@dataclass(frozen=True, slots=True)
class Vote:
    """A learner's vote on an answer, and the answer's totals after it."""

    question_id: int
    vote: int  # +1 or -1
    changed: bool  # False when the learner had already voted the same way
    up: int
    down: int


def _slides_text(slides: Sequence[int]) -> str:
    return ",".join(str(int(n)) for n in slides)


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def vector_of(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


_INSERT_QUESTION = (
    "INSERT INTO question_log (place, channel, learner, question, kind, slide, slides, asked_at, vector) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _question_row(place, channel, learner, question: str, kind: str, slides, vector, at: float) -> tuple:
    """A question_log row: ids as text, the question cut to 2,000 characters, the first slide apart."""
    return (
        str(place),
        str(channel),
        str(learner),
        question[:2000],
        kind,
        int(slides[0]) if slides else None,
        _slides_text(slides),
        at,
        vector_bytes(vector) if vector is not None else None,
    )


class Feedback:
    """The question log and votes over the state database (a :class:`bot.domain.storage.Database`).
    Thread-safe (the database is); every call is blocking I/O."""

    def __init__(self, database, retention_days: float) -> None:
        self.db = database
        self.retention_days = retention_days

    # -- the log ----------------------------------------------------------------------------------

    def log(
        self,
        place: str,
        channel: str,
        learner: str,
        question: str,
        kind: str,
        slides: Sequence[int],
        vector: np.ndarray | None = None,
        at: float | None = None,
    ) -> int:
        """Keep one answered (or declined) question; returns its id."""
        row = self.db.query_one(
            f"{_INSERT_QUESTION} RETURNING id",
            _question_row(place, channel, learner, question, kind, slides, vector, time.time() if at is None else at),
        )
        assert row is not None
        return int(row[0])

    def log_many(self, rows: Iterable[tuple]) -> None:
        """Bulk rows of (place, channel, learner, question, kind, slides, vector|None, at), for benchmarks
        and imports."""
        with self.db.transaction() as tx:
            for row in rows:
                tx.execute(_INSERT_QUESTION, _question_row(*row))

    def question(self, question_id: int) -> tuple[str, str, str] | None:
        """(place, question, kind) of a logged question."""
        row = self.db.query_one("SELECT place, question, kind FROM question_log WHERE id = ?", (int(question_id),))
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def needs_vector(self, question_id: int) -> str | None:
        """The question's text when its vector is not stored yet."""
        row = self.db.query_one(
            "SELECT question FROM question_log WHERE id = ? AND vector IS NULL", (int(question_id),)
        )
        return None if row is None else str(row[0])

    def set_vector(self, question_id: int, vector: np.ndarray) -> None:
        self.db.execute("UPDATE question_log SET vector = ? WHERE id = ?", (vector_bytes(vector), int(question_id)))

    # -- votes ------------------------------------------------------------------------------------

    def vote(self, question_id: int, learner: str, vote: int) -> Vote:
        """Record or change a learner's vote (+1 or -1) on a logged answer."""
        if vote not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        with self.db.transaction() as tx:
            if tx.query_one("SELECT 1 FROM question_log WHERE id = ?", (int(question_id),)) is None:
                raise UnknownQuestion()
            before = tx.query_one(
                "SELECT vote FROM votes WHERE question_id = ? AND learner = ?", (int(question_id), str(learner))
            )
            tx.execute(
                "INSERT INTO votes (question_id, learner, vote, voted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (question_id, learner) DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                (int(question_id), str(learner), vote, time.time()),
            )
            up, down = tx.query_one(
                "SELECT COALESCE(SUM(CASE WHEN vote > 0 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN vote < 0 THEN 1 ELSE 0 END), 0) FROM votes WHERE question_id = ?",
                (int(question_id),),
            )
        return Vote(int(question_id), vote, before is None or int(before[0]) != vote, int(up), int(down))

    def votes_of(self, question_id: int) -> dict[str, int]:
        rows = self.db.query("SELECT learner, vote FROM votes WHERE question_id = ?", (int(question_id),))
        return {str(learner): int(vote) for learner, vote in rows}

    # -- keeping and deleting ---------------------------------------------------------------------

    def purge(self, now: float | None = None) -> int:
        """Delete logged questions (and their votes) older than the keeping time; returns how many."""
        cutoff = (time.time() if now is None else now) - self.retention_days * DAY_S
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM votes WHERE question_id IN (SELECT id FROM question_log WHERE asked_at < ?)", (cutoff,)
            )
            return tx.execute("DELETE FROM question_log WHERE asked_at < ?", (cutoff,))

    def forget(self, learner: str) -> dict[str, int]:
        """Delete every logged question and vote of a learner (and the votes on their questions)."""
        with self.db.transaction() as tx:
            on_theirs = tx.execute(
                "DELETE FROM votes WHERE question_id IN (SELECT id FROM question_log WHERE learner = ?)",
                (str(learner),),
            )
            votes = tx.execute("DELETE FROM votes WHERE learner = ?", (str(learner),))
            questions = tx.execute("DELETE FROM question_log WHERE learner = ?", (str(learner),))
        return {"questions": questions, "votes": votes, "votes_on_their_questions": on_theirs}

    def holds(self, learner: str) -> int:
        """How many rows mention the learner (0 after ``forget``)."""
        row = self.db.query_one(
            "SELECT (SELECT COUNT(*) FROM question_log WHERE learner = ?) + (SELECT COUNT(*) FROM votes WHERE learner = ?)",
            (str(learner), str(learner)),
        )
        return int(row[0])

    # -- reading for insights ---------------------------------------------------------------------

    @staticmethod
    def _where(place: str | None, since: float | None = None, column: str = "place") -> tuple[str, tuple]:
        clauses, values = [], []
        if place is not None:
            clauses.append(f"{column} = ?")
            values.append(str(place))
        if since is not None:
            clauses.append("asked_at >= ?")
            values.append(since)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", tuple(values)

    def per_slide(self, place: str | None) -> dict[int, dict[str, int]]:
        """Per cited slide: questions answered from it, and its answers' votes up and down."""
        where, values = self._where(place)
        figures: dict[int, dict[str, int]] = {}
        rows = self.db.query(
            f"SELECT slide, COUNT(*) FROM question_log{where}{' AND' if where else ' WHERE'} slide IS NOT NULL "
            "GROUP BY slide",
            values,
        )
        for slide, count in rows:
            figures[int(slide)] = {"questions": int(count), "up": 0, "down": 0}
        where_q, values_q = self._where(place, column="q.place")
        rows = self.db.query(
            "SELECT q.slide, SUM(CASE WHEN v.vote > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN v.vote < 0 THEN 1 ELSE 0 END) "
            f"FROM votes v JOIN question_log q ON q.id = v.question_id{where_q}"
            f"{' AND' if where_q else ' WHERE'} q.slide IS NOT NULL GROUP BY q.slide",
            values_q,
        )
        for slide, up, down in rows:
            entry = figures.setdefault(int(slide), {"questions": 0, "up": 0, "down": 0})
            entry["up"], entry["down"] = int(up or 0), int(down or 0)
        return figures

    def kinds(self, place: str | None) -> dict[str, int]:
        where, values = self._where(place)
        return {
            str(k): int(n)
            for k, n in self.db.query(f"SELECT kind, COUNT(*) FROM question_log{where} GROUP BY kind", values)
        }

    def totals(self, place: str | None) -> dict[str, int]:
        where, values = self._where(place)
        questions, learners = self.db.query_one(
            f"SELECT COUNT(*), COUNT(DISTINCT learner) FROM question_log{where}", values
        )
        where_q, values_q = self._where(place, column="q.place")
        up, down = self.db.query_one(
            "SELECT COALESCE(SUM(CASE WHEN v.vote > 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN v.vote < 0 THEN 1 ELSE 0 END), 0) "
            f"FROM votes v JOIN question_log q ON q.id = v.question_id{where_q}",
            values_q,
        )
        return {"questions": int(questions), "learners": int(learners), "up": int(up), "down": int(down)}

    def failed(self, place: str | None, limit: int = 100_000) -> tuple[list[GapQuestion], np.ndarray, list[int]]:
        """Declined questions and answers voted down (the newest ``limit``), with their vectors;
        and the ids of those whose vector is still missing."""
        where, values = self._where(place, column="q.place")
        rows = self.db.query(
            "SELECT q.id, q.question, q.learner, q.kind, q.vector FROM question_log q"
            f"{where}{' AND' if where else ' WHERE'} (q.kind = 'decline' OR EXISTS "
            "(SELECT 1 FROM votes v WHERE v.question_id = q.id AND v.vote < 0)) "
            # Newest first, in an order read without sorting rows with their vectors (a sort took
            # 3x the CPU at 100,000 rows): one server's by its (place, asked_at) index, all by id.
            f"ORDER BY {'q.asked_at' if place is not None else 'q.id'} DESC LIMIT ?",
            (*values, int(limit)),
        )
        missing = [int(row[0]) for row in rows if row[4] is None]
        if missing:
            rows = [row for row in rows if row[4] is not None]
        questions = [
            GapQuestion(str(text), str(learner), "decline" if kind == "decline" else "down")
            for _, text, learner, kind, _ in rows
        ]
        if not rows:
            return questions, np.zeros((0, 0), dtype=np.float32), missing
        matrix = np.frombuffer(b"".join([row[4] for row in rows]), dtype=np.float16).astype(np.float32)
        return questions, matrix.reshape(len(rows), -1), missing

    def places(self) -> list[str]:
        return [str(row[0]) for row in self.db.query("SELECT DISTINCT place FROM question_log ORDER BY place", ())]

    def first_and_last(self, place: str | None) -> tuple[float | None, float | None]:
        where, values = self._where(place)
        first, last = self.db.query_one(f"SELECT MIN(asked_at), MAX(asked_at) FROM question_log{where}", values)
        return first, last

    def rows(self, place: str | None, since: float | None = None) -> list[tuple]:
        """The log as CSV rows in the order they were logged: the time in UTC (ISO 8601), text that a spreadsheet
        would run as a formula (= + - @ tab or return first) behind an apostrophe, and each answer's
        votes up and down. Made by the database in one query (100,000 rows: a fraction of a second)."""
        where, values = self._where(place, since, column="q.place")
        where = where.replace("asked_at", "q.asked_at")
        if self.db.dialect == "postgresql":
            stamp = """to_char(to_timestamp(q.asked_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
        else:
            stamp = "strftime('%Y-%m-%dT%H:%M:%SZ', q.asked_at, 'unixepoch')"
        return self.db.query(
            f"SELECT q.id, {stamp}, q.place, q.channel, {_spreadsheet_safe('q.learner')}, "
            f"{_spreadsheet_safe('q.question')}, q.kind, q.slides, COALESCE(v.up, 0), COALESCE(v.down, 0) "
            "FROM question_log q LEFT JOIN (SELECT question_id, "
            "SUM(CASE WHEN vote > 0 THEN 1 ELSE 0 END) AS up, SUM(CASE WHEN vote < 0 THEN 1 ELSE 0 END) AS down "
            f"FROM votes GROUP BY question_id) v ON v.question_id = q.id{where} ORDER BY q.id",
            values,
        )

    def csv_gz(self, place: str | None, since: float | None = None) -> bytes:
        """The question log as gzip-compressed CSV (UTF-8, a header line, one row per question)."""
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=3, mtime=0) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
            writer = csv.writer(text)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(self.rows(place, since))
            text.flush()
            text.detach()
        return buffer.getvalue()


_FORMULA_STARTS = ", ".join(f"'{c}'" for c in ("=", "+", "-", "@", "\t", "\r"))
_APOSTROPHE = "''''"  # an SQL string holding one apostrophe


def _spreadsheet_safe(column: str) -> str:
    """SQL for ``column`` behind an apostrophe where a spreadsheet would read a formula."""
    return f"CASE WHEN substr({column}, 1, 1) IN ({_FORMULA_STARTS}) THEN {_APOSTROPHE} || {column} ELSE {column} END"
