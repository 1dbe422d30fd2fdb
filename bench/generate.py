"""Generation quality and speed: today's decoding (``--baseline``) and the new one, side by side.

Quality: 21 fixed prompts across every kind, seeds 1-3, each run through GenerationService (the
bot's own path), scored on the text the learner sees (after any retry and clean-up):
distinct-2 per output (words = lower-case runs of letters and apostrophes), the most times any
line repeats, the share of items (lines) that are only numbers or punctuation, and the MiniLM
cosine of the output with its topic (also without the opening the new prompts start a poem,
marketing list or brainstorm with, which names the topic: what the model wrote itself). "baseline" is today's prompts and decoding as they were
before issue 15 (frozen copies below); "new" is ``build_request`` and the service's checks.

Speed: the same prompt forced to ``--speed-tokens`` new tokens, alternating paths, medians:
bare ``model.generate()`` with the baseline settings as the code before issue 15 ran them (the
whole prompt read every time) and with the new ones as the backend runs them (the chat's fixed
opening, system prompt and worked example, read once and its cache reused): new / baseline
tokens/s; also against the baseline with its opening cached too, and the new settings without
the cache (how they ran before it). The new settings through the service versus bare (service /
bare). Each as wall-clock and CPU-time rates (CPU time is steadier on a shared machine). While the
service generates, a ticker task sleeping 10 ms records how late the event loop wakes it.

``--split tune`` / ``held-out``: the prompts tuned on (each kind's 1st, 3rd, ...) or the others.

    python bench/generate.py [--baseline] [--table] [--split all|tune|held-out] [--no-speed | --no-quality]
                             [--max-new-tokens 48] [--prompts N] [--kinds K,..] [--threads 1]

``--baseline`` adds the baseline column (otherwise only the new settings are scored). Prints one
JSON line; with ``--table``, a readable side-by-side table on stderr too. Goals: distinct-2 >= 0.75
for every output, no repeated line, no numbers-only output, meaning-to-topic not below the
baseline; new/baseline tokens/s >= 0.9, service/bare >= 0.9, loop_lag_p99_ms < 50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script

from bot.domain.generation import (  # noqa: E402
    ChatMessage,
    GenerationRequest,
    GenerationService,
    LocalBackend,
    build_request,
    distinct_2,
    junk_share,
    max_line_repeats,
    slide_context,
)
from bot.domain.generation._quality import items  # noqa: E402
from bot.settings import DEFAULT_GENERATION_MODEL  # noqa: E402

TICK_S = 0.010
SEEDS = (1, 2, 3)

# (kind, topic); an ``example`` topic names its slide.
PROMPTS: tuple[tuple[str, str], ...] = (
    ("story", "a robot learning to paint"),
    ("story", "a dragon who is afraid of the dark"),
    ("story", "a student who trains a tiny language model"),
    ("story", "a lost umbrella that travels the world"),
    ("marketing", "a coffee shop for programmers"),
    ("marketing", "a reusable water bottle that reminds you to drink"),
    ("marketing", "an app that turns lecture slides into quizzes"),
    ("marketing", "a bakery run by an AI"),
    ("brainstorm", "ways a school library could use semantic search"),
    ("brainstorm", "names for a cat café"),
    ("brainstorm", "uses of text generation in a science class"),
    ("brainstorm", "weekend projects with a small language model"),
    ("brainstorm", "ways to reduce food waste at home"),
    ("poem", "embeddings"),
    ("poem", "the first snow of winter"),
    ("poem", "attention in transformers"),
    ("poem", "a cup of morning tea"),
    ("example", "slide 5"),
    ("example", "slide 10 choosing a pizza topping"),
    ("example", "slide 13"),
    ("example", "slide 14 a cooking recipe"),
)


def split(name: str) -> list[tuple[str, str]]:
    """The prompts of a split: "tune" takes each kind's 1st, 3rd, ... prompt (what prompts and
    decoding were tuned on since the split was made), "held-out" the others, "all" every one."""
    if name == "all":
        return list(PROMPTS)
    seen: dict[str, int] = {}
    chosen = []
    for kind, topic in PROMPTS:
        index = seen.get(kind, 0)
        seen[kind] = index + 1
        if (index % 2 == 0) == (name == "tune"):
            chosen.append((kind, topic))
    return chosen


# --- today's prompts, frozen as they were before issue 15 (the baseline) -----------------------
BASELINE_SYSTEM = (
    "You are a creative writing assistant for students of a course on generative AI. "
    "Write only the creative piece you are asked for: no introduction, no explanation "
    "of how you wrote it, and no facts stated as if they were true. "
    "Keep it short, friendly and suitable for a classroom."
)
BASELINE_INSTRUCTIONS = {
    "story": "Write a short story, at most three paragraphs, about {topic}.",
    "marketing": "Write three short, catchy marketing lines for {topic}.",
    "brainstorm": "Brainstorm eight creative ideas about {topic}. Write one idea per line.",
    "poem": "Write a short poem, at most twelve lines, about {topic}.",
}
BASELINE_EXAMPLE = (
    'Here is the text of a slide from the course:\n"""\n{slide}\n"""\n'
    "Write one short, concrete, everyday example that illustrates the idea of this slide{about}. "
    "Only the example, in a few sentences."
)


def baseline_request(
    kind: str, topic: str, slide_text: str | None, max_new_tokens: int, seed: int | None
) -> GenerationRequest:
    """Today's request: the old prompt, temperature 0.8, top-p 0.95, no penalties, no checks."""
    from bot.domain.text import shorten

    if kind == "example":
        about = f", about {topic}" if topic else ""
        user = BASELINE_EXAMPLE.format(slide=shorten(slide_text or "", 1500), about=about)
    else:
        user = BASELINE_INSTRUCTIONS[kind].format(topic=topic)
    messages = (ChatMessage("system", BASELINE_SYSTEM), ChatMessage("user", user))
    return GenerationRequest(messages, max_new_tokens=max_new_tokens, temperature=0.8, top_p=0.95, seed=seed)


# --- scoring --------------------------------------------------------------------------------------
def score(text: str, topic_vector, embedder, opening: str = "") -> dict[str, float | int]:
    """The measures of one shown text. ``meaning_body``: the cosine without the request's opening
    (the title or first product name the new prompts start the answer with), i.e. of what the
    model wrote itself; the same as ``meaning`` where there is no opening."""
    lines = items(text)
    meaning = float(embedder.encode_one(text or " ") @ topic_vector)
    body = text[len(opening) :].strip(" :.\n") if opening and text.startswith(opening) else text
    meaning_body = meaning if body == text else float(embedder.encode_one(body or " ") @ topic_vector)
    return {
        "meaning_body": round(meaning_body, 3),
        "distinct_2": round(distinct_2(text), 3),
        "max_line_repeats": max_line_repeats(text),
        "junk_items": round(junk_share(text), 3) if lines else 1.0,
        "numbers_only": not any(c.isalpha() for c in text),
        "meaning": round(meaning, 3),
    }


def summary(rows: list[dict]) -> dict[str, object]:
    d2 = [r["distinct_2"] for r in rows]
    return {
        "outputs": len(rows),
        "distinct_2_min": min(d2),
        "distinct_2_mean": round(statistics.mean(d2), 3),
        "outputs_distinct_2_below_0.75": sum(v < 0.75 for v in d2),
        "outputs_with_a_repeated_line": sum(r["max_line_repeats"] > 1 for r in rows),
        "max_line_repeats": max(r["max_line_repeats"] for r in rows),
        "junk_item_share_mean": round(statistics.mean(r["junk_items"] for r in rows), 3),
        "numbers_only_outputs": sum(r["numbers_only"] for r in rows),
        "meaning_to_topic_mean": round(statistics.mean(r["meaning"] for r in rows), 3),
        "meaning_body_to_topic_mean": round(statistics.mean(r["meaning_body"] for r in rows), 3),
        "tokens_mean": round(statistics.mean(r["tokens"] for r in rows), 1),
        "tokens_per_second_median": round(statistics.median(r["tokens_per_second"] for r in rows), 2),
        "seconds_per_output_mean": round(statistics.mean(r["seconds"] for r in rows), 2),
        "retried_outputs": sum(r["attempts"] > 1 for r in rows),
    }


# --- speed ------------------------------------------------------------------------------------------
def bare_generate(
    backend: LocalBackend, request: GenerationRequest, *, reuse_prefix: bool = True
) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, new tokens and text of one plain ``model.generate()`` call with
    the backend's settings for ``request`` (``reuse_prefix``: with its cached chat opening, as the
    backend runs it; off: as the code before issue 15 ran every request)."""
    import torch

    inputs, kwargs = backend.prepare(request, reuse_prefix=reuse_prefix)
    torch.manual_seed(request.seed)
    started, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        output = backend.model.generate(**inputs, **kwargs)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    new = output[0, inputs["input_ids"].shape[-1] :]
    return seconds, cpu_seconds, int(new.shape[-1]), backend.tokenizer.decode(new, skip_special_tokens=True)


async def service_generate(service: GenerationService, request) -> tuple[float, float, object, list[float]]:
    """Wall and CPU seconds seen by the caller, the stats, and event-loop lags (ms) while generating."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lags.append((time.perf_counter() - before - TICK_S) * 1000)

    tick_task = loop.create_task(ticker())
    await asyncio.sleep(0)
    started, cpu = time.perf_counter(), time.process_time()
    stats = await service.generate(request)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    done.set()
    await tick_task
    return seconds, cpu_seconds, stats, lags


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


PATHS = ("baseline_bare", "baseline_cached_bare", "new_uncached_bare", "new_bare", "new_service")


async def speed(backend: LocalBackend, tokens: int, runs: int) -> dict[str, object]:
    """Tokens/s of four paths, alternating: today's settings as today's code ran them
    (``baseline_bare``: the whole prompt read each time), today's settings with the chat opening
    cached as the new backend does (``baseline_cached_bare``), the new settings bare and through
    the service, and the new settings with the whole prompt read each time (``new_uncached_bare``:
    how the new decoding ran before its opening was cached). Wall-clock and CPU-time (this process, all threads) rates; CPU time is the steadier
    figure on a shared machine, where other programs take turns on the cores."""
    topic = "a robot learning to paint"
    old = replace(baseline_request("story", topic, None, tokens, 1234), min_new_tokens=tokens)
    # Forced to the same length: natural_end would stop early; the new prompt, penalties and n-gram
    # block are what is timed. "custom" keeps the service's checks out of the timing.
    new = replace(
        build_request("story", topic, max_new_tokens=tokens, seed=1234, natural_end=False),
        min_new_tokens=tokens,
        kind="custom",
    )
    service = GenerationService(backend, max_new_tokens=tokens, timeout_s=600)
    for warm in (old, new):  # warm-up (and the cached openings built, as a running bot has them)
        bare_generate(backend, replace(warm, max_new_tokens=8, min_new_tokens=8))
    await service.generate(replace(new, max_new_tokens=8, min_new_tokens=8))
    rates: dict[str, list[float]] = {path: [] for path in PATHS}
    cpu_rates: dict[str, list[float]] = {path: [] for path in PATHS}
    lags: list[float] = []
    first_text: list[float] = []
    same_text = True
    for i in range(runs):
        order = list(PATHS) if i % 2 == 0 else list(reversed(PATHS))
        bare_text = service_text = None
        for path in order:
            if path == "new_service":
                seconds, cpu_seconds, stats, run_lags = await service_generate(service, new)
                count = stats.tokens
                lags.extend(run_lags)
                first_text.append(stats.time_to_first_chunk_s)
                service_text = stats.text
            else:
                request = new if path.startswith("new") else old
                seconds, cpu_seconds, count, text = bare_generate(
                    backend, request, reuse_prefix=path not in ("baseline_bare", "new_uncached_bare")
                )
                if path == "new_bare":
                    bare_text = text
            rates[path].append(count / seconds)
            cpu_rates[path].append(count / cpu_seconds)
        same_text = same_text and bare_text == service_text
    wall = {path: statistics.median(values) for path, values in rates.items()}
    cpu = {path: statistics.median(values) for path, values in cpu_rates.items()}
    result: dict[str, object] = {"new_tokens": tokens, "runs": runs}
    for path in PATHS:
        result[f"{path}_tokens_per_second"] = round(wall[path], 2)
    result.update(
        new_vs_baseline=round(wall["new_bare"] / wall["baseline_bare"], 3),
        new_vs_baseline_cached=round(wall["new_bare"] / wall["baseline_cached_bare"], 3),
        new_uncached_vs_baseline=round(wall["new_uncached_bare"] / wall["baseline_bare"], 3),
        service_vs_bare=round(wall["new_service"] / wall["new_bare"], 3),
        cpu_tokens_per_second={path: round(cpu[path], 2) for path in PATHS},
        cpu_new_vs_baseline=round(cpu["new_bare"] / cpu["baseline_bare"], 3),
        cpu_new_vs_baseline_cached=round(cpu["new_bare"] / cpu["baseline_cached_bare"], 3),
        cpu_new_uncached_vs_baseline=round(cpu["new_uncached_bare"] / cpu["baseline_bare"], 3),
        cpu_service_vs_bare=round(cpu["new_service"] / cpu["new_bare"], 3),
        runs_tokens_per_second={path: [round(v, 2) for v in values] for path, values in rates.items()},
        time_to_first_text_s=round(statistics.median(first_text), 3),
        loop_lag_p99_ms=round(percentile(lags, 99), 2),
        loop_lag_max_ms=round(max(lags), 2),
        same_text_both_paths=same_text,
    )
    return result


# --- quality ------------------------------------------------------------------------------------------
async def quality_runs(
    backend: LocalBackend, embedder, deck, prompts, configs: list[str], max_new_tokens: int, samples: bool
) -> dict[str, object]:
    from bot.domain.generation import example_slide

    services = {
        "baseline": GenerationService(backend, max_new_tokens=max_new_tokens, timeout_s=600, retries=0),
        "new": GenerationService(backend, max_new_tokens=max_new_tokens, timeout_s=600),
    }
    rows: dict[str, list[dict]] = {config: [] for config in configs}
    shown: dict[str, list[dict]] = {config: [] for config in configs}
    for n, (kind, topic) in enumerate(prompts):
        slide_text = None
        about = topic
        if kind == "example":
            slide, topic = example_slide(deck, topic, lambda: None)
            slide_text = slide_context(slide)
            about = f"{slide.title}. {topic}" if topic else slide.title
        topic_vector = embedder.encode_one(about)
        for seed in SEEDS:
            order = configs if (n + seed) % 2 == 0 else list(reversed(configs))
            for config in order:
                if config == "baseline":
                    request = baseline_request(kind, topic, slide_text, max_new_tokens, seed)
                else:
                    request = build_request(
                        kind, topic, slide_text=slide_text, max_new_tokens=max_new_tokens, seed=seed
                    )
                started = time.perf_counter()
                backend.reuse_prefixes = config != "baseline"  # the baseline exactly as today's code ran it
                stats = await services[config].generate(request)
                seconds = time.perf_counter() - started
                row = score(stats.text, topic_vector, embedder, request.opening)
                row.update(
                    kind=kind,
                    tokens=stats.tokens,
                    seconds=round(seconds, 2),
                    tokens_per_second=stats.tokens / seconds if seconds else 0.0,
                    attempts=stats.attempts,
                )
                rows[config].append(row)
                if samples:
                    shown[config].append({"kind": kind, "topic": about, "seed": seed, "text": stats.text, **row})
            print(f"  {n + 1}/{len(prompts)} {kind}: {about[:40]} seed {seed}", file=sys.stderr, flush=True)
    result: dict[str, object] = {}
    for config in configs:
        by_kind = {
            kind: summary([r for r in rows[config] if r["kind"] == kind])
            for kind in dict.fromkeys(k for k, _ in prompts)
        }
        result[config] = {"all": summary(rows[config]), "by_kind": by_kind}
        if samples:
            result[config]["samples"] = shown[config]
    return result


TABLE_ROWS = (
    ("distinct_2_min", "distinct-2, lowest output"),
    ("distinct_2_mean", "distinct-2, mean"),
    ("outputs_distinct_2_below_0.75", "outputs with distinct-2 < 0.75"),
    ("outputs_with_a_repeated_line", "outputs with a repeated line"),
    ("max_line_repeats", "most times a line repeats"),
    ("junk_item_share_mean", "numbers/punctuation-only items, share"),
    ("numbers_only_outputs", "numbers-only outputs"),
    ("meaning_to_topic_mean", "meaning to topic (cosine), mean"),
    ("meaning_body_to_topic_mean", "the same without the opening, mean"),
    ("tokens_mean", "new tokens per output, mean"),
    ("tokens_per_second_median", "tokens/s per output, median"),
    ("seconds_per_output_mean", "seconds per output, mean"),
    ("retried_outputs", "outputs written again"),
)


def table(result: dict) -> str:
    quality = result.get("quality", {})
    configs = [c for c in ("baseline", "new") if c in quality]
    lines = [f"{'':42}" + "".join(f"{c:>12}" for c in configs)] if configs else []
    for key, label in TABLE_ROWS if configs else ():
        lines.append(f"{label:42}" + "".join(f"{quality[c]['all'][key]!s:>12}" for c in configs))
    if configs:
        lines.append("")
        lines.append(f"{'per kind: distinct-2 min / mean / meaning / without opening':42}")
    for kind in quality[configs[0]]["by_kind"] if configs else ():
        cells = []
        for c in configs:
            k = quality[c]["by_kind"][kind]
            cells.append(
                f"{k['distinct_2_min']:.2f}/{k['distinct_2_mean']:.2f}/{k['meaning_to_topic_mean']:.2f}"
                f"/{k['meaning_body_to_topic_mean']:.2f}"
            )
        lines.append(f"  {kind:40}" + "".join(f"{cell:>21}" for cell in cells))
    s = result.get("speed")
    if s:
        lines.append("")
        lines.append(
            f"speed ({s['new_tokens']} tokens forced, median of {s['runs']}): baseline bare "
            f"{s['baseline_bare_tokens_per_second']} tok/s (opening cached "
            f"{s['baseline_cached_bare_tokens_per_second']}), new bare {s['new_bare_tokens_per_second']}, "
            f"new service {s['new_service_tokens_per_second']}; new/baseline {s['new_vs_baseline']} "
            f"(vs cached baseline {s['new_vs_baseline_cached']}; uncached new/baseline "
            f"{s['new_uncached_vs_baseline']}), service/bare {s['service_vs_bare']}, "
            f"loop lag p99 {s['loop_lag_p99_ms']} ms"
        )
        lines.append(
            f"  CPU time: new/baseline {s['cpu_new_vs_baseline']} (vs cached baseline "
            f"{s['cpu_new_vs_baseline_cached']}; uncached new/baseline {s['cpu_new_uncached_vs_baseline']}), "
            f"service/bare {s['cpu_service_vs_bare']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_GENERATION_MODEL)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "data" / "bench" / "models")
    parser.add_argument("--baseline", action="store_true", help="score today's settings too, side by side")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="per quality output, the same for both")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="only the first N prompts (quick runs)")
    parser.add_argument("--kinds", default="", help="only these kinds, comma-separated")
    parser.add_argument("--speed-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="speed runs per path")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    parser.add_argument(
        "--split",
        choices=("all", "tune", "held-out"),
        default="all",
        help="tune: the 1st, 3rd, ... prompt of each kind (the ones prompts were tuned on); held-out: the others",
    )
    parser.add_argument("--samples", action="store_true", help="include every output's text in the JSON")
    parser.add_argument("--table", action="store_true", help="also print a side-by-side table on stderr")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: on a shared, busy CPU, 2 threads thrash)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from bot.domain.embedding import Embedder
    from bot.domain.loaders import load_deck

    started = time.perf_counter()
    backend = LocalBackend.load(args.model, args.models_dir, progress=True)
    load_s = time.perf_counter() - started
    embedder = Embedder()
    loaded = load_deck(ROOT / "knowledge")
    deck = loaded.deck
    if not deck.slides:  # the example prompts need the course's slides
        raise SystemExit(f"the course deck did not load: {loaded.problems}")
    prompts = [p for p in split(args.split) if not args.kinds or p[0] in args.kinds.split(",")][: args.prompts]
    configs = ["baseline", "new"] if args.baseline else ["new"]

    async def run_all() -> dict[str, object]:
        result: dict[str, object] = {
            "model": backend.model_name,
            "device": backend.device,
            "torch_threads": torch.get_num_threads(),
            "prompts": len(prompts),
            "split": args.split,
            "seeds": list(SEEDS),
            "max_new_tokens": args.max_new_tokens,
            "load_s": round(load_s, 2),
        }
        if not args.no_speed:
            result["speed"] = await speed(backend, args.speed_tokens, args.runs)
        if not args.no_quality:
            result["quality"] = await quality_runs(
                backend, embedder, deck, prompts, configs, args.max_new_tokens, args.samples
            )
        return result

    started = time.perf_counter()
    result = asyncio.run(run_all())
    result["bench_s"] = round(time.perf_counter() - started, 1)
    asyncio.run(backend.aclose())
    if args.table:
        print(table(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
