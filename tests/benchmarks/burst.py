"""A burst of slash commands arriving at once while GitHub is slow.

``python -m tests.benchmarks.burst [N]`` sends N signed ``/runners list`` commands (1,000 by
default) in one ``asyncio.gather`` while the GitHub double answers every runner list after
two seconds, then prints how fast runnerops acknowledged them and when the last answer
arrived on its ``response_url``. Slack gives an app three seconds to acknowledge.

:func:`burst` is shared with ``tests/test_burst.py``, which asserts on the same run.
"""

from __future__ import annotations

import asyncio
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys, Sandbox, reply_text

GITHUB_DELAY = 2.0  # seconds the double takes to answer each runner list
SLACK_ACK_LIMIT = 3.0  # Slack shows the user an error when the ack takes longer
TARGETS = {  # target -> what its reply's summary says
    "acme": "*acme*: 4 runners · 3 online · 1 busy · 1 offline",
    "acme/api": "*acme/api*: 2 runners · 2 online · 0 busy · 0 offline",
}
FILTERS = ("", "--busy", "--idle", "--status offline", "--label gpu")
SLOW_PATHS = (r"/orgs/acme/actions/runners", r"/repos/acme/api/actions/runners")


def seed_burst(gh: GitHubDouble) -> None:
    """Two fleets of different sizes, so a reply shows which target it answers."""
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_installation("acme")
    gh.add_runner("/orgs/acme", "linux-idle", labels=["gpu"])
    gh.add_runner("/orgs/acme", "linux-busy", busy=True, labels=["docker"])
    gh.add_runner("/orgs/acme", "linux-spare", labels=["gpu", "docker"])
    gh.add_runner("/orgs/acme", "mac-offline", os="macOS", status="offline")
    gh.add_runner("/repos/acme/api", "api-1", labels=["gpu"])
    gh.add_runner("/repos/acme/api", "api-2")


def command_for(i: int) -> tuple[str, list[str]]:
    """The i-th command of a burst and fragments only its own reply contains.

    Every command carries a unique ``--name`` filter, which the reply echoes back.
    """
    target = list(TARGETS)[i % len(TARGETS)]
    flag = FILTERS[(i // len(TARGETS)) % len(FILTERS)]
    tag = f"cmd{i:05d}"
    text = f"list {target} {flag} --name {tag}".replace("  ", " ")
    echoed = " ".join(part for part in (flag, f"--name {tag}") if part)
    return text, [TARGETS[target], f"0 match `{echoed}`"]


@dataclass
class BurstResult:
    n: int
    started: float  # time.monotonic() when the first request was sent
    statuses: list[int] = field(default_factory=list)
    ack_seconds: list[float] = field(default_factory=list)  # per command, send -> ack
    ack_done: list[float] = field(default_factory=list)  # monotonic stamp of each ack
    reply_at: list[float | None] = field(default_factory=list)  # stamp of each reply
    replies: list[dict[str, Any] | None] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # commands answered something else
    extra_replies: int = 0  # replies beyond the first on any response_url
    github_requests: int = 0  # runner lists GitHub received during the burst

    @property
    def first_reply(self) -> float:
        return min((t for t in self.reply_at if t is not None), default=math.inf)

    @property
    def last_reply(self) -> float:
        return max((t for t in self.reply_at if t is not None), default=math.inf)

    @property
    def last_ack(self) -> float:
        return max(self.ack_done)

    def ack_percentile(self, p: float) -> float:
        ordered = sorted(self.ack_seconds)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def acks_under(self, limit: float) -> int:
        return sum(s < limit for s in self.ack_seconds)

    def summary(self) -> str:
        lost = sum(r is None for r in self.replies)
        return "\n".join(
            [
                f"burst of {self.n} commands, GitHub answering runner lists after "
                f"{GITHUB_DELAY:.0f} s",
                f"  acks: p50 {self.ack_percentile(50) * 1000:.0f} ms, "
                f"p99 {self.ack_percentile(99) * 1000:.0f} ms, "
                f"max {max(self.ack_seconds) * 1000:.0f} ms; "
                f"{self.acks_under(SLACK_ACK_LIMIT)}/{self.n} under {SLACK_ACK_LIMIT:.0f} s; "
                f"statuses {sorted(set(self.statuses))}",
                f"  last ack {self.last_ack - self.started:.2f} s, first reply "
                f"{self.first_reply - self.started:.2f} s, last reply "
                f"{self.last_reply - self.started:.2f} s after the burst started",
                f"  replies: {self.n - lost} received, {lost} lost, "
                f"{self.extra_replies} duplicated, {len(self.wrong)} not their command's",
            ]
        )


async def warm_up(sb: Sandbox) -> None:
    """One command per target first, as a running service would have cached the
    installation ids and token by then."""
    for target in TARGETS:
        await sb.run(f"list {target}")


def allow_open_files(n: int) -> None:
    """Each command holds a client and a server socket: raise the soft limit to fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * n + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


async def burst(sb: Sandbox, n: int, *, reply_timeout: float = 60.0) -> BurstResult:
    allow_open_files(n)
    """Send ``n`` commands at once and collect every ack and reply, with time stamps."""
    for path in SLOW_PATHS:
        sb.github.add_fault("GET", path, delay=GITHUB_DELAY, times=None)
    commands = [command_for(i) for i in range(n)]
    bodies = [sb.command_body(text) for text, _ in commands]
    before = sum(sb.github.count("GET", path) for path in SLOW_PATHS)

    async def wait_reply(response_url: str) -> tuple[dict[str, Any] | None, float | None]:
        try:
            reply = await sb.slack.next_reply(response_url, reply_timeout)
        except TimeoutError:
            return None, None
        return reply, time.monotonic()

    async def send(session: aiohttp.ClientSession, body: bytes) -> tuple[int, float, float]:
        headers = sb.signed_headers(body)
        sent = time.monotonic()
        async with session.post(sb.url + "/slack/events", data=body, headers=headers) as resp:
            await resp.read()
            done = time.monotonic()
            return resp.status, done - sent, done

    waiters = [asyncio.create_task(wait_reply(url)) for _, url in bodies]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        result = BurstResult(n, time.monotonic())
        acks = await asyncio.gather(*(send(session, body) for body, _ in bodies))
    for status, seconds, done in acks:
        result.statuses.append(status)
        result.ack_seconds.append(seconds)
        result.ack_done.append(done)
    for (text, fragments), (reply, at) in zip(
        commands, await asyncio.gather(*waiters), strict=True
    ):
        result.replies.append(reply)
        result.reply_at.append(at)
        shown = reply_text(reply) if reply is not None else ""
        if reply is not None and not all(f in shown for f in fragments):
            result.wrong.append(f"{text!r} was answered {shown.splitlines()[0][:100]!r}")
    result.extra_replies = sum(sb.slack.replies(url).qsize() for _, url in bodies)
    result.github_requests = sum(sb.github.count("GET", path) for path in SLOW_PATHS) - before
    return result


async def main(n: int) -> BurstResult:
    async with Sandbox.running(seed=seed_burst, keys=Keys.generate()) as sb:
        await warm_up(sb)
        result = await burst(sb, n)
    print(result.summary())
    return result


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
