"""Queue times and runner usage over stored jobs: the numbers behind "add runners?".

Percentiles use the nearest-rank method (a value that occurred, never an interpolation),
so a table test can state them exactly and a reader can find the job behind each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.watch.labels import LabelSetKey, label_set_key
from bot.watch.models import Job


def queue_time(job: Job) -> timedelta | None:
    """How long the job waited for a runner; None until it started (or without times).

    Never negative: GitHub's clocks can put ``started_at`` a moment before ``created_at``.
    """
    if job.created_at is None or job.started_at is None:
        return None
    return max(job.started_at - job.created_at, timedelta(0))


def percentile(values: Sequence[timedelta], p: int) -> timedelta:
    """The nearest-rank ``p``-th percentile (1..100) of ``values`` (not empty)."""
    if not values:
        raise ValueError("no values")
    if not 1 <= p <= 100:
        raise ValueError("a percentile is between 1 and 100")
    ordered = sorted(values)
    rank = -(-p * len(ordered) // 100)  # ceil(p/100 * n) in integers
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Queue times of one label set. Times are None when no job of it has started;
    ``unstarted`` counts jobs still queued or cancelled while queued (not in the times)."""

    labels: LabelSetKey
    count: int
    p50: timedelta | None
    p95: timedelta | None
    max: timedelta | None
    over: int
    share_over: float
    unstarted: int = 0


def queue_stats(jobs: Iterable[Job], *, threshold: timedelta) -> dict[LabelSetKey, QueueStats]:
    """Per label set: started jobs, p50/p95/max queue time, and how many (and what share)
    waited ``threshold`` or longer (the same ``>=`` as the stuck rule)."""
    waits: dict[LabelSetKey, list[timedelta]] = {}
    unstarted: dict[LabelSetKey, int] = {}
    for job in jobs:
        waited = queue_time(job)
        waits.setdefault(job.labels, [])
        if waited is None:
            unstarted[job.labels] = unstarted.get(job.labels, 0) + 1
        else:
            waits[job.labels].append(waited)
    result: dict[LabelSetKey, QueueStats] = {}
    for labels, values in sorted(waits.items()):
        over = sum(1 for v in values if v >= threshold)
        result[labels] = QueueStats(
            labels=labels,
            count=len(values),
            p50=percentile(values, 50) if values else None,
            p95=percentile(values, 95) if values else None,
            max=max(values) if values else None,
            over=over,
            share_over=over / len(values) if values else 0.0,
            unstarted=unstarted.get(labels, 0),
        )
    return result


@dataclass(frozen=True, slots=True)
class RunnerUsage:
    """One runner over a window: jobs that ran in it, and busy time within it."""

    runner: str
    jobs: int
    busy: timedelta
    busy_share: float


def runner_usage(jobs: Iterable[Job], *, start: datetime, end: datetime) -> dict[str, RunnerUsage]:
    """Per runner name: jobs whose run overlaps ``[start, end)`` and the share of the
    window spent on them (job durations clipped to the window, summed, over the window;
    at most 1). A job still running counts as running until ``end``; a job that never
    started or names no runner is not counted."""
    window = end - start
    if window <= timedelta(0):
        raise ValueError("the window must end after it starts")
    counts: dict[str, int] = {}
    busy: dict[str, timedelta] = {}
    for job in jobs:
        if job.runner_name is None or job.started_at is None:
            continue
        finished = job.completed_at if job.completed_at is not None else end
        clipped = min(finished, end) - max(job.started_at, start)
        instant_inside = finished <= job.started_at and start <= job.started_at < end
        if clipped <= timedelta(0) and not instant_inside:
            continue
        counts[job.runner_name] = counts.get(job.runner_name, 0) + 1
        busy[job.runner_name] = busy.get(job.runner_name, timedelta(0)) + max(clipped, timedelta(0))
    return {
        name: RunnerUsage(name, counts[name], busy[name], min(busy[name] / window, 1.0))
        for name in sorted(counts)
    }


def daily_queue(
    jobs: Iterable[Job], *, threshold_sets: int = 6
) -> list[tuple[date, LabelSetKey, timedelta, timedelta]]:
    """Per day (of ``created_at``, UTC) and label set: p50 and p95 queue time of the jobs
    that started. Only the ``threshold_sets`` busiest label sets, so a chart stays legible."""
    by_day: dict[tuple[date, LabelSetKey], list[timedelta]] = {}
    totals: dict[LabelSetKey, int] = {}
    for job in jobs:
        waited = queue_time(job)
        if waited is None or job.created_at is None:
            continue
        key = label_set_key(job.labels)
        by_day.setdefault((job.created_at.date(), key), []).append(waited)
        totals[key] = totals.get(key, 0) + 1
    busiest = set(sorted(totals, key=lambda k: (-totals[k], k))[:threshold_sets])
    return [
        (day, key, percentile(waits, 50), percentile(waits, 95))
        for (day, key), waits in sorted(by_day.items())
        if key in busiest
    ]
