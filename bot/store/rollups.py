"""Queue times rolled up as jobs start: what lets ``stats`` read hours, not jobs.

A job adds one to ``job_waits`` (under its organization and its repository, in the hour
of its ``created_at``, at its wait in microseconds) in the very transaction that first
stores it started: the same ``UPDATE jobs SET waits_rolled = true … WHERE NOT
waits_rolled … RETURNING`` both marks it and says what to add. The row is already locked
by the job's upsert in that transaction, so a redelivery, an out-of-order delivery or a
concurrent writer on PostgreSQL finds it marked and adds nothing: each job counts once.

Existing databases are rolled up by :func:`backfill` (migration 0007), one ``INSERT …
SELECT … GROUP BY`` per target column over the jobs not yet rolled.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import job_waits, jobs, runner_hours

# A label set whose JSON text is longer than this is keyed by its digest: any repository
# writer chooses ``runs-on``, and the key sits in the primary key (PostgreSQL's index
# entries hold ~2.7 KB). JSON text is printable ASCII (json.dumps escapes the rest) and
# starts with "[", so a readable key never looks like a digest.
MAX_READABLE_KEY = 200
HOUR = timedelta(hours=1)

# The jobs a roll-up counts: started, with both times known. Marked in the same statement.
ROLLABLE = "NOT waits_rolled AND started_at IS NOT NULL AND created_at IS NOT NULL"
# Runs ``runner_hours`` counts: finished on a named runner, not before they started, and
# within GitHub's limits (a job runs at most 5 days; a run is split into its hours). Any
# other started job stays out and is read from ``jobs`` as it is.
MAX_RUN = timedelta(days=7)
USAGE_ROLLABLE = (
    "NOT usage_rolled AND started_at IS NOT NULL AND completed_at IS NOT NULL"
    " AND runner_name IS NOT NULL AND completed_at >= started_at AND {short}"
)


def usage_rollable(dialect: str) -> str:
    days = MAX_RUN.days
    if dialect == "postgresql":
        short = f"completed_at - started_at <= interval '{days} days'"
    else:
        short = f"julianday(completed_at) - julianday(started_at) <= {days}"
    return USAGE_ROLLABLE.format(short=short)


def runner_key(name: str) -> str:
    """The bounded key of a runner name (chosen by whoever registers a runner)."""
    if len(name) <= MAX_READABLE_KEY and not name.startswith("sha256:"):
        return name
    return "sha256:" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()


def labels_key(text: str) -> str:
    """The bounded key of a label set stored as JSON ``text`` (as ``jobs.labels`` is)."""
    if len(text) <= MAX_READABLE_KEY:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def hour_of(at: datetime) -> datetime:
    """The UTC hour ``at`` falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    """The first whole hour at or after ``at``."""
    floor = hour_of(at)
    return floor if floor == at.astimezone(UTC) else floor + HOUR


def wait_us(created: datetime, started: datetime) -> int:
    """Queue time in whole microseconds, never negative (bot/watch/stats.py queue_time)."""
    return max((started - created) // timedelta(microseconds=1), 0)


def increments(rows: Iterable[Any]) -> list[dict[str, object]]:
    """The ``job_waits`` additions for newly started jobs (owner_key, repo_key, labels,
    created_at, started_at), one per distinct key and in key order: concurrent writers
    lock shared roll-up rows in one order, and one statement touches each row once."""
    counts: Counter[tuple[str, datetime, str, int]] = Counter()
    texts: dict[str, str] = {}
    for owner, repo, labels, created, started in rows:
        text = json.dumps(list(labels or []))
        key = labels_key(text)
        texts[key] = text
        hour, waited = hour_of(created), wait_us(created, started)
        for target in (owner, repo):
            counts[(target, hour, key, waited)] += 1
    return [
        {
            "target_key": target,
            "hour": hour,
            "labels_key": key,
            "wait_us": waited,
            "labels": texts[key],
            "jobs": n,
        }
        for (target, hour, key, waited), n in sorted(counts.items())
    ]


def usage_increments(rows: Iterable[Any]) -> list[dict[str, object]]:
    """The ``runner_hours`` additions for newly finished runs (owner_key, repo_key,
    runner_name, started_at, completed_at): each run split into the hours it touches, in
    key order (see :func:`increments`)."""
    starts: Counter[tuple[str, str, datetime]] = Counter()
    busy: Counter[tuple[str, str, datetime]] = Counter()
    first: dict[tuple[str, str, datetime], datetime] = {}
    names: dict[str, str] = {}
    for owner, repo, name, started, completed in rows:
        key = runner_key(str(name))
        names[key] = str(name)
        hour = hour_of(started)
        while True:
            inside = min(completed, hour + HOUR) - max(started, hour)
            for target in (owner, repo):
                at = (target, key, hour)
                busy[at] += max(inside // timedelta(microseconds=1), 0)
                starts[at] += hour == hour_of(started)
                first[at] = min(first.get(at, started), started)
            hour += HOUR
            if hour > completed:
                break
    return [
        {
            "target_key": target,
            "runner_key": key,
            "hour": hour,
            "runner_name": names[key],
            "starts": starts[(target, key, hour)],
            "busy_us": busy[(target, key, hour)],
            "first_start": first[(target, key, hour)],
        }
        for (target, key, hour) in sorted(first)
    ]


def usage_add_statement(insert: Any) -> Any:
    """Add runs to ``runner_hours`` rows (created when new), built once per store."""
    statement = insert(runner_hours)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[runner_hours.c.target_key, runner_hours.c.runner_key, runner_hours.c.hour],
        set_={
            "starts": runner_hours.c.starts + new.starts,
            "busy_us": runner_hours.c.busy_us + new.busy_us,
            "first_start": sa.case(
                (new.first_start < runner_hours.c.first_start, new.first_start),
                else_=runner_hours.c.first_start,
            ),
        },
    )


def add_statement(insert: Any) -> Any:
    """Add counts to ``job_waits`` rows (created when new), built once per store."""
    statement = insert(job_waits)
    return statement.on_conflict_do_update(
        index_elements=[
            job_waits.c.target_key,
            job_waits.c.hour,
            job_waits.c.labels_key,
            job_waits.c.wait_us,
        ],
        set_={"jobs": job_waits.c.jobs + statement.excluded.jobs},
    )


def mark_statement() -> Any:
    """Mark the given jobs rolled if they are rollable now, returning what to add."""
    return (
        jobs.update()
        .where(jobs.c.id.in_(sa.bindparam("ids", expanding=True)), sa.text(ROLLABLE))
        .values(waits_rolled=True)
        .returning(
            jobs.c.owner_key, jobs.c.repo_key, jobs.c.labels, jobs.c.created_at, jobs.c.started_at
        )
    )


def usage_mark_statement(dialect: str) -> Any:
    """Mark the given jobs' runs rolled if they are rollable now, returning what to add."""
    return (
        jobs.update()
        .where(jobs.c.id.in_(sa.bindparam("ids", expanding=True)), sa.text(usage_rollable(dialect)))
        .values(usage_rolled=True)
        .returning(
            jobs.c.owner_key,
            jobs.c.repo_key,
            jobs.c.runner_name,
            jobs.c.started_at,
            jobs.c.completed_at,
        )
    )


class Rollups:
    """The roll-up step of a job write, run inside that write's transaction."""

    def __init__(self, insert: Any, dialect: str) -> None:
        self._mark = mark_statement()
        self._add = add_statement(insert)
        self._usage_mark = usage_mark_statement(dialect)
        self._usage_add = usage_add_statement(insert)

    async def roll(self, conn: AsyncConnection, ids: Sequence[int]) -> int:
        """Count the jobs of ``ids`` that started, and the runs of those that finished,
        not counted yet; return how many were. Call after their upserts, in the same
        transaction (which already holds their rows' locks)."""
        if not ids:
            return 0
        wanted = {"ids": sorted(set(ids))}
        started = list(await conn.execute(self._mark, wanted))
        additions = increments(started)
        if additions:
            await conn.execute(self._add, additions)
        finished = list(await conn.execute(self._usage_mark, wanted))
        runs = usage_increments(finished)
        if runs:
            await conn.execute(self._usage_add, runs)
        return len(started) + len(finished)


def _hour_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return f"substr({column}, 1, 13) || ':00:00.000000+00:00'"  # the stored ISO text's hour


def wait_us_sql(dialect: str) -> str:
    """``wait_us`` of a jobs row in SQL: NULL until started (or without times)."""
    if dialect == "postgresql":
        waited = "CAST(extract(epoch FROM started_at - created_at) * 1000000 AS BIGINT)"
        return f"CASE WHEN started_at IS NULL THEN NULL ELSE GREATEST({waited}, 0) END"

    def us(column: str) -> str:  # as bot/store/job_stats.py Dialect.us
        return (
            f"(CAST(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400) AS INTEGER)"
            f" * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"
        )

    return (
        "CASE WHEN started_at IS NULL THEN NULL"
        f" ELSE max({us('started_at')} - {us('created_at')}, 0) END"
    )


def backfill(conn: sa.Connection) -> int:
    """Roll up every started job not counted yet (an existing database's history, or a
    bulk-loaded one): per target column one ``INSERT … SELECT … GROUP BY``, then the jobs
    marked. Label sets are keyed through a small temporary table (SQLite has no digest
    function). Returns the jobs rolled up."""
    dialect = conn.dialect.name
    texts = [
        str(text)
        for (text,) in conn.execute(
            sa.text(f"SELECT DISTINCT CAST(labels AS TEXT) FROM jobs WHERE {ROLLABLE}")
        )
    ]
    if not texts:
        return _backfill_usage(conn)
    conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE rollup_label_keys"
            " (labels TEXT PRIMARY KEY, labels_key TEXT NOT NULL)"
        )
    )
    try:
        conn.execute(
            sa.text("INSERT INTO rollup_label_keys (labels, labels_key) VALUES (:t, :k)"),
            [{"t": t, "k": labels_key(t)} for t in texts],
        )
        for target in ("owner_key", "repo_key"):
            conn.execute(
                sa.text(
                    "INSERT INTO job_waits (target_key, hour, labels_key, wait_us, labels, jobs)"
                    f" SELECT j.{target}, {_hour_sql(dialect, 'j.created_at')}, m.labels_key,"
                    f" {wait_us_sql(dialect)}, m.labels, count(*)"
                    " FROM jobs AS j JOIN rollup_label_keys AS m"
                    " ON CAST(j.labels AS TEXT) = m.labels"
                    f" WHERE {ROLLABLE} GROUP BY 1, 2, 3, 4, 5"
                    " ON CONFLICT (target_key, hour, labels_key, wait_us)"
                    " DO UPDATE SET jobs = job_waits.jobs + excluded.jobs"
                )
            )
        marked = conn.execute(sa.text(f"UPDATE jobs SET waits_rolled = true WHERE {ROLLABLE}"))
        return int(marked.rowcount or 0) + _backfill_usage(conn)
    finally:
        conn.execute(sa.text("DROP TABLE rollup_label_keys"))


BACKFILL_CHUNK = 50_000


def _backfill_usage(conn: sa.Connection) -> int:
    """Runs are split into their hours in Python (a few per run), a chunk of jobs at a
    time in id order: the additions are sums, so chunks may share roll-up rows."""
    rollable = sa.text(usage_rollable(conn.dialect.name))
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    add = usage_add_statement(insert)
    columns = (jobs.c.owner_key, jobs.c.repo_key, jobs.c.runner_name)
    query = (
        sa.select(jobs.c.id, *columns, jobs.c.started_at, jobs.c.completed_at)
        .where(rollable, jobs.c.id > sa.bindparam("last"))
        .order_by(jobs.c.id)
        .limit(BACKFILL_CHUNK)
    )
    rolled, last = 0, -(2**63)
    while chunk := list(conn.execute(query, {"last": last})):
        rolled += len(chunk)
        last = int(chunk[-1][0])
        conn.execute(add, usage_increments(row[1:] for row in chunk))
    conn.execute(
        sa.text(f"UPDATE jobs SET usage_rolled = true WHERE {usage_rollable(conn.dialect.name)}")
    )
    return rolled
