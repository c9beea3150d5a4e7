"""Retention runs in the app's background loop, never on a request's path: audit entries
older than AUDIT_RETENTION_DAYS and expired once-records go when the loop's round comes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from bot.sandbox.harness import reply_text
from bot.store import Store
from bot.store.schema import once
from tests.conftest import Clock

DAY = 86_400.0


class Ticks:
    """A sleep the test releases: each call waits until the test lets it go, so the loop's
    rounds happen when the test says and nothing waits on real time."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        released = asyncio.get_running_loop().create_future()
        await self.waiting.put((seconds, released))
        await released

    async def next(self) -> tuple[float, asyncio.Future[None]]:
        """The loop's next wait: its length, and the future that ends it."""
        return await asyncio.wait_for(self.waiting.get(), 30)


async def once_keys(store: Store) -> set[str]:
    async with store.db.engine.connect() as conn:
        return {row.key for row in await conn.execute(sa.select(once.c.key))}


async def test_the_background_round_prunes_old_audit_and_expired_once_records(
    make_sandbox: Callable[..., Any], clock: Clock
) -> None:
    ticks = Ticks()
    async with make_sandbox(clock=clock, maintenance_sleep=ticks, audit_retention_days=30) as sb:
        store: Store = sb.services.store
        wait, first_round = await ticks.next()
        assert wait == 60.0  # the first round comes shortly after start

        assert "registration token" in reply_text(await sb.run("token acme")).lower()
        old_keys = await once_keys(store)
        clock.advance(31 * DAY)  # past the retention and the once-records' day
        assert "registration token" in reply_text(await sb.run("token acme")).lower()
        # Commands on the request path prune nothing, however old the rows are.
        assert len(await store.audit.recent()) == 2
        assert old_keys and old_keys < await once_keys(store)

        first_round.set_result(None)
        wait, _ = await ticks.next()  # the round has run; the loop now waits an hour
        assert wait == 3600.0
        (kept,) = await store.audit.recent()
        assert kept.at.timestamp() == clock.now
        assert not old_keys & await once_keys(store)
        assert await once_keys(store)  # the new command's record stays


async def test_a_round_that_fails_does_not_stop_the_loop(
    make_sandbox: Callable[..., Any], clock: Clock
) -> None:
    ticks = Ticks()
    async with make_sandbox(clock=clock, maintenance_sleep=ticks) as sb:
        store: Store = sb.services.store
        _, first_round = await ticks.next()
        await sb.run("token acme")
        await store.db.engine.dispose()
        async with store.db.engine.begin() as conn:  # the audit table is gone: prune fails
            await conn.execute(sa.text("ALTER TABLE audit RENAME TO audit_away"))
        first_round.set_result(None)
        wait, second_round = await ticks.next()
        assert wait == 3600.0
        async with store.db.engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE audit_away RENAME TO audit"))
        clock.advance(401 * DAY)
        second_round.set_result(None)
        await ticks.next()  # the next round ran, and pruned as the default retention says
        assert await store.audit.recent() == []
