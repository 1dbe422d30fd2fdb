"""Generation speed through GenerationService versus a bare ``model.generate()``.

Same model, prompt and settings (100 new tokens forced with min_new_tokens, sampled with a
fixed seed); runs alternate between the two paths and medians are compared. While the service
generates, a ticker task sleeping 10 ms records how late the event loop wakes it.

    python bench/generate.py [--runs 3] [--model SmolLM2-135M-Instruct] [--models-dir data/models]

Prints one JSON line. Goals: ratio >= 0.9, loop_lag_p99_ms < 50.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

from bot.domain.generation import GenerationService, LocalBackend, build_request
from bot.settings import DEFAULT_GENERATION_MODEL

PROMPT = "a robot learning to paint"
TICK_S = 0.010


def bare_generate(backend: LocalBackend, request) -> tuple[float, int, str]:
    """Seconds, new tokens and text of one plain ``model.generate()`` call."""
    import torch

    inputs = backend.encode(request.messages)
    kwargs = backend.generation_kwargs(request)
    torch.manual_seed(request.seed)
    started = time.perf_counter()
    with torch.inference_mode():
        output = backend.model.generate(**inputs, **kwargs)
    seconds = time.perf_counter() - started
    new = output[0, inputs["input_ids"].shape[-1] :]
    return seconds, int(new.shape[-1]), backend.tokenizer.decode(new, skip_special_tokens=True)


async def service_generate(service: GenerationService, request) -> tuple[float, object, list[float]]:
    """Wall seconds seen by the caller, the stats, and event-loop lags (ms) while generating."""
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
    started = time.perf_counter()
    stats = await service.generate(request)
    seconds = time.perf_counter() - started
    done.set()
    await tick_task
    return seconds, stats, lags


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_GENERATION_MODEL)
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    import torch

    started = time.perf_counter()
    backend = LocalBackend.load(args.model, args.models_dir, progress=True)
    load_s = time.perf_counter() - started
    request = replace(
        build_request(
            "story", PROMPT, max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed
        ),
        min_new_tokens=args.max_new_tokens,
    )
    service = GenerationService(backend, max_new_tokens=args.max_new_tokens, timeout_s=600)

    # Warm up both paths (first calls allocate and initialise kernels).
    bare_generate(backend, replace(request, max_new_tokens=8, min_new_tokens=8))

    async def run_all() -> dict[str, object]:
        await service.generate(replace(request, max_new_tokens=8, min_new_tokens=8))
        bare_rates, service_rates, first_text, lags = [], [], [], []
        same_text = True
        for i in range(args.runs):
            order = ("bare", "service") if i % 2 == 0 else ("service", "bare")
            for path in order:
                if path == "bare":
                    seconds, tokens, bare_text = bare_generate(backend, request)
                    bare_rates.append(tokens / seconds)
                else:
                    seconds, stats, run_lags = await service_generate(service, request)
                    service_rates.append(stats.tokens / seconds)
                    first_text.append(stats.time_to_first_chunk_s)
                    lags.extend(run_lags)
                    service_text = stats.text
            same_text = same_text and bare_text == service_text
        bare_rate, service_rate = statistics.median(bare_rates), statistics.median(service_rates)
        return {
            "model": backend.model_name,
            "device": backend.device,
            "torch_threads": torch.get_num_threads(),
            "runs": args.runs,
            "new_tokens": args.max_new_tokens,
            "service_tokens_per_second": round(service_rate, 2),
            "bare_tokens_per_second": round(bare_rate, 2),
            "ratio": round(service_rate / bare_rate, 3),
            "service_runs": [round(r, 2) for r in service_rates],
            "bare_runs": [round(r, 2) for r in bare_rates],
            "time_to_first_text_s": round(statistics.median(first_text), 3),
            "loop_lag_p99_ms": round(percentile(lags, 99), 2),
            "loop_lag_max_ms": round(max(lags), 2),
            "loop_ticks": len(lags),
            "same_text_both_paths": same_text,
            "load_s": round(load_s, 2),
        }

    result = asyncio.run(run_all())
    asyncio.run(backend.aclose())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
