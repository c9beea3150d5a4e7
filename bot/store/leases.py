"""Who leads a background task when several processes run it.

A row with an expiry does, on both engines: the holder renews it every round (its expiry
``ttl`` ahead of the injected clock), and another process takes it once it has run out.
With a ``ttl`` between one and two periods, a leader that vanishes without a word (a
host gone, a network cut) is replaced within two periods, whatever the TCP stack does;
a PostgreSQL advisory lock, held by a connection, would wait for the server to notice the
connection is dead, which without keepalives takes about two hours. The upsert is one
statement: on PostgreSQL two processes renewing at once cannot both win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.store._sql import insert_for, utc
from bot.store.database import Database
from bot.store.schema import leases

log = logging.getLogger(__name__)


class Leader:
    """``await leader.acquire()`` is True while this process leads ``name``."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str,
        *,
        ttl: timedelta,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        self._insert: Any = insert_for(db)
        # Why the last acquire() could not tell (the database away), else None: a leader
        # that loses its database must still say so where people look.
        self.error: str | None = None
        self.held = False  # whether the last acquire() that could tell said yes

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another holder's lease runs."""
        try:
            held = await self._lease()
        except Exception as error:  # the database is away: nobody leads this round
            # Short and safe to show (the driver's full message is in the store's log).
            self.error = getattr(error, "reason", "") or type(error).__name__
            log.warning("leadership of %s unknown: %s", self.name, self.error)
            return False
        if held != self.held:
            log.info("%s lease %s by %s", self.name, "taken" if held else "lost", self.holder)
        self.error, self.held = None, held
        return held

    async def _lease(self) -> bool:
        now = utc(self.clock)
        statement = self._insert(leases).values(
            name=self.name, holder=self.holder, expires_at=now + self.ttl
        )
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": self.holder, "expires_at": now + self.ttl},
            where=(leases.c.holder == self.holder) | (leases.c.expires_at < now),
        ).returning(leases.c.name)

        async def upsert() -> bool:
            async with self.db.engine.begin() as conn:
                return (await conn.execute(statement)).first() is not None

        return await self.db.write(upsert, "lease")

    async def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so another takes over next round."""
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    leases.delete().where(
                        leases.c.name == self.name, leases.c.holder == self.holder
                    )
                )
        except Exception:
            pass  # it runs out by itself
