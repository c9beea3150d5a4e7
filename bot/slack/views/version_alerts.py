"""The version alert in a channel: runners on a version GitHub stops giving jobs, named,
with how to upgrade; updated in place as they move on, resolved when none is left. And
its one line in the Home tab."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block

from bot.github.models import Download
from bot.github.versions import days_until, newest_offered
from bot.slack.blocks import (
    SECTION_CHARS,
    Reply,
    clip,
    code,
    context,
    escape,
    fit,
    section,
    slack_date,
)
from bot.slack.views.alerts import marked_blocks
from bot.slack.views.reasons import plural
from bot.watch.alerts import Alert, Departure, Marks
from bot.watch.versions import ENDED, MOVED

MAX_NAMES = 100  # runners named in the message; then "and N more" (and cut to fit)
NAME_CHARS = 60


def version_of(alert: Alert) -> str:
    return alert.labels[0] if alert.labels else "?"


def day(moment: datetime) -> str:
    """``20 Dec``: the issue's wording; the year when it is not this one's."""
    return f"{moment.day} {moment:%b}"


def stops_text(alert: Alert, now: datetime) -> str:
    """``stop receiving jobs on 20 Dec, in 9 days`` / ``no longer receive jobs (since 20
    Dec)``: what the runners of a version alert face."""
    if alert.until is None:
        return "stop receiving jobs soon"
    days = days_until(alert.until, now.timestamp())
    if alert.reason == ENDED or days <= 0:
        ago = f", {plural(-days, 'day')} ago" if days < 0 else ", today"
        return f"no longer receive jobs (GitHub stopped on {day(alert.until)}{ago})"
    return f"stop receiving jobs on {day(alert.until)}, in {plural(days, 'day')}"


def preferred_download(downloads: Sequence[Download]) -> Download | None:
    """The newest release's Linux x64 download (what most images pin), else its first."""
    newest = newest_offered(downloads)
    mine = [d for d in downloads if newest is not None and d.filename.endswith(f"-{newest}.tar.gz")]
    mine = mine or [d for d in downloads if newest is not None and newest in d.filename]
    linux = [d for d in mine if (d.os, d.architecture) == ("linux", "x64")]
    chosen = linux or mine
    return chosen[0] if chosen else None


def upgrade_text(download: Download | None) -> str:
    """How to move off the version: the runner updates itself unless started with
    ``--disableupdate``; an image that pins it: the download line and its SHA-256."""
    text = (
        "*How to upgrade*: a runner updates itself to the newest release unless it was"
        " started with `--disableupdate` (start it without, or upgrade it yourself)."
    )
    if download is None:
        return text + " Images that pin the version: `versions TARGET` names the newest."
    name = download.filename
    lines = [f"curl -o {name} -L {download.download_url}"]
    if download.sha256_checksum:
        lines.append(f'echo "{download.sha256_checksum}  {name}" | shasum -a 256 -c')
    return (
        text + f" Images that pin it ({escape(download.os)} {escape(download.architecture)}):"
        "\n```" + escape("\n".join(lines)) + "```"
    )


def _names(alert: Alert) -> str:
    """The runners, as many as fit one section, then how many more."""
    shown: list[str] = []
    size = 0
    for member in alert.members[:MAX_NAMES]:
        name = f"*{escape(clip(member.name, NAME_CHARS))}*"
        if size + len(name) + 2 > SECTION_CHARS - 40:
            break
        shown.append(name)
        size += len(name) + 2
    more = len(alert.members) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _left(alert: Alert) -> str:
    said = []
    for left in alert.left[:MAX_NAMES]:
        name = escape(clip(left.name, NAME_CHARS))
        if left.how is Departure.UPGRADED:
            said.append(f"• *{name}* moved to another version")
        else:
            said.append(f"• *{name}* was deleted")
    return fit("*Since the last update*\n" + "\n".join(said)) if said else ""


def version_alert(
    alert: Alert,
    *,
    now: datetime,
    resolved: bool = False,
    marks: Marks | None = None,
    download: Download | None = None,
) -> Reply:
    """The open alert (runners named, how to upgrade), or it resolved in place."""
    version, target, count = version_of(alert), escape(alert.target), len(alert.members)
    if resolved or not count:
        if alert.reason == MOVED:
            why = (
                f"the end of {code(version)} is no longer within this watch's"
                " `--version-warn` (GitHub moved its date, or the warning was shortened)"
            )
        else:
            why = f"no runner of *{target}* is left on {code(version)}"
        head = f":white_check_mark: *Resolved*: {why}"
        blocks: list[Block] = [section(head)]
        if left := _left(alert):
            blocks.append(section(left))
        return Reply(
            text=f"Resolved: runners of {alert.target} on {version}",
            blocks=blocks,
            response_type="in_channel",
        )
    stops = stops_text(alert, now)
    icon = ":no_entry:" if alert.reason == ENDED else ":hourglass_flowing_sand:"
    head = f"{icon} *{plural(count, 'runner')} of {target} on {code(version)} {stops}*"
    blocks = [section(head), section(_names(alert))]
    if alert.reason == ENDED:
        blocks.append(section("GitHub no longer dispatches jobs to runners on this version."))
    if left := _left(alert):
        blocks.append(section(left))
    blocks.append(section(upgrade_text(download)))
    blocks.append(
        context(
            f"Open since {slack_date(alert.opened_at)} · updated in place as runners move to"
            " a newer version · dates as GitHub published them, read once a day"
        )
    )
    marked_blocks(blocks, alert, marks, now)
    text = f"{count} runner{'s' * (count != 1)} of {alert.target} on {version} {stops}"
    return Reply(text=escape(text), blocks=blocks, response_type="in_channel")


def home_line(alerts: Sequence[Alert], now: datetime) -> str:
    """One line for a target's runners on versions near or past their end: ``3 runners on
    2.321.0: stop receiving jobs in 9 days``; empty for none."""
    said = []
    one = {version_of(a): a for a in alerts if a.active}  # watched in two channels: once
    alerts = list(one.values())
    for alert in sorted(alerts, key=lambda a: (a.until or now, a.key))[:3]:
        count = len(alert.members)
        if alert.until is None or not count:
            continue
        days = days_until(alert.until, now.timestamp())
        if days > 0:
            when = f"stop receiving jobs in {plural(days, 'day')}"
        else:
            when = "no longer receive jobs"
        said.append(f"{plural(count, 'runner')} on {code(version_of(alert))}: {when}")
    more = len(alerts) - 3
    return (
        ":hourglass_flowing_sand: "
        + "; ".join(said)
        + (f"; {more} more versions" if more > 0 else "")
        if said
        else ""
    )
