"""prune's plans and the fleet's samples on both engines: what is written comes back,
what has expired does not, and retention removes only what is old."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store
from bot.store.fleet import CURRENT_FOR, SAMPLE_EVERY, SAMPLES_KEPT, SEEN_KEPT, Sample
from bot.store.plans import PLAN_TTL
from bot.watch.models import RunnerInfo
from tests.conftest import Clock


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = Store.open(database_url, clock=clock)
    yield s
    await s.close()


def now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


async def test_a_plan_comes_back_as_written(store: Store, clock: Clock) -> None:
    runners = [(7, "gpu-b"), (3, "gpu-a"), (12, "ünïcode-runner")]
    plan = await store.plans.create("Acme/API", runners, "offline for 7d, label gpu", "U0ALICE")
    got = await store.plans.get(plan.id)
    assert got == plan
    assert got.runners == ((7, "gpu-b"), (3, "gpu-a"), (12, "ünïcode-runner"))  # order kept
    assert got.created_at == now(clock)
    other = await store.plans.create("acme", [], "no runner matched", "U0BOB")
    assert other.id != plan.id and (await store.plans.get(other.id)) == other
    assert await store.plans.get("no-such-plan") is None


async def test_a_plan_keeps_its_rule_and_the_records_answer_per_runner(
    store: Store, clock: Clock
) -> None:
    """The click checks the dry run's rule again: the plan keeps its DURATION, and the
    records give one runner's sightings."""
    plan = await store.plans.create(
        "acme", [(7, "build-7")], "offline for 1d", "U0ALICE", offline_for=timedelta(days=1)
    )
    got = await store.plans.get(plan.id)
    assert got == plan and got.offline_for == timedelta(days=1)
    assert got.runners == ((7, "build-7"),)
    assert await store.fleet.sighting("acme", 7) is None
    await store.fleet.observe("Acme", [RunnerInfo(7, "build-7", (), "online", False)])
    seen = await store.fleet.sighting("ACME", 7)
    assert seen is not None and seen.last_seen_online == now(clock)
    assert await store.fleet.sighting("acme/api", 7) is None  # another target's records


async def test_a_plan_from_an_alert_names_it(store: Store) -> None:
    """An offline alert's Prune these: the plan keeps the alert (channel, key) to say the
    delete on, and no rule of its own beyond the alert's (offline at all)."""
    plan = await store.plans.create(
        "acme", [(7, "build-7")], "offline in the alert", "U0ALICE", alert=("C0A", "offline:x")
    )
    got = await store.plans.get(plan.id)
    assert got == plan and got.alert == ("C0A", "offline:x")
    assert got.offline_for == timedelta(0)


async def test_a_plan_expires_after_a_day_and_is_then_pruned(store: Store, clock: Clock) -> None:
    old = await store.plans.create("acme", [(1, "r1")], "idle", "U0ALICE")
    clock.advance(PLAN_TTL.total_seconds())
    assert await store.plans.get(old.id) == old  # a day exactly: still valid
    fresh = await store.plans.create("acme", [(2, "r2")], "idle", "U0ALICE")
    clock.advance(1)
    assert await store.plans.get(old.id) is None  # expired: a stale dry run is not trusted
    assert await store.plans.prune() == 1
    assert await store.plans.prune() == 0
    assert await store.plans.get(fresh.id) == fresh


def fleet(online: int, busy: int, offline: int) -> list[RunnerInfo]:
    runners = [RunnerInfo(i, f"on-{i}", status="online") for i in range(online)]
    runners += [RunnerInfo(100 + i, f"busy-{i}", status="online", busy=True) for i in range(busy)]
    runners += [RunnerInfo(200 + i, f"off-{i}", status="offline") for i in range(offline)]
    return runners


async def test_one_sample_per_target_and_ten_minutes(store: Store, clock: Clock) -> None:
    start = datetime.fromtimestamp(clock() // SAMPLE_EVERY * SAMPLE_EVERY, UTC)
    await store.fleet.observe("Acme", fleet(2, 1, 0))
    clock.advance(SAMPLE_EVERY - 1)  # the same ten minutes: the sample is replaced
    await store.fleet.observe("acme", fleet(1, 2, 3))
    clock.advance(1)  # the next ten minutes: a new sample
    await store.fleet.observe("ACME", fleet(4, 0, 1))
    await store.fleet.observe("globex", fleet(9, 9, 9))
    next_bucket = start + timedelta(seconds=SAMPLE_EVERY)
    assert await store.fleet.samples("acme", start) == [
        Sample(start, 1, 2, 3),
        Sample(next_bucket, 4, 0, 1),
    ]
    assert await store.fleet.samples("Acme", next_bucket) == [Sample(next_bucket, 4, 0, 1)]
    assert await store.fleet.samples("initech", start) == []


async def test_a_partial_listing_writes_no_sample(store: Store, clock: Clock) -> None:
    since = now(clock) - timedelta(hours=1)
    await store.fleet.observe("acme", fleet(1, 0, 0), complete=False)
    assert await store.fleet.samples("acme", since) == []
    assert set(await store.fleet.seen("acme")) == {0}  # the runners are still recorded


async def test_samples_older_than_kept_are_pruned(store: Store, clock: Clock) -> None:
    start = now(clock) - timedelta(days=30)
    await store.fleet.observe("acme", fleet(1, 0, 0))
    clock.advance(SAMPLES_KEPT.total_seconds() - SAMPLE_EVERY)
    await store.fleet.observe("acme", fleet(2, 0, 0))
    assert await store.fleet.prune_samples() == 0  # both within the kept window
    clock.advance(2 * SAMPLE_EVERY)
    assert await store.fleet.prune_samples() == 1
    assert [s.online for s in await store.fleet.samples("acme", start)] == [2]
    # Retention in the background covers them too (and prune's plans).
    await store.plans.create("acme", [], "idle", "U0ALICE")
    clock.advance(SAMPLES_KEPT.total_seconds())
    await store.maintain()
    assert await store.fleet.samples("acme", start) == []
    assert await store.plans.prune() == 0  # maintain removed the expired plan already


async def test_status_counts_as_last_seen(store: Store) -> None:
    await store.fleet.observe("acme", fleet(2, 1, 3))
    await store.fleet.observe("globex", fleet(0, 0, 1))
    assert sorted(await store.fleet.status_counts()) == [
        ("acme", "busy", 1),
        ("acme", "offline", 3),
        ("acme", "online", 2),
        ("globex", "offline", 1),
    ]


async def test_a_target_no_longer_listed_leaves_the_counts_then_is_forgotten(
    store: Store, clock: Clock
) -> None:
    """After ``unwatch globex`` nothing lists globex again: the metrics stop reporting
    its fleet as it last was after an hour, and after a month what was seen of it goes."""
    await store.fleet.observe("globex", fleet(1, 0, 1))
    clock.advance(CURRENT_FOR.total_seconds() - 60)
    await store.fleet.observe("acme", fleet(0, 1, 0))
    assert {t for t, _s, _n in await store.fleet.status_counts()} == {"acme", "globex"}
    clock.advance(120)
    assert {t for t, _s, _n in await store.fleet.status_counts()} == {"acme"}
    assert len(await store.fleet.seen("globex")) == 2  # still remembered for a prune
    clock.advance(SEEN_KEPT.total_seconds() - CURRENT_FOR.total_seconds())
    await store.fleet.observe("acme", fleet(0, 1, 0))
    await store.maintain()
    assert await store.fleet.seen("globex") == {}
    assert len(await store.fleet.seen("acme")) == 1
