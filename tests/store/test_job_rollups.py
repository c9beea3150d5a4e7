"""The roll-ups behind ``stats``, on both engines: each job counted once whatever order
and however often its reports arrive (and from several writers at once), the window's
partial first hour read from the jobs and its whole hours from the roll-ups, retention,
and the back-fill of a database that already holds jobs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from bot.store import Store, migrate
from bot.store.database import parse_database_url, sync_engine
from bot.store.deliveries import Delivery, DeliveryStore
from bot.store.jobs import job_row
from bot.store.schema import job_waits, jobs, runner_hours
from bot.watch.models import Job
from bot.watch.stats import QueueStats, RunnerUsage, queue_stats, runner_usage
from tests.conftest import Clock

H = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a whole hour
M = timedelta(minutes=1)
LIN = ("linux", "self-hosted")


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = Store.open(database_url, clock=clock)
    yield s
    await s.close()


def reports(
    job_id: int,
    *,
    created: datetime,
    waited: timedelta,
    ran: timedelta | None,
    runner: str = "r1",
    labels: tuple[str, ...] = LIN,
    repo: str = "acme/api",
) -> list[Job]:
    """A job's queued, in_progress and (if ``ran``) completed reports, as GitHub sends."""
    queued = Job(id=job_id, labels=labels, status="queued", repository=repo, created_at=created)
    started = created + waited
    running = replace(
        queued, status="in_progress", started_at=started, runner_name=runner, runner_id=7
    )
    if ran is None:
        return [queued, running]
    return [queued, running, replace(running, status="completed", completed_at=started + ran)]


async def sums(store: Store, target: str) -> tuple[int, int, int]:
    """(jobs in job_waits, runs started in runner_hours, busy microseconds) of a target,
    summed over its hours; its days must hold the same sums."""
    async with store.db.engine.connect() as conn:
        waits = (
            await conn.execute(
                sa.select(job_waits.c.span, sa.func.sum(job_waits.c.jobs))
                .where(job_waits.c.target_key == target)
                .group_by(job_waits.c.span)
            )
        ).all()
        runs = (
            await conn.execute(
                sa.select(
                    runner_hours.c.span,
                    sa.func.sum(runner_hours.c.starts),
                    sa.func.sum(runner_hours.c.busy_us),
                )
                .where(runner_hours.c.target_key == target)
                .group_by(runner_hours.c.span)
            )
        ).all()
    by_span = {int(span): int(n) for span, n in waits}
    assert set(by_span) <= {1, 24} and by_span.get(1) == by_span.get(24)
    usage = {int(span): (int(n), int(busy)) for span, n, busy in runs}
    assert set(usage) <= {1, 24} and usage.get(1) == usage.get(24)
    starts, busy = usage.get(1, (0, 0))
    return by_span.get(1, 0), starts, busy


async def reference(
    store: Store, start: datetime, end: datetime, threshold: timedelta
) -> tuple[object, object]:
    """The old path: every job of the window loaded and reduced by the pure functions."""
    loaded = [r.job for r in await store.jobs.since("acme", None, start)]
    created = [j for j in loaded if j.created_at is not None and j.created_at >= start]
    return (
        queue_stats(created, threshold=threshold),
        runner_usage(loaded, start=start, end=end),
    )


async def figures(
    store: Store, start: datetime, end: datetime, threshold: timedelta
) -> tuple[object, object]:
    return (
        await store.jobs.stats.queue_stats("acme", None, start, threshold=threshold),
        await store.jobs.stats.runner_usage("acme", None, start, end),
    )


async def test_redelivered_and_out_of_order_reports_count_once(store: Store, clock: Clock) -> None:
    deliveries = DeliveryStore(store.db, clock)
    now = datetime.fromtimestamp(clock(), UTC)
    one = reports(1, created=H + 5 * M, waited=2 * M, ran=30 * M)
    two = reports(2, created=H + 6 * M, waited=3 * M, ran=90 * M, runner="r2")
    three = reports(3, created=H + 7 * M, waited=M, ran=None)  # still running

    def batch(*jobs_: tuple[str, Job]) -> list[Delivery]:
        return [Delivery(key, job_row(job, now=now)) for key, job in jobs_]

    # Completed first, then in_progress, then queued; job 2's three reports in one batch
    # (the group commit's rounds); the same deliveries again (GitHub's redelivery, same
    # key), and the same reports under new keys (a resend).
    assert await deliveries.record(batch(("d1c", one[2]), ("d2q", two[0]))) == {"d1c", "d2q"}
    await deliveries.record(batch(("d1p", one[1]), ("d2p", two[1]), ("d2c", two[2])))
    await deliveries.record(batch(("d1q", one[0]), ("d3p", three[1]), ("d3q", three[0])))
    assert await deliveries.record(batch(("d1c", one[2]), ("d2c", two[2]))) == set()
    await deliveries.record(batch(("x1", one[2]), ("x2", two[1]), ("x3", three[1])))
    # The sweep's confirmations and ``why`` write through JobStore.record.
    for job in (one[2], two[2], three[1], one[1]):
        await store.jobs.record(job)

    # Three jobs started, each counted once under the organization and the repository;
    # two runs finished (30 and 90 minutes; job 3 runs on, read from its row).
    busy = (30 + 90) * 60 * 1_000_000
    assert await sums(store, "acme") == (3, 2, busy)
    assert await sums(store, "acme/api") == (3, 2, busy)
    end = H + 3 * 60 * M
    assert await figures(store, H, end, 2 * M) == await reference(store, H, end, 2 * M)
    usage = await store.jobs.stats.runner_usage("acme", None, H, end)
    # r1: job 1's 30 minutes and job 3 running from 12:08 to the end (172 minutes)
    assert usage["r1"] == RunnerUsage("r1", 2, 202 * M, 1.0)
    assert usage["r2"] == RunnerUsage("r2", 1, 90 * M, 0.5)


async def test_concurrent_writers_count_each_job_once(store: Store, clock: Clock) -> None:
    """Four writers (on PostgreSQL, four transactions at once) each deliver every report
    of the same jobs, in their own order: each job is counted once."""
    now = datetime.fromtimestamp(clock(), UTC)
    every = [
        job
        for i in range(40)
        for job in reports(100 + i, created=H + i * M, waited=i % 7 * M, ran=(i % 5 + 1) * M)
    ]

    async def writer(n: int) -> None:
        deliveries = DeliveryStore(store.db, clock)
        mine = every[:]
        random.Random(n).shuffle(mine)
        for at in range(0, len(mine), 10):
            chunk = mine[at : at + 10]
            await deliveries.record(
                [Delivery(f"w{n}-{at + k}", job_row(j, now=now)) for k, j in enumerate(chunk)]
            )

    await asyncio.gather(*(writer(n) for n in range(4)))
    busy = sum((i % 5 + 1) * 60 * 1_000_000 for i in range(40))
    assert await sums(store, "acme") == (40, 40, busy)
    end = H + 2 * 60 * M
    assert await figures(store, H + 90 * M / 7, end, 3 * M) == await reference(
        store, H + 90 * M / 7, end, 3 * M
    )


async def test_the_partial_first_hour_comes_from_the_jobs_and_whole_hours_from_the_rollups(
    store: Store,
) -> None:
    start, end = H + 20 * M, H + 130 * M  # 12:20 to 14:10: whole hour 13:00-14:00
    for job_id, created, waited, ran, runner in [
        (1, H + 10 * M, M, M, "x"),  # created 12:10, ran 12:11-12:12: before the window
        (2, H + 30 * M, 2 * M, 28 * M, "a"),  # partial first hour; runs 12:32-13:00
        (3, H + 65 * M, 3 * M, 2 * M, "a"),  # whole hour; runs 13:08-13:10
        (4, H - 10 * M, 0 * M, 50 * M, "b"),  # runs 11:50-12:40, into the window
        (5, H + 100 * M, 10 * M, 30 * M, "b"),  # runs 13:50-14:20, past the end
        (6, H + 125 * M, 0 * M, None, "c"),  # running since 14:05
        (7, H - 60 * M, 0 * M, 70 * M, "d"),  # runs 11:00-12:10: over before the window
        (8, H + 130 * M, 0 * M, 10 * M, "e"),  # starts at the end: not counted
    ]:
        for job in reports(job_id, created=created, waited=waited, ran=ran, runner=runner):
            await store.jobs.record(job)
    await store.jobs.record(Job(9, LIN, "queued", "acme/api", created_at=H + 70 * M))

    expected_queue = {
        # waits 2m (partial hour), 3m, 10m, 0 (whole and last hours), and job 8's 0;
        # nearest rank of 0, 0, 2, 3, 10: p50 the 3rd, p95 the 5th; 2 of 5 reached 3m
        LIN: QueueStats(LIN, 5, 2 * M, 10 * M, 10 * M, 2, 0.4, unstarted=1),
    }
    expected_usage = {
        "a": RunnerUsage("a", 2, 30 * M, 30 / 110),  # 28 + 2 minutes
        "b": RunnerUsage("b", 2, 40 * M, 40 / 110),  # 20 (12:20-12:40) + 20 (13:50-14:10)
        "c": RunnerUsage("c", 1, 5 * M, 5 / 110),  # running: 14:05 to the end
    }
    assert await figures(store, start, end, 3 * M) == (expected_queue, expected_usage)
    assert await figures(store, start, end, 3 * M) == await reference(store, start, end, 3 * M)

    # The whole hour is read from the roll-ups: without job 3's row it still counts; the
    # partial first hour is read from the jobs: without job 2's row it does not.
    async with store.db.engine.begin() as conn:
        await conn.execute(jobs.delete().where(jobs.c.id.in_([2, 3])))
    queues, usage = await figures(store, start, end, 3 * M)
    assert isinstance(queues, dict) and isinstance(usage, dict)
    assert queues[LIN].count == 4 and queues[LIN].over == 2  # 0, 0, 3 and 10 minutes
    assert usage["a"] == RunnerUsage("a", 1, 2 * M, 2 / 110)


async def test_days_hours_and_edges_together_match_the_reference(
    store: Store, clock: Clock
) -> None:
    """A four-day history with runs of up to 30 hours, read over windows whose ends fall
    anywhere: whole days, the whole hours around them and the partial hours together
    give the old path's figures."""
    rng = random.Random(16)
    deliveries = DeliveryStore(store.db, clock)
    now = datetime.fromtimestamp(clock(), UTC)
    first_day = datetime(2027, 3, 1, tzinfo=UTC)
    batch: list[Delivery] = []
    for i in range(300):
        created = first_day + timedelta(seconds=rng.randint(0, 4 * 86_400))
        created += timedelta(microseconds=rng.choice([0, rng.randint(0, 999_999)]))
        waited = timedelta(seconds=rng.choice([0, rng.randint(0, 900)]))
        ran = rng.choice([None, timedelta(0), timedelta(seconds=rng.randint(1, 30 * 3600))])
        labels = rng.choice([LIN, ("gpu", "self-hosted"), ("ubuntu-latest",)])
        runner = rng.choice(["a", "b", "Zed"])
        job = reports(i + 1, created=created, waited=waited, ran=ran, runner=runner, labels=labels)
        if rng.random() < 0.1:
            job = job[:1]  # never started
        for n, report in enumerate(job):
            batch.append(Delivery(f"d{i}-{n}", job_row(report, now=now)))
    rng.shuffle(batch)
    for at in range(0, len(batch), 50):
        await deliveries.record(batch[at : at + 50])
    for _ in range(6):
        start = first_day + timedelta(seconds=rng.randint(-3600, 3 * 86_400))
        start += timedelta(microseconds=rng.choice([0, rng.randint(0, 999_999)]))
        end = start + timedelta(seconds=rng.randint(1, 3 * 86_400))
        threshold = timedelta(seconds=rng.randint(1, 600))
        assert await figures(store, start, end, threshold) == await reference(
            store, start, end, threshold
        )
    aligned = first_day + timedelta(days=1)  # a window of exactly whole days
    assert await figures(store, aligned, aligned + timedelta(days=2), M) == await reference(
        store, aligned, aligned + timedelta(days=2), M
    )


async def test_retention_prunes_the_rollups_with_the_jobs(database_url: str, clock: Clock) -> None:
    store = Store.open(database_url, clock=clock, job_retention_days=90)
    try:
        now = datetime.fromtimestamp(clock(), UTC)
        for job_id, age in ((1, timedelta(days=100)), (2, timedelta(days=1))):
            for job in reports(job_id, created=now - age, waited=M, ran=M):
                await store.jobs.record(job)
        assert (await sums(store, "acme"))[0] == 2
        await store.maintain()
        assert await sums(store, "acme") == (1, 1, 60_000_000)
        queues = await store.jobs.stats.queue_stats(
            "acme", None, now - timedelta(days=200), threshold=M
        )
        assert queues[LIN].count == 1
        async with store.db.engine.connect() as conn:
            oldest = (await conn.execute(sa.select(sa.func.min(job_waits.c.hour)))).scalar_one()
        assert oldest >= now - timedelta(days=90)
    finally:
        await store.close()


def test_the_migration_rolls_up_the_jobs_already_stored(database_url: str, clock: Clock) -> None:
    """A database at 0006 with a history: after the upgrade the figures are the old
    path's, and the jobs already counted are not counted again by later reports."""
    url = parse_database_url(database_url)
    engine = sync_engine(url)
    config = migrate._config()
    now = datetime.fromtimestamp(clock(), UTC)
    rng = random.Random(7)
    history = []
    for i in range(120):
        created = H - timedelta(seconds=rng.randint(0, 6 * 3600))
        ran = rng.choice([None, timedelta(seconds=rng.randint(0, 7200))])
        waited = timedelta(seconds=rng.randint(0, 600), microseconds=rng.randint(0, 999_999))
        labels = rng.choice([LIN, ("gpu",), tuple(f"label-{n:03d}-{'x' * 90}" for n in range(30))])
        runner = rng.choice(["a", "b", "c"])
        history.append(
            reports(i + 1, created=created, waited=waited, ran=ran, runner=runner, labels=labels)
        )
    rows = [job_row(job[rng.randrange(len(job))], now=now) for job in history]
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0006")
            conn.execute(jobs.insert(), rows)  # without the columns 0007 adds
    finally:
        engine.dispose()
    assert migrate.upgrade(url) == migrate.head()

    async def check() -> None:
        store = Store.open(database_url, clock=clock)
        try:
            started = sum(1 for r in rows if r["started_at"] is not None)
            finished = sum(1 for r in rows if r["completed_at"] is not None)
            waits, starts, _ = await sums(store, "acme")
            assert (waits, starts) == (started, finished)
            start, end = H - 4 * 60 * M - 17 * M, H + 3 * 60 * M
            assert await figures(store, start, end, 5 * M) == await reference(
                store, start, end, 5 * M
            )
            for job in history:  # every report again: only what newly started or ended
                for report in job:
                    await store.jobs.record(report)
            waits, starts, _ = await sums(store, "acme")
            assert (waits, starts) == (120, sum(1 for job in history if len(job) == 3))
            assert await figures(store, start, end, 5 * M) == await reference(
                store, start, end, 5 * M
            )
        finally:
            await store.close()

    asyncio.run(check())
