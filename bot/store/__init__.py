"""Where data is stored: one database (SQLite or PostgreSQL) behind small typed stores.

:class:`Store` opens the database ``DATABASE_URL`` names and holds one store per concern:
:attr:`Store.audit` (the audit trail), :attr:`Store.once` (things done once across
processes), and the watch's :attr:`Store.jobs`, :attr:`Store.watches`, :attr:`Store.alerts`
and :attr:`Store.fleet` (runners last seen). Nothing outside this package writes SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.store import migrate
from bot.store.alerts import AlertStore
from bot.store.audit import ABANDONED_AFTER, AuditStore
from bot.store.database import (
    DEFAULT_TIMEOUT,
    Database,
    DatabaseConfigError,
    parse_database_url,
)
from bot.store.fleet import FleetStore
from bot.store.health import HealthStore
from bot.store.jobs import JobStore
from bot.store.once import Once
from bot.store.plans import PlanStore
from bot.store.versions import VersionStore
from bot.store.watches import WatchStore

DEFAULT_RETENTION_DAYS = 400
DEFAULT_JOB_RETENTION_DAYS = 90

__all__ = ["DatabaseConfigError", "Store"]


@dataclass
class Store:
    db: Database
    audit: AuditStore
    once: Once
    clock: Callable[[], float]
    retention: timedelta
    jobs: JobStore
    watches: WatchStore
    alerts: AlertStore
    fleet: FleetStore
    plans: PlanStore
    health: HealthStore
    versions: VersionStore  # runner versions' end-of-life dates, asked once a day
    job_retention: timedelta = timedelta(days=DEFAULT_JOB_RETENTION_DAYS)

    @classmethod
    def open(
        cls,
        database_url: str | None,
        *,
        clock: Callable[[], float] = time.time,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        job_retention_days: int = DEFAULT_JOB_RETENTION_DAYS,
        migrate_now: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Store:
        """Open the database; bring its schema up to date (or check that it is).

        Raises DatabaseConfigError, in one line naming the host and never the password,
        when the URL is wrong or the database cannot be reached. ``timeout``
        (DATABASE_TIMEOUT) bounds every later call."""
        url = parse_database_url(database_url)
        if migrate_now:
            migrate.upgrade(url)
        else:
            at, head = migrate.current(url), migrate.head()
            if at != head and (at is None or migrate.known(at)):  # unknown: a newer release's
                raise DatabaseConfigError(
                    f"runnerops cannot start: the database ({url.shown}) is at schema"
                    f" {at or 'none'} and this version needs {head}: run `python -m bot migrate`"
                )
        db = Database(url, timeout=timeout)
        return cls(
            db,
            AuditStore(db),
            Once(db, clock),
            clock,
            timedelta(days=retention_days),
            JobStore(db, clock),
            WatchStore(db),
            AlertStore(db, clock),
            FleetStore(db, clock),
            PlanStore(db, clock),
            HealthStore(db, clock),
            VersionStore(db, clock),
            timedelta(days=job_retention_days),
        )

    async def maintain(self) -> tuple[int, int]:
        """Retention, run in the background: entries left ``pending`` by a process that
        stopped become ``unknown``; jobs open past GitHub's 24-hour limit are closed; job
        rows older than JOB_RETENTION_DAYS, audit entries and resolved alerts older than
        AUDIT_RETENTION_DAYS, expired once-records, old fleet samples and the runners of
        targets not listed for a month, go. Returns (audit entries, once-records)
        dropped."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        cutoff = now - self.retention
        await self.audit.settle_abandoned(now - ABANDONED_AFTER)
        await self.jobs.close_ghosts()
        await self.jobs.prune(now - self.job_retention)
        await self.alerts.prune(cutoff)
        await self.plans.prune()
        await self.fleet.prune_samples()
        await self.fleet.prune_seen()
        await self.versions.prune()
        return await self.audit.prune(cutoff), await self.once.prune()

    async def close(self) -> None:
        await self.db.close()
