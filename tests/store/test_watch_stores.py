"""The watch's stores on both engines: jobs (out-of-order reports), watches, alerts,
runners seen and the sweep's leadership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Store
from bot.store.leases import Leader
from bot.store.watches import Watch
from bot.watch.alerts import Alert, AlertKind, Member
from bot.watch.models import Job, RunnerInfo
from tests.conftest import Clock

T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    s = Store.open(database_url, clock=clock)
    yield s
    await s.close()


def job(status: str, **changes: object) -> Job:
    values: dict[str, object] = {
        "id": 41,
        "labels": ("self-hosted", "GPU"),
        "status": status,
        "repository": "Acme/API",
        "repository_public": False,
        "created_at": T0,
        "run_id": 7,
        "name": "build",
        "workflow_name": "CI",
        "html_url": "https://github.com/Acme/API/actions/runs/7/job/41",
    }
    if status in ("in_progress", "completed"):
        values |= {"started_at": T0 + timedelta(minutes=7), "runner_id": 3, "runner_name": "g1"}
    if status == "completed":
        values["completed_at"] = T0 + timedelta(minutes=9)
    values.update(changes)
    return Job(**values)  # type: ignore[arg-type]


async def test_jobs_move_forward_whatever_the_order(store: Store) -> None:
    await store.jobs.record(job("queued", started_at=T0))  # GitHub's started_at = created_at
    stored = await store.jobs.get(41)
    assert stored is not None and stored.job.status == "queued"
    assert stored.job.started_at is None and stored.job.labels == ("gpu", "self-hosted")

    done = await store.jobs.record(job("completed"), conclusion="success")
    late = await store.jobs.record(job("in_progress"))  # arrives after completed
    again = await store.jobs.record(job("queued"))
    assert done is not None and late is not None and again is not None
    assert again.job.status == "completed" and again.conclusion == "success"
    assert again.job.started_at == T0 + timedelta(minutes=7)
    assert again.job.completed_at == T0 + timedelta(minutes=9)
    assert again.job.runner_name == "g1"
    assert await store.jobs.open_jobs("acme") == []


async def test_open_jobs_of_an_org_or_repo_oldest_first(store: Store) -> None:
    await store.jobs.record(job("queued", id=2, created_at=T0 + timedelta(minutes=1)))
    await store.jobs.record(job("waiting", id=1))
    await store.jobs.record(job("queued", id=3, repository="acme/web"))
    await store.jobs.record(job("in_progress", id=4))
    assert [r.job.id for r in await store.jobs.open_jobs("ACME")] == [1, 3, 2]
    assert [r.job.id for r in await store.jobs.open_jobs("acme", "acme/api")] == [1, 2]
    assert await store.jobs.record(Job(id=None, labels=())) is None


async def test_watch_again_updates_the_thresholds(store: Store) -> None:
    first = Watch("C1", "acme", timedelta(minutes=5), timedelta(minutes=10), "U1", "a", T0)
    assert await store.watches.put(first) is True
    again = Watch("C1", "ACME", timedelta(minutes=2), timedelta(minutes=3), "U2", "b", T0)
    assert await store.watches.put(again) is False
    [watch] = await store.watches.all()
    assert (watch.after, watch.offline_after, watch.created_by) == (
        timedelta(minutes=2),
        timedelta(minutes=3),
        "U1",
    )
    assert await store.watches.remove("C1", "Acme") is True
    assert await store.watches.remove("C1", "acme") is False
    assert await store.watches.all() == []


def alert(key: str = "stuck|acme|all_busy|gpu", channel: str = "C1") -> Alert:
    return Alert(
        key=key,
        kind=AlertKind.STUCK,
        target="acme",
        channel=channel,
        opened_at=T0,
        reason="all_busy",
        labels=("gpu",),
        members=(Member(41, "build", T0),),
    )


async def test_an_alert_is_claimed_once_then_posted_then_resolved(store: Store) -> None:
    a = alert()
    claims = await asyncio.gather(*(store.alerts.claim_post(a) for _ in range(5)))
    assert claims.count(True) == 1
    from dataclasses import replace

    posted = replace(a, message_ts="1.0001", shown_count=1)
    await store.alerts.posted(posted)
    assert await store.alerts.claim_post(posted) is False
    [loaded] = await store.alerts.open_alerts()
    assert loaded == posted
    await store.alerts.resolve(posted)
    assert await store.alerts.open_alerts() == []
    # The key is free again for the next alert of the same kind.
    assert await store.alerts.claim_post(a) is True
    # Retention: resolved alerts older than the cutoff go, open ones stay.
    now = datetime.fromtimestamp(store.clock(), UTC)
    assert await store.alerts.prune(now - timedelta(days=1)) == 0
    assert await store.alerts.prune(now + timedelta(days=1)) == 1
    assert [x.key for x in await store.alerts.open_alerts()] == [a.key]


async def test_same_key_in_two_channels_is_two_alerts(store: Store) -> None:
    await store.alerts.save(alert(channel="C1"))
    await store.alerts.save(alert(channel="C2"))
    assert {a.channel for a in await store.alerts.open_alerts()} == {"C1", "C2"}
    assert await store.alerts.drop_watch("C1", "ACME") == 1
    assert [a.channel for a in await store.alerts.open_alerts()] == ["C2"]


async def test_runners_seen_remember_last_online(store: Store, clock: Clock) -> None:
    up = RunnerInfo(1, "r1", status="online")
    await store.fleet.observe("acme", [up, RunnerInfo(2, "r2", status="offline")])
    seen_at = datetime.fromtimestamp(clock(), UTC)
    clock.advance(600)
    seen = await store.fleet.observe(
        "acme", [RunnerInfo(1, "r1", status="offline"), RunnerInfo(2, "r2", status="offline")]
    )
    assert seen[1].last_seen_online == seen_at
    assert seen[1].first_seen_offline == datetime.fromtimestamp(clock(), UTC)
    assert seen[2].last_seen_online is None and seen[2].first_seen_offline == seen_at
    assert await store.fleet.last_seen_online([1, 2, 3]) == {1: seen_at, 2: None, 3: None}
    await store.fleet.job_state(2, busy=True)
    after = await store.fleet.seen("ACME")
    assert after[2].busy and after[2].status == "online" and after[2].first_seen_offline is None
    gone = await store.fleet.observe("acme", [up])
    assert set(gone) == {1} and gone[1].first_seen_offline is None


async def test_one_leader_at_a_time(database_url: str, clock: Clock) -> None:
    a, b = Store.open(database_url, clock=clock), Store.open(database_url, clock=clock)
    one = Leader(a.db, "sweep", "a", ttl=timedelta(seconds=90), clock=clock)
    two = Leader(b.db, "sweep", "b", ttl=timedelta(seconds=90), clock=clock)
    try:
        assert await one.acquire() is True
        assert await two.acquire() is False
        assert await one.acquire() is True  # still leading
        await one.release()  # the leader goes away
        assert await two.acquire() is True
        assert await one.acquire() is False
    finally:
        await one.release()
        await two.release()
        await a.close()
        await b.close()


async def test_a_fix_is_said_on_the_open_alert_and_survives_the_sweeps_saves(
    store: Store,
) -> None:
    a = alert()
    await store.alerts.save(a)
    at = T0 + timedelta(minutes=3)
    assert await store.alerts.record_fix(a.channel, a.key, "U1", "added gpu to g-3", at)
    await store.alerts.save(a)  # the sweep saves the alert's state again
    marks = await store.alerts.marks(a.channel, a.key)
    assert (marks.fixed_by, marks.fixed_at, marks.fix_note) == ("U1", at, "added gpu to g-3")
    assert await store.alerts.record_fix(a.channel, a.key, "U2", "x" * 2000, at)
    marks = await store.alerts.marks(a.channel, a.key)
    assert marks.fixed_by == "U2" and marks.fix_note == "x" * 500  # cut, not refused
    await store.alerts.resolve(a)
    assert not await store.alerts.record_fix(a.channel, a.key, "U3", "late", at)
