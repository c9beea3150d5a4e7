"""``workflow_job`` deliveries: every job GitHub reports is stored, whatever its state.

The sweep reads the store to find jobs queued too long; stats read it for queue times.
Storing is idempotent per job and action (the store's upsert only moves a job forward),
so a redelivery or an out-of-order delivery leaves the right final state. Jobs for
GitHub-hosted runners are stored too (stats count them) and never alerted on.

They do not go through the webhook router: ``app.py`` hands each to :func:`receive`,
which writes it with the deliveries that arrived alongside (``bot.sweep.ingest.Ingest``)
and returns once it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gidgethub import sansio

from bot.sweep.ingest import ACCEPTED, Ingest, delivery_of

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
EVENT = "workflow_job"


async def receive(event: sansio.Event, services: Services, ingest: Ingest) -> str:
    """Store one delivery; ``accepted`` or ``duplicate`` (a redelivery already stored).
    Raises what :meth:`Ingest.submit` raises."""
    data = event.data if isinstance(event.data, Mapping) else {}
    action = data.get("action")
    delivery, job = delivery_of(
        services.store, event.delivery_id, data, action if isinstance(action, str) else None
    )
    outcome = await ingest.submit(delivery)
    if delivery.job is None:
        log.info("a workflow_job delivery without a job id or repository was ignored")
    elif outcome == ACCEPTED and action == "in_progress" and not delivery.job["hosted"]:
        # Queue time: created to the in_progress delivery's start, as stored.
        started, created = delivery.job["started_at"], job.created_at
        if started is not None and created is not None:
            waited = (started - created).total_seconds()  # type: ignore[operator]
            services.metrics.job_started(job.labels, job.repository.split("/", 1)[0], waited)
    return outcome
