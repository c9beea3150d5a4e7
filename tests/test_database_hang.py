"""A database that hangs (accepts connections, answers nothing) or loses a write's answer:
read commands still answer, changes that must be audited are refused, /readyz answers,
and watch/unwatch say what is true.

The hang is real: the test SIGSTOPs the PostgreSQL cluster it started itself (the kernel
still accepts connections into the paused postmaster's backlog), or holds SQLite's write
lock from another connection. Nothing here measures time: a test that would hang without
the deadlines fails on its client's own generous timeout.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.sandbox.harness import Sandbox, reply_text
from bot.store.database import Database, StoreUnavailable, parse_database_url
from bot.watch.alerts import Alert, AlertKind, Member
from tests.postgres import PostgresServer, running_server

TOKEN_PATH = "/orgs/acme/actions/runners/registration-token"
GENEROUS = aiohttp.ClientTimeout(total=20)  # the client's patience, not a speed target
T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def store_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.store.database"]


async def readyz(sb: Sandbox) -> tuple[int, dict[str, Any]]:
    async with sb.session.get(sb.url + "/readyz", timeout=GENEROUS) as resp:
        return resp.status, await resp.json()


def an_alert(channel: str) -> Alert:
    return Alert(
        key="stuck|acme|all_busy|gpu",
        kind=AlertKind.STUCK,
        target="acme",
        channel=channel,
        opened_at=T0,
        reason="all_busy",
        labels=("gpu",),
        members=(Member(41, "build", T0),),
    )


async def test_reads_answer_and_changes_are_refused_while_postgres_hangs(
    make_sandbox: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.store.database")
    with running_server() as server:
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url, database_timeout=1.0) as sb:
            assert "linux-idle" in reply_text(await sb.run("list acme"))  # connections pooled
            assert (await readyz(sb))[0] == 200
            with server.paused():
                # The once-check that guards the command gives up; the read goes on.
                listing = reply_text(await sb.run("list acme", timeout=GENEROUS.total))
                assert "linux-idle" in listing and "Traceback" not in listing
                status, body = await readyz(sb)
                assert status == 503 and body["status"] == "unready"
                assert body["checks"]["database"].startswith("unreachable (no answer within")
                token = reply_text(await sb.run("token acme", timeout=GENEROUS.total))
                assert "could not record this action; nothing was done" in token
                assert sb.github.count("POST", TOKEN_PATH) == 0
            lines = store_log(caplog)
            assert any(
                f"database once claim failed (PostgreSQL at 127.0.0.1:{server.port}/" in line
                and "no answer within" in line
                for line in lines
            ), lines
            assert not any(server.password in message for message in caplog.messages)

            # Resumed: the same process records and acts again.
            assert (await readyz(sb))[0] == 200
            assert "could not record" not in reply_text(await sb.run("token acme"))
            assert sb.github.count("POST", TOKEN_PATH) == 1


async def test_a_watch_and_an_unwatch_cut_off_by_a_hang_say_they_cannot_tell(
    make_sandbox: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database goes silent as the change is written: the reply says the outcome is
    unknown (never "Watching", never "nothing was changed"), the audit entry written
    first remains, and a watch never outlives its alerts nor they it."""
    with running_server() as server:
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url, database_timeout=1.0) as sb:
            assert sb.services is not None
            store = sb.services.store
            hang_on_write(monkeypatch, server, store.watches, "put")
            try:
                reply = reply_text(await sb.run("watch acme", channel_id="C0ALERTS"))
            finally:
                server.resume()
            assert "could not tell whether the watch of *acme* was saved" in reply
            assert "Watching" not in reply and "nothing was changed" not in reply
            [confirmation] = sb.slack.in_channel("C0ALERTS")  # corrected in place
            assert "could not tell whether the watch of *acme* was saved" in confirmation["text"]
            [entry] = await store.audit.recent(target="acme")
            assert entry.action == "watch"  # written first; its outcome could not be settled
            monkeypatch.undo()

            assert "Watching *acme*" in reply_text(
                await sb.run("watch acme", channel_id="C0ALERTS")
            )
            await store.alerts.claim_post(an_alert("C0ALERTS"))
            hang_on_write(monkeypatch, server, store.watches, "remove")
            try:
                reply = reply_text(await sb.run("unwatch acme", channel_id="C0ALERTS"))
            finally:
                server.resume()
            assert "could not tell whether <#C0ALERTS> still watches *acme*" in reply
            assert "nothing was changed" not in reply
            entries = await store.audit.recent(target="acme")
            assert entries[0].action == "unwatch"
            # One transaction: the watch and its open alert went together or not at all.
            watched = await store.watches.get("C0ALERTS", "acme") is not None
            alerted = [a.channel for a in await store.alerts.open_alerts()] == ["C0ALERTS"]
            assert watched == alerted


def hang_on_write(
    monkeypatch: pytest.MonkeyPatch, server: PostgresServer, owner: object, name: str
) -> None:
    """The cluster is paused just as ``owner.name`` writes: the write and every later call
    meet a server that accepts and answers nothing."""
    real = getattr(owner, name)

    async def paused_then_write(*args: Any, **kwargs: Any) -> Any:
        server.pause()
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused_then_write)


def answer_lost(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, *, done: bool) -> None:
    """``owner.name`` is carried out (``done``) or not, and its answer lost either way:
    the caller sees StoreUnavailable, as when a connection drops during COMMIT."""
    real = getattr(owner, name)

    async def lost(*args: Any, **kwargs: Any) -> Any:
        if done:
            await real(*args, **kwargs)
        raise StoreUnavailable("watch write", "OperationalError")

    monkeypatch.setattr(owner, name, lost)


async def test_watch_and_unwatch_whose_answer_was_lost_are_read_back(
    make_sandbox: Callable[..., Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_sandbox(database_url=database_url) as sb:
        assert sb.services is not None
        store = sb.services.store
        answer_lost(monkeypatch, store.watches, "put", done=True)
        reply = reply_text(await sb.run("watch acme --after 2m", channel_id="C0ALERTS"))
        assert "Watching *acme*" in reply  # it was saved: read back
        [entry] = await store.audit.recent(target="acme")
        assert (entry.action, entry.outcome) == ("watch", "watched")
        assert "read back" in entry.detail
        monkeypatch.undo()

        answer_lost(monkeypatch, store.watches, "put", done=False)
        reply = reply_text(await sb.run("watch acme --after 9m", channel_id="C0ALERTS"))
        assert "could not be saved; the watch keeps its earlier ones" in reply
        [watch] = await store.watches.all()
        assert watch.after.total_seconds() == 120
        assert (await store.audit.recent(target="acme"))[0].outcome == "failed"
        monkeypatch.undo()

        # The case: the watch went, the answer did not come back. Its open alert
        # goes with it, and the reply and the audit trail say it went.
        await store.alerts.claim_post(an_alert("C0ALERTS"))
        answer_lost(monkeypatch, store.watches, "remove", done=False)
        reply = reply_text(await sb.run("unwatch acme", channel_id="C0ALERTS"))
        assert "<#C0ALERTS> still watches *acme*" in reply
        assert await store.watches.get("C0ALERTS", "acme") is not None
        assert len(await store.alerts.open_alerts()) == 1
        assert (await store.audit.recent(target="acme"))[0].outcome == "failed"
        monkeypatch.undo()

        answer_lost(monkeypatch, store.watches, "remove", done=True)
        reply = reply_text(await sb.run("unwatch acme", channel_id="C0ALERTS"))
        assert "This channel no longer watches *acme*" in reply
        assert "nothing was changed" not in reply
        assert await store.watches.all() == []
        assert await store.alerts.open_alerts() == []
        latest = (await store.audit.recent(target="acme"))[0]
        assert (latest.action, latest.outcome) == ("unwatch", "unwatched")


async def test_watch_and_unwatch_are_not_done_when_they_cannot_be_audited(
    make_sandbox: Callable[..., Any],
) -> None:
    with running_server() as server:  # its own server: this test stops it
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url, database_timeout=1.0) as sb:
            await sb.run("watch acme", channel_id="C0ALERTS")
            posted = len(sb.slack.posted)
            server.stop()
            for text in ("watch acme/api", "unwatch acme"):
                reply = reply_text(await sb.run(text, channel_id="C0ALERTS"))
                assert "could not record this action; nothing was done" in reply, text
            assert len(sb.slack.posted) == posted  # no confirmation of a watch not made
            server.start()
            assert sb.services is not None
            assert [w.target for w in await sb.services.store.watches.all()] == ["acme"]


async def test_a_held_sqlite_write_lock_ends_at_the_busy_timeout(
    make_sandbox: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.store.database")
    async with make_sandbox(database_timeout=0.5) as sb:
        path = sb.settings.database_url.removeprefix("sqlite:///")
        locker = sqlite3.connect(path, isolation_level=None)  # another process's writer
        locker.execute("BEGIN IMMEDIATE")
        try:
            listing = reply_text(await sb.run("list acme", timeout=GENEROUS.total))
            token = reply_text(await sb.run("token acme", timeout=GENEROUS.total))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert "linux-idle" in listing
        assert "could not record this action; nothing was done" in token
        assert sb.github.count("POST", TOKEN_PATH) == 0
        lines = store_log(caplog)
        assert any(
            "database once claim failed (sqlite file" in line and "database is locked" in line
            for line in lines
        ), lines
        assert "could not record" not in reply_text(await sb.run("token acme"))


async def test_postgres_deadlines_reach_the_server_and_the_pool(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """statement_timeout is set on every connection (a slow statement is cancelled by the
    server, with its message logged), and a pool with no connection free gives up."""
    caplog.set_level(logging.WARNING, logger="bot.store.database")
    url = parse_database_url(postgres_url)
    db = Database(url, pool_size=1, timeout=1.0)
    try:

        async def query(sql: str) -> Any:
            async with db.engine.connect() as conn:
                return (await conn.execute(sa.text(sql))).scalar()

        assert await db.read(lambda: query("SHOW statement_timeout"), "show") == "1s"
        with pytest.raises(StoreUnavailable) as slow:
            await db.read(lambda: query("SELECT pg_sleep(30)"), "slow read")
        assert slow.value.reason == "QueryCanceled"
        assert any(
            "database slow read failed (PostgreSQL at" in line and "statement timeout" in line
            for line in store_log(caplog)
        ), store_log(caplog)

        async with db.engine.connect() as a, db.engine.connect() as b:  # the whole pool
            await a.execute(sa.text("SELECT 1"))
            await b.execute(sa.text("SELECT 1"))
            with pytest.raises(StoreUnavailable) as waited:
                await db.read(lambda: query("SELECT 1"), "pooled read")
        assert waited.value.reason == "TimeoutError"
        assert await db.read(lambda: query("SELECT 1"), "read") == 1  # given back: works
    finally:
        await db.close()
