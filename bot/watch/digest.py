"""The daily digest's pure decisions: when a watch's digest is due, which day it covers,
and what it says, from plain data (the I/O is bot/sweep/digest.py's).

A digest belongs to a *local day* in the watch's ``--tz``: the day whose ``--digest HH:MM``
has passed most recently. It covers the local day that ends at that moment (from the same
time the day before: 23 or 25 hours across a DST change). It is due when that day is
later than the one last claimed, so a service that was down at the time sends it once
when it is back, and one that was down for days sends the latest day's only.

A local time that does not exist on a spring-forward day (02:30 in New York) is read with
the offset before the change (``fold=0``), which is the instant an hour later on the wall
clock: that day still gets its one digest. A time that happens twice takes the first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, available_timezones

from bot.watch.capacity import Capacity
from bot.watch.labels import LabelSetKey
from bot.watch.stats import QueueStats

DEFAULT_TZ = "UTC"
MAX_LINES = 10  # label sets shown, the worst first; the rest are counted
NEAR_END = timedelta(days=14)  # `--version-warn`'s default: a version this close to its end
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)
# An IANA name: relative, letters, digits and ``_+-`` in ``/``-separated parts.
_ZONE = re.compile(r"[A-Za-z0-9_+\-]{1,32}(/[A-Za-z0-9_+\-]{1,32}){0,2}", re.ASCII)


def parse_hhmm(text: str) -> time:
    """``HH:MM`` from 00:00 to 23:59 (two digits each); ValueError otherwise."""
    found = _HHMM.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day: give HH:MM, from 00:00 to 23:59")
    return time(int(found.group(1)), int(found.group(2)))


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone by its exact name; ValueError saying what was meant when the
    name only differs in case, or where to find the names."""
    if _ZONE.fullmatch(name):
        try:
            return ZoneInfo(name)
        except (ValueError, LookupError, OSError):
            pass
    near = [z for z in available_timezones() if z.lower() == name.lower()] if name else []
    hint = f" (did you mean `{near[0]}`?)" if near else ""
    raise ValueError(
        f"{name[:64]!r} is not an IANA time zone{hint}: give a name such as `Europe/Paris`,"
        " `America/New_York` or `UTC`"
    )


def scheduled(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of ``at`` on the local ``day``; a time the clocks skip is read
    with the offset before the change, a time they repeat is its first occurrence."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def last_day(now: datetime, at: time, zone: ZoneInfo) -> date:
    """The local day whose ``at`` is the latest at or before ``now``."""
    today = now.astimezone(zone).date()
    return today if now >= scheduled(today, at, zone) else today - timedelta(days=1)


def due(now: datetime, at: time, zone: ZoneInfo, claimed: str | None) -> date | None:
    """The day whose digest is due now, or None: due when its time has passed and the
    day last claimed (``YYYY-MM-DD``) is an earlier one (or none)."""
    day = last_day(now, at, zone)
    return day if claimed is None or claimed < day.isoformat() else None


@dataclass(frozen=True, slots=True)
class Windows:
    """The periods one digest compares: its day, the day before, the 7 days before it."""

    start: datetime
    end: datetime
    previous_start: datetime
    week_start: datetime


def windows(day: date, at: time, zone: ZoneInfo) -> Windows:
    one = timedelta(days=1)
    return Windows(
        start=scheduled(day - one, at, zone),
        end=scheduled(day, at, zone),
        previous_start=scheduled(day - 2 * one, at, zone),
        week_start=scheduled(day - 8 * one, at, zone),
    )


class Trend(StrEnum):
    UP = "up"  # waited longer than before
    DOWN = "down"
    SAME = "same"
    NONE = "none"  # nothing to compare with


def trend(now: timedelta | None, before: timedelta | None) -> Trend:
    if now is None or before is None:
        return Trend.NONE
    if now > before:
        return Trend.UP
    return Trend.DOWN if now < before else Trend.SAME


@dataclass(frozen=True, slots=True)
class QueueLine:
    """One label set's day: started jobs, p50/p95 and those of the periods before."""

    labels: LabelSetKey
    jobs: int
    p50: timedelta | None
    p95: timedelta | None
    p50_day: timedelta | None  # the day before
    p95_day: timedelta | None
    p50_week: timedelta | None  # the 7 days before
    p95_week: timedelta | None

    @property
    def trends(self) -> tuple[Trend, Trend, Trend, Trend]:
        """p50 against the day and the week, then p95 against the day and the week."""
        return (
            trend(self.p50, self.p50_day),
            trend(self.p50, self.p50_week),
            trend(self.p95, self.p95_day),
            trend(self.p95, self.p95_week),
        )


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert of the watch opened or resolved within the day, as stored."""

    kind: str  # "stuck" or "offline"
    reason: str  # a stuck alert's Reason value; "" for the others
    jobs: int  # the jobs it named (resolved: as many as its message last showed, at least 1)
    opened: bool  # opened within the day
    resolved: bool  # resolved within the day


@dataclass(frozen=True, slots=True)
class NearEnd:
    """Runners on a version GitHub stops sending jobs to soon (or already)."""

    version: str
    runners: int
    stops: datetime


@dataclass(frozen=True, slots=True)
class Short:
    """A label set whose jobs needed more runners than ran them."""

    labels: LabelSetKey
    runners: int
    suggested: int


@dataclass(frozen=True, slots=True)
class Digest:
    target: str
    day: date
    start: datetime
    end: datetime
    zone: str
    jobs: int  # jobs that started, created within the day
    waiting: int  # jobs created within the day and not started
    lines: tuple[QueueLine, ...]  # the worst MAX_LINES label sets
    more: int  # label sets left out
    reasons: tuple[tuple[str, int], ...]  # jobs waited past --after, per reason, most first
    opened: int
    resolved: int
    offline: tuple[str, ...]  # runners offline now, by name
    versions: tuple[NearEnd, ...] | None  # None: not known (no listing or no dates kept)
    short: tuple[Short, ...]
    capacity_known: bool  # False: the advice did not come within its deadline


def queue_lines(
    today: Mapping[LabelSetKey, QueueStats],
    day_before: Mapping[LabelSetKey, QueueStats],
    week: Mapping[LabelSetKey, QueueStats],
) -> list[QueueLine]:
    """The label sets of the day, the worst first: longest p95, then most jobs."""
    lines = []
    for labels, q in today.items():
        d, w = day_before.get(labels), week.get(labels)
        lines.append(
            QueueLine(
                labels=labels,
                jobs=q.count,
                p50=q.p50,
                p95=q.p95,
                p50_day=d.p50 if d else None,
                p95_day=d.p95 if d else None,
                p50_week=w.p50 if w else None,
                p95_week=w.p95 if w else None,
            )
        )
    never = timedelta(-1)  # no started job: after every one that waited
    return sorted(lines, key=lambda x: (-(x.p95 or never).total_seconds(), -x.jobs, x.labels))


def reasons(rows: Iterable[AlertRow]) -> list[tuple[str, int]]:
    """Jobs that waited past the watch's ``--after``, per reason, of the stuck alerts
    opened within the day (an alert counts the jobs it named), the most first."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row.kind == "stuck" and row.opened:
            counts[row.reason] += row.jobs
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def near_end(
    versions: Mapping[str, int],
    stops: Mapping[str, datetime | None],
    now: datetime,
    warn: timedelta = NEAR_END,
) -> list[NearEnd]:
    """Runner counts per version (``versions``) whose end (``stops``: GitHub's
    ``runtime_deprecates_at``) is within ``warn`` (the watch's ``--version-warn``, as its
    version alerts use) of ``now``, or past."""
    found = [
        NearEnd(version, count, end)
        for version, count in versions.items()
        if count and (end := stops.get(version)) is not None and end - now <= warn
    ]
    return sorted(found, key=lambda n: (n.stops, n.version))


def short(found: Capacity | None) -> list[Short]:
    """The label sets whose suggested runner count is more than the runners that ran
    their jobs, the largest shortfall first."""
    if found is None:
        return []
    out = [
        Short(a.labels, a.runners, a.suggested)
        for a in found.advice.values()
        if a.suggested is not None and a.suggested > a.runners
    ]
    return sorted(out, key=lambda s: (s.runners - s.suggested, s.labels))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the I/O gathered for one digest."""

    target: str
    day: date
    span: Windows
    zone: str
    today: Mapping[LabelSetKey, QueueStats]
    day_before: Mapping[LabelSetKey, QueueStats]
    week: Mapping[LabelSetKey, QueueStats]
    alerts: Sequence[AlertRow]
    offline: Sequence[str]
    versions: Sequence[NearEnd] | None
    capacity: Capacity | None


def digest(facts: Facts, *, most: int = MAX_LINES) -> Digest:
    lines = queue_lines(facts.today, facts.day_before, facts.week)
    return Digest(
        target=facts.target,
        day=facts.day,
        start=facts.span.start,
        end=facts.span.end,
        zone=facts.zone,
        jobs=sum(q.count for q in facts.today.values()),
        waiting=sum(q.unstarted for q in facts.today.values()),
        lines=tuple(lines[:most]),
        more=max(len(lines) - most, 0),
        reasons=tuple(reasons(facts.alerts)),
        opened=sum(a.opened for a in facts.alerts),
        resolved=sum(a.resolved for a in facts.alerts),
        offline=tuple(sorted(facts.offline)),
        versions=tuple(facts.versions) if facts.versions is not None else None,
        short=tuple(short(facts.capacity)),
        capacity_known=facts.capacity is not None,
    )
