"""The watch's figures, from one run: ``python -m tests.benchmarks.watch``.

1. ``workflow_job`` deliveries ingested per second: signed exactly as GitHub signs them,
   posted to ``/github/webhooks`` of the app served on loopback (20 in flight at a time),
   each job's queued, in_progress and completed deliveries, on SQLite and on a throwaway
   PostgreSQL (tests/postgres.py). The sender shares the app's event loop, so the figure
   is a floor. Every job must end up stored as completed.
2. The delay from a job's threshold (created + ``--after``, as GitHub reports it) to its
   alert in the channel, with the sweep running as in production (the app's own
   ``run_forever`` task, every ``SWEEP_PERIOD`` s, on the real clock). Each job is made to
   cross its threshold at a random moment; the delay should be at most one period plus
   one round's work.
3. GitHub requests an hour to watch 10 organizations of 1,000 runners each (one
   installation each, a few stuck jobs each): sweep rounds on an injected clock moved
   30 s a round (120 rounds are one hour), requests counted per installation by the
   GitHub double, 304s apart (GitHub does not count them), against the sweep's poll
   budget (``RUNNEROPS_POLL_BUDGET``, 10% of 5,000 an hour). Five organizations are quiet
   (runners unchanged: every page a 304) and five busy (a runner of every page changes
   state every round, as jobs start and end: every runner page a 200).

Nothing here asserts on time: ``tests/test_watch_benchmark.py`` runs the same functions at
a small size and checks only that what was measured was right.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.sandbox.fleet import generated_fleet
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.watch.budget import DEFAULT_LIMIT, LEAD, WINDOW

CONCURRENCY = 20  # deliveries in flight at a time
SWEEP_PERIOD = 1.0  # seconds between rounds in the delay figure
ROUND_SECONDS = 30.0  # the default RUNNEROPS_SWEEP_SECONDS, for the requests figure
HOUR_ROUNDS = int(WINDOW / ROUND_SECONDS)
POLL_BUDGET = 0.1  # the default RUNNEROPS_POLL_BUDGET


class Clock:
    """Injected time for the requests figure: moved a sweep period a round."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _created(job: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(job["created_at"]).replace("Z", "+00:00")).timestamp()


# -- 1. ingestion ------------------------------------------------------------------------


INGEST_ORG = "ingest"
INGEST_RUNNERS = 20


def seed_ingest(gh: GitHubDouble) -> None:
    gh.add_org(INGEST_ORG)
    gh.add_installation(INGEST_ORG)
    for repo in ("api", "web", "docs"):
        gh.add_repo(INGEST_ORG, repo)
    for i in range(INGEST_RUNNERS):
        gh.add_runner(f"/orgs/{INGEST_ORG}", f"r-{i:02d}", labels=["build"])


@dataclass
class IngestFigures:
    engine: str
    deliveries: int
    jobs: int
    seconds: float
    statuses: dict[int, int]  # HTTP status -> deliveries answered with it
    stored_completed: int  # jobs the store holds as completed afterwards

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def correct(self) -> bool:
        return self.statuses == {200: self.deliveries} and self.stored_completed == self.jobs

    def row(self) -> str:
        return (
            f"  {self.engine:<10} {self.deliveries:,} deliveries ({self.jobs:,} jobs) in "
            f"{self.seconds:.2f} s: {self.rate:,.0f} deliveries/s; answers {self.statuses}; "
            f"every job stored as completed: {'yes' if self.correct else 'NO'}"
        )


def ingest_payloads(gh: GitHubDouble, jobs: int) -> tuple[list[int], list[dict[str, Any]]]:
    """``jobs`` jobs each queued, taken and finished, as GitHub would deliver them: every
    queued delivery, then every in_progress, then every completed."""
    repos = ("api", "web", "docs")
    ids: list[int] = []
    phases: list[list[dict[str, Any]]] = [[], [], []]
    for i in range(jobs):
        job = gh.add_job(INGEST_ORG, repos[i % 3], labels=["self-hosted", "build"], name=f"j{i}")
        ids.append(int(job["id"]))
        phases[0].append(gh.workflow_job_payload(job["id"], "queued"))
    for i, job_id in enumerate(ids):
        gh.set_job(job_id, status="in_progress", runner=f"r-{i % INGEST_RUNNERS:02d}")
        phases[1].append(gh.workflow_job_payload(job_id, "in_progress"))
    for job_id in ids:
        gh.set_job(job_id, status="completed")
        phases[2].append(gh.workflow_job_payload(job_id, "completed"))
    return ids, [p for phase in phases for p in phase]


async def ingest(
    engine: str, database_url: str, deliveries: int, keys: Keys, concurrency: int = CONCURRENCY
) -> IngestFigures:
    jobs = max(1, deliveries // 3)
    async with Sandbox.running(seed=seed_ingest, keys=keys, database_url=database_url) as sb:
        ids, payloads = ingest_payloads(sb.github, jobs)
        statuses: dict[int, int] = {}
        queue = iter(payloads)

        async def sender() -> None:
            for payload in queue:
                status, _ = await sb.deliver("workflow_job", payload)
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        assert sb.services is not None
        completed = 0
        for job_id in ids:
            record = await sb.services.store.jobs.get(job_id)
            completed += record is not None and record.job.status == "completed"
    return IngestFigures(engine, len(payloads), jobs, seconds, statuses, completed)


# -- 2. threshold to alert ------------------------------------------------------------------


DELAY_ORG = "acme"
DELAY_CHANNEL = "C0ALERTS"
AFTER = 60.0  # the watch's --after, in seconds


def seed_delay(gh: GitHubDouble) -> None:
    gh.add_org(DELAY_ORG)
    gh.add_repo(DELAY_ORG, "api")
    gh.add_installation(DELAY_ORG)
    gh.add_runner(f"/orgs/{DELAY_ORG}", "linux-1", labels=["docker"])


@dataclass
class DelayFigures:
    period: float
    delays: list[float]  # threshold to the alert seen in the channel, per job
    alerted: int  # jobs whose alert arrived
    jobs: int

    @property
    def correct(self) -> bool:
        return self.alerted == self.jobs

    def summary(self) -> str:
        shown = ", ".join(f"{d:.2f}" for d in self.delays)
        worst = max(self.delays) if self.delays else float("nan")
        return "\n".join(
            [
                f"threshold to alert, the app's own sweep every {self.period:g} s on the real "
                f"clock (--after {AFTER:.0f}s, each job crossing it at a random moment)",
                f"  {self.jobs} jobs, {self.alerted} alerted; delays (s): {shown}",
                f"  median {statistics.median(self.delays):.2f} s, max {worst:.2f} s = "
                f"{worst / self.period:.2f} sweep periods",
            ]
        )


async def threshold_to_alert(
    jobs: int, keys: Keys, period: float = SWEEP_PERIOD, seed: int = 1
) -> DelayFigures:
    rng = random.Random(seed)
    delays: list[float] = []
    async with Sandbox.running(
        seed=seed_delay, keys=keys, policy=PLATFORM_POLICY, sweep_seconds=period
    ) as sb:
        reply = await sb.run(f"watch {DELAY_ORG} --after {AFTER:.0f}s", channel_id=DELAY_CHANNEL)
        assert "Watching" in reply_text(reply), reply_text(reply)
        for trial in range(jobs):
            label = f"pool{trial}"  # a label set of its own: a new alert per job
            crosses_in = rng.uniform(0.5, 0.5 + period)
            job = sb.github.add_job(
                DELAY_ORG,
                "api",
                labels=["self-hosted", label],
                created_at=time.time() + crosses_in - AFTER,
            )
            status, _ = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job["id"]))
            assert status == 200
            threshold = _created(job) + AFTER  # what the watch sees (whole seconds)
            deadline = time.time() + crosses_in + 5 * period + 5
            seen = None
            while time.time() < deadline:
                if any(label in m.get("text", "") for m in sb.slack.posted):
                    seen = time.time()
                    break
                await asyncio.sleep(0.005)
            if seen is not None:
                delays.append(seen - threshold)
    return DelayFigures(period, delays, len(delays), jobs)


# -- 3. GitHub requests an hour -----------------------------------------------------------


LABELS_NO_RUNNER = ["self-hosted", "gpu", "cuda-12"]  # no runner of the fleet has cuda-12


def org_name(i: int) -> str:
    return f"org{i:02d}"


def seed_orgs(orgs: int, runners: int) -> Callable[[GitHubDouble], None]:
    def seed(gh: GitHubDouble) -> None:
        for i in range(orgs):
            org = org_name(i)
            gh.add_org(org)
            gh.add_repo(org, "app")
            gh.add_installation(org)
            gh.add_runners(f"/orgs/{org}", generated_fleet(runners))

    return seed


@dataclass
class PerInstallation:
    requests: int = 0  # with the installation's token
    not_modified: int = 0  # of which 304 (free)
    budget_counted: int = 0  # what the sweep's PollBudget counted

    @property
    def cost(self) -> int:
        return self.requests - self.not_modified


@dataclass
class RequestFigures:
    orgs: int
    runners: int
    jobs_per_org: int
    rounds: int
    busy: set[str]  # organizations whose runners change state every round
    seconds: float
    per: dict[str, PerInstallation]
    skipped_rounds: int  # watch-rounds left out by the budget's pacing
    alerts: int  # stuck-job alerts posted
    budget_share: float = POLL_BUDGET
    limit: int = DEFAULT_LIMIT
    round_seconds: list[float] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.rounds * ROUND_SECONDS / WINDOW

    def hourly(self, value: float) -> float:
        return value / self.hours

    def share(self, per: PerInstallation) -> float:
        """What GitHub counts (304s are free) an hour, as a share of the limit."""
        return self.hourly(per.cost) / self.limit

    @property
    def within_budget(self) -> bool:
        return all(self.share(p) <= self.budget_share for p in self.per.values())

    def _line(self, name: str, group: list[PerInstallation]) -> str:
        def mean(attribute: str) -> float:
            return self.hourly(statistics.mean(getattr(p, attribute) for p in group))

        requests, free, cost = mean("requests"), mean("not_modified"), mean("cost")
        worst = max(self.share(p) for p in group)
        return (
            f"  {name:<6} ({len(group)} installations) an hour each: {requests:,.0f} requests, "
            f"{free:,.0f} of them 304s; rate-limit cost {cost:,.0f} = {cost / self.limit:.1%} "
            f"of {self.limit:,} (max {worst:.1%}); the budget counted "
            f"{mean('budget_counted'):,.0f} = {mean('budget_counted') / self.limit:.1%}"
        )

    def summary(self) -> str:
        scaled = "" if self.rounds == HOUR_ROUNDS else f", figures scaled from {self.rounds} rounds"
        allowance = int(self.limit * self.budget_share)
        quiet = [p for org, p in self.per.items() if org not in self.busy]
        busy = [p for org, p in self.per.items() if org in self.busy]
        lines = [
            f"GitHub requests to watch {self.orgs} organizations x {self.runners:,} runners, one "
            f"installation each, {self.jobs_per_org} stuck jobs each: {self.rounds} rounds on "
            f"a clock moved {ROUND_SECONDS:.0f} s a round = {self.hours:g} h{scaled} "
            f"({self.seconds:.0f} s of wall time; a round that polls all, p50 "
            f"{statistics.median(self.round_seconds):.2f} s)",
        ]
        if quiet:
            lines.append(self._line("quiet", quiet) + " (runners unchanged: pages 304)")
        if busy:
            lines.append(self._line("busy", busy) + " (a runner of every page changes a round)")
        lines.append(
            f"  poll budget {self.budget_share:.0%} of {self.limit:,} = {allowance} requests an "
            f"hour, 304s free; paced through the hour (a round goes while its cost fits the "
            f"share earned so far, {LEAD / 60:.0f} min ahead): {self.skipped_rounds} of "
            f"{self.rounds * self.orgs} watch-rounds without a listing (stuck jobs watched "
            f"from the last one); "
            f"{self.alerts} alerts posted; rate-limit cost within the budget: "
            f"{'yes' if self.within_budget else 'NO'}"
        )
        return "\n".join(lines)


def _owner_of(path: str) -> str | None:
    found = re.match(r"/(?:orgs|repos)/([^/]+)", path)
    return found.group(1).lower() if found else None


async def requests_an_hour(
    keys: Keys,
    *,
    orgs: int = 10,
    runners: int = 1_000,
    jobs_per_org: int = 3,
    rounds: int = HOUR_ROUNDS,
    busy_orgs: int = 0,
) -> RequestFigures:
    """``busy_orgs`` of the ``orgs`` (the last ones) have a runner of every page change
    state every round, as jobs start and end, so that no page is ever a 304."""
    clock = Clock()
    async with Sandbox.running(
        seed=seed_orgs(orgs, runners), keys=keys, policy=PLATFORM_POLICY, clock=clock
    ) as sb:
        assert sb.sweeper is not None
        names = [org_name(i) for i in range(orgs)]
        for i, org in enumerate(names):
            reply = await sb.run(f"watch {org}", channel_id=f"C0WATCH{i:02d}")
            assert "Watching" in reply_text(reply), reply_text(reply)
            for j in range(jobs_per_org):
                job = sb.github.add_job(
                    org,
                    "app",
                    labels=LABELS_NO_RUNNER,
                    name=f"train-{j}",
                    created_at=clock() - 600,
                )
                status, _ = await sb.deliver(
                    "workflow_job", sb.github.workflow_job_payload(job["id"])
                )
                assert status == 200
        # Runners whose state a busy fleet flips each round: one per page of 100.
        busy = set(names[orgs - busy_orgs :])
        flips = {org: [r["name"] for r in sb.github.runners(f"/orgs/{org}")[::100]] for org in busy}
        first = len(sb.github.requests)
        posted_before = len(sb.slack.posted)
        skipped = 0
        round_seconds = []
        started = time.perf_counter()
        for n in range(rounds):
            clock.now += ROUND_SECONDS
            for org, flipped in flips.items():
                for name in flipped:
                    sb.github.set_runner(f"/orgs/{org}", name, busy=n % 2 == 0)
            t0 = time.perf_counter()
            done = await sb.sweeper.run_once()
            if not done.skipped and not done.paced:
                round_seconds.append(time.perf_counter() - t0)
            skipped += len(done.skipped) + len(done.paced)  # no listing that round
        seconds = time.perf_counter() - started
        per = {org: PerInstallation() for org in names}
        for rec in sb.github.requests[first:]:
            owner = _owner_of(rec.path)
            if rec.auth != "installation" or owner not in per:
                continue
            per[owner].requests += 1
            per[owner].not_modified += rec.status == 304
        for org in names:
            per[org].budget_counted = sb.sweeper.budget.used(org)
        alerts = sum(1 for m in sb.slack.posted[posted_before:] if "cuda-12" in m.get("text", ""))
        return RequestFigures(
            orgs,
            runners,
            jobs_per_org,
            rounds,
            busy,
            seconds,
            per,
            skipped,
            alerts,
            budget_share=sb.settings.poll_budget,
            round_seconds=round_seconds,
        )


# -- the run -------------------------------------------------------------------------------


async def _ingest_both(deliveries: int, keys: Keys) -> list[IngestFigures]:
    from tests.postgres import running_server

    with tempfile.TemporaryDirectory() as scratch, running_server() as pg:
        sqlite = await ingest("SQLite", f"sqlite:///{scratch}/bench.db", deliveries, keys)
        url = pg.url(pg.create_database(), scheme="postgres")
        postgres = await ingest("PostgreSQL", url, deliveries, keys)
    return [sqlite, postgres]


async def main(deliveries: int, delay_jobs: int, rounds: int) -> None:
    keys = Keys.generate()
    print(
        f"workflow_job deliveries, signed, to /github/webhooks on loopback, {CONCURRENCY} "
        "in flight (the sender shares the app's event loop)"
    )
    for figures in await _ingest_both(deliveries, keys):
        print(figures.row())
    print((await threshold_to_alert(delay_jobs, keys)).summary())
    logging.getLogger("bot.watch.budget").setLevel(logging.ERROR)  # the summary says it
    print((await requests_an_hour(keys, rounds=rounds, busy_orgs=5)).summary())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=2_000)
    parser.add_argument("--delay-jobs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=HOUR_ROUNDS)
    args = parser.parse_args()
    asyncio.run(main(args.deliveries, args.delay_jobs, args.rounds))
