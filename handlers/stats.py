"""``stats``: queue times per label set and runner usage over a window, from stored jobs.

The share of jobs that waited too long is measured against the threshold the target is
watched with (a repository's own watch, else its organization's, else the default), so
the number matches what the alerts call stuck.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import ImageBlock

from bot.commands import DEFAULT_AFTER, DEFAULT_SINCE
from bot.routing import Invocation, Router
from bot.slack import alerts as alert_render
from bot.slack import charts, render
from bot.targets import Scope
from bot.watch.stats import queue_stats, runner_usage

if TYPE_CHECKING:
    from bot.services import Services

router = Router()


@router.verb("stats")
async def stats(inv: Invocation) -> render.Reply:
    services, target = inv.services, inv.command.target
    assert target is not None
    since = inv.command.since or DEFAULT_SINCE
    now = datetime.fromtimestamp(services.clock(), UTC)
    start = now - since
    repository = str(target) if target.scope is Scope.REPO else None
    records = await services.store.jobs.since(target.owner, repository, start)
    jobs = [r.job for r in records]
    threshold = await _threshold(inv, repository)
    created = [j for j in jobs if j.created_at is not None and j.created_at >= start]
    queues = queue_stats(created, threshold=threshold)
    usage = runner_usage(jobs, start=start, end=now)
    reply = alert_render.stats_reply(str(target), since, threshold, queues, usage)
    if inv.caller.base_url and len(reply.blocks) <= 47:  # the charts of the last 7 days
        reply.blocks.extend(chart_blocks(services, str(target), inv.caller.base_url))
    return reply


def chart_blocks(services: Services, target: str, base_url: str) -> list[ImageBlock]:
    urls = charts.chart_urls(services.settings.chart_secret, base_url, target)
    return [
        ImageBlock(image_url=url, alt_text=f"{charts.KINDS[kind]} of {target}, 7 days")
        for kind, url in urls.items()
    ]


async def _threshold(inv: Invocation, repository: str | None) -> timedelta:
    target = inv.command.target
    assert target is not None
    watches = await inv.services.store.watches.all()
    for key in (repository.lower() if repository else None, target.owner.lower()):
        found = [w.after for w in watches if key is not None and w.target_key == key]
        if found:
            return min(found)
    return DEFAULT_AFTER
