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
from datetime import datetime

import sqlalchemy as sa

from bot.store._sql import insert_for, utc
from bot.store.database import Database
from bot.store.job_stats import JobStats
from bot.store.schema import jobs
from bot.watch.labels import LabelSetKey, is_github_hosted, label_set_key
from bot.watch.models import Job

# GitHub's job statuses in the order a job goes through them. ``waiting`` (an approval)
# and ``queued`` share a rank: a job waits, is approved, and is queued again.
STATUS_RANK = {"queued": 0, "waiting": 0, "pending": 0, "requested": 0, "in_progress": 1}
COMPLETED_RANK = 2
OPEN_RANK = 0


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
    return JobRecord(job, m["run_attempt"], m["conclusion"], m["runner_group_name"], m["hosted"])


class JobStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._insert = insert_for(db)
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

        A job without an id or a repository is not stored (None)."""
        if job.id is None or "/" not in job.repository:
            return None
        rank = status_rank(job.status)
        owner = job.repository.split("/", 1)[0].lower()
        # GitHub fills started_at with created_at until a runner starts the job, and keeps
        # it so in a job cancelled while queued: only a job a runner took has started.
        ran = bool(job.runner_id) or bool(job.runner_name)
        started = job.started_at if rank >= STATUS_RANK["in_progress"] and ran else None
        values = {
            "id": job.id,
            "run_id": job.run_id,
            "run_attempt": run_attempt,
            "repository": job.repository,
            "owner_key": owner,
            "repo_key": job.repository.lower(),
            "repository_public": job.repository_public,
            "workflow_name": job.workflow_name,
            "name": job.name,
            "labels": list(label_set_key(job.labels)),
            "hosted": is_github_hosted(job.labels),
            "html_url": job.html_url,
            "head_sha": job.head_sha,
            "created_at": job.created_at,
            "started_at": started,
            "completed_at": job.completed_at,
            "runner_id": job.runner_id,
            "runner_name": job.runner_name,
            "runner_group_id": runner_group_id,
            "runner_group_name": runner_group_name,
            "conclusion": conclusion,
            "status": job.status,
            "status_rank": rank,
            "updated_at": utc(self.clock),
        }
        statement = self._insert(jobs).values(values)
        new = statement.excluded
        forward = new.status_rank >= jobs.c.status_rank
        keep_latest = (
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
        changes: dict[str, object] = {
            name: sa.func.coalesce(getattr(new, name), jobs.c[name]) for name in keep_latest
        }
        changes |= {
            "status": sa.case((forward, new.status), else_=jobs.c.status),
            "status_rank": sa.case((forward, new.status_rank), else_=jobs.c.status_rank),
            "updated_at": new.updated_at,
        }
        statement = statement.on_conflict_do_update(index_elements=[jobs.c.id], set_=changes)

        async def upsert() -> JobRecord | None:
            async with self.db.engine.begin() as conn:
                await conn.execute(statement)
                row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job.id))).first()
            return _record(row) if row is not None else None

        return await self.db.write(upsert, "job write")

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
        """(labels, owner) of every self-hosted job queued now, for the metrics."""
        query = sa.select(jobs.c.labels, jobs.c.owner_key).where(
            jobs.c.status == "queued", jobs.c.hosted.is_(False)
        )

        async def select() -> list[tuple[list[str], str]]:
            async with self.db.engine.connect() as conn:
                return [
                    (list(labels or []), str(owner)) for labels, owner in await conn.execute(query)
                ]

        return await self.db.read(select, "job read")

    async def prune(self, before: datetime) -> int:
        """Jobs finished before ``before`` go (the retention of the audit trail)."""

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(jobs.delete().where(jobs.c.completed_at < before))
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
