"""The capacity replay runs in a worker process of its own (bot/offload.py), with the
same answer as in this one, and stops at its deadline."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from bot.offload import Offload, replay
from bot.watch import capacity
from bot.watch.capacity import Run

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def _runs() -> list[Run]:
    """Four 10-minute gpu jobs created a minute apart."""
    return [
        Run(
            ("gpu", "self-hosted"),
            T0 + timedelta(minutes=m),
            T0 + timedelta(minutes=m, seconds=5),
            T0 + timedelta(minutes=m + 10),
            f"g{m}",
        )
        for m in range(4)
    ]


async def test_the_replay_runs_in_another_process_with_the_same_answer() -> None:
    offload = Offload()
    try:
        end = T0 + timedelta(hours=1)
        far = time.monotonic() + 30
        there = await offload.replay(
            _runs(), after=timedelta(minutes=5), start=T0, end=end, deadline=far
        )
        here = replay(_runs(), after=timedelta(minutes=5), start=T0, end=end, deadline=far)
        assert there == here and there.advice  # the same figures, not an empty answer
        assert offload._pool is not None
        pid = await asyncio.get_running_loop().run_in_executor(offload._pool, os.getpid)
        assert pid != os.getpid()  # a process of its own, not a thread of this one
    finally:
        offload.close()


def test_a_deadline_already_past_stops_the_replay() -> None:
    found = replay(
        _runs(),
        after=timedelta(minutes=5),
        start=T0,
        end=T0 + timedelta(hours=1),
        deadline=time.monotonic() - 1,
    )
    direct = capacity.estimate(
        _runs(), after=timedelta(minutes=5), start=T0, end=T0 + timedelta(hours=1)
    )
    assert [a.suggested for a in direct.advice.values()] == [4]  # one runner per job
    assert [a.suggested for a in found.advice.values()] == [None]  # stopped: no suggestion
