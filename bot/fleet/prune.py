"""Which runners ``prune`` may delete, and how its work reports progress. Pure.

A runner is prunable when it is offline, not busy, matches the filters, and has been
offline at least ``offline_for`` by what runnerops has seen: since it was last seen
online, or, for one never seen online, since runnerops first saw it offline (GitHub
keeps no such time itself). Each is checked again just before its delete, against
GitHub's state and runnerops' records both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bot.github.models import Runner

MAX_RUNNERS = 1000  # one prune at most; a larger fleet is pruned in rounds
PROGRESS_REPORTS = 3  # Slack's response_url takes five posts: three updates, the summary
PROGRESS_EVERY = 2.0  # seconds between progress updates at the most


class Sighting(Protocol):
    """What the store remembers of a runner (bot.store.fleet.Seen fits)."""

    @property
    def last_seen_online(self) -> datetime | None: ...

    @property
    def first_seen_offline(self) -> datetime | None: ...


class Since(StrEnum):
    LAST_ONLINE = "last seen online"
    FIRST_OFFLINE = "first seen offline"  # never seen online by runnerops


@dataclass(frozen=True, slots=True)
class Candidate:
    runner: Runner
    offline_since: datetime
    since: Since


@dataclass(frozen=True)
class Selection:
    candidates: tuple[Candidate, ...]
    online: int = 0
    busy: int = 0
    too_recent: int = 0  # offline, but not for long enough yet
    too_recent_unseen: int = 0  # of those, never seen online: counted from first seen
    unmatched: int = 0  # left out by --label / --name
    over_limit: int = 0  # beyond MAX_RUNNERS, for a later round
    never_seen_online: int = 0  # among the candidates

    @property
    def runner_ids(self) -> tuple[int, ...]:
        return tuple(c.runner.id for c in self.candidates)


def matches(runner: Runner, labels: Sequence[str], name: str | None) -> bool:
    """``--label`` (each one, any case) and ``--name`` (part of the name, any case)."""
    carried = {label.name.lower() for label in runner.labels}
    if any(label.lower() not in carried for label in labels):
        return False
    return name is None or name.lower() in runner.name.lower()


def offline_since(sighting: Sighting | None, now: datetime) -> tuple[datetime, Since]:
    if sighting is not None and sighting.last_seen_online is not None:
        return sighting.last_seen_online, Since.LAST_ONLINE
    first = sighting.first_seen_offline if sighting is not None else None
    return (first or now), Since.FIRST_OFFLINE


def select(
    runners: Iterable[Runner],
    seen: Mapping[int, Sighting],
    *,
    now: datetime,
    offline_for: timedelta,
    labels: Sequence[str] = (),
    name: str | None = None,
    limit: int = MAX_RUNNERS,
) -> Selection:
    """The dry run: oldest-offline first, at most ``limit``."""
    online = busy = too_recent = too_recent_unseen = unmatched = 0
    found: list[Candidate] = []
    for runner in runners:
        if not matches(runner, labels, name):
            unmatched += 1
        elif runner.busy:
            busy += 1
        elif runner.online:
            online += 1
        else:
            since, kind = offline_since(seen.get(runner.id), now)
            if now - since >= offline_for:
                found.append(Candidate(runner, since, kind))
            else:
                too_recent += 1
                too_recent_unseen += kind is Since.FIRST_OFFLINE
    found.sort(key=lambda c: (c.offline_since, c.runner.id))
    kept = tuple(found[:limit])
    return Selection(
        candidates=kept,
        online=online,
        busy=busy,
        too_recent=too_recent,
        too_recent_unseen=too_recent_unseen,
        unmatched=unmatched,
        over_limit=max(0, len(found) - limit),
        never_seen_online=sum(1 for c in kept if c.since is Since.FIRST_OFFLINE),
    )


class Skip(StrEnum):
    """Why a runner of the plan was not deleted after all (its re-check)."""

    ONLINE = "came back online"
    BUSY = "is running a job"
    GONE = "was already gone"
    RETURNED = "came back online since the dry run"
    NOT_LONG_ENOUGH = "has not been offline long enough by runnerops' records"


def recheck(runner: Runner | None) -> Skip | None:
    """Just before its delete: None means delete it."""
    if runner is None:
        return Skip.GONE
    if runner.busy:
        return Skip.BUSY
    if runner.online:
        return Skip.ONLINE
    return None


def still_due(
    sighting: Sighting | None, *, now: datetime, offline_for: timedelta, planned_at: datetime
) -> Skip | None:
    """The dry run's rule again, at the click, by runnerops' records: offline at least
    ``offline_for`` (None: delete it). GitHub says only that a runner is offline now; one
    the watch saw online after the dry run was planned came back meanwhile, however
    briefly, and its time offline starts again."""
    since, _kind = offline_since(sighting, now)
    if now - since >= offline_for:
        return None
    if sighting is not None and sighting.last_seen_online is not None:
        if sighting.last_seen_online > planned_at:
            return Skip.RETURNED
    return Skip.NOT_LONG_ENOUGH


@dataclass
class Tally:
    """What a prune did so far; what its progress and summary say."""

    total: int
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> runner names
    failed: dict[str, list[str]] = field(default_factory=dict)  # reason -> runner names
    paused_until: float | None = None  # a rate-limit pause being waited out

    @property
    def done(self) -> int:
        return (
            len(self.deleted)
            + sum(map(len, self.skipped.values()))
            + sum(map(len, self.failed.values()))
        )

    def skip(self, name: str, reason: str) -> None:
        self.skipped.setdefault(reason, []).append(name)

    def fail(self, name: str, reason: str) -> None:
        self.failed.setdefault(reason, []).append(name)


@dataclass
class Reporter:
    """When to post progress: at most ``PROGRESS_REPORTS`` updates, spread over the work
    (at a quarter, a half, three quarters done), ``PROGRESS_EVERY`` seconds apart at least,
    never for the last runner (the summary follows)."""

    started: float
    reports: int = 0
    last: float | None = None

    def due(self, tally: Tally, now: float) -> bool:
        if self.reports >= PROGRESS_REPORTS or tally.done >= tally.total:
            return False
        if tally.done * (PROGRESS_REPORTS + 1) < (self.reports + 1) * tally.total:
            return False  # not yet at the next quarter
        since = now - (self.last if self.last is not None else self.started)
        return since >= PROGRESS_EVERY

    def reported(self, now: float) -> None:
        self.reports += 1
        self.last = now

    def spare(self, now: float) -> bool:
        """Whether a rate-limit pause may say so: its notice takes one of the updates, as
        Slack takes five posts per response_url and the summary must be one of them."""
        if self.reports >= PROGRESS_REPORTS:
            return False
        self.reported(now)
        return True
