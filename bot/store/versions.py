"""Runner versions' end-of-life dates as GitHub last gave them, with when it was asked.

GitHub changes a version's dates rarely; ``versions`` asks again once a stored answer is
a day old (:data:`MAX_AGE`). Stored, not in memory, so every process shares one answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store._sql import insert_for, utc
from bot.store.database import Database
from bot.store.schema import runner_versions

MAX_AGE = timedelta(days=1)
# A version nobody asked about for this long is forgotten (retention).
FORGET_AFTER = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class VersionDates:
    version: str
    registration_deprecates_at: datetime | None
    runtime_deprecates_at: datetime | None
    published: bool  # False: GitHub had no dates for this version (404)
    checked_at: datetime


def fresh(stored: Iterable[VersionDates], now: datetime) -> dict[str, VersionDates]:
    """The stored answers younger than :data:`MAX_AGE`, by version."""
    return {d.version: d for d in stored if now - d.checked_at < MAX_AGE}


class VersionStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._insert = insert_for(db)

    async def fresh(self, versions: Sequence[str]) -> dict[str, VersionDates]:
        """The answers for ``versions`` asked less than a day ago."""
        if not versions:
            return {}

        async def select() -> list[VersionDates]:
            async with self.db.engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(runner_versions).where(runner_versions.c.version.in_(versions))
                )
                return [VersionDates(**row._mapping) for row in rows]

        return fresh(await self.db.read(select, "runner versions read"), utc(self.clock))

    async def put(self, dates: Sequence[VersionDates]) -> None:
        """Store (or replace) each version's answer."""
        if not dates:
            return

        async def upsert() -> None:
            async with self.db.engine.begin() as conn:
                for d in dates:
                    values = {
                        "version": d.version,
                        "registration_deprecates_at": d.registration_deprecates_at,
                        "runtime_deprecates_at": d.runtime_deprecates_at,
                        "published": d.published,
                        "checked_at": d.checked_at,
                    }
                    statement = self._insert(runner_versions).values(**values)
                    await conn.execute(
                        statement.on_conflict_do_update(
                            index_elements=[runner_versions.c.version], set_=values
                        )
                    )

        await self.db.write(upsert, "runner versions write")

    async def prune(self) -> int:
        """Forget versions not asked about for :data:`FORGET_AFTER`."""
        cutoff = utc(self.clock) - FORGET_AFTER

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    runner_versions.delete().where(runner_versions.c.checked_at < cutoff)
                )
                return int(result.rowcount or 0)

        return await self.db.write(delete, "runner versions prune")
