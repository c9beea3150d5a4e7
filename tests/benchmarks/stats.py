"""``stats`` over a large history, and what it does to everyone else's acknowledgements.

``python -m tests.benchmarks.stats [--jobs 1000000] [--days 30]`` prints, for SQLite and
for PostgreSQL (a throwaway cluster, as the tests start one), side by side from one run:

1. the answer time of ``stats acme --since 30d`` over ``--jobs`` jobs spread over
   ``--days`` days (bulk-inserted: executemany on SQLite, COPY on PostgreSQL), sent as a
   signed slash command into runnerops alone in its own process (``uvicorn app:app``) and
   timed to its reply at the response_url: median of 5, one after another; and, in the
   same rounds (turn about, the first of each pair alternating), the same command into
   the same service less its capacity advice, in a process of its own
   (tests/benchmarks/without_advice.py): what the advice adds to the answer, as a ratio;
2. the acknowledgement times of 50 other commands sent from a separate process
   (``python -m tests.benchmarks.stats send``), first with nothing else running (the
   baseline), then while 5 ``stats`` run at once: p99 of each and their ratio;
3. the reply's figures computed in this process over the 30 days, without and with the
   capacity advice (bot/store/job_stats.py ``recent_rows``, at most
   bot/watch/capacity.py ``MAX_REPLAYED`` jobs, decoded and replayed in a worker thread
   here, where the service uses a worker process): medians of 5 and their ratio;
4. the old path for the same reply (every job of the window loaded into Python and
   reduced there: ``JobStore.since`` and bot/watch/stats.py) against the database's
   (bot/store/job_stats.py) over a 3-day window, both in this process: times, their
   ratio, and whether the figures are the same.

Nothing here asserts on time: ``tests/test_stats_benchmark.py`` runs it at a tiny size
and checks only that what it timed was right.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, command_body, reply_text, slack_signature
from bot.sandbox.processes import Cluster, cluster
from bot.store import Store
from bot.store.database import parse_database_url, sync_engine
from bot.store.rollups import backfill
from bot.watch.capacity import estimate, runs_from_rows
from bot.watch.labels import is_github_hosted, label_set_key
from bot.watch.stats import queue_stats, runner_usage
from tests.benchmarks.fleet import run_module

ORG = "acme"
STATS = f"stats {ORG} --since 30d"
OTHER = "help"  # the other users' command: its acknowledgement is what is timed
RUNS = 5
CONCURRENT = 5
ACKS = 50
ACK_SPACING = 0.01  # seconds between the other commands' sends
OLD_WINDOW = timedelta(days=3)
WITHOUT_ADVICE = "tests.benchmarks.without_advice:app"  # the service less the advice
# (labels, weight): a mid-sized organization's runs-on, a few hosted
LABEL_SETS = [
    (["self-hosted", "linux", "x64"], 40),
    (["self-hosted", "linux", "arm64"], 12),
    (["self-hosted", "gpu"], 6),
    (["self-hosted", "linux", "large"], 8),
    (["self-hosted", "windows"], 5),
    (["self-hosted", "macos"], 3),
    (["self-hosted", "linux", "docker"], 10),
    (["self-hosted", "build"], 4),
    (["self-hosted", "deploy"], 2),
    (["self-hosted", "e2e"], 3),
    (["ubuntu-latest"], 6),
    (["windows-2022"], 1),
]
COLUMNS = (
    "id run_id run_attempt repository owner_key repo_key repository_public workflow_name name"
    " labels hosted html_url head_sha created_at started_at completed_at runner_id runner_name"
    " runner_group_id runner_group_name conclusion status status_rank updated_at"
).split()


def generate(
    n: int, now: datetime, days: int, rng: random.Random, *, shuffled: bool = False
) -> Iterator[dict[str, Any]]:
    """``n`` jobs created over the ``days`` before ``now`` in whole seconds, as GitHub
    reports them: nearly all finished, some running, a few still queued. In the order they
    were created, as runnerops stores them (each when GitHub delivers its ``queued``), so
    the table's rows lie as a service's do; ``shuffled``: in no order (the jobs of any
    moment spread over the whole table, as earlier runs of this benchmark had them)."""
    span = days * 86_400
    ages = [rng.randrange(span) for _ in range(n)]
    if not shuffled:
        ages.sort(reverse=True)  # the oldest first
    kinds = [
        (json.dumps(list(label_set_key(labels))), is_github_hosted(labels))
        for labels, _ in LABEL_SETS
    ]
    cumulative = list(itertools.accumulate(w for _, w in LABEL_SETS))
    for i in range(n):
        labels, hosted = rng.choices(kinds, cum_weights=cumulative)[0]
        created = now - timedelta(seconds=ages[i])
        waited = timedelta(
            seconds=int(rng.expovariate(1 / 40)) + (600 if rng.random() < 0.02 else 0)
        )
        started: datetime | None = created + waited
        ran = timedelta(seconds=int(rng.expovariate(1 / 300)) + 5)
        completed: datetime | None = started + ran if started is not None else None
        status, rank = "completed", 2
        if started is not None and started > now:
            started = completed = None
            status, rank = "queued", 0
        elif completed is not None and completed > now:
            completed = None
            status, rank = "in_progress", 1
        repo = f"{ORG}/repo-{rng.randrange(40)}"
        runner = None
        if started is not None:
            runner = f"GitHub Actions {i % 100}" if hosted else f"runner-{rng.randrange(300)}"
        yield {
            "id": 10_000_000 + i,
            "run_id": 5_000_000 + i // 4,
            "run_attempt": 1,
            "repository": repo,
            "owner_key": ORG,
            "repo_key": repo,
            "repository_public": False,
            "workflow_name": "CI",
            "name": f"build ({i % 8})",
            "labels": labels,
            "hosted": hosted,
            "html_url": f"https://github.com/{repo}/actions/runs/{5_000_000 + i // 4}/job/{i}",
            "head_sha": f"{i:040x}",
            "created_at": created,
            "started_at": started,
            "completed_at": completed,
            "runner_id": None if runner is None else 1 + rng.randrange(300),
            "runner_name": runner,
            "runner_group_id": None if runner is None else 1,
            "runner_group_name": None if runner is None else "Default",
            "conclusion": "success" if status == "completed" else None,
            "status": status,
            "status_rank": rank,
            "updated_at": completed or started or created,
        }


def rollup(url: str) -> None:
    """The bulk-inserted jobs rolled up as a migration rolls up an existing database's
    (bot/store/rollups.py backfill); delivered jobs are rolled up as they start."""
    engine = sync_engine(parse_database_url(url))
    try:
        with engine.begin() as conn:
            backfill(conn)
    finally:
        engine.dispose()


def _sqlite_value(value: object) -> object:
    if isinstance(value, datetime):  # as bot.store.schema.UTCDateTime stores it
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def seed_sqlite(path: str, rows: Iterator[dict[str, Any]]) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous = OFF")
    marks = ", ".join("?" for _ in COLUMNS)
    statement = f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({marks})"
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(row[c]) for c in COLUMNS))
        if len(batch) == 50_000:
            connection.executemany(statement, batch)
            batch.clear()
    connection.executemany(statement, batch)
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def seed_postgres(conninfo: str, rows: Iterator[dict[str, Any]]) -> None:
    import psycopg

    with psycopg.connect(conninfo) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY jobs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in COLUMNS])
        connection.commit()
        connection.execute("ANALYZE jobs")


# -- the other users, in a process of their own ---------------------------------------


async def send(spec: dict[str, Any], secret: str) -> dict[str, Any]:
    """Send the ``stats`` commands at once, then the other commands ``spacing`` apart;
    each command's wall-clock send time, status and seconds to its acknowledgement."""

    async def one(session: aiohttp.ClientSession, text: str, response_url: str) -> list[Any]:
        body = command_body(text, response_url)
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(secret, stamp, body),
        }
        wall, sent = time.time(), time.monotonic()
        async with session.post(spec["url"] + "/slack/events", data=body, headers=headers) as r:
            await r.read()
            return [wall, r.status, time.monotonic() - sent]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        stats = [asyncio.create_task(one(session, spec["stats_text"], u)) for u in spec["stats"]]
        others = []
        for url in spec["others"]:
            await asyncio.sleep(spec["spacing"])
            others.append(asyncio.create_task(one(session, spec["other_text"], url)))
        return {"stats": await asyncio.gather(*stats), "others": await asyncio.gather(*others)}


# -- figures ---------------------------------------------------------------------------


def p(values: list[float], percent: float) -> float:
    """Nearest rank, as everywhere in runnerops."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@dataclass
class EngineFigures:
    engine: str
    jobs: int
    seed_seconds: float = 0.0
    rollup_seconds: float = 0.0
    alone: list[float] = field(default_factory=list)  # answer seconds, one at a time
    alone_without: list[float] = field(default_factory=list)  # the same, less the advice
    concurrent: list[float] = field(default_factory=list)  # answer seconds, 5 at once
    acks_idle: list[float] = field(default_factory=list)
    acks_busy: list[float] = field(default_factory=list)
    acks_during: int = 0  # of acks_busy, sent before the last concurrent stats answered
    acks_busy_without: list[float] = field(default_factory=list)  # into the service less it
    statuses: list[int] = field(default_factory=list)
    without_advice: list[float] = field(default_factory=list)  # seconds, in-process
    with_advice: list[float] = field(default_factory=list)
    replayed: int = 0
    capped: bool = False
    old_seconds: float = 0.0
    new_seconds: float = 0.0
    same_figures: bool = False
    reply: str = ""
    problems: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        idle, busy = p(self.acks_idle, 99), p(self.acks_busy, 99)
        return [
            f"{self.jobs:,} jobs, seeded in {self.seed_seconds:.1f} s,"
            f" rolled up in {self.rollup_seconds:.1f} s",
            f"{statistics.median(self.alone) * 1000:.0f} ms"
            f" (min {min(self.alone) * 1000:.0f}, max {max(self.alone) * 1000:.0f})",
            f"{statistics.median(self.concurrent) * 1000:.0f} ms"
            f" (max {max(self.concurrent) * 1000:.0f})",
            f"{idle * 1000:.1f} ms",
            f"{busy * 1000:.1f} ms ({busy / idle:.1f}x; {self.acks_during}/{len(self.acks_busy)}"
            " sent while stats ran)",
            self.advice_cell(),
            self.service_advice_cell(),
            f"{p(self.acks_busy_without, 99) * 1000:.1f} ms without the advice, {busy * 1000:.1f}"
            f" ms with it (above): {busy / p(self.acks_busy_without, 99):.2f}x",
            f"{self.old_seconds * 1000:.0f} ms",
            f"{self.new_seconds * 1000:.0f} ms ({self.old_seconds / self.new_seconds:.0f}x faster)"
            f"; same figures: {'yes' if self.same_figures else 'NO'}",
        ]

    def advice_cell(self) -> str:
        without, with_ = statistics.median(self.without_advice), statistics.median(self.with_advice)
        cut = ", the most recent" if self.capped else ""
        return (
            f"{with_ * 1000:.0f} ms with, {without * 1000:.0f} ms without"
            f" ({with_ / without:.2f}x; {self.replayed:,} jobs replayed{cut})"
        )

    def service_advice_cell(self) -> str:
        with_, without = statistics.median(self.alone), statistics.median(self.alone_without)
        return (
            f"{with_ * 1000:.0f} ms with, {without * 1000:.0f} ms without"
            f" ({with_ / without:.2f}x; without: min {min(self.alone_without) * 1000:.0f},"
            f" max {max(self.alone_without) * 1000:.0f})"
        )


ROWS = [
    "history",
    f"`{STATS}`, median of {RUNS} one at a time",
    f"the same, {CONCURRENT} at once: median",
    f"acks of {ACKS} `{OTHER}` from another process, nothing else running: p99",
    f"the same while {CONCURRENT} stats run: p99",
    f"capacity advice: 30-day figures with it and without, in-process, median of {RUNS}",
    f"capacity advice: `{STATS}` with it (above) and from the service less it (its own"
    f" process, turn about with the above), median of {RUNS}",
    f"acks of {ACKS} `{OTHER}` while {CONCURRENT} stats run in the service less the advice: p99",
    f"old path (every job into Python), {OLD_WINDOW.days}-day window, in-process",
    f"in the database, {OLD_WINDOW.days}-day window, in-process",
]


def table(figures: list[EngineFigures]) -> str:
    header = "| | " + " | ".join(f.engine for f in figures) + " |"
    lines = [header, "|---" * (len(figures) + 1) + "|"]
    cells = [f.cells() for f in figures]
    for i, name in enumerate(ROWS):
        lines.append(f"| {name} | " + " | ".join(c[i] for c in cells) + " |")
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------


def whole(reply: str, *, advice: bool = True) -> bool:
    """A stats reply with a line for every label set and some runners, and the capacity
    advice unless ``advice`` is False (the service less it: then without it)."""
    labels = [" ".join(f"`{x}`" for x in label_set_key(ls)) + ":" for ls, _ in LABEL_SETS]
    return (
        f"{ORG}: the last 30d" in reply
        and all(x in reply for x in labels)
        and ("*Runners*" in reply)
        and (("*Capacity* (an estimate)" in reply) == advice)
    )


async def one_at_a_time(group: Cluster, bare: Cluster, runs: int, figures: EngineFigures) -> None:
    """``stats`` timed to its reply, one at a time, into the service and into the service
    less its advice turn about (which goes first alternating), after one each to warm."""
    view, baseline = group.views[0], bare.views[0]
    figures.reply = reply_text(await view.run(STATS, timeout=600))
    reply_text(await baseline.run(STATS, timeout=600))
    for i in range(runs):
        pair = [(view, True, figures.alone), (baseline, False, figures.alone_without)]
        for sandbox, advice, times in pair if i % 2 == 0 else pair[::-1]:
            began = time.perf_counter()
            answer = reply_text(await sandbox.run(STATS, timeout=600))
            times.append(time.perf_counter() - began)
            if not whole(answer, advice=advice):  # time moves on: a reply may differ a little
                service = "the service" if advice else "the service less the advice"
                figures.problems.append(f"{service}: stats answered {answer[-300:]!r}")


def seed_org(gh: GitHubDouble) -> None:
    gh.add_org(ORG)
    gh.add_repo(ORG, "repo-0")
    gh.add_installation(ORG)


async def old_and_new(url: str, now: datetime) -> tuple[float, float, bool]:
    """The old reduction and the database's over OLD_WINDOW, both timed here."""
    # The old path is the baseline, not the service: no DATABASE_TIMEOUT deadline for it.
    store = Store.open(url, migrate_now=False, timeout=3600)
    try:
        start, threshold = now - OLD_WINDOW, timedelta(minutes=5)
        began = time.perf_counter()
        jobs = [r.job for r in await store.jobs.since(ORG, None, start)]
        created = [j for j in jobs if j.created_at is not None and j.created_at >= start]
        old = (queue_stats(created, threshold=threshold), runner_usage(jobs, start=start, end=now))
        old_seconds = time.perf_counter() - began
        del jobs, created
        began = time.perf_counter()
        new = (
            await store.jobs.stats.queue_stats(ORG, None, start, threshold=threshold),
            await store.jobs.stats.runner_usage(ORG, None, start, now),
        )
        return old_seconds, time.perf_counter() - began, old == new
    finally:
        await store.close()


async def with_and_without_advice(url: str, now: datetime, figures: EngineFigures) -> None:
    """The reply's figures over the 30 days, computed here as the handler does, without
    the capacity advice and with it (the bounded read, then the replay in a thread)."""
    store = Store.open(url, migrate_now=False)
    try:
        start, threshold, stats = now - timedelta(days=30), timedelta(minutes=5), store.jobs.stats
        for _ in range(RUNS):
            for advice in (False, True):
                began = time.perf_counter()
                await stats.queue_stats(ORG, None, start, threshold=threshold)
                await stats.runner_usage(ORG, None, start, now)
                if advice:
                    rows = await stats.recent_rows(ORG, None, start, now)
                    found = await asyncio.to_thread(
                        estimate, runs_from_rows(rows), after=threshold, start=start, end=now
                    )
                    figures.replayed, figures.capped = found.replayed, bool(found.capped_since)
                    figures.with_advice.append(time.perf_counter() - began)
                else:
                    figures.without_advice.append(time.perf_counter() - began)
    finally:
        await store.close()


async def measure(
    engine: str,
    url: str,
    seed: Any,
    jobs: int,
    runs: int,
    acks: int,
    keys: Keys,
    *,
    shuffled: bool = False,
) -> EngineFigures:
    figures = EngineFigures(engine, jobs)
    now = datetime.now(UTC)
    await Store.open(url).close()  # the schema, before the bulk insert
    began = time.perf_counter()
    seed(generate(jobs, now, 30, random.Random(16), shuffled=shuffled))
    figures.seed_seconds = time.perf_counter() - began
    began = time.perf_counter()
    rollup(url)
    figures.rollup_seconds = time.perf_counter() - began
    async with (
        cluster(1, database_url=url, keys=keys, seed=seed_org, policy=PLATFORM_POLICY) as group,
        cluster(
            1,
            database_url=url,
            keys=keys,
            seed=seed_org,
            policy=PLATFORM_POLICY,
            app=WITHOUT_ADVICE,
        ) as bare,
    ):
        await one_at_a_time(group, bare, runs, figures)

        def urls(k: int, into: Cluster = group) -> list[str]:
            return [into.slack.new_response_url() for _ in range(k)]

        async def round_(stats: list[str], into: Cluster = group) -> dict[str, Any]:
            spec = {
                "url": into.views[0].url,
                "stats": stats,
                "stats_text": STATS,
                "others": urls(acks, into),
                "other_text": OTHER,
                "spacing": ACK_SPACING,
            }

            async def arrival(u: str) -> float:
                answer = await into.slack.next_reply(u, 600)
                if not whole(reply_text(answer), advice=into is group):  # the end says what
                    figures.problems.append(f"stats answered {reply_text(answer)[-300:]!r}")
                return time.time()

            waits = [asyncio.create_task(arrival(u)) for u in stats]
            env = {
                "PATH": os.environ.get("PATH", ""),
                "SLACK_SIGNING_SECRET": into.settings.slack_signing_secret,
            }
            sent = await run_module("tests.benchmarks.stats", ["send", json.dumps(spec)], env)
            arrived = await asyncio.gather(*waits)
            sent["arrived"] = arrived
            return sent

        idle = await round_([])
        figures.acks_idle = [seconds for _, _, seconds in idle["others"]]
        busy = await round_(urls(CONCURRENT))
        figures.acks_busy = [seconds for _, _, seconds in busy["others"]]
        figures.concurrent = [
            at - wall for (wall, _, _), at in zip(busy["stats"], busy["arrived"], strict=True)
        ]
        last = max(busy["arrived"])
        figures.acks_during = sum(wall < last for wall, _, _ in busy["others"])
        figures.statuses = sorted(
            {s for _, s, _ in idle["others"] + busy["others"] + busy["stats"]}
        )
        if figures.statuses != [200]:
            figures.problems.append(f"statuses {figures.statuses}")
        bare_busy = await round_(urls(CONCURRENT, bare), bare)  # the same, less the advice
        figures.acks_busy_without = [seconds for _, _, seconds in bare_busy["others"]]
    await with_and_without_advice(url, now, figures)
    figures.old_seconds, figures.new_seconds, figures.same_figures = await old_and_new(url, now)
    return figures


async def run(
    jobs: int, runs: int, acks: int, engines: list[str], *, shuffled: bool = False
) -> list[EngineFigures]:
    from tests.postgres import running_server

    keys = Keys.generate()
    results = []
    with tempfile.TemporaryDirectory(prefix="runnerops-stats-") as scratch:
        if "sqlite" in engines:
            path = f"{scratch}/runnerops.db"
            results.append(
                await measure(
                    "SQLite",
                    f"sqlite:///{path}",
                    lambda rows: seed_sqlite(path, rows),
                    jobs,
                    runs,
                    acks,
                    keys,
                    shuffled=shuffled,
                )
            )
        if "postgresql" in engines:
            with running_server() as server:
                name = server.create_database()
                url = server.url(name, scheme="postgresql")
                conninfo = url  # a libpq URI as it is
                results.append(
                    await measure(
                        "PostgreSQL",
                        url,
                        lambda rows: seed_postgres(conninfo, rows),
                        jobs,
                        runs,
                        acks,
                        keys,
                        shuffled=shuffled,
                    )
                )
    return results


def main() -> None:
    if sys.argv[1:2] == ["send"]:
        spec = json.loads(sys.argv[2])
        print(json.dumps(asyncio.run(send(spec, os.environ["SLACK_SIGNING_SECRET"]))))
        return
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.stats")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--acks", type=int, default=ACKS)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--shuffled",
        action="store_true",
        help="store the jobs in no order rather than as created (earlier runs' layout)",
    )
    args = parser.parse_args()
    command = " ".join(["python -m tests.benchmarks.stats", *sys.argv[1:]])
    print(
        f"$ {command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite"
        f" {sqlite3.sqlite_version}, all processes on one host over loopback\n",
        flush=True,
    )
    started = time.perf_counter()
    figures = asyncio.run(
        run(args.jobs, args.runs, args.acks, args.engines.split(","), shuffled=args.shuffled)
    )
    print(table(figures))
    for f in figures:
        for problem in f.problems:
            print(f"{f.engine}: {problem}")
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
