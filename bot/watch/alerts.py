"""Which Slack alerts to post, update or resolve: decided here, sent elsewhere.

The planners are level-triggered: they compare what *is* (the stuck jobs, the offline
runners) with what Slack *shows* (each stored :class:`Alert`'s ``message_ts`` and
``shown_count``) and derive the actions that close the gap. An action the pacer defers,
or a post that failed, is therefore planned again on the next sweep, and nothing is
posted twice: an alert key gets one new message while it is open, however many jobs join,
and later changes are updates of that message. After Slack answers, the caller records
the outcome with :func:`apply_done` and stores the result.

All types are plain frozen dataclasses (``dataclasses.asdict`` gives a storable dict).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.watch.labels import LabelSetKey, label_set_key
from bot.watch.models import Job, RunnerInfo

SLACK_INTERVAL = timedelta(seconds=1)
"""Slack allows about one message per second per channel (bursts are tolerated, not
promised)."""
# Label sets up to this many characters are written out in an alert's key; longer ones
# are digested (the key is indexed: see stuck_alert_key).
MAX_READABLE_KEY = 200


class AlertKind(StrEnum):
    STUCK = "stuck"  # jobs queued too long, grouped by reason and label set
    OFFLINE = "offline"  # runners offline past the threshold, grouped by time window
    VERSION = "version"  # runners on a version GitHub stops giving jobs (bot/watch/versions.py)


class ActionKind(StrEnum):
    POST = "post"  # a new message
    UPDATE = "update"  # edit the alert's message: the count changed or someone came back
    RESOLVE = "resolve"  # edit it to say it is over; the alert then leaves the store


class Departure(StrEnum):
    BACK = "back"  # the runner is online again (or was, between sweeps)
    DELETED = "deleted"  # the runner is no longer listed
    UPGRADED = "upgraded"  # a version alert's runner is on another version now


@dataclass(frozen=True, slots=True)
class Member:
    """A job or runner in an alert; ``since``: job created / runner last seen online."""

    id: int
    name: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Left:
    """A runner that left an offline alert, kept until the message has said so."""

    id: int
    name: str
    since: datetime
    left_at: datetime
    how: Departure

    @property
    def away(self) -> timedelta:
        """How long it was offline: "back after 23m"."""
        return max(self.left_at - self.since, timedelta(0))


@dataclass(frozen=True, slots=True)
class Alert:
    """One open alert, as stored. ``message_ts`` is None until Slack has the message."""

    key: str
    kind: AlertKind
    target: str
    channel: str
    opened_at: datetime
    reason: str = ""
    labels: LabelSetKey = ()
    members: tuple[Member, ...] = ()
    left: tuple[Left, ...] = ()
    message_ts: str | None = None
    # What the message shows is ``shown_count`` members; -1: out of date otherwise (a
    # version alert whose date passed), so that it is updated (see :func:`_derive`).
    shown_count: int = 0
    # A version alert's ``runtime_deprecates_at``: when GitHub stops giving it jobs.
    until: datetime | None = None

    @property
    def active(self) -> bool:
        return bool(self.members)


@dataclass(frozen=True, slots=True)
class AlertAction:
    """Do ``kind`` for ``alert``, rendered as it is here."""

    kind: ActionKind
    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """The alerts to store (every one given, changed where planned) and what to send."""

    alerts: tuple[Alert, ...]
    actions: tuple[AlertAction, ...]


@dataclass(frozen=True, slots=True)
class StuckJob:
    """A job :func:`is_stuck` picked, with its diagnosis reason and the watch it is in."""

    job_id: int
    name: str
    target: str
    channel: str
    reason: str
    labels: LabelSetKey
    queued_since: datetime


def is_stuck(job: Job, *, now: datetime, after: timedelta) -> bool:
    """Queued (not ``waiting``: that is an approval) for ``after`` or longer.

    A job without ``created_at`` cannot be timed and is never stuck."""
    return job.queued and job.created_at is not None and now - job.created_at >= after


def stuck_alert_key(target: str, reason: str, labels: Iterable[str]) -> str:
    """One alert per watched target, reason and label set: ``stuck|acme|all_busy|gpu,linux``.

    The key sits in a unique index, and any repository writer chooses ``runs-on``: a label
    set too long for the index (PostgreSQL's entries hold ~2.7 KB) or holding characters
    that are not plainly printable is keyed by its digest instead (the readable labels are
    kept beside it, in the alert's state), so no job's labels can make a key unstorable."""
    joined = ",".join(label_set_key(labels))
    if len(joined) > MAX_READABLE_KEY or not joined.isprintable():
        joined = "sha256:" + hashlib.sha256(joined.encode("utf-8", "replace")).hexdigest()
    return f"{AlertKind.STUCK}|{target.lower()}|{reason}|{joined}"


def _derive(alert: Alert) -> AlertAction | None:
    if alert.active and alert.message_ts is None:
        return AlertAction(ActionKind.POST, alert)
    if alert.active and (len(alert.members) != alert.shown_count or alert.left):
        return AlertAction(ActionKind.UPDATE, alert)
    if not alert.active and alert.message_ts is not None:
        return AlertAction(ActionKind.RESOLVE, alert)
    return None


def finish(untouched: list[Alert], touched: Iterable[Alert]) -> AlertPlan:
    # An alert never posted whose members all left needs no message: it is dropped.
    kept = [a for a in touched if a.active or a.message_ts is not None]
    actions = [action for a in kept if (action := _derive(a)) is not None]
    return AlertPlan(tuple(untouched + kept), tuple(actions))


def ordered(members: Iterable[Member]) -> tuple[Member, ...]:
    return tuple(sorted(members, key=lambda m: (m.since, m.id)))


def plan_stuck(alerts: Iterable[Alert], stuck: Iterable[StuckJob], *, now: datetime) -> AlertPlan:
    """Plan the stuck-job alerts from the complete set of jobs stuck now.

    Every stored ``stuck`` alert is in scope: one whose jobs are all gone (started,
    cancelled, or stuck now for another reason, which is another key) resolves. Jobs of
    one key form one alert; a job listed twice counts once.
    """
    groups: dict[str, list[StuckJob]] = {}
    seen: set[int] = set()
    for job in stuck:
        if job.job_id in seen:
            continue
        seen.add(job.job_id)
        groups.setdefault(stuck_alert_key(job.target, job.reason, job.labels), []).append(job)

    untouched: list[Alert] = []
    touched: dict[str, Alert] = {}
    for alert in alerts:
        if alert.kind != AlertKind.STUCK or alert.key in touched:
            untouched.append(alert)
            continue
        jobs = groups.get(alert.key, [])
        members = ordered(Member(j.job_id, j.name, j.queued_since) for j in jobs)
        touched[alert.key] = replace(alert, members=members)
    for key, jobs in groups.items():
        if key not in touched:
            first = jobs[0]
            touched[key] = Alert(
                key=key,
                kind=AlertKind.STUCK,
                target=first.target,
                channel=first.channel,
                opened_at=now,
                reason=first.reason,
                labels=label_set_key(first.labels),
                members=ordered(Member(j.job_id, j.name, j.queued_since) for j in jobs),
            )
    return finish(untouched, touched.values())


def offline_alertable(
    runners: Iterable[RunnerInfo],
    last_seen_online: Mapping[int, datetime | None],
    *,
    now: datetime,
    after: timedelta,
) -> list[RunnerInfo]:
    """Runners to alert on: not online, seen online before, and last seen ``after`` ago or
    more. A runner never seen online (registered and never started) is not an outage."""
    chosen = []
    for runner in runners:
        seen = last_seen_online.get(runner.id)
        if not runner.online and seen is not None and now - seen >= after:
            chosen.append(runner)
    return chosen


def plan_offline(
    alerts: Iterable[Alert],
    *,
    target: str,
    channel: str,
    runners: Iterable[RunnerInfo],
    last_seen_online: Mapping[int, datetime | None],
    now: datetime,
    after: timedelta,
    window: timedelta,
) -> AlertPlan:
    """Plan one target's offline-runner alerts from its complete runner list.

    Runners that become alertable join the target's newest active offline alert if it
    opened within ``window`` (one power cut, one message), else open a new one. A member
    online again, or seen online since, leaves as ``back``; one no longer listed leaves as
    ``deleted``; the alert resolves when its last member has left. Alerts of other targets
    and kinds are kept as they are.
    """
    runners = list(runners)
    listed = {r.id: r for r in runners}
    alertable = {
        r.id: r for r in offline_alertable(runners, last_seen_online, now=now, after=after)
    }
    scope = target.lower()

    untouched: list[Alert] = []
    touched: list[Alert] = []
    for alert in alerts:
        if alert.kind != AlertKind.OFFLINE or alert.target.lower() != scope:
            untouched.append(alert)
            continue
        stay = tuple(m for m in alert.members if m.id in alertable)
        gone = tuple(
            Left(m.id, m.name, m.since, now, _departure(m.id in listed))
            for m in alert.members
            if m.id not in alertable
        )
        touched.append(replace(alert, members=stay, left=alert.left + gone))

    in_alerts = {m.id for a in touched for m in a.members}
    new = ordered(
        Member(r.id, r.name, last_seen_online[r.id] or now)
        for r in alertable.values()
        if r.id not in in_alerts
    )
    if new:
        recent = [a for a in touched if a.active and now - a.opened_at <= window]
        if recent:
            host = max(recent, key=lambda a: a.opened_at)
            touched = [
                replace(a, members=ordered(a.members + new)) if a is host else a for a in touched
            ]
        else:
            touched.append(
                Alert(
                    key=f"{AlertKind.OFFLINE}|{scope}|{now.isoformat()}",
                    kind=AlertKind.OFFLINE,
                    target=target,
                    channel=channel,
                    opened_at=now,
                    reason=AlertKind.OFFLINE.value,
                    members=new,
                )
            )
    return finish(untouched, touched)


def _departure(listed: bool) -> Departure:
    # Listed but not alertable: online now, or seen online since it was alerted.
    return Departure.BACK if listed else Departure.DELETED


def apply_done(
    alerts: Iterable[Alert], action: AlertAction, *, message_ts: str | None = None
) -> tuple[Alert, ...]:
    """The stored alerts after Slack accepted ``action``.

    A post records its ``message_ts`` (required); every action records what the message
    now shows, so the same change is not sent again. A resolve removes the alert, unless
    jobs or runners joined it meanwhile: then it stays, to be updated back to open.
    """
    if action.kind == ActionKind.POST and not message_ts:
        raise ValueError("a posted alert needs the message's ts")
    done = action.alert
    told = set(done.left)
    result: list[Alert] = []
    for alert in alerts:
        if alert.key != done.key:
            result.append(alert)
            continue
        left = tuple(x for x in alert.left if x not in told)
        if action.kind == ActionKind.RESOLVE:
            if alert.active:
                result.append(replace(alert, left=left, shown_count=0))
            continue
        result.append(
            replace(
                alert,
                left=left,
                shown_count=len(done.members),
                message_ts=message_ts if action.kind == ActionKind.POST else alert.message_ts,
            )
        )
    return tuple(result)


_ORDER = {ActionKind.POST: 0, ActionKind.UPDATE: 1, ActionKind.RESOLVE: 2}


@dataclass(frozen=True, slots=True)
class Paced:
    """``send_now`` may go at once; each post of ``later`` not before its time.
    ``last_post_at`` is the given map with the channels posted to now set to ``now``:
    store it."""

    send_now: tuple[AlertAction, ...]
    later: tuple[tuple[AlertAction, datetime], ...]
    last_post_at: Mapping[str, datetime]


def pace(
    actions: Iterable[AlertAction],
    last_post_at: Mapping[str, datetime],
    *,
    now: datetime,
    interval: timedelta = SLACK_INTERVAL,
) -> Paced:
    """At most one new message per ``interval`` per channel: which posts go now, which wait
    till when. Slack's limit of about one message a second per channel is for
    ``chat.postMessage``; updates and resolutions (``chat.update``) all go now, so a
    resolution never waits behind new alerts.

    Within a channel new alerts go oldest first; channels do not wait for each other.
    ``send_now`` lists, per channel, the post first, then updates, then resolutions.
    """
    by_channel: dict[str, list[AlertAction]] = {}
    for action in actions:
        by_channel.setdefault(action.alert.channel, []).append(action)
    send_now: list[AlertAction] = []
    later: list[tuple[AlertAction, datetime]] = []
    stamps = dict(last_post_at)
    for channel, queue in by_channel.items():
        queue.sort(key=lambda a: (_ORDER[a.kind], a.alert.opened_at, a.alert.key))
        posts = [a for a in queue if a.kind is ActionKind.POST]
        last = last_post_at.get(channel)
        start = now if last is None else max(now, last + interval)
        for slot, action in enumerate(posts):
            at = start + slot * interval
            if at <= now:
                send_now.append(action)
                stamps[channel] = now
            else:
                later.append((action, at))
        send_now += [a for a in queue if a.kind is not ActionKind.POST]
    return Paced(tuple(send_now), tuple(later), stamps)


SNOOZE = timedelta(hours=1)  # the Snooze 1h button


@dataclass(frozen=True, slots=True)
class Marks:
    """What people did to an open alert: Acknowledge (who, when), Snooze 1h (who, until
    when), and when its one escalation reply was claimed."""

    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    escalated_at: datetime | None = None
    fixed_by: str | None = None
    fixed_at: datetime | None = None
    fix_note: str | None = None

    def snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


# A version alert warns weeks ahead: it escalates only once this little time is left
# before its runners stop receiving jobs (or the date has passed).
VERSION_ESCALATES = timedelta(days=1)


def escalates_at(alert: Alert, after: timedelta) -> datetime:
    """The earliest time ``alert`` may escalate: ``after`` past its opening, and for a
    version alert also no earlier than :data:`VERSION_ESCALATES` before its ``until``
    (whichever is later): a warning 14 days ahead is nobody's page 30 minutes on."""
    at = alert.opened_at + after
    if alert.kind == AlertKind.VERSION and alert.until is not None:
        at = max(at, alert.until - VERSION_ESCALATES)
    return at


def escalation_due(
    alert: Alert, marks: Marks, *, mentions: tuple[str, ...], after: timedelta, now: datetime
) -> bool:
    """Whether ``alert`` gets its one escalation reply now: posted, still open, not
    acknowledged, not snoozed, never escalated, past :func:`escalates_at`, and a watch
    with someone to mention."""
    return (
        bool(mentions)
        and alert.message_ts is not None
        and alert.active
        and not marks.acknowledged
        and not marks.snoozed(now)
        and marks.escalated_at is None
        and now >= escalates_at(alert, after)
    )
