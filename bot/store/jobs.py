"""Workflow jobs as GitHub reported them (webhook deliveries and the sweep's checks).

One row per job id, written by one atomic upsert whatever order deliveries arrive in:
the status only moves forward (queued/waiting, then in_progress, then completed), so a
late ``in_progress`` never reopens a completed job, and each time keeps the latest value
known (a delivery that lacks it does not erase it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store._sql import insert_for, storable, utc
from bot.store.database import Database
from bot.store.job_stats import JobStats
from bot.store.rollups import Rollups
from bot.store.schema import STATUS_WIDTH, job_waits, jobs, runner_hours
from bot.watch.labels import LabelSetKey, is_github_hosted, label_set_key
from bot.watch.models import Job

# GitHub's job statuses in the order a job goes through them. ``waiting`` (an approval)
# and ``queued`` share a rank: a job waits, is approved, and is queued again.
STATUS_RANK = {"queued": 0, "waiting": 0, "pending": 0, "requested": 0, "in_progress": 1}
COMPLETED_RANK = 2
OPEN_RANK = 0
# A job GitHub no longer knows (404 on its confirmation, its repository gone from the
# installation), or one still open long after GitHub's 24-hour limit: closed, never alerted.
GONE = "gone"
# GitHub terminates a self-hosted job not started within 24 hours; an hour's grace for
# clocks and late deliveries, after which a job still open here is a ghost.
QUEUE_LIMIT = timedelta(hours=24)
GHOST_AFTER = QUEUE_LIMIT + timedelta(hours=1)
# The indexed keys (owner, repository) must stay far under PostgreSQL's ~2.7 KB index
# entries. GitHub's own names are much shorter (39 + 1 + 100 characters).
MAX_REPOSITORY = 400


def status_rank(status: str) -> int:
    return STATUS_RANK.get(status, COMPLETED_RANK if status == "completed" else OPEN_RANK)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A stored job: the watch's :class:`Job` and what only the store keeps."""

    job: Job
    run_attempt: int | None = None
    conclusion: str | None = None
    runner_group_name: str | None = None
    hosted: bool = False
    confirmed_at: datetime | None = None


def _record(row: sa.Row[tuple[object, ...]]) -> JobRecord:
    m = row._mapping
    job = Job(
        id=int(m["id"]),
        labels=tuple(m["labels"] or ()),
        status=m["status"],
        repository=m["repository"],
        repository_public=m["repository_public"],
        head_sha=m["head_sha"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        run_id=m["run_id"],
        name=m["name"],
        workflow_name=m["workflow_name"],
        runner_id=m["runner_id"],
        runner_name=m["runner_name"],
        html_url=m["html_url"],
    )
    return JobRecord(
        job,
        m["run_attempt"],
        m["conclusion"],
        m["runner_group_name"],
        m["hosted"],
        m["confirmed_at"],
    )


KEEP_LATEST = (
    "repository_public",
    "workflow_name",
    "name",
    "html_url",
    "head_sha",
    "created_at",
    "started_at",
    "completed_at",
    "runner_id",
    "runner_name",
    "runner_group_id",
    "runner_group_name",
    "conclusion",
    "run_id",
    "run_attempt",
)


def job_row(
    job: Job,
    *,
    now: datetime,
    run_attempt: int | None = None,
    conclusion: str | None = None,
    runner_group_id: int | None = None,
    runner_group_name: str | None = None,
) -> dict[str, object] | None:
    """The values one report writes of ``job`` (every column of ``jobs``), or None for a
    job without an id or a repository (or with a name no repository has), which is not
    stored. What comes from outside is made storable on both engines (NUL becomes U+FFFD)."""
    if job.id is None or "/" not in job.repository or len(job.repository) > MAX_REPOSITORY:
        return None
    rank = status_rank(job.status)
    owner = job.repository.split("/", 1)[0].lower()
    # GitHub fills started_at with created_at until a runner starts the job, and keeps
    # it so in a job cancelled while queued: only a job a runner took has started.
    ran = bool(job.runner_id) or bool(job.runner_name)
    started = job.started_at if rank >= STATUS_RANK["in_progress"] and ran else None
    return {
        "id": job.id,
        "run_id": job.run_id,
        "run_attempt": run_attempt,
        "repository": storable(job.repository),
        "owner_key": storable(owner),
        "repo_key": storable(job.repository.lower()),
        "repository_public": job.repository_public,
        "workflow_name": storable(job.workflow_name),
        "name": storable(job.name),
        "labels": [storable(label) for label in label_set_key(job.labels)],
        "hosted": is_github_hosted(job.labels),
        "html_url": storable(job.html_url),
        "head_sha": storable(job.head_sha),
        "created_at": job.created_at,
        "started_at": started,
        "completed_at": job.completed_at,
        "runner_id": job.runner_id,
        "runner_name": storable(job.runner_name),
        "runner_group_id": runner_group_id,
        "runner_group_name": storable(runner_group_name),
        "conclusion": storable(conclusion),
        "status": storable(job.status[:STATUS_WIDTH]),
        "status_rank": rank,
        "updated_at": now,
    }


def upsert_statement(insert: Callable[..., Any]) -> Any:
    """The one atomic upsert of a job row, executed with a :func:`job_row` as parameters.

    Built and compiled once per store rather than per write: building the statement cost
    about as much CPU as the write itself (tests/benchmarks/ingest.py). The status moves
    only forward; each other value keeps the latest one known."""
    statement = insert(jobs)
    new = statement.excluded
    forward = new.status_rank >= jobs.c.status_rank
    changes: dict[str, object] = {
        name: sa.func.coalesce(getattr(new, name), jobs.c[name]) for name in KEEP_LATEST
    }
    changes |= {
        "status": sa.case((forward, new.status), else_=jobs.c.status),
        "status_rank": sa.case((forward, new.status_rank), else_=jobs.c.status_rank),
        "updated_at": new.updated_at,
    }
    return statement.on_conflict_do_update(index_elements=[jobs.c.id], set_=changes)


class JobStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        # Built once: each write only binds a row's values (see :func:`upsert_statement`).
        self.upsert = upsert_statement(insert_for(db))
        self._insert = insert_for(db)
        self.rollups = Rollups(self._insert, db.dialect)  # queue times counted as jobs start
        self.stats = JobStats(db)  # stats and charts, computed in the database

    async def record(
        self,
        job: Job,
        *,
        run_attempt: int | None = None,
        conclusion: str | None = None,
        runner_group_id: int | None = None,
        runner_group_name: str | None = None,
    ) -> JobRecord | None:
        """Store what one report says of ``job``; return the job as stored now.

        A job without an id or a repository (or with a name no repository has) is not
        stored (None)."""
        row = job_row(
            job,
            now=utc(self.clock),
            run_attempt=run_attempt,
            conclusion=conclusion,
            runner_group_id=runner_group_id,
            runner_group_name=runner_group_name,
        )
        if row is None:
            return None

        async def upsert() -> JobRecord | None:
            async with self.db.engine.begin() as conn:
                await conn.execute(self.upsert, row)
                await self.rollups.roll(conn, [int(str(row["id"]))])
                row_now = (await conn.execute(sa.select(jobs).where(jobs.c.id == job.id))).first()
            return _record(row_now) if row_now is not None else None

        return await self.db.write(upsert, "job write")

    async def confirmed(self, job_id: int) -> None:
        """The sweep asked GitHub about the job now (its answer is stored by record())."""
        await self._update(job_id, {"confirmed_at": utc(self.clock)}, "job confirm")

    async def gone(self, job_id: int) -> None:
        """GitHub no longer knows the job (404), or no longer shows it to runnerops: it is
        closed, so it leaves ``queue``, the metrics and the sweep, and is never alerted."""
        values = {
            "status": GONE,
            "status_rank": COMPLETED_RANK,
            "confirmed_at": utc(self.clock),
            "updated_at": utc(self.clock),
        }
        await self._update(job_id, values, "job close", only_open=True)

    async def _update(
        self, job_id: int, values: dict[str, object], what: str, *, only_open: bool = False
    ) -> None:
        statement = jobs.update().where(jobs.c.id == job_id).values(values)
        if only_open:
            statement = statement.where(jobs.c.status_rank == OPEN_RANK)

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(statement)

        await self.db.write(update, what)

    async def close_ghosts(self) -> int:
        """Jobs still queued here past GitHub's 24-hour limit (and a grace) are closed as
        gone: GitHub has terminated them, whatever delivery was missed. The sweep confirms
        its watched jobs first; this catches the jobs of targets no one watches."""
        before = utc(self.clock) - GHOST_AFTER
        statement = (
            jobs.update()
            # Queued only: an approval ("waiting") may rightly last for days.
            .where(
                jobs.c.status_rank == OPEN_RANK,
                jobs.c.status == "queued",
                jobs.c.created_at < before,
            )
            .values(status=GONE, status_rank=COMPLETED_RANK, updated_at=utc(self.clock))
        )

        async def update() -> int:
            async with self.db.engine.begin() as conn:
                return int((await conn.execute(statement)).rowcount or 0)

        return await self.db.write(update, "job close")

    async def get(self, job_id: int) -> JobRecord | None:
        async def select() -> JobRecord | None:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
            return _record(row) if row is not None else None

        return await self.db.read(select, "job read")

    def _of(self, owner: str, repository: str | None) -> sa.ColumnElement[bool]:
        if repository is not None:
            return jobs.c.repo_key == repository.lower()
        return jobs.c.owner_key == owner.lower()

    async def open_jobs(self, owner: str, repository: str | None = None) -> list[JobRecord]:
        """Jobs not yet started (queued or waiting) of an organization or one repository,
        oldest first."""
        query = (
            sa.select(jobs)
            .where(self._of(owner, repository), jobs.c.status_rank == OPEN_RANK)
            .order_by(jobs.c.created_at, jobs.c.id)
        )
        return await self._many(query)

    async def since(self, owner: str, repository: str | None, start: datetime) -> list[JobRecord]:
        """Jobs created at or after ``start``, or still running from before it (stats)."""
        recent = jobs.c.created_at >= start
        running = (jobs.c.completed_at.is_(None)) | (jobs.c.completed_at >= start)
        query = (
            sa.select(jobs)
            .where(self._of(owner, repository), recent | (running & jobs.c.started_at.is_not(None)))
            .order_by(jobs.c.created_at, jobs.c.id)
        )
        return await self._many(query)

    async def _many(self, query: sa.Select[tuple[object, ...]]) -> list[JobRecord]:
        async def select() -> list[JobRecord]:
            async with self.db.engine.connect() as conn:
                return [_record(row) for row in await conn.execute(query)]

        return await self.db.read(select, "job read")

    async def queued_now(self) -> list[tuple[list[str], str]]:
        """(labels, owner) of every self-hosted job queued now, for the metrics: open, and
        created within GitHub's 24-hour limit (an older one is a ghost, whatever its row
        says until the next retention pass closes it)."""
        query = sa.select(jobs.c.labels, jobs.c.owner_key).where(
            jobs.c.status == "queued",
            jobs.c.status_rank == OPEN_RANK,
            jobs.c.hosted.is_(False),
            jobs.c.created_at >= utc(self.clock) - GHOST_AFTER,
        )

        async def select() -> list[tuple[list[str], str]]:
            async with self.db.engine.connect() as conn:
                return [
                    (list(labels or []), str(owner)) for labels, owner in await conn.execute(query)
                ]

        return await self.db.read(select, "job read")

    async def prune(self, before: datetime) -> int:
        """Job rows created before ``before`` go, whatever their status
        (JOB_RETENTION_DAYS): a job never finished must not stay for ever. So do the
        roll-ups of the hours before it."""
        created = sa.func.coalesce(jobs.c.created_at, jobs.c.updated_at)

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(jobs.delete().where(created < before))
                await conn.execute(job_waits.delete().where(job_waits.c.hour < before))
                await conn.execute(runner_hours.delete().where(runner_hours.c.hour < before))
                return int(result.rowcount or 0)

        return await self.db.write(delete, "job prune")

    def _open(
        self, owner: str, repository: str | None, queued_self_hosted: bool
    ) -> sa.ColumnElement[bool]:
        where = self._of(owner, repository) & (jobs.c.status_rank == OPEN_RANK)
        if queued_self_hosted:  # what the Home tab lists: queued, not approval-held
            where = where & (jobs.c.status == "queued") & jobs.c.hosted.is_(False)
        return where

    async def oldest_open(
        self,
        owner: str,
        repository: str | None = None,
        *,
        limit: int,
        queued_self_hosted: bool = False,
    ) -> list[JobRecord]:
        """The ``limit`` oldest open jobs (as :meth:`open_jobs` orders them): a page
        to show, never the whole backlog."""
        query = (
            sa.select(jobs)
            .where(self._open(owner, repository, queued_self_hosted))
            .order_by(jobs.c.created_at, jobs.c.id)
            .limit(limit)
        )
        return await self._many(query)

    async def open_count(
        self, owner: str, repository: str | None = None, *, queued_self_hosted: bool = False
    ) -> int:
        """How many jobs :meth:`open_jobs` would return, counted by the database."""
        query = sa.select(sa.func.count()).where(self._open(owner, repository, queued_self_hosted))

        async def select() -> int:
            async with self.db.engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())

        return await self.db.read(select, "job read")

    async def queued_with_labels(
        self, owner: str, repository: str | None, label_sets: Iterable[LabelSetKey]
    ) -> dict[LabelSetKey, int]:
        """How many jobs are queued now with each of ``label_sets`` (stored normalised, so
        compared as stored text)."""
        wanted = {json.dumps(list(label_set_key(k))): label_set_key(k) for k in label_sets}
        if not wanted:
            return {}
        text = sa.cast(jobs.c.labels, sa.Text)
        query = (
            sa.select(text, sa.func.count())
            .where(self._open(owner, repository, False), jobs.c.status == "queued")
            .where(text.in_(list(wanted)))
            .group_by(text)
        )

        async def select() -> dict[LabelSetKey, int]:
            async with self.db.engine.connect() as conn:
                rows = await conn.execute(query)
                return {wanted[str(k)]: int(n) for k, n in rows if str(k) in wanted}

        return await self.db.read(select, "job read")
