"""The capacity replay runs in a worker process of its own (bot/offload.py), with the
same answer as in this one, and stops at its deadline."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import pytest

from bot.offload import Offload, replay
from bot.watch import capacity
from bot.watch.capacity import Run, StoredRun

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


def _sqlite_rows() -> list[StoredRun]:
    """:func:`_runs` as SQLite's rows come: label JSON, fixed-width ISO text in UTC."""

    def text(moment: datetime) -> str:
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds")

    return [
        (json.dumps(list(r.labels)), text(r.created), text(r.started), text(r.completed), r.runner)
        for r in _runs()
    ]


def _postgresql_rows() -> list[StoredRun]:
    """:func:`_runs` as PostgreSQL's rows come: aware datetimes, here in the session's
    time zone (UTC+2), which the decoder brings back to UTC."""
    zone = timezone(timedelta(hours=2))
    return [
        (
            json.dumps(list(r.labels)),
            r.created.astimezone(zone),
            r.started.astimezone(zone),
            r.completed.astimezone(zone),
            r.runner,
        )
        for r in _runs()
    ]


@pytest.mark.parametrize("rows", [_sqlite_rows, _postgresql_rows], ids=["sqlite", "postgresql"])
def test_stored_rows_decode_to_the_runs(rows: Callable[[], list[StoredRun]]) -> None:
    decoded = capacity.runs_from_rows(rows())
    assert decoded == _runs()
    assert all(r.created.tzinfo is UTC for r in decoded)


@pytest.mark.parametrize("rows", [_sqlite_rows, _postgresql_rows], ids=["sqlite", "postgresql"])
async def test_the_replay_runs_in_another_process_with_the_same_answer(
    rows: Callable[[], list[StoredRun]],
) -> None:
    offload = Offload()
    try:
        end = T0 + timedelta(hours=1)
        far = time.monotonic() + 30
        there = await offload.replay(
            rows(), after=timedelta(minutes=5), start=T0, end=end, deadline=far
        )
        here = replay(rows(), after=timedelta(minutes=5), start=T0, end=end, deadline=far)
        assert there == here and there.advice  # the same figures, not an empty answer
        assert offload._pool is not None
        pid = await asyncio.get_running_loop().run_in_executor(offload._pool, os.getpid)
        assert pid != os.getpid()  # a process of its own, not a thread of this one
    finally:
        offload.close()


def test_a_deadline_already_past_stops_the_replay() -> None:
    found = replay(
        _sqlite_rows(),
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


async def test_advice_is_none_and_logged_when_its_read_fails_or_runs_out_of_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What ``stats`` and the digest get when the advice cannot be had: None, a log line
    naming it, and the reply goes on without it."""
    offload = Offload()
    end = T0 + timedelta(hours=1)
    advice = partial(offload.advice, after=timedelta(minutes=5), start=T0, end=end)

    async def failing() -> list[StoredRun]:
        raise RuntimeError("the database went away")

    async def hanging() -> list[StoredRun]:
        await asyncio.Event().wait()  # never set: cancelled at the deadline
        return []

    async def rows() -> list[StoredRun]:
        return _sqlite_rows()

    try:
        caplog.set_level("WARNING", logger="bot.offload")
        assert await advice(failing, seconds=30, what="advice of acme") is None
        assert "advice of acme failed: the database went away" in caplog.text
        assert await advice(hanging, seconds=0, what="advice of beta") is None
        assert "advice of beta: past its 0s deadline" in caplog.text
        found = await advice(rows, seconds=30, what="advice of gamma")
        assert found is not None and [a.suggested for a in found.advice.values()] == [4]
        assert "gamma" not in caplog.text
    finally:
        offload.close()
