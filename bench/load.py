"""Load: many learners at once through the loopback Discord, against two bot processes (one shard
each) sharing PostgreSQL and a real ``chroma run`` server.

Each learner (a user of its own, in one of the two servers, one per shard) sends ``--requests``
requests with a seeded think time of 0-2 s between them: questions addressed to the bot in a channel (matched to
the bot's reply by the message it references, as a nonce), and /next, /quiz, /tokenize, /similar and
a few /generate (matched by interaction id: the callback, or for a deferred one the first message
after it). Cooldowns are off. Lost: no reply within 30 s (an interaction answered after Discord's
3 s window counts as lost, and as ``expired``); twice: more than one reply to one request. Each bot
process samples its own event-loop lag (``bench/_load_bot.py``); memory is each process's RSS after
a warm-up (every request type once, models loaded) and after the run.

Everything stays on 127.0.0.1; the run is bounded by ``--max-seconds``. Needs PostgreSQL
(``--database-url``, default ``$TEST_DATABASE_URL``; ``bash .ci/postgres`` starts one and prints it):
the run gets a schema of its own, dropped afterwards.

    python bench/load.py                               # 50 learners x 100 requests
    python bench/load.py --learners 10 --requests 10   # a quick look

Prints one JSON line: {"requests", "lost", "twice", "loop_lag_p99_ms", "memory_growth_pct",
"p50_ms", "p99_ms", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _common import EVAL_SET, ROOT, emit, percentile_ms

from bot.domain.evaluation import load_questions
from bot.domain.generation import KINDS as GENERATION_KINDS
from tests.databases import with_search_path
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.processes import BotProcess, bot_env, chroma_server, ingest

LOST_AFTER_S = 30.0
MIX = {"question": 40, "next": 18, "quiz": 14, "tokenize": 13, "similar": 13, "generate": 0.5}
TEXTS = (
    "Hello world 🙂",
    "Tokenization isn't magic",
    "a puppy",
    "a young dog",
    "the capital of France",
    "Embeddings place meaning in space",
    "large language models",
    "retrieval augmented generation",
)
DATA = ROOT / "data" / "bench"
CALLBACK = re.compile(r"^/interactions/(\d+)/([^/]+)/callback$")
WEBHOOK = re.compile(r"^/webhooks/\d+/([^/]+)(?:/messages/@original)?$")


class Replies:
    """Matches the bot's replies to requests by scanning the fake's request log once, in order."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.cursor = 0
        self.pending: list[Any] = []  # requests not answered yet when first seen
        self.first: dict[tuple[str, int], float] = {}  # key -> loop time of the first reply
        self.count: collections.Counter[tuple[str, int]] = collections.Counter()
        self.deferred: dict[str, int] = {}  # token of a deferred interaction -> its id
        self.expired: set[int] = set()  # interactions whose callback Discord refused (too late)
        self._waiters: dict[tuple[str, int], asyncio.Future] = {}

    def wait(self, key: tuple[str, int]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if key in self.first:
            future.set_result(self.first[key])
        else:
            self._waiters[key] = future
        return future

    def _reply(self, key: tuple[str, int], at: float) -> None:
        self.count[key] += 1
        if key not in self.first:
            self.first[key] = at
            waiter = self._waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(at)

    def _see(self, r: Any) -> None:
        ok = r.status is not None and r.status < 300
        if r.method == "POST" and r.path.startswith("/channels/") and r.path.endswith("/messages"):
            ref = ((r.json or {}).get("message_reference") or {}).get("message_id")
            if ref is not None and ok:
                self._reply(("m", int(ref)), r.time)
        elif r.method == "POST" and (match := CALLBACK.match(r.path)):
            iid, token = int(match[1]), match[2]
            if not ok:
                self.count[("i", iid)] += 1 if r.status == 400 else 0  # a second callback, refused
                if r.status == 404:
                    self.expired.add(iid)
                return
            if (r.json or {}).get("type") in (5, 6):  # deferred: the reply is the message that follows
                self.deferred[token] = iid
                self.count[("i", iid)] += 1
            else:
                self._reply(("i", iid), r.time)
        elif r.method in ("POST", "PATCH") and (match := WEBHOOK.match(r.path)) and ok:
            iid = self.deferred.get(match[1])
            key = ("i", iid)
            if iid is not None and key not in self.first:
                self.first[key] = r.time
                waiter = self._waiters.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(r.time)

    def scan(self) -> None:
        still = []
        for r in self.pending:
            (self._see(r) if r.status is not None else still.append(r))
        self.pending = still
        requests = self.fake.requests
        while self.cursor < len(requests):
            r = requests[self.cursor]
            self.cursor += 1
            (self._see(r) if r.status is not None else self.pending.append(r))

    async def run(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(0.005)

    def twice(self) -> int:
        return sum(n - 1 for n in self.count.values() if n > 1)


async def one_request(
    fake: FakeDiscord, replies: Replies, kind: str, user: dict, channel: int, rng: random.Random, questions: list[str]
) -> tuple[float | None, tuple[str, int]]:
    """Send one request; the reply's latency in seconds (None: lost)."""
    loop = asyncio.get_running_loop()
    sent = loop.time()
    if kind == "question":
        # Addressed to the bot, so that every one is answered (in an answer channel, a message the
        # slides don't cover and that doesn't read as a question is left alone, by design).
        msg = await fake.send_message(channel, rng.choice(questions), author=user, mentions_bot=True)
        key = ("m", int(msg["id"]))
    else:
        options: dict[str, Any] = {}
        if kind == "tokenize":
            options = {"text": rng.choice(TEXTS)}
        elif kind == "similar":
            options = {"text": rng.choice(TEXTS), "other": rng.choice(TEXTS)}
        elif kind == "generate":
            options = {"kind": rng.choice(GENERATION_KINDS[:4]), "topic": rng.choice(TEXTS), "length": 24}
        ix = await fake.invoke_command(kind, options, user=user, channel_id=channel)
        key = ("i", ix.id)
    try:
        at = await asyncio.wait_for(replies.wait(key), LOST_AFTER_S)
    except TimeoutError:
        return None, key
    return at - sent, key


async def learner(
    index: int,
    args,
    fake: FakeDiscord,
    replies: Replies,
    users: list[dict],
    channels: list[int],
    questions: list[str],
    results: dict[str, list],
    lost: list,
) -> None:
    rng = random.Random(args.seed * 1_000_003 + index)
    user, channel = users[index], channels[index % len(channels)]
    kinds, weights = zip(*MIX.items(), strict=True)
    for _ in range(args.requests):
        await asyncio.sleep(rng.uniform(0.0, args.think_s))
        kind = rng.choices(kinds, weights)[0]
        latency, key = await one_request(fake, replies, kind, user, channel, rng, questions)
        if latency is None:
            lost.append((kind, key))
        else:
            results[kind].append(latency)


async def settled_memory(bots: list[BotProcess], limit_s: float = 120) -> list[float]:
    """Each process's RSS once it has stopped growing (a warm-up generation may still be loading
    its model after its first reply): three readings a second apart within 1%."""
    readings = [[bot.rss_mb()] for bot in bots]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        for bot, seen in zip(bots, readings, strict=True):
            seen.append(bot.rss_mb())
        if all(len(seen) >= 3 and max(seen[-3:]) <= 1.01 * min(seen[-3:]) for seen in readings):
            break
    return [seen[-1] for seen in readings]


def percentile_of(values: list[float], q: float) -> float | None:
    return percentile_ms(values, q) if values else None


def lag_p99_ms(path: Path, start: float, end: float) -> tuple[float | None, int]:
    samples = [lag for t, lag in json.loads(path.read_text()) if start <= t <= end]
    return percentile_of(samples, 99), len(samples)


def prepare_models(env: dict[str, str]) -> None:
    """Convert the generation model once, before two processes could race to do it."""
    subprocess.run(
        [sys.executable, "-m", "bot", "generate", "warm up", "--max-new-tokens", "1", "--seed", "1"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )


@contextlib.contextmanager
def fresh_schema(url: str):
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def measure(args, database_url: str, chroma_port: int, work: Path) -> dict:
    questions = [q.question for q in load_questions(EVAL_SET)]
    async with FakeDiscord(shard_count=2, second_guild=True) as fake:
        users = [fake.add_user(f"learner{i}") for i in range(args.learners)]  # before the bots connect
        channels = [fake.general_id, fake.other_general_id]

        def env(shard: int, **settings) -> dict[str, str]:
            return bot_env(
                api_url=fake.api_url,
                gateway_url=fake.gateway_url,
                data_dir=DATA,
                database_url=database_url,
                chroma_port=chroma_port,
                shard_count=2,
                shard_ids=[shard],
                question_cooldown_s=0,
                generation_cooldown_s=0,
                answer_channel_ids=f"{fake.general_id} {fake.other_general_id}",
                load_lag_file=str(work / f"lag{shard}.json"),
                **settings,
            )

        started = time.monotonic()
        await asyncio.to_thread(ingest, env(0))
        await asyncio.to_thread(prepare_models, env(0))
        setup_s = time.monotonic() - started
        argv = (str(ROOT / "bench" / "_load_bot.py"),)
        bots = [
            BotProcess(env(0, sync_commands_on_start="true"), work / "bot0.log", argv),
            BotProcess(env(1), work / "bot1.log", argv),
        ]
        replies = Replies(fake)
        scanner = asyncio.create_task(replies.run())
        try:
            await asyncio.gather(*(bot.ready(600) for bot in bots))
            rng = random.Random(args.seed)
            warm: dict[str, list] = collections.defaultdict(list)
            warm_lost: list = []
            for channel in channels:  # every request type once per process: models, tokenizers loaded
                for kind in MIX:
                    latency, key = await one_request(fake, replies, kind, users[0], channel, rng, questions)
                    (warm[kind] if latency is not None else warm_lost).append(latency or key)
            memory_before = await settled_memory(bots)
            baseline = (len(fake.interactions), replies.twice())

            results: dict[str, list] = collections.defaultdict(list)
            lost: list = []
            t0, w0 = time.monotonic(), time.time()
            learners = [
                asyncio.create_task(learner(i, args, fake, replies, users, channels, questions, results, lost))
                for i in range(args.learners)
            ]
            done, not_done = await asyncio.wait(learners, timeout=args.max_seconds)
            for task in not_done:
                task.cancel()
            for task in done:
                task.result()
            run_s, w1 = time.monotonic() - t0, time.time()
            await asyncio.sleep(3)  # late second replies
            replies.scan()
            memory_after = [bot.rss_mb() for bot in bots]
            lags = []
            for i, bot in enumerate(bots):
                path = work / f"lag{i}.json"
                path.unlink(missing_ok=True)
                os.kill(bot.pid, signal.SIGUSR1)
                for _ in range(100):
                    if path.exists():
                        break
                    await asyncio.sleep(0.1)
                lags.append(lag_p99_ms(path, w0, w1))
        finally:
            scanner.cancel()
            for bot in bots:
                await bot.stop()
        sent = sum(len(v) for v in results.values()) + len(lost)
        growth = [round(100 * (a - b) / b, 1) for a, b in zip(memory_after, memory_before, strict=True)]
        lag_values = [p for p, _ in lags if p is not None]
        return {
            "requests": sent,
            "lost": len(lost),
            "twice": replies.twice() - baseline[1],
            "loop_lag_p99_ms": max(lag_values) if lag_values else None,
            "memory_growth_pct": max(growth),
            "learners": args.learners,
            "requests_per_learner": args.requests,
            "completed": not not_done,
            "expired": len(replies.expired),
            "late": sum(key in replies.first for _, key in lost),  # lost, but answered after 30 s
            "lost_by_type": dict(collections.Counter(kind for kind, _ in lost)),
            "counts": {kind: len(results[kind]) for kind in MIX},
            "p50_ms": {kind: percentile_of(results[kind], 50) for kind in MIX},
            "p99_ms": {kind: percentile_of(results[kind], 99) for kind in MIX},
            "loop_lag_p99_ms_per_process": [p for p, _ in lags],
            "lag_samples_per_process": [n for _, n in lags],
            "memory_mb_before": [round(m) for m in memory_before],
            "memory_mb_after": [round(m) for m in memory_after],
            "memory_growth_pct_per_process": growth,
            "warm_up_lost": len(warm_lost),
            "violations": len(fake.violations),
            "unexpected_routes": len(fake.unexpected),
            "run_seconds": round(run_s, 1),
            "requests_per_second": round(sent / run_s, 1) if run_s else None,
            "setup_seconds": round(setup_s, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100, help="requests per learner")
    parser.add_argument("--think-s", type=float, default=2.0, help="think time is uniform in [0, this]")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1200, help="stop the learners after this long")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):  # `make bench` runs every script: say so, don't fail
        emit({"skipped": "needs PostgreSQL: --database-url or TEST_DATABASE_URL (bash .ci/postgres prints one)"})
        return
    DATA.mkdir(parents=True, exist_ok=True)
    work = DATA / "load"
    work.mkdir(exist_ok=True)
    with fresh_schema(args.database_url) as url, chroma_server(DATA / "load-chroma") as port:
        emit(asyncio.run(measure(args, url, port, work)))


if __name__ == "__main__":
    main()
