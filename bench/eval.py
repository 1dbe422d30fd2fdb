"""Retrieval quality on tests/eval/questions.jsonl: hybrid, dense-only and BM25-only side by side.

Prints one JSON line with Recall@1, Recall@3, MRR, the share of off-topic questions declined and
of on-topic questions wrongly declined, per mode; with --study, also the fusion, threshold and
record-kind sweeps that the defaults were chosen from.
"""

from __future__ import annotations

import argparse

from _common import EVAL_SET, emit, scratch_settings

from bot.domain.confidence import DEFAULT_RULE
from bot.domain.evaluation import Evaluation, load_questions, records_study
from bot.domain.tutor import Tutor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--study", action="store_true", help="also print the sweeps behind the defaults")
    args = parser.parse_args()
    tutor, _ = Tutor.load(scratch_settings())
    questions = load_questions(EVAL_SET)
    retriever = tutor.knowledge.answerer.retriever
    evaluation = Evaluation(retriever, questions)
    result = {
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
