"""The capacity replay, on small histories whose answers are worked out by hand."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.watch.capacity import (
    Advice,
    Run,
    advise,
    fits,
    merged,
    p95,
    peak_concurrency,
    replay_waits,
    saturation,
    suggest,
)

T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
M = 60.0  # a minute, in the replay's seconds
GPU = ("gpu", "self-hosted")
ARM = ("arm", "self-hosted")


def run(created: float, waited: float, ran: float, runner: str | None = "r1", labels=GPU) -> Run:
    """A finished job: created ``created`` minutes after T0, waited and ran minutes."""
    at = T0 + timedelta(minutes=created)
    start = at + timedelta(minutes=waited)
    return Run(labels, at, start, start + timedelta(minutes=ran), runner)


@pytest.mark.parametrize(
    ("spans", "peak"),
    [
        ([], 0),
        ([(0, 10)], 1),
        ([(0, 10), (10, 20)], 1),  # one ends as the next starts: never two at once
        ([(0, 10), (5, 15), (9, 12)], 3),  # all three at minute 9
        ([(0, 10), (5, 5)], 2),  # a run of no time still needs a runner at its instant
        ([(0, 10), (5, 15), (20, 30), (25, 26), (25, 27)], 3),  # minutes 25-26
    ],
)
def test_peak_concurrency(spans: list[tuple[float, float]], peak: int) -> None:
    assert peak_concurrency(spans) == peak


@pytest.mark.parametrize(
    ("jobs", "runners", "waits"),
    [
        # Three 10-minute jobs created together on one runner: each waits for the last.
        ([(0, 10), (0, 10), (0, 10)], 1, [0, 10, 20]),
        ([(0, 10), (0, 10), (0, 10)], 2, [0, 0, 10]),
        ([(0, 10), (0, 10), (0, 10)], 3, [0, 0, 0]),
        # The second job comes at 4 on the busy runner (free at 10): waits 6; the third
        # comes at 12, after the second took it (free at 10 + 5 = 15): waits 3.
        ([(0, 10), (4, 5), (12, 1)], 1, [0, 6, 3]),
        # Two runners: the second job takes the idle one; the third comes at 12, when the
        # first runner has been free since 10.
        ([(0, 10), (4, 5), (12, 1)], 2, [0, 0, 0]),
    ],
)
def test_replay_waits(jobs: list[tuple[float, float]], runners: int, waits: list[float]) -> None:
    in_seconds = [(c * M, r * M) for c, r in jobs]
    assert replay_waits(in_seconds, runners) == [w * M for w in waits]


@pytest.mark.parametrize(
    ("jobs", "after", "runners"),
    [
        ([], 5, 0),
        ([(0, 10)], 5, 1),
        # Apart in time: one runner serves them all without a wait.
        ([(0, 5), (10, 5), (20, 5)], 5, 1),
        # Three 10-minute jobs at once, --after 5m: waits 0,10,20 with one runner, 0,0,10
        # with two (the p95 of three is the largest): only three keep every wait under 5m.
        ([(0, 10)] * 3, 5, 3),
        # --after 15m: with two the largest wait is 10 minutes, under it.
        ([(0, 10)] * 3, 15, 2),
        # Twenty at once, --after 5m: the p95 of twenty is the 19th smallest wait, so one
        # job may wait: 19 runners (the 20th job waits 10 minutes), not 20.
        ([(0, 10)] * 20, 5, 19),
        # A job of no time at minute 5 while a 10-minute one runs from 0: one runner makes
        # it wait 5 minutes (p95 of two is the larger), so --after 1m needs two.
        ([(0, 10), (5, 0)], 1, 2),
        # A wait of exactly --after is not "within" it (stats' ">= threshold" rule): two
        # 5-minute jobs at 0 on one runner wait 0 and 5; --after 5m needs two.
        ([(0, 5), (0, 5)], 5, 2),
    ],
)
def test_suggest(jobs: list[tuple[float, float]], after: float, runners: int) -> None:
    in_seconds = [(c * M, r * M) for c, r in jobs]
    assert suggest(in_seconds, after * M, lambda: False) == runners


@pytest.mark.parametrize("seed", range(20))
def test_fits_is_the_p95_of_the_replay(seed: int) -> None:
    """The search's early-stopping test says what the p95 of the whole replay says."""
    rng = random.Random(seed)
    jobs = sorted((rng.uniform(0, 60), rng.choice([0.0, rng.uniform(0, 20)])) for _ in range(50))
    jobs = [(c * M, r * M) for c, r in jobs]
    for runners in range(1, 12):
        for after in (0.0, M, 5 * M, 30 * M):
            expected = p95(replay_waits(jobs, runners)) < after
            assert fits(jobs, runners, after) is expected, (runners, after)


def test_more_runners_never_make_a_job_wait_longer() -> None:
    """What lets the search be a binary search."""
    rng = random.Random(7)
    jobs = sorted((rng.uniform(0, 600), rng.uniform(0, 120)) for _ in range(200))
    waits = [replay_waits(jobs, n) for n in range(1, 15)]
    for fewer, more in itertools.pairwise(waits):
        assert all(b <= a for a, b in zip(fewer, more, strict=True))


def test_suggest_gives_up_at_its_deadline() -> None:
    assert suggest([(0.0, 600.0)] * 3, 300.0, lambda: True) is None


def test_p95_is_the_nearest_rank() -> None:
    assert p95([3.0, 1.0, 2.0]) == 3.0  # ceil(0.95 * 3) = 3rd
    assert p95([float(i) for i in range(1, 21)]) == 19.0  # ceil(0.95 * 20) = 19th
    assert p95([float(i) for i in range(1, 101)]) == 95.0


def test_merged_joins_overlapping_and_touching_runs() -> None:
    spans = [(20.0, 30.0), (0.0, 10.0), (5.0, 12.0), (12.0, 15.0), (40.0, 40.0)]
    assert merged(spans) == [(0.0, 15.0), (20.0, 30.0)]  # a run of no time covers nothing


def test_saturation_is_the_time_every_runner_was_busy() -> None:
    # Over [0, 60): r1 busy 0-30, r2 busy 10-20 and 25-40: both at 10-20 and 25-30,
    # 15 minutes of 60.
    busy = {"r1": [(0.0, 30 * M)], "r2": [(10 * M, 20 * M), (25 * M, 40 * M)]}
    assert saturation(busy, 0.0, 60 * M) == 0.25
    # Runs touching one another on one runner: busy without a break, 0-20 of 40.
    assert saturation({"r1": [(0.0, 10 * M), (10 * M, 20 * M)]}, 0.0, 40 * M) == 0.5
    # Clipped to the window: a run from before it counts from its start.
    assert saturation({"r1": [(-30 * M, 30 * M)]}, 0.0, 60 * M) == 0.5
    assert saturation({}, 0.0, 60 * M) == 0.0


def test_advise_per_label_set() -> None:
    """Two gpu jobs created at 0 ran 10 minutes each, one per runner (g1, g2), a third
    came at 30 and ran 10 minutes on g1; an arm job ran on a1 from 0 to 30 with g1
    running nothing else. Window: one hour, --after 5m."""
    runs = [
        run(0, 0, 10, "g1"),
        run(0, 0, 10, "g2"),
        run(30, 0, 10, "g1"),
        run(0, 0, 30, "a1", labels=ARM),
    ]
    advice = advise(runs, after=timedelta(minutes=5), start=T0, end=T0 + timedelta(hours=1))
    # gpu: two at once at most; both runners busy 0-10 only (10 of 60 minutes); replayed
    # on one runner the second job waits 10 minutes (p95 of three is the largest), so two.
    assert advice[GPU] == Advice(GPU, jobs=3, peak=2, runners=2, saturation=1 / 6, suggested=2)
    # arm: one job on one runner busy 0-30: saturated half the hour; one runner is enough.
    assert advice[ARM] == Advice(ARM, jobs=1, peak=1, runners=1, saturation=0.5, suggested=1)


def test_a_runner_busy_with_another_label_set_counts_as_busy() -> None:
    """r1 ran a gpu job 0-10 and an arm job 10-20: for gpu, its only runner was busy
    0-20 (20 of 40 minutes), although gpu's own job took 10."""
    runs = [run(0, 0, 10, "r1"), run(10, 0, 10, "r1", labels=ARM)]
    advice = advise(runs, after=timedelta(minutes=5), start=T0, end=T0 + timedelta(minutes=40))
    assert advice[GPU].saturation == 0.5


def test_jobs_without_a_runner_name_have_no_saturation() -> None:
    advice = advise(
        [run(0, 2, 10, None)], after=timedelta(minutes=5), start=T0, end=T0 + timedelta(hours=1)
    )
    assert advice[GPU] == Advice(GPU, jobs=1, peak=1, runners=0, saturation=None, suggested=1)
