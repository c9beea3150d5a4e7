"""Ingestion at fleet scale: ``python -m tests.benchmarks.ingest``.

Signed ``workflow_job`` deliveries (about 8 KB each; every job's queued, then in_progress,
then completed) are sent from a process of their own (``tests/benchmarks/ingest_send.py``)
to runnerops alone in its own process (``uvicorn app:app``, as the Procfile starts it), on
SQLite and on a throwaway PostgreSQL (``tests/postgres.py``, run with ``fsync`` on, as a
real server is), at 20 and at 100 in flight; and, side by side in the same run, to a bare
Starlette receiver in a process of its own (``tests/benchmarks/ingest_bare.py``) that only
reads the body, checks the HMAC and parses the JSON. For each: deliveries a second, p50
and p99 from send to answer, the ratio to the bare receiver. Then a burst of 5,000
deliveries sent at once, 100 in flight: how many were answered 2xx, and the slowest answer
(GitHub gives a delivery 10 s). After each run the database is read: every job must be
stored, as completed.

Nothing here asserts on time: ``tests/test_ingest_benchmark.py`` runs the same functions at
a tiny size and checks only that the figures are well formed and the jobs stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.sandbox.harness import Keys
from bot.sandbox.processes import ROOT, Process, cluster
from bot.store.database import parse_database_url, sync_engine
from tests.benchmarks.burst import allow_open_files
from tests.benchmarks.fleet import run_module
from tests.benchmarks.ingest_send import ORG as SENDER_ORG
from tests.postgres import PostgresServer, running_server

CONCURRENCIES = (20, 100)
DELIVERIES = 3000  # a run at each concurrency
BURST = 5000
BURST_CONCURRENCY = 100
GITHUB_TIMEOUT = 10.0  # GitHub gives up on a delivery not answered within this


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Run:
    """One sender run against one receiver."""

    receiver: str  # "runnerops" or "bare"
    concurrency: int
    deliveries: int
    seconds: float
    statuses: dict[str, int]
    latencies: list[float]
    stored: int | None = None  # jobs of the run stored as completed (runnerops only)
    jobs: int = 0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else math.nan

    @property
    def answered_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def correct(self) -> bool:
        whole = self.answered_2xx == self.deliveries == len(self.latencies)
        return whole and (self.stored is None or self.stored == self.jobs)

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


@dataclass
class EngineFigures:
    engine: str
    runs: list[tuple[Run, Run]]  # (runnerops, bare) per concurrency
    burst: Run

    def summary(self) -> str:
        lines = [
            f"{self.engine}",
            f"  {'':22} {'deliveries/s':>12} {'p50':>8} {'p99':>8} {'max':>8} "
            f"{'of bare':>8}  answers; jobs stored completed",
        ]
        for ours, bare in self.runs:
            for run in (ours, bare):
                ratio = f"{ours.rate / bare.rate:7.0%}" if run is ours else ""
                stored = "" if run.stored is None else f"; {run.stored}/{run.jobs}"
                lines.append(
                    f"  {run.receiver + f', {run.concurrency} in flight':22} "
                    f"{run.rate:12,.0f} {run.p(50) * 1000:6.0f}ms {run.p(99) * 1000:6.0f}ms "
                    f"{max(run.latencies, default=math.nan) * 1000:6.0f}ms {ratio:>8}  "
                    f"{run.statuses}{stored}"
                )
        b = self.burst
        slowest = max(b.latencies, default=math.nan)
        lines.append(
            f"  burst of {b.deliveries:,} at once, {b.concurrency} in flight: "
            f"{b.answered_2xx:,}/{b.deliveries:,} answered 2xx, slowest {slowest:.2f} s "
            f"({sum(s <= GITHUB_TIMEOUT for s in b.latencies):,} within "
            f"{GITHUB_TIMEOUT:.0f} s), all in {b.seconds:.2f} s = {b.rate:,.0f}/s; "
            f"jobs stored completed {b.stored}/{b.jobs}"
        )
        return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn_bare(secret: str, log: Path, port: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "tests.benchmarks.ingest_bare:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
            ],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "GITHUB_WEBHOOK_SECRET": secret},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextlib.asynccontextmanager
async def bare_receiver(secret: str) -> AsyncIterator[str]:
    """``uvicorn tests.benchmarks.ingest_bare:app`` in a process of its own; its URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="runnerops-bare-") as logs:
        log = Path(logs) / "bare.log"
        popen = _spawn_bare(secret, log, port)
        process = Process(f"http://127.0.0.1:{port}", popen, log)
        try:
            await process.wait_for_log("Uvicorn running on", timeout=60)
            yield process.url
        finally:
            popen.terminate()
            await asyncio.to_thread(popen.wait, 30)


async def send(
    receiver: str, url: str, secret: str, n: int, concurrency: int, first_id: int
) -> Run:
    env = {"PATH": os.environ.get("PATH", ""), "GITHUB_WEBHOOK_SECRET": secret}
    out = await run_module(
        "tests.benchmarks.ingest_send", [url, str(n), str(concurrency), str(first_id)], env
    )
    return Run(receiver, concurrency, n, out["seconds"], out["statuses"], out["latencies"])


def stored_completed(database_url: str, first_id: int, jobs: int) -> int:
    """Jobs with ids ``first_id`` … stored as completed, read straight from the database."""
    engine = sync_engine(parse_database_url(database_url))
    try:
        with engine.connect() as conn:
            query = sa.text(
                "SELECT count(*) FROM jobs WHERE status = 'completed' AND id >= :a AND id < :b"
            )
            return int(conn.execute(query, {"a": first_id, "b": first_id + jobs}).scalar_one())
    finally:
        engine.dispose()


async def measure(
    engine: str,
    database_url: str,
    keys: Keys,
    *,
    deliveries: int = DELIVERIES,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    burst: int = BURST,
    burst_concurrency: int = BURST_CONCURRENCY,
) -> EngineFigures:
    """Every figure of one engine, runnerops and the bare receiver side by side."""
    allow_open_files(max(*concurrencies, burst_concurrency))
    next_id = 6_000_000_000

    async def ours(url: str, n: int, concurrency: int) -> Run:
        nonlocal next_id
        first, next_id = next_id, next_id + n
        run = await send("runnerops", url, secret, n, concurrency, first)
        # Every job's queued and in_progress are sent, then as many completed as fit in n.
        run.jobs = n - 2 * math.ceil(n / 3)
        run.stored = await asyncio.to_thread(stored_completed, database_url, first, run.jobs)
        return run

    # The deliveries come from the sender's own organization: the one account served.
    async with cluster(
        1, database_url=database_url, keys=keys, github_allowed_accounts=(SENDER_ORG,)
    ) as group:
        secret = group.settings.github_webhook_secret
        url = group.views[0].url
        async with bare_receiver(secret) as bare_url:
            await ours(url, 30, 5)  # warm: connections pooled, statements compiled
            await send("bare", bare_url, secret, 30, 5, 1)
            runs = []
            for concurrency in concurrencies:
                bare = await send("bare", bare_url, secret, deliveries, concurrency, 1)
                runs.append((await ours(url, deliveries, concurrency), bare))
        figures = EngineFigures(engine, runs, await ours(url, burst, burst_concurrency))
    figures.burst.receiver = "runnerops burst"
    return figures


@contextlib.contextmanager
def durable_postgres(fsync: bool) -> Iterator[PostgresServer]:
    """A throwaway cluster as the tests start one, with ``fsync`` as a real server has it
    (the tests turn it off for speed; a commit here waits for the disk)."""
    with running_server() as server:
        if fsync:
            server.stop()
            server.options = server.options.replace("-c fsync=off", "-c fsync=on")
            server.start()
        yield server


async def run(deliveries: int, burst: int, engines: list[str], fsync: bool) -> None:
    keys = Keys.generate()
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory(prefix="runnerops-ingest-") as scratch:
            figures = await measure(
                "SQLite",
                f"sqlite:///{scratch}/runnerops.db",
                keys,
                deliveries=deliveries,
                burst=burst,
            )
        print(figures.summary() + "\n", flush=True)
    if "postgresql" in engines:
        with durable_postgres(fsync) as server:
            name = server.create_database()
            figures = await measure(
                f"PostgreSQL (throwaway server on loopback, fsync={'on' if fsync else 'off'})",
                server.url(name, scheme="postgres"),
                keys,
                deliveries=deliveries,
                burst=burst,
            )
        print(figures.summary() + "\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.ingest")
    parser.add_argument("--deliveries", type=int, default=DELIVERIES, help="per measured run")
    parser.add_argument("--burst", type=int, default=BURST, help="deliveries sent at once")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--pg-fsync", choices=["on", "off"], default="on")
    args = parser.parse_args()
    command = " ".join(["python -m tests.benchmarks.ingest", *sys.argv[1:]])
    print(
        f"$ {command}\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, all processes on one "
        "host over loopback\n",
        flush=True,
    )
    started = time.perf_counter()
    engines = args.engine or ["sqlite", "postgresql"]
    asyncio.run(run(args.deliveries, args.burst, engines, args.pg_fsync == "on"))
    print(f"(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
