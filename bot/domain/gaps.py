"""Knowledge gaps: questions the deck failed (declined, or answered and voted down), grouped by
meaning, so an instructor reads "14 learners asked about GPUs for local models" rather than 14
lines.

Each question's vector (the project's embedding model, unit length) is stored once, when it is
logged or voted down; grouping is leader clustering against running centres, in blocks: a block
of questions is compared with every group's centre in one matrix product, those close enough to a
group join it, and the rest are grouped one by one against the new groups' centres. Linear in the questions times the
groups, with no pairwise matrix of all questions: 100,000 questions group in about a second here
(``bench/insights.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIMILAR = 0.5  # cosine to a group's centre at which a question asks the same thing (MiniLM)
BLOCK = 2048
EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class GapQuestion:
    question: str
    learner: str
    kind: str  # "decline", or "down" for an answer voted down


@dataclass(frozen=True, slots=True)
class Gap:
    """A group of failed questions about one thing."""

    label: str  # the question nearest the group's centre
    questions: int
    learners: int
    declined: int
    voted_down: int
    examples: tuple[str, ...]

    @property
    def summary(self) -> str:
        who = f"{self.learners} learner{'s' if self.learners != 1 else ''}"
        return f"{who} asked about “{self.label}” ({self.questions} question{'s' if self.questions != 1 else ''})"

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "summary": self.summary,
            "questions": self.questions,
            "learners": self.learners,
            "declined": self.declined,
            "voted_down": self.voted_down,
            "examples": list(self.examples),
        }


def cluster(
    vectors: np.ndarray, threshold: float = SIMILAR, block: int = BLOCK, weights: np.ndarray | None = None
) -> np.ndarray:
    """A group number per row of ``vectors`` (unit length), in order of first appearance;
    ``weights`` (how many times each row was asked) pull the groups' centres."""
    count = len(vectors)
    labels = np.full(count, -1, dtype=np.int64)
    if count == 0:
        return labels
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    sums = np.zeros((0, dim), dtype=np.float32)  # each group's vector sum
    centroids = np.zeros((0, dim), dtype=np.float32)
    for start in range(0, count, block):
        chunk = vectors[start : start + block]
        chunk_labels = np.full(len(chunk), -1, dtype=np.int64)
        if len(centroids):
            similarity = chunk @ centroids.T
            best = similarity.argmax(axis=1)
            close = similarity[np.arange(len(chunk)), best] >= threshold
            chunk_labels[close] = best[close]
        rest = np.flatnonzero(chunk_labels < 0)
        if len(rest):
            # Questions unlike every group so far: grouped one by one against the new groups' centres.
            base = len(centroids)
            local_sums = np.zeros((len(rest), dim), dtype=np.float32)
            local_centres = np.zeros((len(rest), dim), dtype=np.float32)
            made = 0
            for row in rest:
                vector = chunk[row]
                if made:
                    similarity = local_centres[:made] @ vector
                    best = int(similarity.argmax())
                    if similarity[best] >= threshold:
                        chunk_labels[row] = base + best
                        local_sums[best] += vector
                        local_centres[best] = local_sums[best] / max(float(np.linalg.norm(local_sums[best])), 1e-12)
                        continue
                chunk_labels[row] = base + made
                local_sums[made] = local_centres[made] = vector
                made += 1
            sums = np.vstack([sums, np.zeros((made, dim), dtype=np.float32)])
        order = np.argsort(chunk_labels, kind="stable")
        groups, starts = np.unique(chunk_labels[order], return_index=True)
        weighted = chunk[order] if weights is None else chunk[order] * weights[start : start + block][order, None]
        sums[groups] += np.add.reduceat(weighted, starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = sums / np.maximum(norms, 1e-12)
        labels[start : start + len(chunk)] = chunk_labels
    return _merged(labels, sums, threshold)


MAX_MERGED_GROUPS = 4000


def _merged(labels: np.ndarray, sums: np.ndarray, threshold: float) -> np.ndarray:
    """Groups whose centres ended up close (the order questions came in split them) joined: each
    group, largest first, joins the nearest larger group whose centre is close enough."""
    count = len(sums)
    if count < 2 or count > MAX_MERGED_GROUPS:
        return labels
    sizes = np.linalg.norm(sums, axis=1)
    centres = sums / np.maximum(sizes[:, None], 1e-12)
    order = np.argsort(-sizes, kind="stable")
    similarity = centres[order] @ centres[order].T
    leader = np.arange(count)
    is_leader = np.ones(count, dtype=bool)
    for position in range(1, count):
        candidates = np.where(is_leader[:position], similarity[position, :position], -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= threshold:
            leader[position] = best
            is_leader[position] = False
    target = np.empty(count, dtype=np.int64)
    target[order] = order[leader]
    return target[labels]


def gaps(questions: Sequence[GapQuestion], vectors: np.ndarray, top: int = 10, threshold: float = SIMILAR) -> list[Gap]:
    """The ``top`` groups of failed questions, the most learners first (then the most questions)."""
    if not len(questions):
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    # The same question asked again (by anyone) is grouped once, weighted by how often it came.
    keys = [" ".join(q.question.casefold().split()) for q in questions]
    first: dict[str, int] = {}
    row_of = np.fromiter((first.setdefault(k, len(first)) for k in keys), dtype=np.int64, count=len(keys))
    distinct = np.zeros(len(first), dtype=np.int64)
    distinct[row_of[::-1]] = np.arange(len(keys))[::-1]  # the first row of each distinct question
    weights = np.bincount(row_of, minlength=len(first)).astype(np.float32)
    labels = cluster(vectors[distinct], threshold, weights=weights)[row_of]
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    found = []
    for members in np.split(order, bounds):
        learners = {questions[i].learner for i in members}
        found.append((len(learners), len(members), members))
    found.sort(key=lambda item: (-item[0], -item[1], int(item[2][0])))
    result = []
    for learners, size, members in found[:top]:
        centre = vectors[members].sum(axis=0)
        nearest = members[np.argsort(-(vectors[members] @ centre), kind="stable")]
        texts = list(dict.fromkeys(questions[i].question for i in nearest))
        declined = sum(1 for i in members if questions[i].kind == "decline")
        result.append(Gap(texts[0], size, learners, declined, size - declined, tuple(texts[:EXAMPLES])))
    return result
