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
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from bot.watch import capacity

log = logging.getLogger(__name__)


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
        # One read and replay at a time per process: the worker is one process, and five
        # reads of 5,000 rows at once would hold the event loop between acknowledgements
        # while their rows are received and sent on.
        self._one_at_a_time = asyncio.Semaphore(1)

    async def advice(
        self,
        read: Callable[[], Awaitable[list[capacity.StoredRun]]],
        *,
        after: timedelta,
        start: datetime,
        end: datetime,
        seconds: float,
        what: str,
    ) -> capacity.Capacity | None:
        """The capacity advice of the rows ``read`` returns, or None when it could not be
        had within ``seconds`` (the wait for a turn included) or the read or the replay
        failed, logged as ``what``: what ``stats`` and the digest give, never holding
        their reply up for longer."""
        expires = time.monotonic() + seconds

        async def compute() -> capacity.Capacity:
            async with self._one_at_a_time:
                rows = await read()
                return await self.replay(rows, after=after, start=start, end=end, deadline=expires)

        task = asyncio.ensure_future(compute())
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:  # the caller gave up: nothing to wait for
            task.cancel()
            raise
        if not done:
            task.cancel()  # not awaited: a hung read unwinds on its own (bot/store/database.py)
            log.warning("%s: past its %ss deadline", what, seconds)
            return None
        error = task.exception()
        if error is not None:
            log.warning("%s failed: %s", what, error)
            return None
        return task.result()

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
