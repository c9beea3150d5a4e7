"""Runners of watched targets as the sweep saw them: when each was last seen online.

GitHub says only whether a runner is online *now*; how long one has been offline exists
only if someone wrote down when it was last online. The sweep does, every round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store._sql import insert_for, storable, utc
from bot.store.database import Database
from bot.store.schema import STATUS_WIDTH, fleet_samples, runners_seen
from bot.watch.models import RunnerInfo

SAMPLE_EVERY = 600  # seconds: one sample per target per ten minutes
SAMPLES_KEPT = timedelta(days=8)  # a week's chart and a day to spare
# A target's runners as last listed count as its fleet now (the metrics) for this long: the
# sweep lists a watched target every period, or paced through the hour at worst; a target
# no longer watched drops out instead of being reported as it was for ever.
CURRENT_FOR = timedelta(hours=1)
# What runnerops saw of a target it no longer lists is forgotten after this long: a prune
# of it then counts a runner's time offline from when it is seen again (never sooner).
SEEN_KEPT = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Sample:
    at: datetime
    online: int  # idle and online
    busy: int
    offline: int


@dataclass(frozen=True, slots=True)
class Seen:
    runner_id: int
    name: str
    status: str
    busy: bool
    last_seen_online: datetime | None
    first_seen_offline: datetime | None


class FleetStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._insert = insert_for(db)

    async def observe(
        self, target: str, runners: Iterable[RunnerInfo], *, complete: bool = True
    ) -> dict[int, Seen]:
        """Record one listing of ``target``'s runners; return what is known of each.

        An online runner is seen online now; an offline one keeps its last time and gets
        ``first_seen_offline``. With ``complete``, runners no longer listed are forgotten.
        """
        now = utc(self.clock)
        key = target.lower()
        runners = list(runners)
        table = runners_seen
        rows = [
            {
                "target_key": key,
                "runner_id": runner.id,
                "name": storable(runner.name),
                "status": storable(runner.status[:STATUS_WIDTH]),
                "busy": runner.busy,
                "last_seen_online": now if runner.online else None,
                "first_seen_offline": None if runner.online else now,
                "updated_at": now,
            }
            for runner in runners
        ]
        # One statement for every runner, executed with many parameter sets: building and
        # compiling an upsert per runner cost ~2 ms of CPU each, seconds a round for a
        # 1,000-runner organization (tests/benchmarks/watch.py).
        statement = self._insert(table)
        new = statement.excluded
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.target_key, table.c.runner_id],
            set_={
                "name": new.name,
                "status": new.status,
                "busy": new.busy,
                "last_seen_online": sa.func.coalesce(
                    new.last_seen_online, table.c.last_seen_online
                ),
                # The first offline sighting stays until it is online again.
                "first_seen_offline": sa.case(
                    (new.first_seen_offline.is_(None), None),
                    else_=sa.func.coalesce(table.c.first_seen_offline, new.first_seen_offline),
                ),
                "updated_at": new.updated_at,
            },
        )

        async def write() -> dict[int, Seen]:
            async with self.db.engine.begin() as conn:
                if rows:
                    await conn.execute(upsert, rows)
                if complete:  # a partial listing would chart a fleet that shrank
                    bucket = datetime.fromtimestamp(
                        now.timestamp() // SAMPLE_EVERY * SAMPLE_EVERY, now.tzinfo
                    )
                    counts = {
                        "online": sum(1 for r in runners if r.online and not r.busy),
                        "busy": sum(1 for r in runners if r.busy),
                        "offline": sum(1 for r in runners if not r.online and not r.busy),
                    }
                    sample = self._insert(fleet_samples).values(target_key=key, at=bucket, **counts)
                    await conn.execute(
                        sample.on_conflict_do_update(
                            index_elements=[fleet_samples.c.target_key, fleet_samples.c.at],
                            set_=counts,
                        )
                    )
                if complete:
                    ids = [r.id for r in runners]
                    await conn.execute(
                        table.delete().where(
                            table.c.target_key == key, table.c.runner_id.not_in(ids)
                        )
                    )
                found = await conn.execute(sa.select(table).where(table.c.target_key == key))
                return {int(r.runner_id): _seen(r) for r in found}

        return await self.db.write(write, "runner write")

    async def seen(self, target: str) -> dict[int, Seen]:
        async def select() -> dict[int, Seen]:
            async with self.db.engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(runners_seen).where(runners_seen.c.target_key == target.lower())
                )
                return {int(r.runner_id): _seen(r) for r in rows}

        return await self.db.read(select, "runner read")

    async def sighting(self, target: str, runner_id: int) -> Seen | None:
        """What runnerops' records say of one runner of ``target`` (None: nothing)."""
        query = sa.select(runners_seen).where(
            runners_seen.c.target_key == target.lower(), runners_seen.c.runner_id == runner_id
        )

        async def select() -> Seen | None:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            return _seen(row) if row is not None else None

        return await self.db.read(select, "runner read")

    async def last_seen_online(self, runner_ids: Iterable[int]) -> dict[int, datetime | None]:
        """The latest time any watch saw each runner online (None: never)."""
        ids = list(set(runner_ids))
        if not ids:
            return {}
        query = (
            sa.select(runners_seen.c.runner_id, sa.func.max(runners_seen.c.last_seen_online))
            .where(runners_seen.c.runner_id.in_(ids))
            .group_by(runners_seen.c.runner_id)
        )

        async def select() -> dict[int, datetime | None]:
            async with self.db.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            found: dict[int, datetime | None] = {int(rid): None for rid in ids}
            for rid, at in rows:
                found[int(rid)] = _as_utc(at)
            return found

        return await self.db.read(select, "runner read")

    async def samples(self, target: str, since: datetime) -> list[Sample]:
        """The target's fleet over time, oldest first."""
        query = (
            sa.select(fleet_samples)
            .where(fleet_samples.c.target_key == target.lower(), fleet_samples.c.at >= since)
            .order_by(fleet_samples.c.at)
        )

        async def select() -> list[Sample]:
            async with self.db.engine.connect() as conn:
                return [
                    Sample(r.at, int(r.online), int(r.busy), int(r.offline))
                    for r in await conn.execute(query)
                ]

        return await self.db.read(select, "runner read")

    async def prune_samples(self) -> int:
        cutoff = utc(self.clock) - SAMPLES_KEPT

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    fleet_samples.delete().where(fleet_samples.c.at < cutoff)
                )
                return int(result.rowcount or 0)

        return await self.db.write(delete, "runner prune")

    async def prune_seen(self) -> int:
        """Forget the runners of targets not listed for :data:`SEEN_KEPT`."""
        cutoff = utc(self.clock) - SEEN_KEPT

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    runners_seen.delete().where(runners_seen.c.updated_at < cutoff)
                )
                return int(result.rowcount or 0)

        return await self.db.write(delete, "runner prune")

    async def status_counts(self) -> list[tuple[str, str, int]]:
        """(target, online | busy | offline, runners) as last seen within
        :data:`CURRENT_FOR`, for the metrics."""
        busy_or_status = sa.case(
            (runners_seen.c.busy.is_(True), "busy"), else_=runners_seen.c.status
        )
        query = (
            sa.select(runners_seen.c.target_key, busy_or_status, sa.func.count())
            .where(runners_seen.c.updated_at >= utc(self.clock) - CURRENT_FOR)
            .group_by(runners_seen.c.target_key, busy_or_status)
        )

        async def select() -> list[tuple[str, str, int]]:
            async with self.db.engine.connect() as conn:
                return [(str(t), str(s), int(n)) for t, s, n in await conn.execute(query)]

        return await self.db.read(select, "runner read")

    async def busy_now(self, runner_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        """(status, busy) of runners as last known, job events included: what stands in
        for a fresh listing when the poll budget paces the account."""
        ids = list(set(runner_ids))
        found: dict[int, tuple[str, bool]] = {}

        async def select() -> None:
            async with self.db.engine.connect() as conn:
                for start in range(0, len(ids), 500):  # bound the IN list
                    query = sa.select(
                        runners_seen.c.runner_id, runners_seen.c.status, runners_seen.c.busy
                    ).where(runners_seen.c.runner_id.in_(ids[start : start + 500]))
                    for runner_id, status, busy in await conn.execute(query):
                        found[int(runner_id)] = (str(status), bool(busy))

        await self.db.read(select, "runner read")
        return found

    async def job_state(self, runner_id: int, *, busy: bool) -> None:
        """A job started (busy) or ended on the runner: it is online, whatever the list
        said last."""
        now = utc(self.clock)

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    runners_seen.update()
                    .where(runners_seen.c.runner_id == runner_id)
                    .values(
                        busy=busy,
                        status="online",
                        last_seen_online=now,
                        first_seen_offline=None,
                        updated_at=now,
                    )
                )

        await self.db.write(update, "runner write")


def _as_utc(value: object) -> datetime | None:
    # max() over the SQLite text column comes back as text, not through the type.
    from bot.store.schema import UTCDateTime

    if value is None:
        return None
    if isinstance(value, datetime | str):
        return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    return None


def _seen(row: sa.Row[tuple[object, ...]]) -> Seen:
    m = row._mapping
    return Seen(
        runner_id=int(m["runner_id"]),
        name=m["name"],
        status=m["status"],
        busy=bool(m["busy"]),
        last_seen_online=m["last_seen_online"],
        first_seen_offline=m["first_seen_offline"],
    )
