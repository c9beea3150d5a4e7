"""The readiness rule for the sweep, table-tested (bot/observe/readiness.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.observe.readiness import sweep_readiness
from bot.store.health import SweepState

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("state", "enabled", "verdict"),
    [
        pytest.param(SweepState(0, None, None, None), True, "ok", id="no-watches"),
        pytest.param(SweepState(2, NOW - 3 * MIN, None, "p1"), True, "ok", id="first-round-due"),
        pytest.param(
            SweepState(2, NOW - 12 * MIN, None, None),
            True,
            "stale (no round has succeeded for 12 min)",
            id="never-swept",
        ),
        pytest.param(SweepState(1, NOW - 60 * MIN, NOW - 9 * MIN, "p1"), True, "ok", id="9-min"),
        pytest.param(
            SweepState(1, NOW - 60 * MIN, NOW - 11 * MIN, "p1"),
            True,
            "stale (no watch was swept for 11 min)",
            id="11-min",
        ),
        pytest.param(
            SweepState(1, NOW - 60 * MIN, NOW - 11 * MIN, None), False, "ok", id="not-sweeping"
        ),
    ],
)
def test_sweep_readiness(state: SweepState, enabled: bool, verdict: str) -> None:
    found, shown = sweep_readiness(state, NOW, enabled=enabled)
    assert found == verdict
    assert shown["lease"] == (f"held by {state.holder}" if state.holder else "not held")
