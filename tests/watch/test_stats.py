"""Queue-time percentiles per label set and runner busy share: exact expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.watch.models import Job
from bot.watch.stats import (
    QueueStats,
    RunnerUsage,
    percentile,
    queue_stats,
    queue_time,
    runner_usage,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
GPU = ("gpu", "self-hosted")
LIN = ("linux", "self-hosted")


def job(
    waited: timedelta | None,
    labels: tuple[str, ...] = LIN,
    *,
    created: datetime = T0,
    ran: timedelta | None = None,
    runner: str | None = None,
) -> Job:
    started = None if waited is None else created + waited
    done = None if started is None or ran is None else started + ran
    return Job(
        1,
        labels,
        "completed",
        created_at=created,
        started_at=started,
        completed_at=done,
        runner_name=runner,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(job(90 * S), 90 * S, id="started"),
        pytest.param(job(None), None, id="not-started"),
        pytest.param(Job(1, LIN, started_at=T0), None, id="no-created-at"),
        pytest.param(job(-2 * S), timedelta(0), id="clock-skew-clamped"),
    ],
)
def test_queue_time(value: Job, expected: timedelta | None) -> None:
    assert queue_time(value) == expected


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        pytest.param([1, 2, 3, 4], 50, 2, id="p50-even"),
        pytest.param([5, 1, 3], 50, 3, id="p50-odd-unsorted"),
        pytest.param(list(range(1, 21)), 95, 19, id="p95-of-20"),
        pytest.param(list(range(1, 101)), 95, 95, id="p95-of-100"),
        pytest.param([7], 95, 7, id="single"),
        pytest.param([1, 2, 3], 100, 3, id="p100-is-max"),
        pytest.param([1, 2, 3], 1, 1, id="p1-is-min"),
    ],
)
def test_percentile_nearest_rank(values: list[int], p: int, expected: int) -> None:
    assert percentile([v * S for v in values], p) == expected * S


@pytest.mark.parametrize(
    ("values", "p"),
    [
        pytest.param([], 50, id="empty"),
        pytest.param([S], 0, id="p0"),
        pytest.param([S], 101, id="p101"),
    ],
)
def test_percentile_refuses(values: list[timedelta], p: int) -> None:
    with pytest.raises(ValueError):
        percentile(values, p)


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        pytest.param([], {}, id="no-jobs"),
        pytest.param(
            [job(w * M) for w in (1, 2, 3, 4, 10)] + [job(30 * S, GPU), job(None, GPU)],
            {
                GPU: QueueStats(GPU, 1, 30 * S, 30 * S, 30 * S, 0, 0.0, unstarted=1),
                LIN: QueueStats(LIN, 5, 3 * M, 10 * M, 10 * M, 1, 0.2),
            },
            id="two-label-sets",
        ),
        pytest.param(
            [job(5 * M), job(5 * M - S), job(6 * M, ("Linux", "SELF-HOSTED"))],
            {LIN: QueueStats(LIN, 3, 5 * M, 6 * M, 6 * M, 2, 2 / 3)},
            id="threshold-inclusive-and-label-case-grouped",
        ),
        pytest.param(
            [job(None), job(None)],
            {LIN: QueueStats(LIN, 0, None, None, None, 0, 0.0, unstarted=2)},
            id="nothing-started",
        ),
    ],
)
def test_queue_stats(jobs: list[Job], expected: dict[tuple[str, ...], QueueStats]) -> None:
    assert queue_stats(jobs, threshold=5 * M) == expected


START = T0
END = T0 + 60 * M


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        pytest.param([], {}, id="no-jobs"),
        pytest.param(
            [
                job(0 * S, ran=15 * M, runner="a", created=T0 + 10 * M),
                job(0 * S, ran=15 * M, runner="a", created=T0 + 30 * M),
                job(0 * S, ran=6 * M, runner="b", created=T0),
            ],
            {"a": RunnerUsage("a", 2, 30 * M, 0.5), "b": RunnerUsage("b", 1, 6 * M, 0.1)},
            id="inside-the-window",
        ),
        pytest.param(
            [
                job(0 * S, ran=20 * M, runner="a", created=T0 - 10 * M),
                job(0 * S, ran=20 * M, runner="a", created=T0 + 50 * M),
            ],
            {"a": RunnerUsage("a", 2, 20 * M, 1 / 3)},
            id="clipped-at-both-ends",
        ),
        pytest.param(
            [
                job(0 * S, ran=5 * M, runner="a", created=T0 - 30 * M),
                job(0 * S, ran=5 * M, runner="a", created=END),
            ],
            {},
            id="wholly-outside",
        ),
        pytest.param(
            [job(0 * S, runner="a", created=T0 + 45 * M)],
            {"a": RunnerUsage("a", 1, 15 * M, 0.25)},
            id="still-running-counts-to-window-end",
        ),
        pytest.param(
            [job(0 * S, ran=0 * S, runner="a", created=T0 + M)],
            {"a": RunnerUsage("a", 1, timedelta(0), 0.0)},
            id="instant-job-counted-no-time",
        ),
        pytest.param(
            [
                job(0 * S, ran=50 * M, runner="a", created=T0),
                job(0 * S, ran=50 * M, runner="a", created=T0),
            ],
            {"a": RunnerUsage("a", 2, 100 * M, 1.0)},
            id="overlapping-records-capped-at-one",
        ),
        pytest.param(
            [job(None, runner="a"), job(0 * S, ran=M, runner=None)],
            {},
            id="unstarted-or-no-runner-skipped",
        ),
    ],
)
def test_runner_usage(jobs: list[Job], expected: dict[str, RunnerUsage]) -> None:
    assert runner_usage(jobs, start=START, end=END) == expected


def test_runner_usage_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="window"):
        runner_usage([], start=END, end=START)


def test_daily_queue_percentiles_per_day_and_label_set() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.watch.models import Job
    from bot.watch.stats import daily_queue

    day1 = datetime(2026, 11, 27, 10, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)

    def job(i: int, created: datetime, waited: int | None, labels: tuple[str, ...]) -> Job:
        started = created + timedelta(seconds=waited) if waited is not None else None
        return Job(id=i, labels=labels, created_at=created, started_at=started)

    jobs = [
        job(1, day1, 10, ("self-hosted", "gpu")),
        job(2, day1, 30, ("GPU", "self-hosted")),
        job(3, day1, 50, ("gpu", "self-hosted")),
        job(4, day2, 600, ("gpu", "self-hosted")),
        job(5, day2, None, ("gpu", "self-hosted")),  # still queued: not a queue time yet
        job(6, day2, 5, ("linux",)),
    ]
    points = daily_queue(jobs)
    assert points == [
        (day1.date(), ("gpu", "self-hosted"), timedelta(seconds=30), timedelta(seconds=50)),
        (day2.date(), ("gpu", "self-hosted"), timedelta(seconds=600), timedelta(seconds=600)),
        (day2.date(), ("linux",), timedelta(seconds=5), timedelta(seconds=5)),
    ]
    assert {p[1] for p in daily_queue(jobs, threshold_sets=1)} == {("gpu", "self-hosted")}
