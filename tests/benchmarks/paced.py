"""Threshold to alert under a spent poll budget: ``python -m tests.benchmarks.paced``.

One organization of 5,000 runners whose runners change every round (a runner of every page
flips busy/idle, so no page is ever a 304), watched with the default ``--after 5m`` and the
default poll budget (10% of 5,000 requests an hour): listing it every 30 s round would
cost ~50 requests a round, ten times its share, so the budget paces the listing through the
hour. Jobs asking for labels no runner has are queued at moments spread over the hour; for
each, the delay from its threshold (created + ``--after``) to its alert in the channel.

Side by side in the same run: the sweep as it is (a paced round diagnoses stuck jobs from
the last listing, the job itself confirmed with GitHub), and the baseline without that
fallback (a paced round leaves the account out, as runnerops did before). Time is the
injected clock moved 30 s a round, so the delays are exact, not measured noise;
``tests/test_paced_benchmark.py`` runs it at a small size.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.fleet import generated_fleet
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.watch.budget import WINDOW

ORG = "bigco"
ROUND_SECONDS = 30.0  # the default RUNNEROPS_SWEEP_SECONDS
HOUR_ROUNDS = int(WINDOW / ROUND_SECONDS)
AFTER = 300.0  # the watch's default --after


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seed(runners: int) -> Callable[[GitHubDouble], None]:
    def seed(gh: GitHubDouble) -> None:
        gh.add_org(ORG)
        gh.add_repo(ORG, "app")
        gh.add_repo(ORG, "web")
        gh.add_installation(ORG)
        gh.add_runners(f"/orgs/{ORG}", generated_fleet(runners))

    return seed


@dataclass
class PacedFigures:
    name: str
    runners: int
    rounds: int
    jobs: int
    delays: list[float] = field(default_factory=list)  # seconds, threshold to alert
    paced_rounds: int = 0  # rounds the budget left the listing out
    job_gets: int = 0

    @property
    def missed(self) -> int:
        return self.jobs - len(self.delays)

    def row(self) -> str:
        if not self.delays:
            return f"  {self.name:<28} no alert posted ({self.jobs} jobs)"
        ordered = sorted(self.delays)
        p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
        return (
            f"  {self.name:<28} threshold to alert: p50 {statistics.median(ordered):6.0f} s,"
            f" p95 {p95:6.0f} s, max {ordered[-1]:6.0f} s; {len(self.delays)}/{self.jobs}"
            f" alerted; {self.paced_rounds}/{self.rounds} rounds without a listing;"
            f" {self.job_gets} job confirmations"
        )


async def threshold_to_alert_paced(
    keys: Keys,
    *,
    runners: int = 5_000,
    rounds: int = HOUR_ROUNDS,
    jobs: int = 20,
    fallback: bool = True,
    budget: float = 0.10,
) -> PacedFigures:
    clock = Clock()
    figures = PacedFigures(
        "paced, from the last listing" if fallback else "baseline: paced rounds skip",
        runners,
        rounds,
        jobs,
    )
    async with Sandbox.running(
        seed=seed(runners), keys=keys, policy=PLATFORM_POLICY, clock=clock, poll_budget=budget
    ) as sb:
        assert sb.sweeper is not None
        sb.sweeper.stale_fallback = fallback
        reply = await sb.run(f"watch {ORG}", channel_id="C0BIG")
        assert "Watching" in reply_text(reply), reply_text(reply)
        flips = [r["name"] for r in sb.github.runners(f"/orgs/{ORG}")[::100]]
        # Job i is queued at round start_i, spread over the run after a first quarter
        # that lets the budget be spent.
        first = rounds // 4
        step = max(1, (rounds - first - int(AFTER / ROUND_SECONDS) - 2) // max(jobs, 1))
        starts = {first + i * step: i for i in range(jobs)}
        created: dict[int, float] = {}
        alerted: dict[int, float] = {}
        posted = 0
        for n in range(rounds):
            clock.now += ROUND_SECONDS
            for name in flips:
                sb.github.set_runner(f"/orgs/{ORG}", name, busy=n % 2 == 0)
            if n in starts:
                i = starts[n]
                # Created a few seconds before the round, so that thresholds fall at
                # varied moments between rounds, as they do.
                job = sb.github.add_job(
                    ORG,
                    ("app", "web")[i % 2],  # two repositories: each has listings of its own
                    labels=["self-hosted", f"model-{i}"],
                    created_at=clock() - (i * 7) % ROUND_SECONDS,
                )
                status, _ = await sb.deliver(
                    "workflow_job", sb.github.workflow_job_payload(job["id"])
                )
                assert status == 200
                created[i] = clock() - (i * 7) % ROUND_SECONDS
            done = await sb.sweeper.run_once()
            figures.paced_rounds += bool(done.paced or done.skipped)
            for message in sb.slack.posted[posted:]:
                text = str(message.get("text", ""))
                for i in created:
                    if i not in alerted and f"model-{i}," in text + ",":
                        alerted[i] = clock()
            posted = len(sb.slack.posted)
        figures.jobs = len(created)
        figures.delays = [alerted[i] - (created[i] + AFTER) for i in sorted(alerted)]
        figures.job_gets = sb.github.count("GET", rf"/repos/{ORG}/\w+/actions/jobs/\d+")
    return figures


async def main(runners: int, rounds: int, jobs: int) -> None:
    keys = Keys.generate()
    logging.getLogger("bot.watch.budget").setLevel(logging.ERROR)
    print(
        f"Threshold to alert, {ORG}: {runners:,} runners changing every round, --after"
        f" {AFTER / 60:.0f}m, poll budget 10% of 5,000 an hour, {rounds} rounds of"
        f" {ROUND_SECONDS:.0f} s (injected clock), {jobs} jobs with labels no runner has"
    )
    paced = await threshold_to_alert_paced(keys, runners=runners, rounds=rounds, jobs=jobs)
    base = await threshold_to_alert_paced(
        keys, runners=runners, rounds=rounds, jobs=jobs, fallback=False
    )
    print(paced.row())
    print(base.row())
    if paced.delays and base.delays:
        ratio = statistics.median(base.delays) / max(statistics.median(paced.delays), 1.0)
        print(f"  median delay: the baseline's is x{ratio:.1f} the paced sweep's")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runners", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=HOUR_ROUNDS)
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.runners, args.rounds, args.jobs))
