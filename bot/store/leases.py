"""Who leads a background task when several processes run it.

On PostgreSQL the leader holds a session advisory lock on a connection of its own: if the
process dies, the server drops the connection and the lock with it, at once. On SQLite
(one host, few processes) a row with an expiry does: the holder renews it every round and
a dead holder's lease runs out.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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
        self.key = zlib.crc32(f"runnerops:{name}".encode()) & 0x7FFFFFFF
        self._conn: AsyncConnection | None = None
        self._insert: Any = insert_for(db)

    async def acquire(self) -> bool:
        try:
            if self.db.dialect == "postgresql":
                return await self._advisory()
            return await self._lease()
        except Exception as error:  # the database is away: nobody leads this round
            log.warning("leadership of %s unknown: %s", self.name, type(error).__name__)
            await self.release()
            return False

    async def _advisory(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT 1"))
                await self._conn.commit()  # never left idle in a transaction
                return True  # still our connection, still our lock
            except Exception:
                await self.release()
        conn = await self.db.engine.connect()
        got = (
            await conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        ).scalar_one()
        await conn.commit()
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

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
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                # Closing the database session (not just returning it to the pool) frees
                # its advisory locks.
                await conn.invalidate()
                await conn.close()
            except Exception:
                pass
        elif self.db.dialect != "postgresql":
            try:
                async with self.db.engine.begin() as lease_conn:
                    await lease_conn.execute(
                        leases.delete().where(
                            leases.c.name == self.name, leases.c.holder == self.holder
                        )
                    )
            except Exception:
                pass  # it runs out by itself
