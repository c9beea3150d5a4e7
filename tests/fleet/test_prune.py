"""prune's decisions, table-tested: who is prunable, re-checks, when progress is posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.fleet.prune import (
    PROGRESS_EVERY,
    PROGRESS_REPORTS,
    Reporter,
    Since,
    Skip,
    Tally,
    recheck,
    select,
    still_due,
)
from bot.github.models import Label, Runner

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Seen:
    last_seen_online: datetime | None = None
    first_seen_offline: datetime | None = None


def runner(
    rid: int,
    name: str = "",
    status: str = "offline",
    busy: bool = False,
    labels: tuple[str, ...] = (),
) -> Runner:
    return Runner(
        id=rid,
        name=name or f"r{rid}",
        status=status,
        busy=busy,
        labels=tuple(Label(None, label, "custom") for label in labels),
    )


@pytest.mark.parametrize(
    ("case", "r", "seen", "expected"),
    [
        ("offline two days by last online", runner(1), Seen(NOW - 2 * DAY), "candidate"),
        ("offline an hour", runner(1), Seen(NOW - timedelta(hours=1)), "too_recent"),
        ("exactly the threshold", runner(1), Seen(NOW - DAY), "candidate"),
        (
            "never seen online, first offline 3d ago",
            runner(1),
            Seen(None, NOW - 3 * DAY),
            "candidate",
        ),
        ("never seen at all: counts from now", runner(1), None, "too_recent"),
        ("online", runner(1, status="online"), Seen(NOW - 9 * DAY), "online"),
        ("busy and offline", runner(1, busy=True), Seen(NOW - 9 * DAY), "busy"),
        (
            "odd status counts as offline",
            runner(1, status="weird"),
            Seen(NOW - 2 * DAY),
            "candidate",
        ),
    ],
)
def test_who_is_prunable(case: str, r: Runner, seen: Seen | None, expected: str) -> None:
    chosen = select([r], {1: seen} if seen else {}, now=NOW, offline_for=DAY)
    counts = {
        "candidate": len(chosen.candidates),
        "too_recent": chosen.too_recent,
        "online": chosen.online,
        "busy": chosen.busy,
    }
    assert counts[expected] == 1 and sum(counts.values()) == 1, case


def test_filters_order_and_limit() -> None:
    runners = [
        runner(1, "build-1", labels=("gpu",)),
        runner(2, "build-2", labels=("GPU", "linux")),
        runner(3, "test-3", labels=("gpu",)),
        runner(4, "build-4"),
    ]
    seen = {
        1: Seen(NOW - 5 * DAY),
        2: Seen(NOW - 9 * DAY),
        3: Seen(NOW - 9 * DAY),
        4: Seen(None, NOW - 2 * DAY),
    }
    chosen = select(runners, seen, now=NOW, offline_for=DAY, labels=["gpu"], name="BUILD")
    assert chosen.runner_ids == (2, 1)  # oldest offline first
    assert chosen.unmatched == 2
    limited = select(runners, seen, now=NOW, offline_for=DAY, limit=2)
    assert limited.runner_ids == (2, 3) and limited.over_limit == 2
    assert select(runners, seen, now=NOW, offline_for=DAY).never_seen_online == 1
    (c,) = select([runners[3]], seen, now=NOW, offline_for=DAY).candidates
    assert c.since is Since.FIRST_OFFLINE and c.offline_since == NOW - 2 * DAY


@pytest.mark.parametrize(
    ("now_runner", "skip"),
    [
        (None, Skip.GONE),
        (runner(1, status="online"), Skip.ONLINE),
        (runner(1, busy=True), Skip.BUSY),
        (runner(1, status="online", busy=True), Skip.BUSY),
        (runner(1), None),
    ],
)
def test_recheck(now_runner: Runner | None, skip: Skip | None) -> None:
    assert recheck(now_runner) is skip


def test_progress_is_spaced_and_bounded() -> None:
    tally = Tally(total=500)
    reporter = Reporter(started=0.0)
    posted = []
    for step in range(1, 500):
        tally.deleted.append(f"r{step}")
        now = step * 0.05  # a runner every 50 ms: 25 s of work
        if reporter.due(tally, now):
            reporter.reported(now)
            posted.append(now)
    assert len(posted) == PROGRESS_REPORTS
    assert all(b - a >= PROGRESS_EVERY for a, b in zip([0.0, *posted], posted, strict=False))
    assert posted == [6.25, 12.5, 18.75]  # at a quarter, a half, three quarters done
    tally.deleted.append("last")
    assert not Reporter(started=0.0).due(tally, 99.0)  # the summary says the rest


def test_tally_counts_every_outcome() -> None:
    tally = Tally(total=4)
    tally.deleted.append("a")
    tally.skip("b", Skip.ONLINE)
    tally.fail("c", "GitHubUnavailable")
    tally.fail("d", "GitHubUnavailable")
    assert tally.done == 4 and tally.failed == {"GitHubUnavailable": ["c", "d"]}


PLANNED = NOW - timedelta(hours=6)


@pytest.mark.parametrize(
    ("sighting", "skip"),
    [
        pytest.param(Seen(NOW - 2 * DAY), None, id="offline-since-before-the-plan"),
        pytest.param(Seen(None, NOW - 2 * DAY), None, id="never-online-first-offline-long-ago"),
        pytest.param(Seen(NOW - timedelta(minutes=1)), Skip.RETURNED, id="online-since-the-plan"),
        pytest.param(
            Seen(PLANNED - timedelta(hours=1)), Skip.NOT_LONG_ENOUGH, id="short-before-the-plan"
        ),
        pytest.param(None, Skip.NOT_LONG_ENOUGH, id="no-records"),
        pytest.param(Seen(NOW - DAY), None, id="a-day-exactly"),
    ],
)
def test_still_due_by_the_records(sighting: Seen | None, skip: Skip | None) -> None:
    assert still_due(sighting, now=NOW, offline_for=DAY, planned_at=PLANNED) is skip
