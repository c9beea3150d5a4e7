"""CPU-heavy pure work (the capacity replay) in a worker process, off the service's GIL.

A replay of 5,000 jobs is tens of milliseconds of pure Python. In a thread it held the
GIL, and the event loop, which acknowledges everyone's commands within Slack's 3 s, got
it back only every few milliseconds: while 5 ``stats`` ran, other commands' acks reached
p99 187 ms against 8 ms without the replay. One worker process runs it instead, started
on first use by a fork server (never a fork of this process and its threads) and shut
down with the service. Its deadline is ``time.monotonic()``: CLOCK_MONOTONIC, the same
clock in both processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from bot.watch import capacity


def replay(
    rows: list[capacity.StoredRun],
    *,
    after: timedelta,
    start: datetime,
    end: datetime,
    deadline: float,
) -> capacity.Capacity:
    """:func:`bot.watch.capacity.estimate` of the rows the store read, decoded here,
    stopping at ``deadline`` (monotonic): what the worker process runs (a module-level
    function, so it is sent by name)."""
    return capacity.estimate(
        capacity.runs_from_rows(rows),
        after=after,
        start=start,
        end=end,
        expired=lambda: time.monotonic() > deadline,
    )


class Offload:
    """A one-worker process pool, started on first use."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def replay(
        self,
        rows: list[capacity.StoredRun],
        *,
        after: timedelta,
        start: datetime,
        end: datetime,
        deadline: float,
    ) -> capacity.Capacity:
        """The capacity advice of ``rows`` (as the store read them), computed in the
        worker process."""
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        # Sent as read, plain tuples of text and times, which pickle in C: pickling 5,000
        # slotted dataclasses (a Python-level ``__getstate__`` each) took a quarter of the
        # service's CPU during ``stats``, in the pool's feeder thread, under its GIL.
        work = partial(replay, rows, after=after, start=start, end=end, deadline=deadline)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        """Stop the worker; a replay still running is abandoned (it stops at its own
        deadline, seconds at most)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
