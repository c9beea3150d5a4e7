"""One ``workflow_job`` object into the store, from a delivery or from the REST answer.

Shared by the webhook handler and the sweep's confirmation GET (GitHub does not redeliver
a failed delivery: the GET is how a missed ``in_progress`` is caught).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.store import Store
from bot.store.jobs import JobRecord
from bot.watch.models import Job

ACTIONS = ("queued", "waiting", "in_progress", "completed")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def record_job(
    store: Store,
    data: Mapping[str, Any],
    *,
    action: str | None = None,
    repository: Mapping[str, Any] | None = None,
) -> JobRecord | None:
    """Store a delivery body (``{"workflow_job": …, "repository": …}``) or a bare job
    object (then ``repository`` gives at least ``full_name``); return the job as stored,
    or None when it has no id or repository. A job that starts or ends marks its runner
    busy or idle."""
    job = Job.from_github(data, repository=repository)
    inner = data.get("workflow_job")
    raw: Mapping[str, Any] = inner if isinstance(inner, Mapping) else data
    if action in ACTIONS and job.status not in ACTIONS:
        job = replace(job, status=action)
    stored = await store.jobs.record(
        job,
        run_attempt=_int(raw.get("run_attempt")),
        conclusion=_text(raw.get("conclusion")),
        runner_group_id=_int(raw.get("runner_group_id")),
        runner_group_name=_text(raw.get("runner_group_name")),
    )
    if stored is not None and job.runner_id is not None:
        if job.status in ("in_progress", "completed"):
            await store.fleet.job_state(job.runner_id, busy=job.status == "in_progress")
    return stored
