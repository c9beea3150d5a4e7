"""Ghost jobs and job retention on both engines: a job GitHub no longer knows is closed,
one still open past GitHub's 24-hour limit is closed by the background maintenance, the
queued-jobs metric counts only open jobs, and job rows go after JOB_RETENTION_DAYS
whatever their status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store
from bot.watch.models import Job
from tests.conftest import Clock

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = Store.open(database_url, clock=clock, job_retention_days=90)
    yield s
    await s.close()


def now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


async def queued(store: Store, clock: Clock, job_id: int, *, age: timedelta) -> None:
    job = Job(
        id=job_id,
        labels=("self-hosted", "gpu"),
        status="queued",
        repository="acme/api",
        created_at=now(clock) - age,
    )
    assert await store.jobs.record(job) is not None


async def test_a_gone_job_leaves_the_open_jobs_and_the_metric(store: Store, clock: Clock) -> None:
    await queued(store, clock, 1, age=timedelta(minutes=10))
    await queued(store, clock, 2, age=timedelta(minutes=10))
    await store.jobs.gone(1)
    assert [r.job.id for r in await store.jobs.open_jobs("acme")] == [2]
    assert len(await store.jobs.queued_now()) == 1
    gone = await store.jobs.get(1)
    assert gone is not None and gone.job.status == "gone" and gone.confirmed_at is not None


async def test_a_late_queued_delivery_does_not_reopen_a_gone_job(
    store: Store, clock: Clock
) -> None:
    await queued(store, clock, 1, age=timedelta(minutes=10))
    await store.jobs.gone(1)
    await queued(store, clock, 1, age=timedelta(minutes=10))  # a late queued redelivery
    record = await store.jobs.get(1)
    assert record is not None and record.job.status == "gone"


async def test_ghosts_past_24_hours_are_closed_by_maintenance(store: Store, clock: Clock) -> None:
    await queued(store, clock, 1, age=timedelta(hours=26))  # GitHub terminated it long ago
    await queued(store, clock, 2, age=timedelta(hours=23))
    # The metric leaves the ghost out at once, the open jobs once maintenance closed it.
    assert len(await store.jobs.queued_now()) == 1
    assert len(await store.jobs.open_jobs("acme")) == 2
    await store.maintain()
    assert [r.job.id for r in await store.jobs.open_jobs("acme")] == [2]
    ghost = await store.jobs.get(1)
    assert ghost is not None and ghost.job.status == "gone"


async def test_job_rows_go_after_job_retention_days_whatever_their_status(
    store: Store, clock: Clock
) -> None:
    await queued(store, clock, 1, age=timedelta(hours=1))  # never finished
    done = Job(
        id=2,
        labels=("self-hosted",),
        status="completed",
        repository="acme/api",
        created_at=now(clock),
        started_at=now(clock),
        completed_at=now(clock),
        runner_id=5,
    )
    await store.jobs.record(done)
    clock.advance(89 * DAY)
    await store.maintain()
    assert await store.jobs.get(1) is not None and await store.jobs.get(2) is not None
    clock.advance(2 * DAY)
    await queued(store, clock, 3, age=timedelta(hours=1))  # recent: kept
    await store.maintain()
    assert await store.jobs.get(1) is None and await store.jobs.get(2) is None
    assert await store.jobs.get(3) is not None
