"""``queue`` and ``why``: which jobs wait now, and why one job waits.

Both diagnose with the same code as the sweep's alerts (bot/watch/diagnosis.py) from what
GitHub says at the time of asking, so a reply and an alert never disagree.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bot import errors
from bot.policy.visibility import split_by_repository
from bot.routing import Invocation, Router
from bot.slack import alerts as alert_render
from bot.slack import render
from bot.store.jobs import JobRecord
from bot.targets import Scope
from bot.watch.fleetview import ACTIONS_READ, FleetView
from bot.watch.ingest import record_job

router = Router()
MAX_SHOWN = 20


@router.verb("queue")
async def queue(inv: Invocation) -> render.Reply:
    services, target = inv.services, inv.command.target
    assert target is not None
    now = datetime.fromtimestamp(services.clock(), UTC)
    repository = str(target) if target.scope is Scope.REPO else None
    records = await services.store.jobs.open_jobs(target.owner, repository)
    same = Counter(r.job.labels for r in records if r.job.queued)  # org-level: all jobs
    records, hidden = await readable_jobs(inv, records)
    view = FleetView(services)
    rows = []
    for record in records[:MAX_SHOWN]:
        confirmed = await view.confirm(record)  # a missed delivery must not show as queued
        if confirmed is None or confirmed.job.status not in ("queued", "waiting"):
            continue
        job = confirmed.job
        diagnosis = await view.diagnose(job, now=now, queued_same_labels=same[job.labels])
        rows.append((confirmed, diagnosis))
    return alert_render.queue_reply(str(target), rows, now=now, hidden=hidden)


async def readable_jobs(inv: Invocation, records: list[JobRecord]) -> tuple[list[JobRecord], int]:
    """The records of repositories the caller may read, and how many queued ones are left
    out: a grant on ``acme`` alone shows no job of an ``acme/*`` repository."""
    caller = inv.caller
    reader = await inv.services.access.reader(caller.user_id, caller.channel_id)
    shown, hidden = split_by_repository(reader, records, lambda r: r.job.repository)
    return shown, sum(1 for r in hidden if r.job.queued)


@router.verb("why")
async def why(inv: Invocation) -> render.Reply:
    services, target, job_id = inv.services, inv.command.target, inv.command.job_id
    assert target is not None and job_id is not None
    now = datetime.fromtimestamp(services.clock(), UTC)
    try:
        data = await services.github.call(
            target, "GET", "/actions/jobs/{job_id}", {"job_id": job_id}
        )
    except errors.NotFound:
        text = (
            f":mag: GitHub knows no job {job_id} in *{render.escape(str(target))}* (or"
            " runnerops may not see it). Check the URL or the id."
        )
        return render.Reply(text=text, blocks=[render._section(text)])
    except errors.Forbidden as exc:
        raise errors.Forbidden(target, ACTIONS_READ, exc.message) from None
    if not isinstance(data, dict):
        raise errors.GitHubUnavailable(target, "an unreadable job")
    record = await record_job(services.store, data, repository={"full_name": str(target)})
    if record is None:
        raise errors.GitHubUnavailable(target, "an unreadable job")
    job = record.job
    open_jobs = await services.store.jobs.open_jobs(target.owner, str(target))
    same = sum(1 for r in open_jobs if r.job.labels == job.labels and r.job.queued)
    diagnosis = await FleetView(services).diagnose(job, now=now, queued_same_labels=same)
    return alert_render.why_reply(record, diagnosis, now=now)
