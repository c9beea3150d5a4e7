"""The paced-sweep benchmark at a small size (``python -m tests.benchmarks.paced`` prints
the figures at 5,000 runners): under a spent poll budget, every job's alert comes within
one sweep period of its threshold, while the baseline without the fallback really was
paced. Delays are on the injected clock: exact, not timings."""

from __future__ import annotations

from bot.sandbox.harness import Keys
from tests.benchmarks.paced import ROUND_SECONDS, threshold_to_alert_paced


async def test_a_spent_budget_delays_no_alert_by_more_than_one_period(keys: Keys) -> None:
    # 300 runners (three pages) with a 1% budget (50 requests an hour): paced as 5,000
    # runners are with the default 10%, in a fraction of the time.
    size = {"runners": 300, "rounds": 60, "jobs": 6}
    paced = await threshold_to_alert_paced(keys, budget=0.01, **size)
    base = await threshold_to_alert_paced(keys, budget=0.01, fallback=False, **size)
    assert paced.jobs == base.jobs == 6
    assert paced.paced_rounds > 0 and base.paced_rounds > 0  # the budget did pace both
    assert paced.missed == 0 and len(paced.delays) == 6
    assert all(0 <= delay <= ROUND_SECONDS for delay in paced.delays), paced.row()
    assert max(base.delays, default=0) > ROUND_SECONDS, base.row()  # what the fallback saves
