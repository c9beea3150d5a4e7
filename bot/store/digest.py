"""What a watch's daily digest reads: queue times of a bounded period, and the alerts
opened and resolved in it.

Queue times are bot/store/job_stats.py's, over ``[start, end)`` rather than "since": the
roll-ups (bot/store/rollups.py) for the whole hours and days inside the period, the jobs
themselves for its partial hours at either end and for those not rolled up (not started).
What comes back is one row per label set, however many jobs the day held.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store import _stats_sql as sq
from bot.store._stats_sql import Dialect
from bot.store.alerts import decode
from bot.store.database import Database
from bot.store.job_stats import MAX_LABEL_SETS
from bot.store.rollups import ceil_hour, hour_of, wait_us_sql
from bot.store.schema import alerts
from bot.watch.digest import AlertRow
from bot.watch.labels import LabelSetKey, is_github_hosted, label_set_key
from bot.watch.stats import QueueStats

MAX_ALERTS = 1000  # alerts of one watch one day reads at most


class DigestStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = Dialect(db.dialect)

    def _source(
        self, repository: str | None, start: datetime, end: datetime
    ) -> tuple[str, dict[str, object]]:
        """The waits of the jobs created in ``[start, end)`` (``k``, ``w``, ``c``, as
        ``percentiles`` takes them) and their bounds."""
        first, last = ceil_hour(start), hour_of(end)
        parts: list[str] = []
        at = self.dialect.at
        params: dict[str, object] = {"start": at(start), "end": at(end)}
        edges = [(start, end)]
        if first < last:
            edges = [(start, first), (last, end)]
            for i, (span, low, high, sign) in enumerate(sq.spans(first, last)):
                parts.append(
                    f"SELECT labels AS k, wait_us AS w, {'jobs' if sign > 0 else '-jobs'} AS c"
                    f" FROM job_waits WHERE target_key = :scope AND span = {int(span)}"
                    f" AND hour >= :roll_lo{i} AND hour < :roll_hi{i}"
                )
                params |= {f"roll_lo{i}": at(low), f"roll_hi{i}": at(high)}
        waited, labels = wait_us_sql(self.dialect.name), "CAST(labels AS TEXT)"
        edge_scope = sq.scope(repository)
        if repository is None:  # the (owner, rank, created) index: started jobs only
            edge_scope += " AND status_rank IN (1, 2)"
        for i, (low, high) in enumerate(edges):
            if low < high:
                parts.append(
                    f"SELECT {labels} AS k, {waited} AS w, 1 AS c FROM jobs WHERE {edge_scope}"
                    f" AND waits_rolled AND created_at >= :edge_lo{i} AND created_at < :edge_hi{i}"
                )
                params |= {f"edge_lo{i}": at(low), f"edge_hi{i}": at(high)}
        unrolled = "owner_key = :owner" + (" AND repo_key = :scope" if repository else "")
        parts.append(
            f"SELECT {labels} AS k, {waited} AS w, 1 AS c FROM jobs WHERE {unrolled}"
            " AND NOT waits_rolled AND created_at >= :start AND created_at < :end"
        )
        return "(" + " UNION ALL ".join(parts) + ")", params

    async def queue_window(
        self,
        owner: str,
        repository: str | None,
        start: datetime,
        end: datetime,
        *,
        threshold: timedelta,
    ) -> dict[LabelSetKey, QueueStats]:
        """bot/watch/stats.py ``queue_stats`` of the self-hosted jobs created in
        ``[start, end)`` (the most common :data:`MAX_LABEL_SETS` label sets)."""
        source, params = self._source(repository, start, end)
        sql = sq.percentiles("k", source) + " ORDER BY total DESC LIMIT :most"
        params |= {
            "scope": sq.scope_value(owner, repository),
            "owner": sq.owner_key(owner, repository),
            "threshold": threshold // timedelta(microseconds=1),
            "most": MAX_LABEL_SETS,
        }

        async def select() -> list[sa.RowMapping]:
            async with self.db.engine.connect() as conn:
                return list((await conn.execute(sa.text(sql), params)).mappings())

        rows = sq.queue_rows(await self.db.read(select, "digest read"))
        return {k: v for k, v in rows.items() if not is_github_hosted(label_set_key(k))}

    async def alerts_between(
        self, channel: str, target: str, start: datetime, end: datetime
    ) -> list[AlertRow]:
        """The alerts of the watch of ``target`` in ``channel`` posted and opened, or
        resolved, in ``[start, end)``."""
        c = alerts.c
        opened = (c.opened_at >= start) & (c.opened_at < end) & c.message_ts.is_not(None)
        resolved = (c.resolved_at >= start) & (c.resolved_at < end)
        query = (
            sa.select(c.state, c.message_ts, c.opened_at, c.resolved_at)
            .where(
                c.channel == channel,
                sa.func.lower(c.target) == target.lower(),
                sa.or_(opened, resolved),
            )
            .order_by(c.opened_at, c.id)
            .limit(MAX_ALERTS)
        )

        async def select() -> list[AlertRow]:
            async with self.db.engine.connect() as conn:
                rows = list(await conn.execute(query))
            out = []
            for state, ts, opened_at, resolved_at in rows:
                alert = decode(state, ts)
                out.append(
                    AlertRow(
                        kind=alert.kind.value,
                        reason=alert.reason,
                        # A resolved one keeps only the count its message last showed.
                        jobs=max(len(alert.members) + len(alert.left), alert.shown_count, 1),
                        opened=ts is not None and start <= opened_at < end,
                        resolved=resolved_at is not None and start <= resolved_at < end,
                    )
                )
            return out

        return await self.db.read(select, "digest read")
