"""A week behind the demo fleet, lived in seconds, so the watch's verbs have something to show.

:func:`seed_week` runs in a started sandbox whose injected clock stands a week back. The
channel the demo types in watches org ``acme``; a week of finished jobs (several label
sets, created, started and completed at times spread over the days, busier in office
hours) is stored as the ingest stores a batch of ``workflow_job`` deliveries (one
transaction a batch), because a week of signed deliveries one by one takes the better
part of a minute (``home_screenshot.live_a_week`` does that). Everything the sweep looks
at is real: the GitHub double's runners go offline, the real sweep runs a round twice a
day (fleet samples, runners last seen online, offline alerts), and in the last hour jobs
stuck for each reason the diagnosis knows are queued through signed ``workflow_job``
webhooks and swept every five minutes, so their alerts are posted in the channel.
:class:`World` then plays the next scripted events each time the demo's ``tick`` moves
the clock on (alerts updated and resolved).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.sandbox.harness import Sandbox
from bot.store.deliveries import Delivery
from bot.store.jobs import job_row
from bot.watch.diagnosis import Reason
from bot.watch.models import Job

HOUR = 3600.0
MINUTE = 60.0
DAY = 24 * HOUR
OWNER = "acme"
ORG = "/orgs/acme"
CHANNEL = "C0OPS"  # where the demo's commands come from: the channel that watches acme
HISTORY_JOB_IDS = 3_000_000_000  # history jobs live only in the store: ids GitHub's never use
DOCKER = ("self-hosted", "linux", "docker")
LINUX = ("self-hosted", "linux")
BUILD = (*LINUX, "build")
GPU = ("self-hosted", "gpu")
MAC = ("self-hosted", "macOS", "arm64")
# Label set -> (the runners that took its jobs, the typical wait in seconds, job names).
POOLS: dict[tuple[str, ...], tuple[tuple[str, ...], float, tuple[str, ...]]] = {
    DOCKER: (("acme-linux-01", "acme-linux-02", "acme-linux-03"), 40, ("test", "lint")),
    BUILD: (("acme-linux-01", "acme-linux-02", "acme-arm-01"), 70, ("build",)),
    GPU: (("acme-gpu-01", "acme-gpu-02"), 240, ("train-small", "train-large")),
    MAC: (("acme-mac-01", "acme-mac-02"), 120, ("ios-test",)),
}
# Runners the seed has offline that were online when the week began: two go away on the
# third day (the prune dry run offers them: offline for days), one this morning (kept).
WENT_AWAY = {
    "acme-linux-04": 2 * DAY,
    "acme-gpu-03": 2 * DAY + 5 * HOUR,
    "acme-arm-02": 6 * DAY + 18 * HOUR,
}
# In the week (each round mints an installation token: the clock has moved past the last
# one's hour); every 5 minutes in the last hour, as the watch runs.
SWEEP_EVERY = 12 * HOUR


@dataclass(frozen=True)
class Stuck:
    """A job queued in the last hour that no runner takes, and why (the diagnosis')."""

    key: str
    repo: str
    labels: tuple[str, ...]
    name: str
    minutes_ago: float
    reason: Reason  # what the sweep finds: the seed is built so


# One job for each reason a queued self-hosted job can wait (bot/watch/diagnosis.py).
STUCK = (
    Stuck("bench", "web", (*LINUX, "arm64", "xlarge"), "bench", 41, Reason.NO_MATCHING_LABELS),
    Stuck("deploy", "web", (*LINUX, "deploy"), "deploy-staging", 33, Reason.GROUP_NOT_ALLOWED),
    Stuck("installer", "web", ("self-hosted", "windows"), "installer", 28, Reason.ALL_OFFLINE),
    Stuck("ios", "api", ("self-hosted", "macOS", "build"), "ios-build", 22, Reason.ALL_BUSY),
    Stuck("test", "api", DOCKER, "test", 12, Reason.IDLE_NOT_TAKING),
)


class Clock:
    """The injected clock the sandbox shares: moved by the script, never slept on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _busy_hour(at: float) -> bool:
    """Office hours (UTC, Monday to Friday): when most jobs come."""
    moment = _utc(at)
    return moment.weekday() < 5 and 8 <= moment.hour < 19


@dataclass
class World:
    """The seeded sandbox and what happens next: ``jobs`` maps :data:`STUCK` keys to the
    job ids GitHub gave them; each :meth:`tick` plays the events now due."""

    sb: Sandbox
    clock: Clock
    jobs: dict[str, int] = field(default_factory=dict)
    # (when, what it does): each event returns what happened, or None when the world has
    # moved on without it (the user deleted its runner, say).
    events: list[tuple[float, Callable[[], Awaitable[str | None]]]] = field(default_factory=list)

    def job_url(self, key: str) -> str:
        return str(self.sb.github.job(self.jobs[key])["html_url"])

    async def deliver(self, job_id: int, action: str) -> None:
        payload = self.sb.github.workflow_job_payload(job_id, action)
        status, body = await self.sb.deliver("workflow_job", payload)
        if status != 200:
            raise RuntimeError(f"workflow_job {action} refused: {status} {body}")

    async def sweep(self) -> None:
        assert self.sb.sweeper is not None
        await self.sb.sweeper.run_once()

    async def tick(self, seconds: float) -> list[str]:
        """Move the clock ``seconds`` on, a sweep round every 5 minutes and at the end, and
        play the events that come due; return what happened, for the demo to say."""
        happened: list[str] = []
        end = self.clock.now + seconds
        while True:
            self.clock.now = min(self.clock.now + 5 * MINUTE, end)
            while self.events and self.events[0][0] <= self.clock.now:
                _, act = self.events.pop(0)
                if (said := await act()) is not None:
                    happened.append(said)
            await self.sweep()
            if self.clock.now >= end:
                return happened


async def _history(world: World, start: float, end: float) -> int:
    """A finished job every few minutes of office hours (fewer at night) from ``start`` to
    ``end``, stored as the ingest stores a batch of deliveries (one transaction a batch);
    sweep rounds in between. The count."""
    sb, clock = world.sb, world.clock
    assert sb.ingest is not None
    deliveries = sb.ingest.deliveries
    ids = {r["name"]: int(r["id"]) for r in sb.github.runners(ORG)}
    batch: list[Delivery] = []
    count = 0
    next_sweep = start
    at = start
    while at < end:
        if next_sweep <= at:
            if batch:
                await deliveries.record(batch)
                batch = []
            clock.now = next_sweep
            await world.sweep()
            next_sweep += SWEEP_EVERY
        for name, gone_at in WENT_AWAY.items():
            if start + gone_at <= at < start + gone_at + HOUR:
                sb.github.set_runner(ORG, name, status="offline")
        hour = int((at - start) // HOUR)
        busy = _busy_hour(at)
        per_hour = 5 if busy else (1 if hour % 3 == 0 else 0)
        for i in range(per_hour):
            labels = (DOCKER, DOCKER, BUILD, GPU, MAC)[(hour + i) % 5]
            runners, base, names = POOLS[labels]
            busier = 1 + ((hour // 24) * 5 % 7) / 6  # some days are busier than others
            wait = base * (1 + (hour * 7 + i * 3) % 5) * (1.6 * busier if busy else 0.4)
            created = at + i * (HOUR / per_hour)
            started = created + wait
            completed = started + 180 + (hour * 13 + i * 7) % 11 * 60
            runner = runners[(hour + i) % len(runners)]
            repo = f"{OWNER}/{('api', 'web')[(hour + i) % 2]}"
            job_id = HISTORY_JOB_IDS + count
            job = Job(
                id=job_id,
                labels=labels,
                status="completed",
                repository=repo,
                repository_public=False,
                created_at=_utc(created),
                started_at=_utc(started),
                completed_at=_utc(completed),
                run_id=job_id,
                name=names[(hour + i) % len(names)],
                workflow_name="CI",
                runner_id=ids[runner],
                runner_name=runner,
                html_url=f"https://github.com/{repo}/actions/runs/{job_id}/job/{job_id}",
            )
            row = job_row(job, now=_utc(completed), conclusion="success")
            batch.append(Delivery(f"delivery:history-{job_id}", row))
            count += 1
        at += HOUR
    if batch:
        await deliveries.record(batch)
    clock.now = end
    return count


async def seed_week(sb: Sandbox, clock: Clock, *, days: int = 7) -> World:
    """Live ``days`` up to the clock's time then (the sandbox started with ``clock`` set
    ``days`` back): the watch, the history, the runners gone, and the jobs stuck now."""
    world = World(sb, clock)
    end = clock.now + days * DAY
    reply = await sb.run(f"watch {OWNER}", channel_id=CHANNEL)
    if "Watching" not in json.dumps(reply):
        raise RuntimeError(f"watch {OWNER} failed: {reply}")
    for name in WENT_AWAY:  # online when the week began
        sb.github.set_runner(ORG, name, status="online")
    await _history(world, clock.now, end - HOUR)
    # The last hour, a round every 5 minutes: the jobs that wait now are queued as GitHub
    # would report them (signed deliveries), and the sweep diagnoses and alerts them.
    waiting = sorted(STUCK, key=lambda s: -s.minutes_ago)
    while clock.now < end:
        clock.now = min(clock.now + 5 * MINUTE, end)
        while waiting and end - waiting[0].minutes_ago * MINUTE <= clock.now:
            stuck = waiting.pop(0)
            job = sb.github.add_job(
                OWNER,
                stuck.repo,
                labels=list(stuck.labels),
                name=stuck.name,
                workflow_name="CI",
                created_at=end - stuck.minutes_ago * MINUTE,
            )
            world.jobs[stuck.key] = int(job["id"])
            await world.deliver(int(job["id"]), "queued")
        await world.sweep()
    world.events = _what_happens_next(world)
    return world


def _what_happens_next(world: World) -> list[tuple[float, Callable[[], Awaitable[str | None]]]]:
    """The next minutes: the busy Mac finishes and takes the iOS build (its alert
    resolves), then acme-arm-02 comes back (the offline alert says so); each only if the
    user has not deleted its runner (or the job is no longer queued)."""
    github, now = world.sb.github, world.clock.now

    def listed(name: str) -> bool:
        return any(r["name"] == name for r in github.runners(ORG))

    async def mac_takes_ios() -> str | None:
        job_id = world.jobs["ios"]
        if not listed("acme-mac-01") or github.job(job_id)["status"] != "queued":
            return None
        github.set_job(job_id, status="in_progress", runner="acme-mac-01")
        await world.deliver(job_id, "in_progress")
        return "acme-mac-01 finished its job and took ios-build"

    async def arm_back() -> str | None:
        if not listed("acme-arm-02"):
            return None
        github.set_runner(ORG, "acme-arm-02", status="online")
        return "acme-arm-02 came back online"

    return [(now + 4 * MINUTE, mac_takes_ios), (now + 9 * MINUTE, arm_back)]
