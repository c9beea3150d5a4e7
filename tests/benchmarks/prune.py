"""A prune of many dead runners: ``python -m tests.benchmarks.prune [N]`` (500 by default).

GitHub (the double) answers every runner GET and DELETE after 50 ms. The same prune runs
one runner at a time and then with the handler's bounded concurrency, in one run; it
prints the wall time of each and the ratio, the GitHub requests used, and when the
progress updates reached the message (Slack's response_url takes five posts).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import handlers.prune as prune_handler
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.slack.views.prune import PRUNE_ACTION

DELAY = 0.05
ORG = "/orgs/acme"


class ShiftedClock:
    """Real time, moved forward: progress spacing stays real while runners age."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def one_prune(n: int, concurrency: int, keys: Keys) -> dict[str, Any]:
    def seed(gh: GitHubDouble) -> None:
        gh.add_org("acme")
        gh.add_installation("acme")
        for i in range(n):
            gh.add_runner(ORG, f"dead-{i:04d}", status="offline")

    clock = ShiftedClock()
    prune_handler.CONCURRENCY = concurrency
    async with Sandbox.running(seed=seed, keys=keys, policy=PLATFORM_POLICY, clock=clock) as sb:
        await sb.run("prune acme")
        clock.offset += 2 * 86400
        ask = await sb.run("prune acme")
        for method in ("GET", "DELETE"):
            sb.github.add_fault(method, ORG + r"/actions/runners/\d+", delay=DELAY, times=None)
        before = {m: sb.github.count(m, ORG + r"/actions/runners/\d+") for m in ("GET", "DELETE")}
        body, response_url = sb.click_body(ask, action_id=PRUNE_ACTION)
        started = time.perf_counter()
        await sb.post_slack(body, sb.signed_headers(body), response_url)
        updates: list[float] = []
        while True:
            reply = await sb.slack.next_reply(response_url, 600)
            updates.append(time.perf_counter() - started)
            if "Pruning" not in reply_text(reply):
                break
        wall = updates[-1]
        used = {
            m: sb.github.count(m, ORG + r"/actions/runners/\d+") - before[m]
            for m in ("GET", "DELETE")
        }
        return {"wall": wall, "updates": updates, "requests": used, "summary": reply_text(reply)}


async def main(n: int = 500) -> None:
    keys = Keys.generate()
    serial = await one_prune(n, 1, keys)
    bounded = await one_prune(n, 4, keys)
    prune_handler.CONCURRENCY = 4
    print(f"prune of {n} offline runners, GitHub answering each GET and DELETE after 50 ms")
    for label, run in (("one at a time", serial), ("4 at a time", bounded)):
        spacing = ", ".join(f"{t:.1f}" for t in run["updates"])
        print(
            f"  {label:<13} {run['wall']:6.1f} s; requests {run['requests']};"
            f" message updates at {spacing} s"
        )
    print(f"  ratio: {serial['wall'] / bounded['wall']:.1f}x faster with bounded concurrency")
    print(f"  summary: {bounded['summary'].splitlines()[0]}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
