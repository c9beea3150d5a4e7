"""The ingestion benchmark's own functions at a tiny size, so that it cannot rot unnoticed.

``python -m tests.benchmarks.ingest`` prints rates, latencies and ratios; this checks only
that what it measured is well formed: every delivery answered 2xx by runnerops (in its own
process) and by the bare receiver, each with its latency, and every job stored as
completed, on both engines. Nothing here asserts on time.
"""

from __future__ import annotations

import math

from bot.sandbox.harness import Keys
from tests.benchmarks.ingest import measure


async def test_the_figures_are_well_formed_and_every_job_stored(
    keys: Keys, database_url: str
) -> None:
    figures = await measure(
        "engine",
        database_url,
        keys,
        deliveries=30,
        concurrencies=(5,),
        burst=60,
        burst_concurrency=10,
    )
    [(ours, bare)] = figures.runs
    for run, n in ((ours, 30), (bare, 30), (figures.burst, 60)):
        assert run.deliveries == n and len(run.latencies) == n
        assert run.statuses == {"200": n} and run.answered_2xx == n
        assert run.seconds > 0 and all(s > 0 for s in run.latencies)
        assert math.isfinite(run.rate) and math.isfinite(run.p(99))
    assert ours.stored == ours.jobs == 10 and ours.correct
    assert bare.stored is None and bare.correct
    assert figures.burst.stored == figures.burst.jobs == 20 and figures.burst.correct
    summary = figures.summary()
    assert "runnerops, 5 in flight" in summary and "bare, 5 in flight" in summary
    assert "60/60 answered 2xx" in summary
