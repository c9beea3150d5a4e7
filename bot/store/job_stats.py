"""``stats`` and the Home tab's queue chart computed in the database, on either engine.

A window of a busy organization holds a million jobs: loading them into Python took
seconds on the event loop, and even one pass over them in SQL took seconds. ``stats``
and the Home tab's daily chart (``daily_queue``) now read the roll-ups kept as jobs
start and finish (bot/store/rollups.py: per day and hour, label set and wait, or runner)
for the whole days and hours of their window, and the jobs themselves only at the
window's partial edges and for the few not rolled up; what comes back is one row per
label set (per day) or runner, however many jobs there are.

The numbers are those of bot/watch/stats.py exactly (its pure functions are the reference
the tests compare with): nearest-rank percentiles (``percentile_disc`` on PostgreSQL, the
same rank from ``row_number()`` over an ordered window on SQLite), and times as integer
microseconds on both engines, so no float rounding moves a percentile or a busy share.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from bot.store import _stats_sql as sq
from bot.store._stats_sql import Dialect
from bot.store.database import Database
from bot.store.rollups import (
    HOUR,
    SPAN_HOUR,
    ceil_day,
    ceil_hour,
    day_of,
    hour_of,
    wait_us_sql,
)
from bot.store.schema import FINISHED_RUNS_WHERE, job_waits, jobs, runner_hours
from bot.watch.capacity import MAX_REPLAYED, StoredRun
from bot.watch.labels import LabelSetKey, is_github_hosted, label_set_key
from bot.watch.stats import QueueStats, RunnerUsage

# Bounds on what one reply can need: a target whose jobs name thousands of label sets
# (any repository writer controls ``runs-on``) still gets an answer of bounded size.
MAX_LABEL_SETS = 1000
MAX_RUNNERS = 1000
CHART_DAYS = 8  # the days a 7-day chart's window touches
# GitHub cancels a self-hosted job not started within 24 hours (bot/store/jobs.py
# QUEUE_LIMIT), plus the same hour of grace: how long a wait can reach into a window.
WAIT_LIMIT = timedelta(hours=25)


def _busiest_days(
    by_day: list[tuple[date, LabelSetKey, timedelta, timedelta, int]], threshold_sets: int
) -> list[tuple[date, LabelSetKey, timedelta, timedelta]]:
    """The points of the ``threshold_sets`` label sets with the most started jobs over
    every day (ties by label set, as bot/watch/stats.py ``daily_queue`` breaks them)."""
    totals: dict[LabelSetKey, int] = {}
    for _, key, _, _, n in by_day:
        totals[key] = totals.get(key, 0) + n
    chosen = set(sorted(totals, key=lambda k: (-totals[k], k))[:threshold_sets])
    return sorted((day, key, p50, p95) for day, key, p50, p95, _ in by_day if key in chosen)


def _rolled_waits(day: str) -> str:
    """The ``job_waits`` rows of a window's whole hours (``:day_from`` on, and the hours
    ``[:add_from, :add_to)``), and those of the hours ``[:sub_from, :sub_to)`` counted
    negative: a day's row less its first hours is fewer rows than its last hours (see
    ``JobStats._rolled_bounds``). ``day``: more columns to select, from ``hour``."""
    rows = f"SELECT labels AS k, {day} wait_us AS w, {{c}} AS c FROM job_waits"
    # The days summed per label set and wait first: a month of days is some 14 times
    # fewer rows for the outer grouping (and its sort) to handle.
    grouped = "" if day else " GROUP BY labels_key, wait_us"
    labels = "labels" if day else "max(labels)"
    jobs = "jobs" if day else "sum(jobs)"
    return (
        f"SELECT {labels} AS k, {day} wait_us AS w, {jobs} AS c FROM job_waits"
        f" WHERE target_key = :scope AND span = 24 AND hour >= :day_from{grouped}"
        f" UNION ALL {rows.format(c='jobs')} WHERE target_key = :scope AND span = 1"
        " AND hour >= :add_from AND hour < :add_to"
        f" UNION ALL {rows.format(c='-jobs')} WHERE target_key = :scope AND span = 1"
        " AND hour >= :sub_from AND hour < :sub_to"
    )


class _Tally:
    """Jobs and busy time per runner name, added up from the roll-ups and the jobs."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.busy: dict[str, timedelta] = {}

    def add(self, name: str, counted: int, time: timedelta) -> None:
        self.counts[name] = self.counts.get(name, 0) + counted
        self.busy[name] = self.busy.get(name, timedelta(0)) + time

    def usage(self, window: timedelta) -> dict[str, RunnerUsage]:
        """The runners that ran a job, by name (a bounded number of them)."""
        names = sorted(name for name, n in self.counts.items() if n)[:MAX_RUNNERS]
        return {
            name: RunnerUsage(
                name, self.counts[name], self.busy[name], min(self.busy[name] / window, 1.0)
            )
            for name in names
        }


def _whole_hours(scope: str, first: datetime, last: datetime) -> sa.Select[Any]:
    """Per runner of ``scope``: (name, runs started, busy microseconds) in the whole hours
    ``[first, last)``, from ``runner_hours``."""
    hours = runner_hours.c
    covered = [
        (sa.and_(hours.span == span, hours.hour >= low, hours.hour < high), sign)
        for span, low, high, sign in sq.spans(first, last)
    ]
    sign = sa.case(*covered, else_=0)
    return (
        sa.select(
            sa.func.max(hours.runner_name),
            sa.func.sum(sign * hours.starts),
            sa.func.sum(sign * hours.busy_us),
        )
        .where(hours.target_key == scope, sa.or_(*(where for where, _ in covered)))
        .group_by(hours.runner_key)
    )


class JobStats:
    """Read-only aggregates over the ``jobs`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = Dialect(db.dialect)
        # A scan of a large window keeps a core busy for a while. Few at a time per
        # process: five users asking at once wait in turn rather than take every core
        # from the event loop that acknowledges everyone else within Slack's 3 s. Two,
        # which run outside this process's GIL (in PostgreSQL's server processes; in
        # SQLite's C code, which lets the GIL go while it steps): stats 30d at 1M jobs
        # took a median of 545 ms one at a time on PostgreSQL, 364-375 ms two at a time
        # (the 7-day chart asked first: it is the longest); on SQLite 416-504 ms one at a
        # time, 423-451 ms two. Other commands' acks stayed p99 13-74 ms while 5 stats
        # ran; three at a time on PostgreSQL took them to 96-235 ms.
        self._scans = asyncio.Semaphore(2)

    async def _rows(
        self, sql: str, params: dict[str, object], *, expanding: str | None = None
    ) -> list[sa.RowMapping]:
        statement = sa.text(sql)
        if expanding is not None:  # a list bound as ``IN (…)``
            statement = statement.bindparams(sa.bindparam(expanding, expanding=True))

        async def select() -> list[sa.RowMapping]:
            async with self.db.engine.connect() as conn:
                if self.dialect.pg:  # one backend's core, not three: the service keeps one
                    await conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
                return list((await conn.execute(statement, params)).mappings())

        async with self._scans:
            return await self.db.read(select, "job stats read")

    def _params(self, owner: str, repository: str | None, start: datetime) -> dict[str, object]:
        start_text: object = start.astimezone(UTC)
        if not self.dialect.pg:  # compared with the stored fixed-width text
            start_text = start.astimezone(UTC).isoformat(timespec="microseconds")
        return {"scope": sq.scope_value(owner, repository), "start": start_text}

    def _rolled_bounds(self, start: datetime) -> dict[str, object]:
        """The bounds of :func:`_rolled_waits` for a window from ``start``: its whole days,
        and its first partial day's whole hours, or (when that is the most of a day) that
        day's row less the hours before them."""
        whole, days, midnight = ceil_hour(start), ceil_day(start), day_of(start)
        add, sub = (whole, days), (whole, whole)
        day_from = days
        if days - whole > timedelta(hours=12):
            day_from, add, sub = midnight, (whole, whole), (midnight, whole)
        return {
            "day_from": self.dialect.at(day_from),
            "add_from": self.dialect.at(add[0]),
            "add_to": self.dialect.at(add[1]),
            "sub_from": self.dialect.at(sub[0]),
            "sub_to": self.dialect.at(sub[1]),
        }

    async def queue_stats(
        self, owner: str, repository: str | None, start: datetime, *, threshold: timedelta
    ) -> dict[LabelSetKey, QueueStats]:
        """bot/watch/stats.py ``queue_stats`` of the jobs created at or after ``start``.

        Read from the roll-ups for the whole days from ``start`` on and the whole hours
        before them (bot/store/rollups.py: one row per day or hour, label set and distinct
        wait), and from the jobs themselves for
        the part of an hour before them and for the jobs not rolled up (not started yet,
        or cancelled while queued: an index holds only those). Waits in microseconds."""
        d = self.dialect
        waited = wait_us_sql(d.name)
        labels = "CAST(labels AS TEXT)"
        edge_scope = sq.scope(repository)
        if repository is None:  # the (owner, rank, created) index: started jobs only
            edge_scope += " AND status_rank IN (1, 2)"
        unrolled_scope = "owner_key = :owner" + (" AND repo_key = :scope" if repository else "")
        source = (
            f"({_rolled_waits('')}"
            f" UNION ALL SELECT {labels} AS k, {waited} AS w, 1 AS c FROM jobs"
            f" WHERE {edge_scope} AND waits_rolled AND created_at >= :start"
            " AND created_at < :whole"
            f" UNION ALL SELECT {labels} AS k, {waited} AS w, 1 AS c FROM jobs"
            f" WHERE {unrolled_scope} AND NOT waits_rolled AND created_at >= :start)"
        )
        sql = sq.percentiles("k", source) + " ORDER BY total DESC LIMIT :most"
        params = self._params(owner, repository, start)
        owner_key = sq.owner_key(owner, repository)
        params |= {
            "owner": owner_key,
            "whole": self.dialect.at(ceil_hour(start)),
            "threshold": threshold // timedelta(microseconds=1),
            "most": MAX_LABEL_SETS,
        } | self._rolled_bounds(start)
        return sq.queue_rows(await self._rows(sql, params))

    async def runner_usage(
        self, owner: str, repository: str | None, start: datetime, end: datetime
    ) -> dict[str, RunnerUsage]:
        """bot/watch/stats.py ``runner_usage`` over ``[start, end)`` of the window's jobs.

        Finished runs come from the roll-ups (bot/store/rollups.py ``runner_hours``) for
        the whole hours inside the window, and from the jobs themselves for the partial
        hours at its edges: those that started there, and those crossing into them (they
        started no earlier than the hour's ``first_start``). Runs not rolled up (running
        now) are read one by one. What comes back is bounded by the runners and by two
        hours of runs, however long the window."""
        window = end - start
        if window <= timedelta(0):
            raise ValueError("the window must end after it starts")
        scope = sq.scope_value(owner, repository)
        owner_key = sq.owner_key(owner, repository)
        job = jobs.c
        mine = [job.owner_key == owner_key] + ([job.repo_key == scope] if repository else [])
        tally = _Tally()
        first, last = ceil_hour(start), hour_of(end)
        if first < last:  # whole hours [first, last) come from the roll-ups
            for name, starts, busy_us in await self._select(_whole_hours(scope, first, last)):
                tally.add(str(name), int(starts or 0), timedelta(microseconds=int(busy_us or 0)))
        await self._edge_runs(tally, scope, mine, start, end)
        running = sa.select(job.runner_name, job.started_at, job.completed_at, job.created_at)
        running = running.where(
            sa.text("NOT usage_rolled AND started_at IS NOT NULL"),
            *mine,
            job.runner_name.is_not(None),
        )
        for name, started, completed, created in await self._select(running):
            in_window = (created is not None and created >= start) or (
                completed is None or completed >= start
            )
            finished = completed if completed is not None else end
            clipped = min(finished, end) - max(started, start)
            instant = finished <= started and start <= started < end
            if in_window and (clipped > timedelta(0) or instant):
                tally.add(str(name), True, max(clipped, timedelta(0)))
        return tally.usage(window)

    async def _edge_runs(
        self, tally: _Tally, scope: str, mine: list[Any], start: datetime, end: datetime
    ) -> None:
        """The finished runs of the window's partial hours at its edges (those the whole
        hours of the roll-ups leave out): those that started there, and those crossing
        into them, which started no earlier than the hour's ``first_start``."""
        first, last = ceil_hour(start), hour_of(end)
        whole = first < last
        edges = [(start, first), (last, end)] if whole else [(start, end)]
        hours = runner_hours.c
        marks = [hour_of(start)] + ([last] if whole else [])
        earliest = (
            sa.select(hours.hour, sa.func.min(hours.first_start))
            .where(hours.target_key == scope, hours.span == SPAN_HOUR, hours.hour.in_(marks))
            .group_by(hours.hour)
        )
        since = {hour: first_start for hour, first_start in await self._select(earliest)}
        ranges = [(min(since.get(marks[0], marks[0]), marks[0]), edges[0][1])]
        if whole:
            ranges.append((min(since.get(last, last), last), end))
        job = jobs.c
        columns = (job.id, job.runner_name, job.started_at, job.completed_at)
        seen: set[int] = set()
        for low, high in ranges:
            query = sa.select(*columns).where(
                sa.text("usage_rolled"), *mine, job.started_at >= low, job.started_at < high
            )
            for job_id, name, started, completed in await self._select(query):
                if job_id in seen:
                    continue
                seen.add(job_id)
                inside = sum(
                    (max(min(completed, hi) - max(started, lo), timedelta(0)) for lo, hi in edges),
                    timedelta(0),
                )
                counted = started < end and (started >= start or completed > start)
                counted = counted and not (whole and first <= started < last)
                if counted or inside:
                    tally.add(str(name), counted, inside)

    async def recent_rows(
        self,
        owner: str,
        repository: str | None,
        start: datetime,
        end: datetime,
        *,
        most: int = MAX_REPLAYED,
    ) -> list[StoredRun]:
        """The ``most`` most recently created finished self-hosted jobs created in
        ``[start, end)``, newest first (the later id first among those created at the
        same instant), for the capacity replay: an index range read backwards from
        ``end``, at most ``most`` entries however many jobs the window holds (on
        PostgreSQL from the ``jobs_finished_runs`` index alone, no heap fetch per row).

        Not queued behind the scans of a large window (``_scans``): this read is
        bounded, and runs beside them. The rows come back as the engine returns them and
        are decoded where they are replayed (:func:`bot.watch.capacity.runs_from_rows`,
        in the worker process of bot/offload.py): a type's processing of 15,000 values
        took more than the read itself, and decoding 5,000 rows is milliseconds of CPU
        the event loop acknowledging everyone else's commands does not have to spend."""
        # A repository's jobs through its own index (``jobs_repo_created``): through its
        # organization's, they would be found among all the organization's.
        scope = "repo_key = :repo" if repository is not None else "owner_key = :owner"
        sql = (
            "SELECT CAST(labels AS TEXT) AS labels, created_at, started_at, completed_at,"
            f" runner_name FROM jobs WHERE {scope}"
            f" AND {FINISHED_RUNS_WHERE} AND created_at >= :start AND created_at < :end"
            " ORDER BY created_at DESC, id DESC LIMIT :most"
        )
        params = {
            "owner": sq.owner_key(owner, repository),
            "repo": sq.scope_value(owner, repository),
            "start": self.dialect.at(start),
            "end": self.dialect.at(end),
            "most": most,
        }
        # Five columns, as selected: the shape the replay's decoder takes.
        return cast(list[StoredRun], await self._fetch(sql, params))

    async def _fetch(self, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
        """A bounded text select's rows as the driver returns them, not queued."""

        async def select() -> list[tuple[Any, ...]]:
            async with self.db.engine.connect() as conn:
                return [tuple(row) for row in await conn.execute(sa.text(sql), params)]

        return await self.db.read(select, "job stats read")

    async def _select(self, statement: sa.Select[Any]) -> list[tuple[Any, ...]]:
        """A Core select (times come back as datetimes on both engines), queued as the
        scans are (``_scans``)."""

        async def select() -> list[tuple[Any, ...]]:
            async with self.db.engine.connect() as conn:
                return [tuple(row) for row in await conn.execute(statement)]

        async with self._scans:
            return await self.db.read(select, "job stats read")

    async def daily_queue(
        self, owner: str, repository: str | None, start: datetime, *, threshold_sets: int = 6
    ) -> list[tuple[date, LabelSetKey, timedelta, timedelta]]:
        """bot/watch/stats.py ``daily_queue`` of the self-hosted jobs of the window.

        Read as ``queue_stats`` reads (the roll-ups for the whole days and hours from
        ``start`` on, the jobs for the part of an hour before them), grouped by day, plus
        the jobs created before ``start`` that waited or ran into the window (see
        :meth:`_crossing`). A label set's total is its started jobs over every day, so the
        busiest few are chosen from the same rows; hosted label sets are left out by their
        labels, as ``jobs.hosted`` was set from them."""
        d = self.dialect
        labels, waited = "CAST(labels AS TEXT)", wait_us_sql(d.name)
        edge_scope = sq.scope(repository)
        if repository is None:  # the (owner, rank, created) index: started jobs only
            edge_scope += " AND status_rank IN (1, 2)"
        source = (
            f"({_rolled_waits(d.day('hour') + ' AS day,')}"
            f" UNION ALL SELECT {labels} AS k, {d.day('created_at')} AS day, {waited} AS w,"
            f" 1 AS c FROM jobs WHERE {edge_scope} AND waits_rolled"
            " AND created_at >= :start AND created_at < :whole"
            f" UNION ALL {self._crossing(repository)})"
        )
        sql = sq.percentiles("day, k", source) + " ORDER BY n DESC LIMIT :most"
        params = (
            self._params(owner, repository, start)
            | {
                "owner": sq.owner_key(owner, repository),
                "whole": self.dialect.at(ceil_hour(start)),
                "threshold": 0,
                "most": CHART_DAYS * MAX_LABEL_SETS,
            }
            | self._rolled_bounds(start)
        )
        params |= await self._crossing_bounds(owner, repository, start)
        by_day: list[tuple[date, LabelSetKey, timedelta, timedelta, int]] = []
        for m in await self._rows(sql, params):
            key, p50, p95 = label_set_key(sq.labels(m["k"])), sq.delta(m["p50"]), sq.delta(m["p95"])
            if p50 is not None and p95 is not None and not is_github_hosted(key):
                by_day.append((date.fromisoformat(str(m["day"])), key, p50, p95, int(m["n"])))
        return _busiest_days(by_day, threshold_sets)

    def _crossing(self, repository: str | None) -> str:
        """The jobs created before ``start`` whose wait or run reaches into the window (as
        ``JobStore.since`` reads them), through small index ranges: those started since
        (created since ``:waits_from``), runs rolled up that started before and ended
        since (started since ``:runs_from``), and those not rolled up (running)."""
        d, scope = self.dialect, sq.scope(repository)
        select = (
            f"SELECT CAST(labels AS TEXT) AS k, {d.day('created_at')} AS day,"
            f" {wait_us_sql(d.name)} AS w, 1 AS c FROM jobs WHERE"
        )
        before = "created_at IS NOT NULL AND created_at < :start"
        ranked = " AND status_rank IN (1, 2)" if repository is None else ""
        mine = f"owner_key = :owner AND {scope}"
        return (
            f"{select} {scope}{ranked} AND created_at >= :waits_from AND {before}"
            " AND started_at >= :start"
            f" UNION ALL {select} {mine} AND usage_rolled AND started_at >= :runs_from"
            f" AND started_at < :start AND completed_at >= :start AND {before}"
            f" UNION ALL {select} {mine} AND NOT usage_rolled AND started_at IS NOT NULL"
            " AND started_at < :start AND (completed_at IS NULL OR completed_at >= :start)"
            f" AND {before}"
        )

    async def _crossing_bounds(
        self, owner: str, repository: str | None, start: datetime
    ) -> dict[str, object]:
        """The bounds of :meth:`_crossing`, from the roll-ups. A run rolled up that crosses
        ``start`` touches its hour, whose ``runner_hours`` row keeps its earliest start
        (``:runs_from``). A job that waited across ``start`` was created in an hour whose
        ``job_waits`` rows hold a wait reaching past it (``:waits_from``; looked for
        within GitHub's limit on a wait)."""
        scope = sq.scope_value(owner, repository)
        hours = runner_hours.c
        earliest = sa.select(sa.func.min(hours.first_start)).where(
            hours.target_key == scope, hours.span == SPAN_HOUR, hours.hour == hour_of(start)
        )
        (first_start,) = (await self._select(earliest))[0]
        waits = job_waits.c
        longest = (
            sa.select(waits.hour, sa.func.max(waits.wait_us))
            .where(
                waits.target_key == scope,
                waits.span == SPAN_HOUR,
                waits.hour >= hour_of(start - WAIT_LIMIT),
                waits.hour <= start,
            )
            .group_by(waits.hour)
        )
        reaching = [
            hour
            for hour, wait in await self._select(longest)
            if hour + HOUR + timedelta(microseconds=int(wait)) > start
        ]
        return {
            "runs_from": self.dialect.at(min(first_start or start, start)),
            "waits_from": self.dialect.at(min([start, *reaching])),
        }
