"""Conversations as a learner would have them, replayed and judged: ``tests/eval/conversations.jsonl``.

A reply passes when its kind is the expected one, an expected slide is cited first (when slides
are expected), and it contains one of the expected keywords; a what-is reply's first sentence must
also be one of the deck's acceptable first sentences. Used by ``bench/eval.py`` and the floors in
``tests/test_conversations.py`` (test split only; tuning looks at the tune split).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.domain.conversation import Key, Reply, Tutoring
from bot.domain.text import sentences


@dataclass(frozen=True, slots=True)
class Turn:
    message: str
    kind: str
    slides: tuple[int, ...]
    keywords: tuple[str, ...]
    qtype: str
    first_sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dialogue:
    id: str
    category: str
    split: str
    turns: tuple[Turn, ...]


def load_dialogues(path: Path) -> list[Dialogue]:
    dialogues = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            turns = tuple(
                Turn(
                    t["message"],
                    t["kind"],
                    tuple(t.get("slides", [])),
                    tuple(k.casefold() for k in t.get("keywords", [])),
                    t.get("qtype", ""),
                    tuple(t.get("first_sentences", [])),
                )
                for t in row["turns"]
            )
            dialogues.append(Dialogue(row["id"], row["category"], row.get("split", "tune"), turns))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path.name}:{number}: {error}") from None
    return dialogues


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[*_`>]", "", text).casefold().split()).strip(" .")


def _same_sentence(expected: str, got: str) -> bool:
    """Equal, or one holds the other (the two sentence splitters may cut a quotation differently)."""
    shorter, longer = sorted((expected, got), key=len)
    return expected == got or (len(shorter) >= 40 and shorter in longer)


def first_sentence(reply: str) -> str:
    lines = [line for line in reply.strip().split("\n") if line.strip()]
    if lines and re.fullmatch(r"\*\*.+\*\*", lines[0].strip()):
        lines = lines[1:]  # an FAQ's question label
    body = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", lines[0]) if lines else ""
    found = sentences(body)
    return found[0] if found else body


@dataclass(frozen=True, slots=True)
class Verdict:
    kind_ok: bool
    slide_ok: bool
    keyword_ok: bool
    first_ok: bool

    @property
    def passed(self) -> bool:
        return self.kind_ok and self.slide_ok and self.keyword_ok and self.first_ok


def judge(turn: Turn, reply: Reply) -> Verdict:
    text = reply.text.casefold()
    slide_ok = not turn.slides or (bool(reply.slides) and reply.slides[0] in turn.slides)
    keyword_ok = not turn.keywords or any(keyword in text for keyword in turn.keywords)
    first_ok = True
    if turn.qtype == "what-is" and turn.first_sentences and turn.kind == "answer":
        first = _plain(first_sentence(reply.text))
        first_ok = any(_same_sentence(_plain(s), first) for s in turn.first_sentences)
    return Verdict(reply.kind == turn.kind, slide_ok, keyword_ok, first_ok)


def evaluate(
    tutoring: Tutoring, dialogues: list[Dialogue], split: str | None = None, failures: list | None = None
) -> dict:
    """Per category: turns, right-slide rate, pass rate; and the what-is definition-first rate."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # turns, right slide, passed
    definitions = [0, 0]
    for dialogue in dialogues:
        if split is not None and dialogue.split != split:
            continue
        key = Key("eval", dialogue.id, "learner")
        tutoring.reset(key)
        for turn in dialogue.turns:
            reply = tutoring.respond(key, turn.message)
            verdict = judge(turn, reply)
            row = counts[dialogue.category]
            row[0] += 1
            row[1] += verdict.slide_ok
            row[2] += verdict.passed
            if turn.qtype == "what-is" and turn.first_sentences and turn.kind == "answer":
                definitions[0] += 1
                definitions[1] += verdict.first_ok
            if failures is not None and not verdict.passed:
                failures.append((dialogue.id, turn, reply, verdict))
    categories = {
        name: {"turns": n, "right_slide": round(slide / n, 3), "pass": round(passed / n, 3)}
        for name, (n, slide, passed) in sorted(counts.items())
    }
    total = sum(row[0] for row in counts.values())
    return {
        "split": split or "all",
        "turns": total,
        "pass": round(sum(row[2] for row in counts.values()) / max(total, 1), 3),
        "definition_first": round(definitions[1] / max(definitions[0], 1), 3),
        "categories": categories,
    }
