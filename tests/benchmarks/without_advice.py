"""runnerops less the capacity advice of ``stats``: the baseline the stats benchmark
(``python -m tests.benchmarks.stats``) times the service against, each in a process of
its own (``uvicorn tests.benchmarks.without_advice:app``), to see what the advice adds.

Everything else is the service as it is: the same app, the same reads; the advice step
answers at once that there is none (as when its deadline passes), so the reply says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import handlers.stats
from app import app
from bot.dispatch import Invocation
from bot.watch.capacity import Capacity

__all__ = ["app"]


async def no_advice(
    inv: Invocation[handlers.stats.StatsArgs],
    repository: str | None,
    start: datetime,
    now: datetime,
    threshold: timedelta,
) -> Capacity | None:
    """handlers/stats.py ``_capacity`` doing nothing."""
    return None


handlers.stats._capacity = no_advice  # the handler calls it by its module-level name
