"""The Home tab: the fleet at a glance, published when a user opens it.

Everything shown comes from the database the watch keeps fresh: opening the tab costs no
GitHub request. A user sees only the watched targets the policy lets them read.
Charts are images on runnerops' own host under signed, expiring URLs (bot.slack.charts).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.policy.rules import PolicyError
from bot.policy.visibility import split_by_repository
from bot.slack import charts
from bot.slack.views.home import QUEUE_LINES, Focus, Panel, home_view
from bot.store.watches import Watch
from bot.targets import Scope, Target, TargetError, parse_target

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
WINDOW = timedelta(days=7)
CHART_KINDS = tuple(charts.KINDS)


async def readable_targets(
    services: Services, user_id: str, watches: list[Watch]
) -> tuple[list[Target], bool]:
    """The targets of ``watches`` this user may read (no channel: a channel-bound grant
    does not hold in the Home tab), and whether any grant applies to the user at all."""
    policy = services.access.policy
    groups = await services.access.groups_of(user_id)
    has_grants = bool(policy.grants_for(user_id=user_id, user_groups=groups, channel_id=None))
    targets: dict[str, Target] = {}
    for watch in watches:
        try:
            target = parse_target(watch.target)
            allowed = policy.decide(
                "read", user_id=user_id, user_groups=groups, channel_id="", target=target
            ).allowed
        except (TargetError, PolicyError, ValueError):
            continue
        if allowed:
            targets.setdefault(str(target).lower(), target)
    return list(targets.values()), has_grants


async def publish(
    services: Services, user_id: str, base_url: str, focus_target: str | None = None
) -> None:
    store = services.store
    now = datetime.fromtimestamp(services.clock(), UTC)
    every_watch = await store.watches.all()
    targets, has_grants = await readable_targets(services, user_id, every_watch)
    keys = {str(t).lower() for t in targets}
    watches = [w for w in every_watch if w.target_key in keys]
    open_alerts = [a for a in await store.alerts.open_alerts() if a.target.lower() in keys]
    panels = []
    for target in targets:
        key = str(target).lower()
        seen = await store.fleet.seen(key)
        panels.append(
            Panel(
                target=str(target),
                channels=tuple(dict.fromkeys(w.channel for w in watches if w.target_key == key)),
                online=sum(1 for s in seen.values() if s.status == "online" and not s.busy),
                busy=sum(1 for s in seen.values() if s.busy),
                offline=sum(1 for s in seen.values() if s.status != "online" and not s.busy),
                seen=bool(seen),
                alerts=[a for a in open_alerts if a.target.lower() == key],
            )
        )
    resolved = [
        (a, at) for a, at in await store.alerts.recently_resolved(40) if a.target.lower() in keys
    ]
    focus = None
    chosen = next(
        (t for t in targets if focus_target and str(t).lower() == focus_target.lower()),
        targets[0] if targets else None,
    )
    if chosen is not None:
        urls = charts.chart_urls(services.settings.chart_secret, base_url, str(chosen))

        queued, total = [], 0
        if chosen.scope is not Scope.ENTERPRISE:
            repo = f"{chosen.owner}/{chosen.repo}" if chosen.repo else None
            queued = [
                r
                for r in await store.jobs.open_jobs(chosen.owner, repo)
                if not r.hosted and r.job.status == "queued"
            ]
        # Jobs of repositories the user may not read are counted, not shown.
        reader = await services.access.reader(user_id, "")
        queued, hidden = split_by_repository(reader, queued, lambda r: r.job.repository)
        total = len(queued)
        focus = Focus(
            str(chosen),
            urls["queue"],
            urls["fleet"],
            queued[:QUEUE_LINES],
            queued_total=total,
            hidden=len(hidden),
        )
    view = home_view(panels, now=now, resolved=resolved, focus=focus, has_grants=has_grants)
    await services.slack.views_publish(user_id=user_id, view=view)


async def chart_png(services: Services, kind: str, target_text: str) -> bytes:
    """A chart of the last 7 days of ``target``, drawn from the database."""
    target = parse_target(target_text)
    now = datetime.fromtimestamp(services.clock(), UTC)
    window = (now - WINDOW, now)  # both charts: the same fixed axis, whatever the data
    if kind == "queue":
        daily = []
        if target.scope is not Scope.ENTERPRISE:
            repo = f"{target.owner}/{target.repo}" if target.repo else None
            daily = await services.store.jobs.stats.daily_queue(target.owner, repo, now - WINDOW)
        points = [
            charts.QueuePoint(day, ",".join(labels), p50.total_seconds(), p95.total_seconds())
            for day, labels, p50, p95 in daily
        ]
        title = f"Queue time · {target} (7 days)"
        return await asyncio.to_thread(charts.queue_time_chart, points, window, title)
    samples = await services.store.fleet.samples(str(target), now - WINDOW)
    fleet = [charts.FleetPoint(s.at, s.online + s.busy, s.busy, s.offline) for s in samples]
    title = f"Runners · {target} (7 days)"
    return await asyncio.to_thread(charts.fleet_chart, fleet, window, title)
