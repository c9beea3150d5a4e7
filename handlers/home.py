"""The Home tab: the fleet at a glance, published when a user opens it.

Everything shown comes from the database the watch keeps fresh: opening the tab costs no
GitHub request. A user sees only the watched targets the policy lets them read.
Charts are images on runnerops' own host under signed, expiring URLs when Slack can reach
it, else PNGs uploaded to Slack (bot.slack.chart_files); their figures are text as well.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.dispatch import Button, Click, NoTarget, Router
from bot.observe.logs import error_kind, handling, word
from bot.policy.visibility import split_by_repository
from bot.slack import charts
from bot.slack.views.charts import Chart
from bot.slack.views.home import (
    HOME_COMMANDS,
    HOME_FOCUS,
    HOME_GLOBAL_COMMANDS,
    HOME_REFRESH,
    QUEUE_LINES,
    Focus,
    Panel,
    command_text,
    home_view,
)
from bot.store.watches import Watch
from bot.targets import Scope, Target, parse_target
from bot.watch.alerts import AlertKind

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = Router()
# Refresh and focus show only what the clicker may read, whatever the button carries.
_READS_ONLY_READABLE = NoTarget(
    "the Home view shows only the watched targets the clicker may read (readable_targets);"
    " a focus on any other value shows the first readable one"
)
WINDOW = timedelta(days=7)
CHART_KINDS = tuple(charts.KINDS)


async def readable_targets(
    services: Services, user_id: str, watches: list[Watch]
) -> tuple[list[Target], bool]:
    """The targets of ``watches`` this user may read (no channel: a channel-bound grant
    does not hold in the Home tab), and whether any grant applies to the user at all."""
    access = services.access
    groups = await access.groups_of(user_id)
    has_grants = bool(
        access.policy.grants_for(user_id=user_id, user_groups=groups, channel_id=None)
    )
    names = await access.allowed_targets("read", user_id, "", [w.target for w in watches])
    targets: dict[str, Target] = {}
    for name in names:
        target = parse_target(name)  # allowed_targets keeps only valid ones
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
    marked = [(a, m) for a, m in await store.alerts.open_marked() if a.target.lower() in keys]
    # Version alerts make the target's one line of runners near or past their version's end.
    versions = [a for a, _ in marked if a.kind is AlertKind.VERSION]
    marked = [(a, m) for a, m in marked if a.kind is not AlertKind.VERSION]
    # Acknowledged or snoozed for now: apart from the open ones.
    open_alerts = [a for a, m in marked if not m.acknowledged and not m.snoozed(now)]
    quiet = [(a, m) for a, m in marked if m.acknowledged or m.snoozed(now)]
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
                quiet=[(a, m) for a, m in quiet if a.target.lower() == key],
                versions=[a for a in versions if a.target.lower() == key],
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
        shown = await chart_views(services, base_url, str(chosen))
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
            shown,
            queued[:QUEUE_LINES],
            queued_total=total,
            hidden=len(hidden),
        )
    view = home_view(panels, now=now, resolved=resolved, focus=focus, has_grants=has_grants)
    await services.slack.views_publish(user_id=user_id, view=view)


@dataclass(frozen=True)
class ChartData:
    """One chart's points over its window: drawn as a PNG, or said as text."""

    kind: str
    title: str
    window: charts.Window
    queue: list[charts.QueuePoint]
    fleet: list[charts.FleetPoint]

    def figures(self) -> str:
        if self.kind == "queue":
            return charts.queue_figures(self.queue, self.window)
        return charts.fleet_figures(self.fleet, self.window)

    def native(self) -> dict[str, object] | None:
        """Slack's own chart of the same points, for a message (None: nothing to draw)."""
        if self.kind == "queue":
            return charts.queue_native(self.queue, self.window, self.title)
        return charts.fleet_native(self.fleet, self.window, self.title)

    def png(self) -> bytes:
        if self.kind == "queue":
            return charts.queue_time_chart(self.queue, self.window, self.title)
        return charts.fleet_chart(self.fleet, self.window, self.title)


async def chart_data(services: Services, kind: str, target_text: str) -> ChartData:
    """The last 7 days of ``target`` for one kind of chart, read from the database."""
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
        return ChartData(kind, f"Queue time · {target} (7 days)", window, points, [])
    samples = await services.store.fleet.samples(str(target), now - WINDOW)
    fleet = [charts.FleetPoint(s.at, s.online + s.busy, s.busy, s.offline) for s in samples]
    return ChartData(kind, f"Runners · {target} (7 days)", window, [], fleet)


async def chart_png(services: Services, kind: str, target_text: str) -> bytes:
    """A chart of the last 7 days of ``target``, drawn from the database."""
    data = await chart_data(services, kind, target_text)
    return await asyncio.to_thread(data.png)


async def chart_views(services: Services, base_url: str, target: str) -> list[Chart]:
    """``target``'s charts as Slack can show them here: signed links when Slack can
    reach runnerops (``base_url``), else PNGs uploaded to Slack; the figures as text on
    both. A failed upload leaves the figures only."""
    urls = charts.chart_urls(services.settings.chart_secret, base_url, target) if base_url else {}
    shown = []
    for kind, name in charts.KINDS.items():
        data = await chart_data(services, kind, target)
        alt = f"{name} of {target}, 7 days"
        if urls:
            shown.append(Chart(alt, data.figures(), image_url=urls[kind]))
            continue
        filename = f"runnerops-{kind}-{target.replace('/', '-')}.png"
        file_id = await _uploaded(services, data, filename, alt)
        shown.append(Chart(alt, data.figures(), file_id=file_id))
    return shown


async def _uploaded(services: Services, data: ChartData, filename: str, alt: str) -> str | None:
    """The chart drawn and uploaded (once per content), or None: a chart that cannot be
    drawn leaves its figures only, never the whole view."""
    try:
        png = await asyncio.to_thread(data.png)
    except Exception as exc:
        log.warning("could not draw the %s chart: %s", data.kind, type(exc).__name__)
        return None
    return await services.chart_files.file_id(png, filename, alt)


async def clicked(click: Click) -> None:
    """Refresh or focus: a new Home view for the clicker (a Home view has no response_url;
    a failure is logged, the old view stays)."""
    focus = click.value[:200] if click.action_id == HOME_FOCUS else None
    current = handling.get()
    if current is not None:
        current.target = word(focus or "")
    try:
        await publish(click.services, click.caller.user_id, click.caller.base_url, focus)
    except Exception as exc:
        if current is not None:
            current.outcome = f"error {error_kind(exc)}"
        log.warning("could not publish the Home tab: %s", type(exc).__name__)


for _action_id in (HOME_REFRESH, HOME_FOCUS):
    router.button(
        _action_id, verb="home", action="read", target=_READS_ONLY_READABLE, answer="home"
    )(clicked)
# Buttons that run the clicker's own read-only command: parsed and authorized as typed
# (with no channel: a channel-bound grant does not hold in the Home tab), answered by DM.
for _action_id in (*HOME_COMMANDS, *HOME_GLOBAL_COMMANDS):
    router.add_button(Button(_action_id, "home", None, None, command=command_text, answer="dm"))
