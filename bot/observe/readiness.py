"""What ``/readyz`` concludes from the sweep's state: pure, so the rule is tested alone.

An alerting system that stops without saying so is worse than none: a process whose
watches have not been swept for ``STALE_AFTER`` is not ready, whatever else answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.store.health import SweepState

STALE_AFTER = timedelta(minutes=10)


def sweep_readiness(
    state: SweepState, now: datetime, *, enabled: bool = True
) -> tuple[str, dict[str, Any]]:
    """(``ok`` or why not, what to show): whether a process holds the sweep's lease and
    how old the last successful round is. Stale (not ``ok``) when watches exist and none
    was swept for :data:`STALE_AFTER` (a first round still pending counts from the oldest
    watch's creation)."""
    age = now - state.last_success if state.last_success is not None else None
    shown: dict[str, Any] = {
        "watches": state.watches,
        "lease": f"held by {state.holder}" if state.holder else "not held",
        "last_success_seconds_ago": int(age.total_seconds()) if age is not None else None,
    }
    if not enabled:
        shown["note"] = "this process does not sweep (RUNNEROPS_SWEEP_SECONDS=0)"
        return "ok", shown
    if state.watches == 0:
        return "ok", shown
    since = age if age is not None else (now - state.oldest_watch if state.oldest_watch else None)
    if since is not None and since > STALE_AFTER:
        minutes = int(since.total_seconds() // 60)
        what = "no round has succeeded" if age is None else "no watch was swept"
        return f"stale ({what} for {minutes} min)", shown
    return "ok", shown
