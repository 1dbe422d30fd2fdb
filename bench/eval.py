"""Quality as a learner meets it, on the TEST split (tuning looks only at --split tune).

Prints one JSON line: the learner conversations of tests/eval/conversations.jsonl per category
(turns, right-slide rate, pass rate) and the what-is definition-first rate; and retrieval on
tests/eval/questions.jsonl (Recall@1, Recall@3, MRR, decline rates) for hybrid, dense-only and
BM25-only. With --study, also the fusion, threshold and record-kind sweeps (on the tune half).
"""

from __future__ import annotations

import argparse

from _common import EVAL_SET, ROOT, emit, scratch_settings

from bot.domain.confidence import DEFAULT_RULE
from bot.domain.conversation import Tutoring
from bot.domain.conversation_eval import evaluate, load_dialogues
from bot.domain.evaluation import Evaluation, load_questions, records_study
from bot.domain.tutor import Tutor

CONVERSATIONS = ROOT / "tests" / "eval" / "conversations.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--study", action="store_true", help="also print the sweeps behind the defaults (tune half)")
    parser.add_argument("--split", choices=("test", "tune"), default="test", help="which half to report (default test)")
    args = parser.parse_args()
    tutor, _ = Tutor.load(scratch_settings())
    questions = load_questions(EVAL_SET, split="tune" if args.study else args.split)
    retriever = tutor.knowledge.retriever
    evaluation = Evaluation(retriever, questions)
    result = {
        "conversations": evaluate(Tutoring(tutor), load_dialogues(CONVERSATIONS), args.split),
        "split": args.split,
        "questions": sum(q.slide is not None for q in questions),
        "off_topic_questions": sum(q.slide is None for q in questions),
        "coverage_weight": DEFAULT_RULE.coverage_weight,
        "threshold": DEFAULT_RULE.threshold,
        **evaluation.modes(),
    }
    if args.study:
        result["fusions"] = evaluation.fusions()
        result["thresholds"] = evaluation.thresholds()
        result["records"] = records_study(retriever, questions)
    emit(result)


if __name__ == "__main__":
    main()
