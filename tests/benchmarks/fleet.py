"""Fast at fleet scale: listing, re-listing, rendering and acknowledging, in one run.

``python -m tests.benchmarks.fleet`` prints, side by side and from the same run:

1. a 10,000-runner organization listed with GitHub answering each page after 50 ms, one
   page at a time (``page_concurrency=1``) and with the default parallelism: wall time,
   their ratio, and the GitHub requests each used; then the same listing again while the
   ETags are fresh: its time, how many pages GitHub answered 304, and what it cost against
   the primary rate limit (a 304 costs nothing). The client runs alone in a process
   (``tests/benchmarks/list_process.py pages``), the GitHub double in this one;
2. the ``list`` reply of 10,000 and of 50,000 runners, each fetched and rendered in a fresh
   process that builds the service as ``uvicorn app:app`` does (its imports, the real
   Services; ``tests/benchmarks/list_process.py``): render CPU time and the process's RSS;
3. the ack latency of 1,000 signed commands while GitHub takes 2 s per runner list, with
   runnerops alone in its own process (``uvicorn app:app``) and the commands sent from
   another (``tests/benchmarks/load.py``), so neither the load nor the doubles share the
   service's event loop.

Nothing here asserts on time: ``tests/test_fleet_benchmark.py`` runs the same functions
at a small size and checks only that the answers are right.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from bot.github.client import PAGE_CONCURRENCY, PER_PAGE
from bot.sandbox.fleet import seed_generated
from bot.sandbox.harness import Keys, Sandbox, reply_text
from bot.sandbox.processes import ROOT, cluster, settings_env
from tests.benchmarks.burst import (
    GITHUB_DELAY,
    SLACK_ACK_LIMIT,
    SLOW_PATHS,
    allow_open_files,
    command_for,
    seed_burst,
)
from tests.benchmarks.list_process import RENDERS, ids_digest

PAGE_DELAY = 0.05  # seconds the double takes to answer each page of the listing
ORG = "fleet"


# -- runnerops' client in a process of its own ---------------------------------------


async def in_process(sb: Sandbox, mode: str, org: str) -> dict[str, Any]:
    """What ``python -m tests.benchmarks.list_process MODE ORG`` prints, against ``sb``'s
    GitHub double (served from this process), with the service's environment and a
    database of its own."""
    with tempfile.TemporaryDirectory(prefix="runnerops-list-") as scratch:
        env = {
            "PATH": os.environ.get("PATH", ""),
            **settings_env(sb.settings, sb.github),
            "DATABASE_URL": f"sqlite:///{scratch}/runnerops.db",
        }
        return await run_module("tests.benchmarks.list_process", [mode, org], env)


async def run_module(module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m MODULE ARGS`` in its own process; the JSON of its last line."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", module, *args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        name = module.rsplit(".", 1)[-1]
        raise RuntimeError(f"{name} failed: {err.decode(errors='replace')[-2000:]}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


def seeded_ids(sb: Sandbox, org: str) -> str:
    """The fingerprint of ``org``'s runner ids in GitHub's order, from the double."""
    return ids_digest([r["id"] for r in sb.github.runners(f"/orgs/{org}")])


def whole(run: dict[str, Any], n: int, ids: str) -> bool:
    """Every runner listed, once, in GitHub's order, and nothing said to be missing."""
    return bool(run["runners"] == run["unique"] == n and run["ids"] == ids and run["complete"])


# -- 1. listing ----------------------------------------------------------------------


@dataclass
class ListingFigures:
    n: int
    delay: float
    runs: dict[str, dict[str, Any]]  # sequential, parallel, again: what the client saw
    ids: str  # what every run should have listed
    github_requests: int  # runner-list GETs the double received over the three runs
    github_304s: int  # of which it answered 304

    @property
    def ratio(self) -> float:
        return float(self.runs["sequential"]["seconds"] / self.runs["parallel"]["seconds"])

    @property
    def correct(self) -> bool:
        return all(whole(run, self.n, self.ids) for run in self.runs.values())

    def summary(self) -> str:
        pages = math.ceil(self.n / PER_PAGE)
        names = {
            "sequential": "one page at a time (page_concurrency=1)",
            "parallel": f"{PAGE_CONCURRENCY} pages at a time (the default)",
            "again": "the default again, ETags fresh",
        }
        lines = [
            f"listing {self.n:,} runners ({pages} pages of {PER_PAGE}), GitHub answering "
            f"each page after {self.delay * 1000:.0f} ms; runnerops' client alone in a "
            "process, the GitHub double in another",
            f"  {'':42} {'wall':>8} {'requests':>9} {'304s':>5} {'rate-limit cost':>16}",
        ]
        for key, name in names.items():
            run = self.runs[key]
            lines.append(
                f"  {name:42} {run['seconds']:7.2f}s {run['requests']:9} "
                f"{run['not_modified']:5} {run['rate_cost']:16}"
            )
        lines += [
            f"  parallel vs sequential: {self.ratio:.1f}x faster",
            f"  the double counted {self.github_requests} runner-list requests, "
            f"{self.github_304s} answered 304",
            f"  every listing: {self.n:,} runners, each once, in GitHub's order: "
            f"{'yes' if self.correct else 'NO'}",
        ]
        return "\n".join(lines)


async def compare_listing(sb: Sandbox, org: str, n: int, delay: float) -> ListingFigures:
    """List ``org`` (seeded with ``n`` runners) sequentially, in parallel, and again."""
    path = f"/orgs/{org}/actions/runners"
    seen = len(sb.github.requests)
    sb.github.add_fault("GET", path, delay=delay, times=None)
    try:
        runs = await in_process(sb, "pages", org)
    finally:
        sb.github.clear_faults()
    asked = [r for r in sb.github.requests[seen:] if r.path == path]
    return ListingFigures(
        n, delay, runs, seeded_ids(sb, org), len(asked), sum(r.status == 304 for r in asked)
    )


# -- 2. the reply, in a process of its own -------------------------------------------


@dataclass
class ReplyFigures:
    n: int
    measured: dict[str, Any]  # what list_process printed
    ids: str

    @property
    def correct(self) -> bool:
        return whole(self.measured, self.n, self.ids)

    def row(self) -> str:
        m = self.measured
        return (
            f"  {self.n:>7,} runners {m['listing_seconds']:7.2f}s "
            f"{m['render_cpu_seconds'] * 1000:9.1f} ms {m['peak_rss_mb']:8.0f} MB "
            f"{m['rss_mb']:8.0f} MB {m['rss_after_imports_mb']:8.0f} MB "
            f"{m['blocks']:6} {m['chars']:6,}  {'yes' if self.correct else 'NO'}"
        )


def reply_header() -> str:
    return (
        "list reply, each fleet fetched and rendered in a fresh service process (app.py's "
        "imports, the real Services; GitHub double "
        f"answering at once; render CPU: median of {RENDERS})\n"
        f"  {'':15} {'listing':>8} {'render CPU':>12} {'peak RSS':>11} {'RSS end':>11} "
        f"{'imports':>11} {'blocks':>6} {'chars':>6}  all listed once, in order"
    )


async def reply_in_process(sb: Sandbox, org: str, n: int) -> ReplyFigures:
    return ReplyFigures(n, await in_process(sb, "reply", org), seeded_ids(sb, org))


# -- 3. acks under load from another process -----------------------------------------


@dataclass
class AckFigures:
    n: int
    statuses: list[int]
    ack_seconds: list[float]
    replies: list[dict[str, Any] | None] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # replies that answer something else
    extra_replies: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.ack_seconds)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def lost(self) -> int:
        return sum(r is None for r in self.replies)

    def summary(self) -> str:
        under = sum(s < SLACK_ACK_LIMIT for s in self.ack_seconds)
        return "\n".join(
            [
                f"acks of {self.n:,} signed commands sent at once from a separate process, "
                f"GitHub answering runner lists after {GITHUB_DELAY:.0f} s, runnerops alone "
                "in its own process (uvicorn app:app)",
                f"  p50 {self.percentile(50) * 1000:.0f} ms, p99 "
                f"{self.percentile(99) * 1000:.0f} ms, max {max(self.ack_seconds) * 1000:.0f} "
                f"ms; {under}/{self.n} under {SLACK_ACK_LIMIT:.0f} s; statuses "
                f"{sorted(set(self.statuses))}",
                f"  replies: {self.n - self.lost} received, {self.lost} lost, "
                f"{self.extra_replies} duplicated, {len(self.wrong)} not their command's",
            ]
        )


async def acks_from_another_process(n: int, keys: Keys, reply_timeout: float = 60.0) -> AckFigures:
    allow_open_files(n)  # the service process inherits the raised limit
    with tempfile.TemporaryDirectory(prefix="runnerops-fleet-") as scratch:
        async with cluster(
            1, database_url=f"sqlite:///{scratch}/runnerops.db", keys=keys, seed=seed_burst
        ) as group:
            view = group.views[0]
            for target in ("acme", "acme/api"):  # installation ids and token, as in service
                await view.run(f"list {target}")
            for path in SLOW_PATHS:
                group.github.add_fault("GET", path, delay=GITHUB_DELAY, times=None)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "SLACK_SIGNING_SECRET": group.settings.slack_signing_secret,
                "RESPONSE_URL_BASE": group.slack.base_url + "/response",
            }
            sent = await run_module("tests.benchmarks.load", [view.url, str(n)], env)
            figures = AckFigures(n, sent["statuses"], sent["ack_seconds"])

            async def reply(url: str) -> dict[str, Any] | None:
                try:
                    return await group.slack.next_reply(url, reply_timeout)
                except TimeoutError:
                    return None

            urls = sent["response_urls"]
            figures.replies = list(await asyncio.gather(*(reply(u) for u in urls)))
            for i, answer in enumerate(figures.replies):
                text, fragments = command_for(i)
                shown = reply_text(answer) if answer is not None else ""
                if answer is not None and not all(f in shown for f in fragments):
                    figures.wrong.append(f"{text!r} was answered {shown[:100]!r}")
            figures.extra_replies = sum(group.slack.replies(u).qsize() for u in urls)
    return figures


# -- the run -------------------------------------------------------------------------


def seed_fleets(*sizes: int) -> Any:
    """One organization per size, ``fleet`` first: ``fleet``, ``fleet50000``..."""

    def seed(gh: Any) -> None:
        for i, size in enumerate(sizes):
            seed_generated(gh, ORG if i == 0 else f"{ORG}{size}", size)

    return seed


async def run(runners: int, big: int, commands: int) -> None:
    keys = Keys.generate()
    async with Sandbox.running(seed=seed_fleets(runners, big), keys=keys) as sb:
        listing = await compare_listing(sb, ORG, runners, PAGE_DELAY)
        print(listing.summary() + "\n", flush=True)
        replies = [
            await reply_in_process(sb, ORG, runners),
            await reply_in_process(sb, f"{ORG}{big}", big),
        ]
        print(reply_header())
        print("\n".join(r.row() for r in replies) + "\n", flush=True)
    acks = await acks_from_another_process(commands, keys)
    print(acks.summary(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.fleet")
    parser.add_argument("--runners", type=int, default=10_000, help="fleet listed both ways")
    parser.add_argument("--big", type=int, default=50_000, help="the larger fleet rendered")
    parser.add_argument("--commands", type=int, default=1_000, help="commands acknowledged")
    args = parser.parse_args()
    command = " ".join(["python -m tests.benchmarks.fleet", *sys.argv[1:]])
    print(
        f"$ {command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, all processes on one "
        "host over loopback\n",
        flush=True,
    )
    started = time.perf_counter()
    asyncio.run(run(args.runners, args.big, args.commands))
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
