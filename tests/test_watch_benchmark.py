"""The watch benchmark's own functions at a small size, so that it cannot rot unnoticed.

``python -m tests.benchmarks.watch`` prints rates, delays and requests an hour; this checks
only that what it measured was right: every delivery answered 200 and every job stored as
completed, on both engines; an alert raised for every job by the app's own sweep task; and
the sweep's GitHub requests within its poll budget, counted as the budget counts them.
Nothing here asserts on time.
"""

from __future__ import annotations

from bot.sandbox.harness import Keys
from tests.benchmarks.watch import (
    HOUR_ROUNDS,
    ingest,
    requests_an_hour,
    threshold_to_alert,
)


async def test_every_delivery_is_answered_and_every_job_stored(
    keys: Keys, database_url: str
) -> None:
    figures = await ingest("engine", database_url, 60, keys, concurrency=5)
    assert figures.deliveries == 60 and figures.jobs == 20
    assert figures.statuses == {200: 60}
    assert figures.stored_completed == 20 and figures.correct


async def test_the_apps_own_sweep_raises_an_alert_for_each_job(keys: Keys) -> None:
    figures = await threshold_to_alert(2, keys, period=0.5)
    assert figures.alerted == figures.jobs == 2 and figures.correct
    assert all(delay >= 0 for delay in figures.delays)  # never before the threshold


async def test_an_hour_of_sweeps_stays_within_the_poll_budget(keys: Keys) -> None:
    """A 1,000-runner organization with a runner of every page changing each round: polled
    every round it would cost more than its share, so pacing skips some rounds, and what
    it does cost (every answer but a 304) stays within the share, counted exactly."""
    figures = await requests_an_hour(
        keys, orgs=1, runners=1000, jobs_per_org=2, rounds=HOUR_ROUNDS, busy_orgs=1
    )
    assert figures.alerts == 1  # its jobs share a reason and a label set: one alert
    (per,) = figures.per.values()
    assert per.requests > 0 and per.not_modified > 0  # unchanged pages still answer 304
    # The budget counts what GitHub charges the installation: every answer to its token
    # but a 304 (the app's JWT calls, a token minted, have their own limit).
    assert per.budget_counted == per.cost
    assert figures.skipped_rounds > 0
    assert figures.within_budget, figures.summary()
