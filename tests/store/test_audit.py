"""The audit store, on SQLite and on a real PostgreSQL (each test runs on both)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import exc

from bot.store import Store, migrate
from bot.store.audit import AuditEntry, AuditStore
from bot.store.database import Database, parse_database_url, sync_engine
from bot.store.schema import UTCDateTime
from tests.conftest import Clock

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def entry(minutes: int = 0, **fields: str) -> AuditEntry:
    values = {
        "user_id": "U1",
        "user_name": "alice",
        "action": "token",
        "target": "acme/api",
        "outcome": "issued",
    }
    values.update(fields)
    return AuditEntry(at=T0 + timedelta(minutes=minutes), **values)


@pytest.fixture
async def opened(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    store = Store.open(database_url, clock=clock, retention_days=30)
    yield store
    await store.close()


@pytest.fixture
def store(opened: Store) -> AuditStore:
    return opened.audit


async def test_round_trip(store: AuditStore) -> None:
    written = entry(detail="runner build-7", channel_id="C1")
    stored = await store.record(written)
    assert stored.id is not None
    assert stored == replace(written, id=stored.id)
    (read,) = await store.recent()
    assert read == stored
    assert read.at.tzinfo is not None and read.at.utcoffset() == timedelta(0)


async def test_newest_first(store: AuditStore) -> None:
    await store.record(entry(5, detail="b"))
    await store.record(entry(0, detail="a"))
    await store.record(entry(10, detail="c"))
    await store.record(entry(10, detail="d"))  # same instant: the later record first
    assert [e.detail for e in await store.recent()] == ["d", "c", "b", "a"]


async def test_target_filter_is_exact_and_ignores_case(store: AuditStore) -> None:
    await store.record(entry(0, target="acme/api"))
    await store.record(entry(1, target="Acme/API", action="delete", outcome="deleted"))
    await store.record(entry(2, target="acme/api2"))
    await store.record(entry(3, target="acme"))
    await store.record(entry(4, target="", action="audit", outcome="refused"))
    found = await store.recent(target="ACME/api")
    assert [e.target for e in found] == ["Acme/API", "acme/api"]
    assert [e.target for e in await store.recent(target="acme")] == ["acme"]
    assert [e.action for e in await store.recent(target="")] == ["audit"]
    assert await store.recent(target="other") == []


async def test_several_targets_filter_in_the_query(store: AuditStore) -> None:
    await store.record(entry(0, target="acme/api", detail="mine"))
    for minute in range(1, 60):  # a flood of another target's entries, all newer
        await store.record(entry(minute, target="globex", outcome="refused"))
    found = await store.recent(targets=["ACME/api"], limit=5)
    assert [e.detail for e in found] == ["mine"]
    assert await store.recent(targets=[]) == []
    assert sorted(await store.targets()) == ["acme/api", "globex"]


async def test_limit(store: AuditStore) -> None:
    for minute in range(30):
        await store.record(entry(minute, detail=str(minute)))
    assert len(await store.recent()) == 20
    latest = await store.recent(limit=3)
    assert [e.detail for e in latest] == ["29", "28", "27"]
    assert await store.recent(limit=0) == []
    with pytest.raises(ValueError, match="negative"):
        await store.recent(limit=-1)


async def test_times_are_kept_in_utc(store: AuditStore) -> None:
    paris = timezone(timedelta(hours=2))
    stored = await store.record(
        AuditEntry(datetime(2024, 5, 1, 14, 30, tzinfo=paris), "U1", "alice", "list", "acme", "ok")
    )
    assert stored.at == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert stored.at.tzinfo is UTC
    (read,) = await store.recent()
    assert read.at == stored.at


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditEntry(datetime(2024, 5, 1), "U1", "alice", "token", "acme", "issued")


async def test_credentials_never_reach_the_trail(store: AuditStore) -> None:
    secret = "ghs_" + "A1b2" * 9
    stored = await store.record(entry(detail=f"failed with {secret} in the reply"))
    assert secret not in stored.detail
    await store.settle(stored.id or 0, "failed", f"again {secret}")
    (read,) = await store.recent()
    assert secret not in read.detail and "[redacted]" in read.detail


async def test_pending_entry_is_settled(store: AuditStore) -> None:
    pending = await store.record(entry(outcome="pending", detail="build-7"))
    assert pending.id is not None
    await store.settle(pending.id, "deleted")
    (read,) = await store.recent()
    assert (read.outcome, read.detail) == ("deleted", "build-7")
    await store.settle(pending.id, "failed", "RunnerBusy")
    (read,) = await store.recent()
    assert (read.outcome, read.detail) == ("failed", "RunnerBusy")


async def test_persists_across_reopen(database_url: str, clock: Clock) -> None:
    first = Store.open(database_url, clock=clock)
    a = await first.audit.record(entry(0, detail="a"))
    b = await first.audit.record(entry(1, detail="b"))
    await first.close()
    await first.close()  # closing twice is harmless

    second = Store.open(database_url, clock=clock)
    try:
        assert await second.audit.recent() == [b, a]
        c = await second.audit.record(entry(2, detail="c"))
        assert c.id is not None and b.id is not None and c.id > b.id
    finally:
        await second.close()


async def test_concurrent_records(store: AuditStore) -> None:
    entries = [entry(i % 7, detail=str(i)) for i in range(200)]
    stored = await asyncio.gather(*(store.record(e) for e in entries))
    ids = [e.id for e in stored]
    assert None not in ids and len(set(ids)) == 200
    everything = await store.recent(limit=1000)
    assert len(everything) == 200
    assert {e.detail for e in everything} == {str(i) for i in range(200)}
    assert {e.id for e in everything} == set(ids)


async def test_retention_prunes_old_entries_only(opened: Store, clock: Clock) -> None:
    now = datetime.fromtimestamp(clock(), UTC)
    old = await opened.audit.record(replace(entry(detail="old"), at=now - timedelta(days=31)))
    kept = await opened.audit.record(replace(entry(detail="kept"), at=now - timedelta(days=29)))
    assert old.id is not None
    dropped, _ = await opened.maintain()
    assert dropped == 1
    assert await opened.audit.recent() == [kept]


class LostFirstAcknowledgement(Database):
    """The first attempt of each write commits, then the connection drops before its
    answer is read: :meth:`Database.write` sees a connection error and tries again."""

    async def write(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        attempts = 0

        async def acknowledged_only_the_second_time() -> T:
            nonlocal attempts
            attempts += 1
            result = await work()
            if attempts == 1:
                raise exc.OperationalError("COMMIT", None, ConnectionResetError("reset"))
            return result

        return await super().write(acknowledged_only_the_second_time, what)


async def test_a_write_retried_after_a_lost_acknowledgement_is_stored_once(
    opened: Store, database_url: str
) -> None:
    flaky = LostFirstAcknowledgement(parse_database_url(database_url))
    try:
        stored = await AuditStore(flaky).record(entry(detail="token for build-7"))
        again = await AuditStore(flaky).record(entry(1, detail="second action"))
    finally:
        await flaky.close()
    entries = await opened.audit.recent()
    assert [(e.id, e.detail) for e in entries] == [
        (again.id, "second action"),
        (stored.id, "token for build-7"),
    ]


def test_entries_written_before_0005_keep_everything(database_url: str) -> None:
    """A database at the previous schema, with entries, migrates to the keyed audit:
    nothing is lost, and the unkeyed old entries do not conflict with each other."""
    url = parse_database_url(database_url)
    engine = sync_engine(url)
    config = migrate._config()
    before = sa.Table(  # the audit table as 0004 left it: no entry_key
        "audit",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("at", UTCDateTime()),
        *(sa.Column(name, sa.Text()) for name in ("user_id", "user_name", "action", "target")),
        *(sa.Column(name, sa.Text()) for name in ("outcome", "detail", "channel_id")),
    )
    old = [entry(i, detail=f"old {i}") for i in range(3)]
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(
                before.insert(),
                [{k: v for k, v in asdict(e).items() if k != "id"} for e in old],
            )
    finally:
        engine.dispose()
    assert migrate.upgrade(url) == migrate.head()

    async def check() -> None:
        store = Store.open(database_url)
        try:
            new = await store.audit.record(entry(10, detail="new"))
            entries = await store.audit.recent()
        finally:
            await store.close()
        assert [e.detail for e in entries] == ["new", "old 2", "old 1", "old 0"]
        assert [replace(e, id=None) for e in entries[1:]] == old[::-1]
        assert new.id is not None and new.id > max(e.id or 0 for e in entries[1:])

    asyncio.run(check())


async def test_refusals_apart_and_counted(store: AuditStore) -> None:
    """``recent(refused=False)`` leaves refusals out in the query; ``refusal_counts``
    groups them per user, command and target (any case), newest group first."""
    await store.record(entry(0))
    for minute in range(1, 6):
        await store.record(entry(minute, user_id="U2", user_name="bob", outcome="refused"))
    bob, carol = {"user_id": "U2", "user_name": "bob"}, {"user_id": "U3", "user_name": "carol"}
    await store.record(entry(7, **bob, outcome="refused", target="ACME/API"))
    await store.record(entry(8, **carol, outcome="refused", action="delete"))
    await store.record(entry(9, user_id="U2", outcome="refused", target="globex"))

    kept = await store.recent(target="acme/api", limit=1, refused=False)
    assert [(e.user_name, e.outcome) for e in kept] == [("alice", "issued")]
    only = await store.recent(target="acme/api", refused=True)
    assert len(only) == 7 and {e.outcome for e in only} == {"refused"}
    assert len(await store.recent(target="acme/api")) == 8  # None: everything

    counts = await store.refusal_counts(target="acme/api")
    assert [(c.user_id, c.action, c.target, c.count) for c in counts] == [
        ("U3", "delete", "acme/api", 1),
        ("U2", "token", "acme/api", 6),
    ]
    assert counts[1].latest == T0 + timedelta(minutes=7) and counts[1].user_name == "bob"
    everywhere = await store.refusal_counts(targets=["acme/api", "globex"], limit=2)
    assert [(c.target, c.count) for c in everywhere] == [("globex", 1), ("acme/api", 1)]
    assert await store.refusal_counts(targets=[]) == []


async def test_entries_left_pending_by_a_stopped_process_become_unknown(
    opened: Store, clock: Clock
) -> None:
    """A process killed between its action and GitHub's answer leaves ``pending``; the
    background maintenance says ``unknown`` once such an entry is too old to be in flight
    (a live one, however slow, is left alone)."""
    now = datetime.fromtimestamp(clock(), UTC)
    store = opened.audit
    old = await store.record(
        AuditEntry(now - timedelta(minutes=20), "U1", "alice", "token", "acme", "pending")
    )
    live = await store.record(
        AuditEntry(now - timedelta(minutes=1), "U1", "alice", "delete", "acme", "pending", "r7")
    )
    settled = await store.record(
        AuditEntry(now - timedelta(hours=1), "U1", "alice", "token", "acme", "issued")
    )
    await opened.maintain()
    by_id = {e.id: e for e in await store.recent(limit=10)}
    assert by_id[old.id].outcome == "unknown"
    assert by_id[old.id].detail.startswith("(the process stopped before GitHub's answer")
    assert (by_id[live.id].outcome, by_id[live.id].detail) == ("pending", "r7")
    assert by_id[settled.id].outcome == "issued"
