"""Each watch's health: since when it cannot be swept, why, and the message saying so.

Stored (not in memory) because the process that sweeps can change at any round: the next
leader finds the failure's start, and the notice to update in place, where the last one
left them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.store._sql import insert_for
from bot.store.database import Database
from bot.store.schema import leases, watch_health, watches
from bot.timestamps import stored_time

WatchId = tuple[str, str]  # (channel, target key)


@dataclass(frozen=True, slots=True)
class SweepState:
    """What /readyz says of the watch: whether anyone sweeps, and how lately."""

    watches: int
    oldest_watch: datetime | None
    last_success: datetime | None
    holder: str | None  # the process holding the sweep's lease, None when nobody does


@dataclass(frozen=True, slots=True)
class Health:
    channel: str
    target_key: str
    failing_since: datetime | None = None
    reason: str = ""
    detail: str = ""
    notice_ts: str | None = None
    last_success: datetime | None = None


def _health(row: sa.Row[tuple[object, ...]]) -> Health:
    m = row._mapping
    return Health(
        channel=m["channel"],
        target_key=m["target_key"],
        failing_since=m["failing_since"],
        reason=m["reason"],
        detail=m["detail"],
        notice_ts=m["notice_ts"],
        last_success=m["last_success"],
    )


class HealthStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._insert = insert_for(db)

    async def all(self) -> dict[WatchId, Health]:
        async def select() -> dict[WatchId, Health]:
            async with self.db.engine.connect() as conn:
                rows = await conn.execute(sa.select(watch_health))
                return {(h.channel, h.target_key): h for h in map(_health, rows)}

        return await self.db.read(select, "watch health read")

    async def put(self, health: Health) -> None:
        values = {
            "channel": health.channel,
            "target_key": health.target_key,
            "failing_since": health.failing_since,
            "reason": health.reason,
            "detail": health.detail,
            "notice_ts": health.notice_ts,
            "last_success": health.last_success,
        }
        statement = self._insert(watch_health).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[watch_health.c.channel, watch_health.c.target_key],
            set_={k: statement.excluded[k] for k in values if k not in {"channel", "target_key"}},
        )

        async def upsert() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(statement)

        await self.db.write(upsert, "watch health write")

    @staticmethod
    def forget_statement(channel: str, target: str) -> sa.Executable:
        """The watch ended: its health goes with it (run in the watch's removal)."""
        return watch_health.delete().where(
            watch_health.c.channel == channel, watch_health.c.target_key == target.lower()
        )

    async def sweep_state(self, lease: str = "sweep") -> SweepState:
        """How many watches there are (and since when), when a watch was last swept, and
        who holds the sweep's lease now."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        counted = sa.select(sa.func.count(), sa.func.min(watches.c.created_at))
        latest = sa.select(sa.func.max(watch_health.c.last_success))
        holder = sa.select(leases.c.holder).where(
            leases.c.name == lease, leases.c.expires_at >= now
        )

        async def select() -> SweepState:
            async with self.db.engine.connect() as conn:
                count, oldest = (await conn.execute(counted)).one()
                last = (await conn.execute(latest)).scalar()
                held = (await conn.execute(holder)).scalar()
            return SweepState(int(count), _when(oldest), _when(last), held)

        return await self.db.read(select, "sweep state read")


def _when(value: object) -> datetime | None:
    """An aggregate's time: SQLite may hand it back as the stored text."""
    return stored_time(value) if isinstance(value, str | datetime) else None
