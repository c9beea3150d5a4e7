"""``workflow_job`` deliveries: every job GitHub reports is stored, whatever its state.

The sweep reads the store to find jobs queued too long; stats read it for queue times.
Storing is idempotent per job and action (the store's upsert only moves a job forward),
so a redelivery or an out-of-order delivery leaves the right final state. Jobs for
GitHub-hosted runners are stored too (stats count them) and never alerted on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gidgethub import routing, sansio

from bot.watch.ingest import record_job

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = routing.Router()


@router.register("workflow_job")
async def workflow_job(event: sansio.Event, services: Services) -> None:
    data = event.data if isinstance(event.data, Mapping) else {}
    action = data.get("action")
    stored = await record_job(
        services.store, data, action=action if isinstance(action, str) else None
    )
    if stored is None:
        log.info("a workflow_job delivery without a job id or repository was ignored")
        return
    if action == "in_progress" and not stored.hosted:
        job = stored.job  # queue time: created to the in_progress delivery's start
        if job.started_at is not None and job.created_at is not None:
            waited = (job.started_at - job.created_at).total_seconds()
            services.metrics.job_started(job.labels, job.repository.split("/", 1)[0], waited)
