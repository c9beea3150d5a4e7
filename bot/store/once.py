"""Do a thing once per key, however many processes are asked to do it.

Slack redelivers a slash command it thinks went unanswered (``X-Slack-Retry-Num``), people
double-click, GitHub's deliveries can be redelivered by hand, and each may reach another
process. One atomic upsert (``INSERT … ON CONFLICT … DO UPDATE … WHERE``, the same on
PostgreSQL and SQLite) decides which caller acts; the others read the outcome it stores.

A record is ``running`` while its work runs, then ``done`` (kept a day) or ``failed``
(given to those who were waiting, then open to a new attempt). A ``running`` record whose
process died is taken over once its lease has passed; work that may outlast the lease (a
prune waiting out a rate limit) keeps its claim alive with a :class:`Heartbeat`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.database import Database, StoreUnavailable
from bot.store.schema import once

log = logging.getLogger(__name__)
T = TypeVar("T")

RUNNING, DONE, FAILED = "running", "done", "failed"
TTL = timedelta(days=1)  # once-records expire after a day
LEASE = timedelta(seconds=60)  # longer than any GitHub call's deadline
POLL = 0.05  # how often a waiting caller looks for the first one's outcome
WAIT = 30.0  # how long it waits at most (a Slack response_url lives 30 minutes)


@dataclass(frozen=True)
class Record:
    state: str
    outcome: Any


class Once:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        ttl: timedelta = TTL,
        lease: timedelta = LEASE,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl
        self.lease = lease
        self._insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        # The claimed_at this object last wrote per running key: a heartbeat renews only a
        # claim that is still its own (not one another process took over).
        self._held: dict[str, datetime] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def _claim(
        self,
        key: str,
        state: str,
        *,
        take_failed: bool,
        outcome: Any = None,
        ttl: timedelta | None = None,
    ) -> bool:
        """Insert ``key``, or take over an expired, abandoned (or failed) record."""
        now = self._now()
        values = {
            "key": key,
            "state": state,
            "claimed_at": now,
            "expires_at": now + (self.ttl if ttl is None else ttl),
            "outcome": outcome,
        }
        takeover = (once.c.expires_at < now) | (
            (once.c.state == RUNNING) & (once.c.claimed_at < now - self.lease)
        )
        if take_failed:
            takeover = takeover | (once.c.state == FAILED)
        statement = (
            self._insert(once)
            .values(values)
            .on_conflict_do_update(
                index_elements=[once.c.key],
                set_={k: v for k, v in values.items() if k != "key"},
                where=takeover,
            )
            .returning(once.c.key)
        )

        async def upsert() -> bool:
            async with self.db.engine.begin() as conn:
                return (await conn.execute(statement)).first() is not None

        claimed = await self.db.write(upsert, "once claim")
        if claimed and state == RUNNING:
            self._held[key] = now
        return claimed

    async def renew(self, key: str) -> bool:
        """Move a running claim's lease on to now; False if it is no longer this
        object's (it was settled, forgotten, or taken over as abandoned)."""
        held = self._held.get(key)
        if held is None:
            return False
        now = self._now()
        statement = (
            once.update()
            .where(once.c.key == key, once.c.state == RUNNING, once.c.claimed_at == held)
            .values(claimed_at=now)
        )

        async def update() -> bool:
            async with self.db.engine.begin() as conn:
                return bool((await conn.execute(statement)).rowcount)

        renewed = await self.db.write(update, "once renew")
        if renewed:
            self._held[key] = now
        else:
            self._held.pop(key, None)
        return renewed

    def heartbeat(self, key: str) -> Heartbeat:
        """For work run under ``key`` that may outlast the lease: beat it as it goes."""
        return Heartbeat(self, key)

    async def _get(self, key: str) -> Record | None:
        async def select() -> Record | None:
            async with self.db.engine.connect() as conn:
                query = sa.select(once.c.state, once.c.outcome).where(once.c.key == key)
                row = (await conn.execute(query)).first()
            return Record(row.state, row.outcome) if row is not None else None

        return await self.db.read(select, "once read")

    async def _settle(self, key: str, state: str, outcome: Any) -> None:
        self._held.pop(key, None)

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    once.update().where(once.c.key == key).values(state=state, outcome=outcome)
                )

        await self.db.write(update, "once settle")

    async def first(self, key: str) -> bool:
        """Mark ``key`` done now; True for the first caller, False for a repeat.

        With the database down, or silent past its deadline (DATABASE_TIMEOUT), every
        caller counts as first: a read command still runs (a Slack retry may then be
        answered twice, harmless for a read), and a change stops at its audit entry,
        which cannot be written either."""
        try:
            return await self._claim(key, DONE, take_failed=False)
        except StoreUnavailable:
            log.warning("once-check unavailable; treating the request as new")
            return True

    async def begin(self, key: str) -> bool:
        """Claim ``key`` for work that may fail (a webhook delivery); False if another
        caller has it done or running. Follow with :meth:`done` or :meth:`forget`."""
        return await self._claim(key, RUNNING, take_failed=True)

    async def hold(self, key: str, claim: Any, *, ttl: timedelta) -> Record | None:
        """Claim ``key`` for ``ttl`` (shorter than a day: "once per short period"), storing
        ``claim`` (JSON, no secret: who holds it, for those turned away) where others can
        read it. None when this caller holds it now; else the record of the one that does
        (``running``, or ``done`` until ``ttl`` has passed). Follow with :meth:`done`
        (keep it, ``claim`` as its outcome) or :meth:`forget` (the work failed: free it)."""
        for _ in range(2):  # the holder may let go between this claim and the read
            if await self._claim(key, RUNNING, take_failed=True, outcome=claim, ttl=ttl):
                return None
            if (record := await self._get(key)) is not None:
                return record
        return Record(RUNNING, None)

    async def done(self, key: str, outcome: Any = None) -> None:
        await self._settle(key, DONE, outcome)

    async def forget(self, key: str) -> None:
        """The work failed: let the next attempt (a redelivery) run it again."""

        self._held.pop(key, None)

        async def delete() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(once.delete().where(once.c.key == key))

        await self.db.write(delete, "once forget")

    async def run(
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        *,
        keep: Callable[[T], bool],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> tuple[T, bool] | None:
        """Return ``(outcome, ran_here)``, or None if the first caller did not finish
        within :data:`WAIT`. Outcomes ``keep`` rejects reach those already waiting,
        then a new attempt may run (a failed delete can be clicked again)."""
        if await self._claim(key, RUNNING, take_failed=True):
            return await self._work(key, work, keep, encode), True
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            record = await self._get(key)
            if record is not None and record.state in (DONE, FAILED):
                return decode(record.outcome), False
            if await self._claim(key, RUNNING, take_failed=False):  # the first one died
                return await self._work(key, work, keep, encode), True
            await asyncio.sleep(POLL)
        return None

    async def _work(
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        keep: Callable[[T], bool],
        encode: Callable[[T], Any],
    ) -> T:
        try:
            outcome = await work()
        except BaseException:
            try:
                await asyncio.shield(self.forget(key))
            except StoreUnavailable:
                pass  # the lease frees the key later
            raise
        try:
            await self._settle(key, DONE if keep(outcome) else FAILED, encode(outcome))
        except StoreUnavailable:
            pass  # the caller has its outcome; the lease frees the key for a retry
        return outcome

    async def prune(self) -> int:
        """Drop expired records; return how many."""
        now = self._now()

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(once.delete().where(once.c.expires_at < now))
                return int(result.rowcount or 0)

        return await self.db.write(delete, "once prune")


class Heartbeat:
    """Keeps a :meth:`Once.run` claim alive while long work runs, so that only a dead
    process's claim is taken over. The work calls :meth:`beat` as it progresses (cheap:
    it writes at most every third of the lease, by the Once's clock) and waits in slices
    of :attr:`every` at most, beating between them."""

    def __init__(self, owner: Once, key: str) -> None:
        self.owner = owner
        self.key = key
        self.every = owner.lease.total_seconds() / 3
        self.last = owner.clock()
        self.lost = False  # another process took the claim over: this one was thought dead

    async def beat(self) -> None:
        now = self.owner.clock()
        if self.lost or now - self.last < self.every:
            return
        self.last = now
        try:
            if not await self.owner.renew(self.key):
                self.lost = True
                log.warning("the claim of %s was taken over while its work ran", self.key)
        except StoreUnavailable:
            log.warning("could not renew the claim of %s", self.key)

    async def sleep(self, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Wait ``seconds`` with ``sleep`` (an injected one in tests), beating meanwhile."""
        left = seconds
        while left > 0:
            await sleep(min(left, self.every))
            left -= self.every
            await self.beat()
