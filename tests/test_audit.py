from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.store.audit import (
    AuditConfigError,
    AuditEntry,
    AuditStore,
    SQLiteAuditStore,
    open_store,
    sqlite_path,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


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
async def store() -> AsyncIterator[AuditStore]:
    opened = open_store("sqlite:///:memory:")
    yield opened
    await opened.close()


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
    (read,) = await store.recent()
    assert secret not in read.detail and "[redacted]" in read.detail


async def test_persists_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"  # tmp_path is absolute: four slashes
    assert url.startswith("sqlite:////")
    first = open_store(url)
    a = await first.record(entry(0, detail="a"))
    b = await first.record(entry(1, detail="b"))
    await first.close()
    await first.close()  # closing twice is harmless

    second = open_store(url)
    try:
        assert await second.recent() == [b, a]
        c = await second.record(entry(2, detail="c"))
        assert c.id is not None and b.id is not None and c.id > b.id
    finally:
        await second.close()
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


async def test_closed_store_refuses_work() -> None:
    store = SQLiteAuditStore(":memory:")
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.record(entry())


async def test_concurrent_records(store: AuditStore) -> None:
    entries = [entry(i % 7, detail=str(i)) for i in range(200)]
    stored = await asyncio.gather(*(store.record(e) for e in entries))
    ids = [e.id for e in stored]
    assert None not in ids and len(set(ids)) == 200
    everything = await store.recent(limit=1000)
    assert len(everything) == 200
    assert {e.detail for e in everything} == {str(i) for i in range(200)}
    assert {e.id for e in everything} == set(ids)


# --- DATABASE_URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///runnerops.db", "runnerops.db"),
        ("sqlite:///data/audit.db", "data/audit.db"),
        ("sqlite:////var/lib/runnerops/audit.db", "/var/lib/runnerops/audit.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("SQLite:///x.db", "x.db"),
        ("  sqlite:///x.db  ", "x.db"),
        ("sqlite:///my%20audit.db", "my audit.db"),
    ],
)
def test_sqlite_path(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///rel.db")
    try:
        assert isinstance(store, SQLiteAuditStore)
        assert (tmp_path / "rel.db").exists()
    finally:
        asyncio.run(store.close())


@pytest.mark.parametrize("url", [None, ""])
def test_default_url(url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(url)
    try:
        assert (tmp_path / "runnerops.db").exists()
    finally:
        asyncio.run(store.close())


def test_store_meets_the_interface() -> None:
    store = open_store("sqlite:///:memory:")
    assert isinstance(store, AuditStore)
    asyncio.run(store.close())


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgres://user:hunter2@db.example/audit", "postgres"),
        ("postgresql+asyncpg://user:hunter2@db/audit", "postgresql+asyncpg"),
        ("mysql://db/audit", "mysql"),
        ("runnerops.db", "(none)"),
    ],
)
def test_unsupported_scheme(url: str, scheme: str) -> None:
    with pytest.raises(AuditConfigError) as info:
        open_store(url)
    message = str(info.value)
    assert f"scheme {scheme!r}" in message
    assert "only sqlite:/// is built in" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite://runnerops.db", "three slashes"),
        ("sqlite:runnerops.db", "three slashes"),
        ("sqlite:///", "no database file"),
        ("sqlite:///x.db?mode=ro", "options"),
    ],
)
def test_malformed_sqlite_url(url: str, reason: str) -> None:
    with pytest.raises(AuditConfigError, match=reason):
        open_store(url)


def test_unopenable_file(tmp_path: Path) -> None:
    with pytest.raises(AuditConfigError, match="cannot open the audit database"):
        open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'audit.db'}")
