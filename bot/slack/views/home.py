"""Where the Home tab is rendered: the fleet at a glance, for one user.

For each watched target the user may read: runners online, busy and offline, open
alerts with their reasons; the alerts resolved last; charts of the focused target. With
targets of several organizations, each organization's come together under its name. At
most 100 blocks (Slack's limit for a Home view): targets beyond what fits are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    PlainTextObject,
)

from bot.durations import format_duration
from bot.slack.blocks import (
    MARKS,
    clip,
    code,
    context,
    escape,
    fit,
    header,
    section,
    slack_time,
)
from bot.slack.views.charts import Chart, chart_blocks
from bot.slack.views.reasons import REASON_TITLES
from bot.slack.views.version_alerts import home_line, version_of
from bot.store.jobs import JobRecord
from bot.watch.alerts import Alert, AlertKind, Marks
from bot.watch.diagnosis import Reason

HOME_REFRESH = "home_refresh"
HOME_FOCUS = "home_focus"  # charts and queue of one target
HOME_ACTIONS = (HOME_REFRESH, HOME_FOCUS)
# Buttons that run a read-only command for the clicker; the answer comes by DM (a Home
# view has no response_url). Action id -> (verb, button text); the value is the target.
HOME_COMMANDS: dict[str, tuple[str, str]] = {
    "home_run_queue": ("queue", "Queue"),
    "home_run_stats": ("stats", "Stats"),
    "home_run_list": ("list", "Runners"),
}
HOME_GLOBAL_COMMANDS: dict[str, tuple[str, str]] = {
    "home_run_whoami": ("whoami", "What may I do?"),
    "home_run_help": ("help", "Help"),
}
MAX_BLOCKS = 100
PER_TARGET = 5  # blocks one target's panel takes
ALERT_LINES = 5
QUEUE_LINES = 10


@dataclass
class Panel:
    target: str
    channels: tuple[str, ...]
    online: int = 0
    busy: int = 0
    offline: int = 0
    seen: bool = False  # the sweep has listed its runners at least once
    alerts: list[Alert] = field(default_factory=list)  # open: neither acknowledged nor snoozed
    # Acknowledged or snoozed (for now): shown apart from the open ones.
    quiet: list[tuple[Alert, Marks]] = field(default_factory=list)
    # Its version alerts (whatever their marks): runners on a version near or past its end.
    versions: list[Alert] = field(default_factory=list)


@dataclass
class Focus:
    target: str
    charts: Sequence[Chart]  # the last 7 days: each an image if Slack can show it, and its figures
    queued: list[JobRecord] = field(default_factory=list)  # the oldest, QUEUE_LINES at most
    queued_total: int | None = None  # how many readable ones are queued (None: len(queued))
    hidden: int = 0  # queued jobs of repositories the user may not read: counted only


def _alert_what(alert: Alert) -> str:
    """What the alert is about. A resolved alert has no members left: its count is the
    one its message showed last."""
    count = len(alert.members) or alert.shown_count
    if alert.kind is AlertKind.OFFLINE:
        return f"{count} runner{'s' * (count != 1)} offline"
    if alert.kind is AlertKind.VERSION:
        return f"{count} runner{'s' * (count != 1)} on {code(version_of(alert))}, near its end"
    try:
        reason = REASON_TITLES.get(Reason(alert.reason), alert.reason)
    except ValueError:
        reason = alert.reason
    labels = ", ".join(alert.labels) or "no labels"
    return f"{count} job{'s' * (count != 1)} waiting for {code(clip(labels, 80))}: {escape(reason)}"


def _alert_line(alert: Alert, now: datetime, offline: int | None = None) -> str:
    """``offline``: the runners the header counts offline now. An offline alert counts
    those offline past the watch's limit only: when fewer, the line says so, so that the
    header and the line agree."""
    what = _alert_what(alert)
    count = len(alert.members) or alert.shown_count
    if alert.kind is AlertKind.OFFLINE and offline is not None and offline != count:
        what += f" past the watch's limit, of {offline} offline now"
    return f"• {what} (since {format_duration(now - alert.opened_at)} ago)"


def _quiet_line(alert: Alert, marks: Marks, now: datetime) -> str:
    """An acknowledged or snoozed alert: what it is, and who acknowledged or snoozed it."""
    if marks.acknowledged_at is not None:
        ago = format_duration(max(now - marks.acknowledged_at, timedelta(0)))
        who = f"acknowledged by <@{escape(marks.acknowledged_by or '?')}> {ago} ago"
    else:
        until = slack_time(marks.snoozed_until or now)
        who = f"snoozed by <@{escape(marks.snoozed_by or '?')}> until {until}"
    return f"• {_alert_what(alert)} ({who})"


def _alert_lines(panel: Panel, now: datetime, offline: int | None) -> str:
    """Runners on versions near or past their end (one line), the open alerts, then
    apart the acknowledged and snoozed ones."""
    lines = [_alert_line(a, now, offline) for a in panel.alerts[:ALERT_LINES]]
    if len(panel.alerts) > ALERT_LINES:
        lines.append(f"… and {len(panel.alerts) - ALERT_LINES} more alerts")
    text = "\n".join(lines) if lines else ":white_check_mark: no open alerts"
    if panel.quiet:
        quiet = [_quiet_line(a, m, now) for a, m in panel.quiet[:ALERT_LINES]]
        if len(panel.quiet) > ALERT_LINES:
            quiet.append(f"… and {len(panel.quiet) - ALERT_LINES} more")
        text += "\n*Acknowledged or snoozed*\n" + "\n".join(quiet)
    if versions := home_line(panel.versions, now):
        text = versions + "\n" + text
    return fit(text)


def _panel(panel: Panel, now: datetime) -> list[Block]:
    where = escape(panel.target)
    channels = " ".join(f"<#{c}>" for c in panel.channels[:5])
    if panel.seen:
        counts = (
            f"{MARKS['idle']} {panel.online} idle · {MARKS['busy']} {panel.busy} busy"
            f" · {MARKS['offline']} {panel.offline} offline"
        )
    else:
        counts = "_runners not listed yet: the watch's next round lists them_"
    alerts = _alert_lines(panel, now, panel.offline if panel.seen else None)
    return [
        section(f"*{where}*  {counts}"),
        section(alerts),
        context(f"watched in {channels}" if channels else "watched"),
        ActionsBlock(  # one block for every button: the commands cost no extra block
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Charts and queue"),
                    action_id=HOME_FOCUS,
                    value=panel.target[:200],
                ),
                *(
                    ButtonElement(
                        text=PlainTextObject(text=label),
                        action_id=action_id,
                        value=panel.target[:200],
                    )
                    for action_id, (_, label) in HOME_COMMANDS.items()
                ),
            ]
        ),
        DividerBlock(),
    ]


def account_of(target: str) -> str:
    """The account a watched target belongs to: ``acme/api`` -> ``acme``; an enterprise
    (``enterprise:octo``) is its own."""
    return target.split("/", 1)[0]


def by_account(panels: Sequence[Panel]) -> list[tuple[str, list[Panel]]]:
    """The panels grouped by organization (or user, or enterprise), accounts in order of
    name (any case), each keeping the panels' own order: one deployment serving several
    organizations shows each one's targets together."""
    groups: dict[str, tuple[str, list[Panel]]] = {}
    for panel in panels:
        account = account_of(panel.target)
        groups.setdefault(account.lower(), (account, []))[1].append(panel)
    return [groups[key] for key in sorted(groups)]


def command_text(action_id: str, value: str) -> str | None:
    """The command a Home button runs (``queue acme/api``), or None for anything else: a
    button only ever runs its own read-only verb on the one target it carries."""
    if action_id in HOME_GLOBAL_COMMANDS:
        return HOME_GLOBAL_COMMANDS[action_id][0]
    if action_id not in HOME_COMMANDS or not value or len(value) > 200 or value.split() != [value]:
        return None
    return f"{HOME_COMMANDS[action_id][0]} {value}"


def _focus(focus: Focus, now: datetime) -> list[Block]:
    where = clip(focus.target, 100)
    lines = []
    for record in focus.queued[:QUEUE_LINES]:
        job = record.job
        age = format_duration(now - job.created_at) if job.created_at else "?"
        name = escape(clip(f"{job.workflow_name or ''} / {job.name or job.id}", 80))
        link = f"<{job.html_url}|{name}>" if job.html_url else name
        lines.append(
            f"• {escape(clip(job.repository, 60))}: {link} {code(', '.join(job.labels))}, {age}"
        )
    nothing = "No self-hosted job you may read is queued now." if focus.hidden else None
    queued = "\n".join(lines) if lines else nothing or "No self-hosted job queued now."
    total = len(focus.queued) if focus.queued_total is None else focus.queued_total
    shown = min(len(focus.queued), QUEUE_LINES)
    if total > shown:
        queued += f"\n… and {total - shown} more: `/runners queue {where}`"
    if focus.hidden:
        jobs = f"{focus.hidden} job{'s' * (focus.hidden != 1)}"
        queued += f"\n…and {jobs} in repositories you may not read."
    return [
        header(f"{where}: the last 7 days"),
        *(block for chart in focus.charts for block in chart_blocks(chart)),
        section(f"*Queued now*\n{queued}"),
        DividerBlock(),
    ]


def home_view(
    panels: Sequence[Panel],
    *,
    now: datetime,
    resolved: Sequence[tuple[Alert, datetime]] = (),
    focus: Focus | None = None,
    has_grants: bool = True,
) -> dict[str, Any]:
    blocks: list[Block] = [
        header("runnerops: your fleet"),
        ActionsBlock(
            elements=[
                ButtonElement(text=PlainTextObject(text="Refresh"), action_id=HOME_REFRESH),
                *(
                    ButtonElement(text=PlainTextObject(text=label), action_id=action_id)
                    for action_id, (_, label) in HOME_GLOBAL_COMMANDS.items()
                ),
            ]
        ),
    ]
    if not has_grants:
        blocks.append(
            section(
                ":lock: You may not see any target yet. An admin grants `read` in the policy"
                " (`RUNNEROPS_POLICY`); `/runners whoami` shows what you may do, where."
            )
        )
    elif not panels:
        blocks.append(
            section(
                "No target you may see is watched. In the channel that should get alerts,"
                " type `/runners watch ORG` (or `OWNER/REPO`); `/runners watching` lists them."
            )
        )
    if focus is not None:
        blocks.extend(_focus(focus, now))
    tail = 3  # resolved alerts and the commands' context
    room = MAX_BLOCKS - len(blocks) - tail
    groups = by_account(panels)
    shown: list[Panel] = []
    for account, members in groups if len(groups) > 1 else [("", list(panels))]:
        heading = 1 if account else 0  # one organization: no heading, as before
        if room < heading + PER_TARGET:
            break
        if heading:
            blocks.append(header(clip(account, 140)))
            room -= heading
        for panel in members:
            if room < PER_TARGET:
                break
            blocks.extend(_panel(panel, now))
            shown.append(panel)
            room -= PER_TARGET
    if len(panels) > len(shown):
        blocks.append(
            context(f"… and {len(panels) - len(shown)} more targets: `/runners watching`")
        )
    if resolved:
        lines = [
            f"• {escape(a.target)}: {_alert_what(a)}, resolved {format_duration(now - at)} ago"
            for a, at in resolved[:8]
        ]
        blocks.append(section("*Resolved lately*\n" + "\n".join(lines)))
    blocks.append(
        context(
            "Buttons answer by direct message. Commands: `/runners list TARGET` ·"
            " `queue TARGET` · `why JOB_URL` · `stats TARGET` · `prune TARGET` · `help`"
        )
    )
    return {"type": "home", "blocks": [b.to_dict() for b in blocks[:MAX_BLOCKS]]}
