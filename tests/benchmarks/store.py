"""How fast the store is on each engine: ``python -m tests.benchmarks.store [SECONDS]``.

Prints, from one run, side by side:
- audit writes per second on SQLite and on PostgreSQL, from one process and from two
  processes writing at once (each write its own transaction, 16 concurrent per process,
  as concurrent commands make them);
- the latency of the "once" check a command's handler pays (one atomic upsert) on each
  engine, p50 and p99 in ms. It runs after the ack, so the ack itself pays nothing.

A throwaway PostgreSQL is started (initdb + pg_ctl on loopback), as in the tests.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

from bot.store import Store
from bot.store.audit import AuditEntry
from tests.postgres import running_server

CONCURRENCY = 16


async def _writes(url: str, seconds: float) -> int:
    store = Store.open(url, migrate_now=False)
    done = 0
    stop = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await store.audit.record(
                AuditEntry(datetime.now(UTC), f"U{n}", "bench", "token", "acme", "issued")
            )
            done += 1

    await asyncio.gather(*(writer(n) for n in range(CONCURRENCY)))
    await store.close()
    return done


def _process(url: str, seconds: float, queue: multiprocessing.Queue[int]) -> None:
    queue.put(asyncio.run(_writes(url, seconds)))


def writes_per_second(url: str, processes: int, seconds: float) -> float:
    if processes == 1:
        return asyncio.run(_writes(url, seconds)) / seconds
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_process, args=(url, seconds, queue))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    total = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


async def _once_latency(url: str, n: int = 500) -> tuple[float, float]:
    store = Store.open(url, migrate_now=False)
    times = []
    for i in range(n):
        started = time.perf_counter()
        await store.once.first(f"command:bench-{i}-{time.time_ns()}")
        times.append((time.perf_counter() - started) * 1000)
    await store.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main(seconds: float = 3.0) -> None:
    with tempfile.TemporaryDirectory() as scratch, running_server() as pg:
        urls = {
            "SQLite": f"sqlite:///{scratch}/bench.db",
            "PostgreSQL": pg.url(pg.create_database(), scheme="postgres"),
        }
        for url in urls.values():
            Store.open(url)  # migrate once, before the clock starts
        print(f"store benchmark: {seconds:.0f} s per figure, {CONCURRENCY} writers per process")
        for engine, url in urls.items():
            one = writes_per_second(url, 1, seconds)
            two = writes_per_second(url, 2, seconds)
            p50, p99 = asyncio.run(_once_latency(url))
            print(
                f"  {engine:<10} audit writes/s: one process {one:,.0f}, two processes {two:,.0f};"
                f" once-check p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
