"""The version alert's decisions: which runner versions GitHub stops giving jobs within a
watch's ``--version-warn``, and one alert per such version (posted, updated as runners
move to newer versions, resolved in place when none is left on it).

Pure: each version's ``runtime_deprecates_at`` comes from the caller, which reads it from
the once-a-day store (bot/store/versions.py), never from GitHub on every round.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot.watch.alerts import (
    Alert,
    AlertKind,
    AlertPlan,
    Departure,
    Left,
    Member,
    finish,
    ordered,
)
from bot.watch.models import RunnerInfo

ENDING = "ending"  # GitHub stops giving this version jobs within the watch's warning
ENDED = "ended"  # the date passed: jobs are no longer dispatched to these runners
_RELEASE = re.compile(r"v?[0-9]{1,6}(?:\.[0-9]{1,6}){1,3}", re.ASCII)
MOVED = "moved"  # its end is no longer within the warning (date moved, or warning cut)

Ends = Mapping[str, datetime | None]
"""Each version's ``runtime_deprecates_at`` as known; None: GitHub published none. A
version absent is not known (not asked yet, or GitHub failed): its alert stays as it is."""


def version_alert_key(target: str, version: str) -> str:
    """One alert per watched target and version: ``version|acme|2.321.0``."""
    return f"{AlertKind.VERSION}|{target.lower()}|{version}"


def runner_version(text: str | None) -> str | None:
    """The version a runner reported, trimmed; None for a runner that never connected, or
    one whose version is not a release number (a runner reports it itself: nothing else
    is put in an alert's key or asked of GitHub)."""
    found = text.strip() if text else ""
    return found if _RELEASE.fullmatch(found) else None


def phase(until: datetime, now: datetime) -> str:
    """``ended``, or ``ending-9d`` (the days left, rounded up): the reason changes once a
    day, so the message's "in 9 days" is updated in place once a day."""
    if now >= until:
        return ENDED
    return f"{ENDING}-{math.ceil((until - now) / timedelta(days=1))}d"


def due(ends: Ends, *, now: datetime, warn: timedelta) -> dict[str, datetime]:
    """The versions whose end is within ``warn`` of ``now``, or past."""
    return {v: end for v, end in ends.items() if end is not None and end - now <= warn}


def jobs_ended(version: str | None, ends: Ends, now: datetime) -> datetime | None:
    """When GitHub stopped giving ``version`` jobs, if that has passed; None when it has
    not, or is not known."""
    found = runner_version(version)
    end = ends.get(found) if found is not None else None
    return end if end is not None and now >= end else None


def _by_version(runners: Iterable[RunnerInfo]) -> dict[str, list[RunnerInfo]]:
    found: dict[str, list[RunnerInfo]] = {}
    for runner in runners:
        version = runner_version(runner.version)
        if version is not None:
            found.setdefault(version, []).append(runner)
    return found


def _moved_on(alert: Alert, on: Mapping[int, RunnerInfo], listed: set[int], now: datetime) -> Alert:
    """``alert`` with the runners still on its version; the others left (upgraded, or
    deleted when no longer listed)."""
    since = {m.id: m.since for m in alert.members}
    stay = ordered(Member(r.id, r.name, since.get(r.id, now)) for r in on.values())
    gone = tuple(
        Left(
            m.id, m.name, m.since, now, Departure.UPGRADED if m.id in listed else Departure.DELETED
        )
        for m in alert.members
        if m.id not in on
    )
    return replace(alert, members=stay, left=alert.left + gone)


def plan_versions(
    alerts: Iterable[Alert],
    *,
    target: str,
    channel: str,
    runners: Iterable[RunnerInfo],
    ends: Ends,
    now: datetime,
    warn: timedelta,
) -> AlertPlan:
    """Plan one watch's version alerts from its complete runner list.

    A version whose end is within ``warn`` (or past) and that runners are on gets one
    alert naming them. Runners that move to another version leave it; it resolves when
    none is left, or when GitHub's date moves beyond ``warn``. When the date passes the
    message is updated to say so, and once a day for the days left (``shown_count`` -1
    makes :func:`bot.watch.alerts._derive` update it).
    Alerts of other targets and kinds are kept as they are."""
    runners = list(runners)
    by_version = _by_version(runners)
    listed = {r.id for r in runners}
    warned = due(ends, now=now, warn=warn)
    scope = target.lower()
    untouched: list[Alert] = []
    touched: dict[str, Alert] = {}
    for alert in alerts:
        if alert.kind != AlertKind.VERSION or alert.target.lower() != scope:
            untouched.append(alert)
            continue
        version = alert.labels[0] if alert.labels else ""
        on = {r.id: r for r in by_version.get(version, [])}
        until, reason = alert.until, alert.reason
        if version in ends:
            until = warned.get(version)
            if until is None:  # no longer due: resolved, its runners not "upgraded"
                on, until, reason = {}, alert.until, MOVED
                alert = replace(alert, members=())
            else:
                reason = phase(until, now)
        after = replace(_moved_on(alert, on, listed, now), reason=reason, until=until)
        said = (alert.reason, alert.until) != (after.reason, after.until)
        if after.active and after.message_ts is not None and said:
            after = replace(after, shown_count=-1)
        touched[alert.key] = after
    for version, until in warned.items():
        key = version_alert_key(target, version)
        if key in touched or version not in by_version:
            continue
        touched[key] = Alert(
            key=key,
            kind=AlertKind.VERSION,
            target=target,
            channel=channel,
            opened_at=now,
            reason=phase(until, now),
            labels=(version,),
            members=ordered(Member(r.id, r.name, now) for r in by_version[version]),
            until=until,
        )
    return finish(untouched, touched.values())
