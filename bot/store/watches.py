"""Watches: a channel that asked for alerts on a target, with its thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store._sql import insert_for
from bot.store.database import Database
from bot.store.schema import watches

MENTION_AFTER = timedelta(minutes=15)  # ``--mention-after``'s default
VERSION_WARN = timedelta(days=14)  # ``--version-warn``'s default


@dataclass(frozen=True, slots=True)
class Watch:
    channel: str
    target: str  # str(Target): ``acme``, ``acme/api``, ``enterprise:octo``
    after: timedelta
    offline_after: timedelta
    created_by: str
    created_by_name: str
    created_at: datetime
    # ``--mention`` targets (``<@U…>``, ``<!subteam^S…>``) and ``--mention-after``.
    mentions: tuple[str, ...] = ()
    mention_after: timedelta = MENTION_AFTER
    # ``--digest HH:MM`` (None: no digest) in ``--tz``, and the local day (YYYY-MM-DD)
    # whose digest was last claimed (bot/watch/digest.py).
    digest_at: str | None = None
    digest_tz: str = "UTC"
    digest_day: str | None = None
    # ``--version-warn``: a version GitHub stops giving jobs within it raises an alert.
    version_warn: timedelta = VERSION_WARN

    @property
    def target_key(self) -> str:
        return self.target.lower()


def _watch(row: sa.Row[tuple[object, ...]]) -> Watch:
    m = row._mapping
    return Watch(
        channel=m["channel"],
        target=m["target"],
        after=timedelta(seconds=m["after_seconds"]),
        offline_after=timedelta(seconds=m["offline_after_seconds"]),
        created_by=m["created_by"],
        created_by_name=m["created_by_name"],
        created_at=m["created_at"],
        mentions=tuple(str(m["mentions"] or "").split()),
        mention_after=timedelta(seconds=m["mention_after_seconds"]),
        digest_at=m["digest_at"],
        digest_tz=m["digest_tz"] or "UTC",
        digest_day=m["digest_day"],
        version_warn=timedelta(seconds=m["version_warn_seconds"]),
    )


class WatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert = insert_for(db)

    async def put(self, watch: Watch) -> bool:
        """Add ``watch``, or change the thresholds of the same channel and target (who
        and when stay the first watcher's). True when it is new.

        The day last claimed for its digest is the one given (:attr:`Watch.digest_day`,
        the latest day already past, so the first digest is the next one) unless the
        digest's time and zone are the same as before: then it stays as it was."""
        values = {
            "channel": watch.channel,
            "target_key": watch.target_key,
            "target": watch.target,
            "after_seconds": int(watch.after.total_seconds()),
            "offline_after_seconds": int(watch.offline_after.total_seconds()),
            "created_by": watch.created_by,
            "created_by_name": watch.created_by_name,
            "created_at": watch.created_at,
            "mentions": " ".join(watch.mentions),
            "mention_after_seconds": int(watch.mention_after.total_seconds()),
            "digest_at": watch.digest_at,
            "digest_tz": watch.digest_tz,
            "digest_day": watch.digest_day,
            "version_warn_seconds": int(watch.version_warn.total_seconds()),
        }
        statement = self._insert(watches).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[watches.c.channel, watches.c.target_key],
            set_={
                "after_seconds": statement.excluded.after_seconds,
                "offline_after_seconds": statement.excluded.offline_after_seconds,
                "mentions": statement.excluded.mentions,
                "mention_after_seconds": statement.excluded.mention_after_seconds,
                "digest_at": statement.excluded.digest_at,
                "digest_tz": statement.excluded.digest_tz,
                "digest_day": sa.case(
                    (
                        watches.c.digest_at.is_not_distinct_from(statement.excluded.digest_at)
                        & (watches.c.digest_tz == statement.excluded.digest_tz),
                        watches.c.digest_day,
                    ),
                    else_=statement.excluded.digest_day,
                ),
                "version_warn_seconds": statement.excluded.version_warn_seconds,
            },
        )

        async def upsert() -> bool:
            async with self.db.engine.begin() as conn:
                before = await conn.execute(
                    sa.select(watches.c.channel).where(
                        watches.c.channel == watch.channel,
                        watches.c.target_key == watch.target_key,
                    )
                )
                new = before.first() is None
                await conn.execute(statement)
                return new

        return await self.db.write(upsert, "watch write")

    async def claim_digest(self, watch: Watch, day: str) -> bool:
        """Claim ``day``'s digest of ``watch`` (as it is now: same time and zone): one
        conditional UPDATE moving ``digest_day`` forward to ``day``, which only one process
        wins. True for the winner, the one that posts it."""
        if watch.digest_at is None:
            return False
        c = watches.c
        statement = (
            watches.update()
            .where(
                c.channel == watch.channel,
                c.target_key == watch.target_key,
                c.digest_at == watch.digest_at,
                c.digest_tz == watch.digest_tz,
                sa.or_(c.digest_day.is_(None), c.digest_day < day),
            )
            .values(digest_day=day)
        )

        async def update() -> bool:
            async with self.db.engine.begin() as conn:
                return (await conn.execute(statement)).rowcount == 1

        return await self.db.write(update, "watch digest claim")

    async def release_digest(self, watch: Watch, day: str) -> bool:
        """Give back the claim of ``day``'s digest of ``watch`` (Slack refused the post, so
        it surely was not posted): ``digest_day`` goes back to what it was before the claim
        (:attr:`Watch.digest_day` as read), only if it still holds ``day``; a later round
        then posts it. True when it was given back."""
        c = watches.c
        statement = (
            watches.update()
            .where(
                c.channel == watch.channel,
                c.target_key == watch.target_key,
                c.digest_day == day,
            )
            .values(digest_day=watch.digest_day)
        )

        async def update() -> bool:
            async with self.db.engine.begin() as conn:
                return (await conn.execute(statement)).rowcount == 1

        return await self.db.write(update, "watch digest release")

    async def remove(
        self, channel: str, target: str, *, also: Sequence[sa.Executable] = ()
    ) -> bool:
        """True when there was such a watch. ``also`` runs in the same transaction (the
        watch's open alerts are closed with it, or neither happens)."""

        async def delete() -> bool:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    watches.delete().where(
                        watches.c.channel == channel, watches.c.target_key == target.lower()
                    )
                )
                for statement in also:
                    await conn.execute(statement)
                return bool(result.rowcount)

        return await self.db.write(delete, "watch write")

    async def get(self, channel: str, target: str) -> Watch | None:
        """The watch of ``target`` in ``channel``, if there is one."""
        query = sa.select(watches).where(
            watches.c.channel == channel, watches.c.target_key == target.lower()
        )

        async def select() -> Watch | None:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            return _watch(row) if row is not None else None

        return await self.db.read(select, "watch read")

    async def all(self) -> list[Watch]:
        """Every watch, by target then channel."""
        query = sa.select(watches).order_by(watches.c.target_key, watches.c.channel)

        async def select() -> list[Watch]:
            async with self.db.engine.connect() as conn:
                return [_watch(row) for row in await conn.execute(query)]

        return await self.db.read(select, "watch read")
