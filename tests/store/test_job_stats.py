"""``stats`` and the queue chart computed by the database, on both engines.

Table tests whose answers are worked out by hand (ties, label sets, the window's edges,
jobs still running), then random histories compared with bot/watch/stats.py's pure
functions over every job loaded (the old path, kept as the reference).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.store import Store
from bot.watch.capacity import MAX_REPLAYED, Run, runs_from_rows
from bot.watch.models import Job
from bot.watch.stats import QueueStats, RunnerUsage, daily_queue, queue_stats, runner_usage
from tests.conftest import Clock

T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)  # the window's start
END = T0 + timedelta(minutes=60)  # and end (now)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)
LIN = ("linux", "self-hosted")
GPU = ("gpu", "self-hosted")


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = Store.open(database_url, clock=clock)
    yield s
    await s.close()


class Jobs:
    """Stores jobs as deliveries would: queued, then started by a runner, then done."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.next_id = 1

    async def add(
        self,
        labels: tuple[str, ...] = LIN,
        *,
        created: datetime,
        waited: timedelta | None = None,
        ran: timedelta | None = None,
        runner: str | None = "r1",
        repo: str = "acme/api",
    ) -> Job:
        started = None if waited is None else created + waited
        done = None if started is None or ran is None else started + ran
        status = "queued" if started is None else "completed" if done else "in_progress"
        job = Job(
            id=self.next_id,
            labels=labels,
            status=status,
            repository=repo,
            created_at=created,
            started_at=started,
            completed_at=done,
            runner_name=runner if started is not None else None,
            runner_id=7 if started is not None and runner else None,
        )
        self.next_id += 1
        await self.store.jobs.record(job)
        return job


async def test_queue_stats_ties_label_sets_and_window_edges(store: Store) -> None:
    jobs = Jobs(store)
    for wait in (1, 2, 2, 2, 5):  # the first created exactly at the window's start
        created = T0 if wait == 1 else T0 + 10 * M
        await jobs.add(LIN, created=created, waited=wait * M, ran=M)
    await jobs.add(("Linux", "SELF-HOSTED"), created=T0 - US, waited=60 * M, ran=M)  # before
    for wait in (3 * M, 3 * M, 5 * M - US):
        await jobs.add(("GPU", "self-hosted"), created=T0 + M, waited=wait, ran=M)
    await jobs.add(GPU, created=T0 + 2 * M)  # still queued
    await jobs.add(GPU, created=T0 + 3 * M, waited=M)  # still running: waited 1m
    await jobs.add(("arm",), created=T0 + 4 * M, repo="acme/web")  # another repository

    org = await store.jobs.stats.queue_stats("ACME", None, T0, threshold=5 * M)
    assert org == {
        ("arm",): QueueStats(("arm",), 0, None, None, None, 0, 0.0, unstarted=1),
        # waits 1, 3, 3, 5m-1us: p50 is the 2nd (3m), p95 the 4th; none reached 5m
        GPU: QueueStats(GPU, 4, 3 * M, 5 * M - US, 5 * M - US, 0, 0.0, unstarted=1),
        # waits 1, 2, 2, 2, 5m: p50 the 3rd, p95 the 5th; one of five reached 5m
        LIN: QueueStats(LIN, 5, 2 * M, 5 * M, 5 * M, 1, 0.2),
    }
    assert list(org) == [("arm",), GPU, LIN]  # in label order, as the reply lists them
    repo = await store.jobs.stats.queue_stats("acme", "Acme/API", T0, threshold=2 * M)
    assert set(repo) == {GPU, LIN}
    assert repo[LIN].over == 4 and repo[LIN].share_over == 0.8  # >= 2m: inclusive
    assert await store.jobs.stats.queue_stats("other", None, T0, threshold=M) == {}


async def test_recent_runs_for_the_capacity_replay(store: Store) -> None:
    """Only finished self-hosted jobs created in the window come back, newest first, at
    most ``most`` of them, in the repository's scope when one is named."""
    jobs = Jobs(store)
    await jobs.add(LIN, created=T0 - US, waited=M, ran=M)  # before the window
    await jobs.add(LIN, created=T0, waited=M, ran=2 * M, runner="a")
    await jobs.add(("GPU", "Self-Hosted"), created=T0 + M, waited=0 * M, ran=3 * M, runner="b")
    await jobs.add(LIN, created=T0 + 2 * M, waited=M, ran=M, runner="c", repo="acme/web")
    await jobs.add(("ubuntu-latest",), created=T0 + 3 * M, waited=M, ran=M)  # hosted
    await jobs.add(LIN, created=T0 + 4 * M, waited=M)  # still running
    await jobs.add(LIN, created=T0 + 5 * M)  # still queued
    await jobs.add(LIN, created=END, waited=M, ran=M)  # at the window's end: after it
    await jobs.add(LIN, created=T0, waited=M, ran=M, repo="other/api")  # another owner

    def run(
        labels: tuple[str, ...], at: timedelta, waited: timedelta, ran: timedelta, runner: str
    ) -> Run:
        return Run(labels, T0 + at, T0 + at + waited, T0 + at + waited + ran, runner)

    async def recent_runs(owner: str, repo: str | None, most: int = MAX_REPLAYED) -> list[Run]:
        """The rows as this engine returns them, decoded as the worker decodes them."""
        return runs_from_rows(await store.jobs.stats.recent_rows(owner, repo, T0, END, most=most))

    web = run(LIN, 2 * M, M, M, "c")
    gpu = run(GPU, M, 0 * M, 3 * M, "b")
    first = run(LIN, 0 * M, M, 2 * M, "a")
    assert await recent_runs("Acme", None) == [web, gpu, first]
    assert await recent_runs("acme", None, most=2) == [web, gpu]
    assert await recent_runs("acme", "Acme/API") == [gpu, first]
    assert await recent_runs("nobody", None) == []


async def test_runner_usage_clipped_to_the_window(store: Store) -> None:
    jobs = Jobs(store)
    await jobs.add(created=T0 + 10 * M, waited=0 * M, ran=15 * M, runner="a")  # 15m inside
    await jobs.add(created=T0 - 10 * M, waited=0 * M, ran=20 * M, runner="a")  # 10m inside
    await jobs.add(created=T0 + 50 * M, waited=0 * M, runner="b")  # running: 10m to the end
    await jobs.add(created=T0 - 30 * M, waited=0 * M, ran=5 * M, runner="c")  # wholly before
    await jobs.add(created=T0 + M, waited=0 * M, ran=0 * M, runner="d")  # instant: no time
    await jobs.add(created=END, waited=0 * M, ran=5 * M, runner="e")  # starts at the end
    await jobs.add(created=T0 + M, waited=0 * M, ran=50 * M, runner="f", repo="acme/web")
    await jobs.add(created=T0 + M, runner="g")  # never started

    usage = await store.jobs.stats.runner_usage("acme", None, T0, END)
    assert usage == {
        "a": RunnerUsage("a", 2, 25 * M, 25 / 60),
        "b": RunnerUsage("b", 1, 10 * M, 10 / 60),
        "d": RunnerUsage("d", 1, timedelta(0), 0.0),
        "f": RunnerUsage("f", 1, 50 * M, 50 / 60),
    }
    assert set(await store.jobs.stats.runner_usage("acme", "acme/api", T0, END)) == {"a", "b", "d"}
    with pytest.raises(ValueError, match="window"):
        await store.jobs.stats.runner_usage("acme", None, END, T0)


async def test_daily_queue_per_day_and_label_set(store: Store) -> None:
    jobs = Jobs(store)
    day1 = datetime(2027, 1, 14, 10, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    for wait in (10, 30, 50):
        await jobs.add(GPU, created=day1, waited=timedelta(seconds=wait), ran=M)
    await jobs.add(GPU, created=day2, waited=timedelta(seconds=600), ran=M)
    await jobs.add(GPU, created=day2)  # still queued: no queue time yet
    await jobs.add(("linux",), created=day2, waited=timedelta(seconds=5))
    await jobs.add(("ubuntu-latest",), created=day2, waited=timedelta(seconds=9))  # hosted
    await jobs.add(GPU, created=day1 - timedelta(days=3), waited=M, ran=M)  # before

    points = await store.jobs.stats.daily_queue("acme", None, day1 - timedelta(hours=1))
    second = timedelta(seconds=1)
    assert points == [
        (date(2027, 1, 14), GPU, 30 * second, 50 * second),
        (date(2027, 1, 15), GPU, 600 * second, 600 * second),
        (date(2027, 1, 15), ("linux",), 5 * second, 5 * second),
    ]
    busiest = await store.jobs.stats.daily_queue(
        "acme", None, day1 - timedelta(hours=1), threshold_sets=1
    )
    assert {p[1] for p in busiest} == {GPU}


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_histories_match_the_reference(store: Store, seed: int) -> None:
    """Whatever the history, the database's figures are the pure functions' over every
    job of the window (what ``stats`` computed before)."""
    rng = random.Random(seed)
    jobs = Jobs(store)
    label_sets = [LIN, GPU, ("arm", "self-hosted"), ("ubuntu-latest",), ("big", "x")]
    for _ in range(250):
        created = T0 + timedelta(seconds=rng.randint(-3 * 3600, 3600))
        created += timedelta(microseconds=rng.choice([0, 0, rng.randint(0, 999_999)]))
        waited = rng.choice([None, timedelta(0), timedelta(seconds=rng.randint(0, 900))])
        ran = rng.choice([None, timedelta(0), timedelta(seconds=rng.randint(1, 5400))])
        await jobs.add(
            rng.choice(label_sets),
            created=created,
            waited=waited,
            ran=ran,
            runner=rng.choice(["a", "b", "Zed", "é", None]),
            repo=rng.choice(["acme/api", "acme/web"]),
        )
    for start in (T0, T0 - timedelta(hours=2), T0 + timedelta(seconds=1234, microseconds=5)):
        for repository in (None, "acme/web"):
            loaded = [r.job for r in await store.jobs.since("acme", repository, start)]
            created = [j for j in loaded if j.created_at is not None and j.created_at >= start]
            threshold = timedelta(seconds=rng.randint(1, 600))
            assert await store.jobs.stats.queue_stats(
                "acme", repository, start, threshold=threshold
            ) == queue_stats(created, threshold=threshold)
            assert await store.jobs.stats.runner_usage(
                "acme", repository, start, END
            ) == runner_usage(loaded, start=start, end=END)
            hosted = {
                r.job.id for r in await store.jobs.since("acme", repository, start) if r.hosted
            }
            self_hosted = [j for j in loaded if j.id not in hosted]
            assert await store.jobs.stats.daily_queue(
                "acme", repository, start, threshold_sets=2
            ) == daily_queue(self_hosted, threshold_sets=2)


@pytest.mark.parametrize("hour", [0, 3, 18, 23])
async def test_daily_chart_from_rollups_equals_the_jobs_at_day_edges(
    store: Store, hour: int
) -> None:
    """The Home tab's chart reads the roll-ups (days, hours, the jobs only at a partial
    hour and for those reaching into the window): its figures are those of the jobs
    themselves, around midnights, the window's start and the waits and runs crossing it."""
    jobs = Jobs(store)
    now = datetime(2027, 1, 20, hour, 17, 5, tzinfo=UTC)
    start = now - timedelta(days=7)
    midnight = datetime(2027, 1, 14, tzinfo=UTC)
    s = timedelta(seconds=1)
    times = [
        start - US,
        start,
        start + US,
        start - 2 * timedelta(hours=1),
        start + 59 * M,
        midnight - US,
        midnight,
        midnight + timedelta(days=1) - US,
        midnight + timedelta(days=2),
        now - M,
    ]
    for i, created in enumerate(times):
        for labels in (LIN, GPU, ("ubuntu-latest",)):
            await jobs.add(labels, created=created, waited=(i + 1) * 7 * s, ran=(i + 2) * M)
    # before the window: waited into it, ran across it, still running, ended before it
    await jobs.add(GPU, created=start - timedelta(hours=20), waited=timedelta(hours=20, minutes=1))
    await jobs.add(LIN, created=start - timedelta(hours=3), waited=M, ran=timedelta(hours=4))
    await jobs.add(LIN, created=start - timedelta(days=2), waited=M)
    await jobs.add(GPU, created=start - timedelta(hours=2), waited=M, ran=M)
    await jobs.add(LIN, created=start - M, waited=2 * M, ran=M, runner=None)
    await jobs.add(GPU, created=start + M)  # still queued: no queue time
    await jobs.add(LIN, created=start + M, waited=M, repo="other/x")  # another owner
    for repository in (None, "acme/api"):
        loaded = [r for r in await store.jobs.since("acme", repository, start)]
        self_hosted = [r.job for r in loaded if not r.hosted]
        for sets in (1, 6):
            chart = await store.jobs.stats.daily_queue(
                "acme", repository, start, threshold_sets=sets
            )
            assert chart == daily_queue(self_hosted, threshold_sets=sets)
            assert {labels for _, labels, _, _ in chart} <= {LIN, GPU}
    days = {day for day, _, _, _ in await store.jobs.stats.daily_queue("acme", None, start)}
    assert date(2027, 1, 13) in days and date(2027, 1, 14) in days  # both sides of midnight
