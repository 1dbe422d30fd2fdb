"""Grounded synthesis over the evaluation questions: how often the worded answer survives the check.

For each question of tests/eval/questions.jsonl the tutor composes its quoted answer; full answers
are then worded by a generation backend from the passages behind them and checked
(``bot.domain.synthesis``). Backends: the loopback OpenAI-compatible server writing ``faithful``
answers (sentences of the passages, each citing its slide), ``unfaithful`` ones (one such sentence
and two invented claims) or ``mostly`` faithful ones (one invented claim between two); or the
``local`` model (SmolLM2-135M on this machine).

    python bench/synthesis.py --backend faithful|unfaithful|mostly|local [--limit N] [--threads 1]

Prints one JSON line: answers worded vs quoted (and why), sentences written/kept, citations that
name the slide the sentence came from (scripted backends), invented claims that reached the reply.
Goals: faithful answers keep the right citations; no invented claim reaches a learner.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import threading
import time

from _common import EVAL_SET, ROOT, emit, scratch_settings

sys.path.insert(0, str(ROOT))  # tests.fake_openai, the loopback server


def start_fake(respond):
    """The loopback server on a loop of its own thread; returns it and a stop function."""
    from tests.fake_openai import FakeOpenAI

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeOpenAI(respond=respond)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return server, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("faithful", "unfaithful", "mostly", "local"), default="faithful")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the local model")
    parser.add_argument("--max-new-tokens", type=int, default=120)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per worded answer")
    parser.add_argument("--samples", type=int, default=3, help="worded answers to include in the output")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from bot.domain.conversation import Key, Tutoring
    from bot.domain.generation import GenerationService, LocalBackend, OpenAIBackend
    from bot.domain.synthesis import Synthesizer, passages_for
    from bot.domain.tutor import Tutor
    from tests import fake_openai

    settings = scratch_settings()
    tutor, _ = Tutor.load(settings)
    stop = None
    if args.backend == "local":
        backend = LocalBackend.load(settings.generation_model, settings.models_dir, progress=False)
    else:
        respond = {
            "faithful": fake_openai.faithful_answer,
            "unfaithful": fake_openai.unfaithful_answer,
            "mostly": fake_openai.mostly_faithful_answer,
        }[args.backend]
        server, stop = start_fake(respond)
        backend = OpenAIBackend(server.base_url, "fake-model")
    service = GenerationService(backend, timeout_s=args.timeout, max_new_tokens=args.max_new_tokens)
    synthesizer = Synthesizer(
        lambda request: service.generate_from_thread(request, timeout_s=args.timeout),
        tutor.embedder.encode,
        max_new_tokens=args.max_new_tokens,
    )
    quoting = Tutoring(tutor)
    rows = [json.loads(line) for line in EVAL_SET.read_text().splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows

    counts: collections.Counter[str] = collections.Counter()
    why: collections.Counter[str] = collections.Counter()
    written = kept = 0
    citations_right = citations = invented_shown = 0
    seconds: list[float] = []
    samples = []
    started = time.perf_counter()
    for n, row in enumerate(rows):
        question = row["question"]
        reply = quoting.respond(Key("bench", "synthesis", str(n)), question)
        counts["questions"] += 1
        if reply.kind != "answer" or not reply.sources:
            counts[f"not worded ({reply.kind})"] += 1
            continue
        counts["answers"] += 1
        passages = passages_for(tutor, reply)
        began = time.perf_counter()
        result = synthesizer.synthesize(question, passages)
        seconds.append(time.perf_counter() - began)
        written += len(result.checked)
        kept += sum(c.supported for c in result.checked)
        if result.used:
            counts["worded"] += 1
            shown = result.text
            if args.backend != "local":
                # Each kept sentence must cite the slide of the passage it was taken from.
                truth = {s: p.slide for p in passages for u in p.units() for s in [u.text.replace("**", "")]}
                for claim in (c for c in result.checked if c.supported):
                    source = truth.get(claim.text) or truth.get(claim.text.rstrip(".") + ".")
                    if source is not None:
                        citations += 1
                        citations_right += claim.slide == source and source in (claim.cited or (source,))
            if len(samples) < args.samples:
                samples.append({"question": question, "worded": shown, "removed": result.removed})
        else:
            counts["quoted"] += 1
            why[result.why] += 1
            shown = reply.text
        invented_shown += any(claim.lower() in shown.lower() for claim in fake_openai.INVENTED)
        if (n + 1) % 20 == 0:
            print(f"  {n + 1}/{len(rows)}", file=sys.stderr, flush=True)
    if stop is not None:
        stop()
    asyncio.run(service.aclose())
    answers = counts["answers"] or 1
    emit(
        {
            "backend": args.backend,
            "model": service.model_name,
            "questions": counts["questions"],
            "answers": counts["answers"],
            "not_worded": {k: v for k, v in counts.items() if k.startswith("not worded")},
            "worded": counts["worded"],
            "quoted_instead": counts["quoted"],
            "survival_rate": round(counts["worded"] / answers, 3),
            "quoted_because": dict(why),
            "sentences_written": written,
            "sentences_kept": kept,
            "citations_checked": citations,
            "citations_right": citations_right,
            "invented_claims_shown": invented_shown,
            "seconds_per_answer_median": round(statistics.median(seconds), 3) if seconds else None,
            "bench_s": round(time.perf_counter() - started, 1),
            "samples": samples,
        }
    )


if __name__ == "__main__":
    main()
