"""``workflow_job`` deliveries: every job GitHub reports is stored, whatever its state.

The sweep reads the store to find jobs queued too long; stats read it for queue times.
Storing is idempotent per job and action (the store's upsert only moves a job forward),
so a redelivery or an out-of-order delivery leaves the right final state. Jobs for
GitHub-hosted runners are stored too (stats count them) and never alerted on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gidgethub import routing, sansio

from bot.watch.models import Job

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = routing.Router()
ACTIONS = ("queued", "waiting", "in_progress", "completed")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def store_job(services: Services, data: Mapping[str, Any], action: str | None) -> None:
    """Store one ``workflow_job`` object (a delivery's or the REST answer's)."""
    job = Job.from_github(data)
    raw = data.get("workflow_job") if isinstance(data.get("workflow_job"), Mapping) else data
    assert isinstance(raw, Mapping)
    if action in ACTIONS and job.status not in ACTIONS:
        from dataclasses import replace

        job = replace(job, status=action)
    stored = await services.store.jobs.record(
        job,
        run_attempt=_int(raw.get("run_attempt")),
        conclusion=_text(raw.get("conclusion")),
        runner_group_id=_int(raw.get("runner_group_id")),
        runner_group_name=_text(raw.get("runner_group_name")),
    )
    if stored is None:
        log.info("a workflow_job delivery without a job id or repository was ignored")
        return
    if job.runner_id is not None and action in ("in_progress", "completed"):
        await services.store.fleet.job_state(job.runner_id, busy=action == "in_progress")


@router.register("workflow_job")
async def workflow_job(event: sansio.Event, services: Services) -> None:
    data = event.data if isinstance(event.data, Mapping) else {}
    action = data.get("action")
    await store_job(services, data, action if isinstance(action, str) else None)
