"""Capacity advice: how many runners a label set needed, by replaying its jobs.

An estimate, and it says what it assumes: the runners are identical and always online,
each job takes the run time it was observed to take (``completed - started``), and only
this label set's jobs use them. The window's jobs are replayed in the order they were
created against ``n`` runners (first come, first served, each job on the runner free
soonest); the suggestion is the fewest ``n`` with which the 95th percentile of the
replayed waits (nearest rank, as ``stats`` reports) stays under the watch's ``--after``.

Adding a runner never delays any job in such a replay (first come first served on
identical servers), so the search over ``n`` is a binary search; its upper end is the
peak of the jobs' demand (``[created, created + run]`` overlapping), with which every job
starts the moment it is created.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.watch.labels import LabelSetKey

# The finished jobs one reply replays at most, the most recent (all label sets together,
# so none replays more): bounds the read and the replay however many the window holds.
MAX_REPLAYED = 10_000


@dataclass(frozen=True, slots=True)
class Run:
    """One finished job: what the replay needs of it."""

    labels: LabelSetKey
    created: datetime
    started: datetime
    completed: datetime
    runner: str | None = None


@dataclass(frozen=True, slots=True)
class Advice:
    """One label set's figures. ``suggested`` is None when the deadline passed first;
    ``saturation`` is None when no job named its runner."""

    labels: LabelSetKey
    jobs: int  # jobs replayed
    peak: int  # most jobs running at once, as observed
    runners: int  # runners seen running its jobs
    saturation: float | None  # share of the period in which every one of them was busy
    suggested: int | None


# Sort keys of interval events at one instant: runs that end free their runner before
# runs start; a run of no time holds its runner at that instant (it needs one too).
_END, _START, _INSTANT_END = 0, 1, 2


def peak_concurrency(spans: Iterable[tuple[float, float]]) -> int:
    """The most of ``spans`` (start, end; end excluded, a zero-length span counts at its
    instant) that overlap at any moment."""
    events: list[tuple[float, int]] = []
    for start, end in spans:
        end = max(end, start)
        events.append((start, _START))
        events.append((end, _INSTANT_END if end == start else _END))
    events.sort()
    now = peak = 0
    for _, kind in events:
        now += 1 if kind == _START else -1
        peak = max(peak, now)
    return peak


def replay_waits(jobs: Sequence[tuple[float, float]], runners: int) -> list[float]:
    """Waits (seconds) of ``jobs`` (created, run time; in creation order) replayed first
    come first served against ``runners`` identical runners, each job on the one free
    soonest."""
    if runners < 1:
        raise ValueError("at least one runner")
    free = [float("-inf")] * runners  # when each runner is next free (a heap)
    waits = []
    for created, run in jobs:
        start = max(free[0], created)
        heapq.heapreplace(free, start + max(run, 0.0))
        waits.append(start - created)
    return waits


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile (bot/watch/stats.py ``percentile``), on floats."""
    ordered = sorted(values)
    return ordered[-(-95 * len(ordered) // 100) - 1]


def suggest(
    jobs: Sequence[tuple[float, float]], after: float, expired: Callable[[], bool]
) -> int | None:
    """The fewest runners with which the p95 replayed wait is under ``after`` seconds;
    None when ``expired()`` says the deadline passed before the search ended."""
    if not jobs:
        return 0
    low, high = 1, max(peak_concurrency((c, c + r) for c, r in jobs), 1)
    while low < high:
        if expired():
            return None
        middle = (low + high) // 2
        if p95(replay_waits(jobs, middle)) < after:
            high = middle
        else:
            low = middle + 1
    return low


def saturation(busy: dict[str, list[tuple[float, float]]], start: float, end: float) -> float:
    """The share of ``[start, end)`` in which every runner of ``busy`` (name: its runs,
    start and end) was running something."""
    if end <= start or not busy:
        return 0.0
    events: list[tuple[float, int, str]] = []
    for name, spans in busy.items():
        for low, high in spans:
            low, high = max(low, start), min(high, end)
            if high > low:
                events += [(low, 1, name), (high, -1, name)]
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at one instant
    running: dict[str, int] = {}
    working = 0
    full, last = 0.0, start
    for at, step, name in events:
        if working == len(busy):
            full += at - last
        last = at
        before = running.get(name, 0)
        running[name] = before + step
        working += (before == 0) - (running[name] == 0)
    return min(full / (end - start), 1.0)


def advise(
    runs: Iterable[Run],
    *,
    after: timedelta,
    start: datetime,
    end: datetime,
    expired: Callable[[], bool] = lambda: False,
) -> dict[LabelSetKey, Advice]:
    """Per label set of ``runs`` (finished jobs created in ``[start, end)``): peak
    concurrency, saturation over ``[start, end)`` of the runners that ran its jobs
    (busy with any of ``runs``), and the suggested runner count."""
    ordered = sorted(runs, key=lambda r: r.created)
    by_labels: dict[LabelSetKey, list[Run]] = {}
    busy: dict[str, list[tuple[float, float]]] = {}
    for run in ordered:
        by_labels.setdefault(run.labels, []).append(run)
        if run.runner is not None:
            busy.setdefault(run.runner, []).append(
                (run.started.timestamp(), run.completed.timestamp())
            )
    low, high = start.timestamp(), end.timestamp()
    result: dict[LabelSetKey, Advice] = {}
    for labels, mine in sorted(by_labels.items()):
        names = {r.runner for r in mine if r.runner is not None}
        jobs = [
            (r.created.timestamp(), max((r.completed - r.started).total_seconds(), 0.0))
            for r in mine
        ]
        result[labels] = Advice(
            labels=labels,
            jobs=len(mine),
            peak=peak_concurrency((r.started.timestamp(), r.completed.timestamp()) for r in mine),
            runners=len(names),
            saturation=saturation({n: busy[n] for n in names}, low, high) if names else None,
            suggested=suggest(jobs, after.total_seconds(), expired),
        )
    return result


@dataclass(frozen=True, slots=True)
class Capacity:
    """The advice of a window. ``capped_since``: the jobs to replay were more than
    :data:`MAX_REPLAYED`, so only the most recent, created since then, were."""

    advice: dict[LabelSetKey, Advice]
    replayed: int
    capped_since: datetime | None = None


def estimate(
    runs: Sequence[Run],
    *,
    after: timedelta,
    start: datetime,
    end: datetime,
    most: int = MAX_REPLAYED,
    expired: Callable[[], bool] = lambda: False,
) -> Capacity:
    """:func:`advise` over ``runs``, the ``most`` most recent finished jobs of the window
    as read: when there were that many, the period is the one they cover."""
    capped_since = min(r.created for r in runs) if runs and len(runs) >= most else None
    since = max(start, capped_since) if capped_since is not None else start
    advice = advise(runs, after=after, start=since, end=end, expired=expired)
    return Capacity(advice, len(runs), capped_since)
