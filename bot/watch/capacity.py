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
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.timestamps import stored_time
from bot.watch.labels import LabelSetKey

# The finished jobs one reply replays at most, the most recent (all label sets together,
# so none replays more): bounds the read and the replay however many the window holds.
MAX_REPLAYED = 5_000


@dataclass(frozen=True, slots=True)
class Run:
    """One finished job: what the replay needs of it."""

    labels: LabelSetKey
    created: datetime
    started: datetime
    completed: datetime
    runner: str | None = None


StoredRun = tuple[str, datetime | str, datetime | str, datetime | str, str | None]
"""A finished job as the store reads it (bot/store/job_stats.py ``recent_rows``): its
label set as JSON text, its created, started and completed times as the engine returns
them, its runner's name. What goes to the worker process (bot/offload.py): plain tuples
of text and times pickle in C, where 5,000 :class:`Run` took a quarter of the service's
CPU to send, and decoding them there spares the service that too."""


def runs_from_rows(rows: Iterable[StoredRun]) -> list[Run]:
    """Stored rows as the replay takes them: a label set's JSON decoded once per distinct
    text (thousands of jobs share a few label sets)."""
    label_sets: dict[str, LabelSetKey] = {}
    runs = []
    for labels, created, started, completed, runner in rows:
        key = label_sets.get(labels)
        if key is None:
            key = label_sets[labels] = tuple(json.loads(labels) or ())
        times = stored_time(created), stored_time(started), stored_time(completed)
        runs.append(Run(key, *times, runner))
    return runs


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


def peak_concurrency(spans: Iterable[tuple[float, float]]) -> int:
    """The most of ``spans`` (start, end; end excluded, a zero-length span counts at its
    instant: it needs a runner too) that overlap at any moment."""
    starts: list[float] = []
    ends: list[float] = []
    for start, end in spans:
        starts.append(start)
        # A run of no time holds its runner just past its instant, so that it overlaps
        # what starts with it, and what ended then has freed its runner first.
        ends.append(end if end > start else math.nextafter(start, math.inf))
    starts.sort()
    ends.sort()
    peak = ended = 0
    for running, start in enumerate(starts, 1):
        while ended < len(ends) and ends[ended] <= start:
            ended += 1
        peak = max(peak, running - ended)
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


def fits(jobs: Sequence[tuple[float, float]], runners: int, after: float) -> bool:
    """Whether ``p95(replay_waits(jobs, runners)) < after``, stopping as soon as too many
    waits reach ``after``: the nearest-rank p95 is under it when at most ``n - ceil(0.95
    n)`` of the ``n`` waits are not (most tries of a search fail early this way)."""
    allowed = len(jobs) - -(-95 * len(jobs) // 100)
    free = [float("-inf")] * runners
    replace = heapq.heapreplace
    for created, run in jobs:
        start = free[0]
        if start < created:
            start = created
        if start - created >= after:
            allowed -= 1
            if allowed < 0:
                return False
        replace(free, start + run)
    return True


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
    jobs = [(created, max(run, 0.0)) for created, run in jobs]
    low, high = 1, max(peak_concurrency((c, c + r) for c, r in jobs), 1)
    while low < high:
        if expired():
            return None
        middle = (low + high) // 2
        if fits(jobs, middle, after):
            high = middle
        else:
            low = middle + 1
    return low


def merged(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """``spans`` as the sorted, disjoint stretches they cover (touching ones joined)."""
    out: list[tuple[float, float]] = []
    for low, high in sorted(spans):
        if out and low <= out[-1][1]:
            if high > out[-1][1]:
                out[-1] = (out[-1][0], high)
        elif high > low:
            out.append((low, high))
    return out


def _intersect(
    a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Where two sorted lists of disjoint stretches overlap."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if high > low:
            out.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def saturation(busy: dict[str, list[tuple[float, float]]], start: float, end: float) -> float:
    """The share of ``[start, end)`` in which every runner of ``busy`` (name: its runs,
    start and end) was running something: where their busy stretches all overlap,
    narrowed runner by runner (the least busy first: most often nothing is left soon)."""
    if end <= start or not busy:
        return 0.0
    common = [(start, end)]
    for spans in sorted(busy.values(), key=len):
        common = _intersect(common, merged(spans))
        if not common:
            return 0.0
    return min(sum(high - low for low, high in common) / (end - start), 1.0)


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
    by_labels: dict[LabelSetKey, list[tuple[float, float, float, str | None]]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for run in ordered:
        created, started = run.created.timestamp(), run.started.timestamp()
        completed = max(run.completed.timestamp(), started)
        by_labels.setdefault(run.labels, []).append((created, started, completed, run.runner))
        if run.runner is not None:
            spans.setdefault(run.runner, []).append((started, completed))
    busy = {name: merged(mine) for name, mine in spans.items()}
    low, high = start.timestamp(), end.timestamp()
    result: dict[LabelSetKey, Advice] = {}
    for labels, mine in sorted(by_labels.items()):
        names = {runner for *_, runner in mine if runner is not None}
        result[labels] = Advice(
            labels=labels,
            jobs=len(mine),
            peak=peak_concurrency((started, completed) for _, started, completed, _ in mine),
            runners=len(names),
            saturation=saturation({n: busy[n] for n in names}, low, high) if names else None,
            suggested=suggest(
                [(created, completed - started) for created, started, completed, _ in mine],
                after.total_seconds(),
                expired,
            ),
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
