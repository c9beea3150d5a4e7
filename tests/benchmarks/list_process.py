"""runnerops listing one organization, alone in a fresh process.

With the service's environment (``GITHUB_API_URL``, ``GITHUB_APP_ID``,
``GITHUB_PRIVATE_KEY``, the Slack app's variables, ``DATABASE_URL``: as a PaaS gives it),
``python -m tests.benchmarks.list_process MODE ORG`` prints one JSON line of figures:

- ``reply``: build the service as ``uvicorn app:app`` does (the ASGI module and everything
  it imports, the real :class:`Services`, the Starlette app), list every runner of ORG
  through its runner service, render the reply as the ``list`` handler does, and report
  render CPU time and the process's memory, which is then what the service holds for that
  fleet, not a test runner's or a GitHub double's;
- ``pages``: list ORG one page at a time (``page_concurrency=1``), then with the default
  parallelism, then again with the same client while its ETags are fresh, and report
  each one's wall time, GitHub's answers, its 304s and the rate-limit cost GitHub's
  ``x-ratelimit-used`` header shows. The double runs in another process, so its work does
  not slow the client down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import app as service  # the ASGI module: its imports are the service's own
from bot.config import load_settings
from bot.github.client import GitHubClient
from bot.github.models import RunnerFilter, RunnerList
from bot.github.pages import PAGE_CONCURRENCY
from bot.github.runners import RunnerService, matching
from bot.services import Services
from bot.slack.views import fleet as fleet_view
from bot.targets import Target, parse_target
from handlers import parse

RENDERS = 5  # render CPU time is the median of this many


def _status_mb(field: str) -> float | None:
    """A memory figure of ``/proc/self/status`` (Linux), in MB; None elsewhere."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def rss_mb() -> float:
    """The process's resident set now (``VmRSS``), in MB; 0 where unknown."""
    return _status_mb("VmRSS") or 0.0


def peak_rss_mb() -> float:
    """The most this program has held resident (``VmHWM``). Not ``ru_maxrss``: Linux
    carries that across ``exec``, so a child would report its parent's size at the fork."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ids_digest(ids: list[int]) -> str:
    """A fingerprint of runner ids in order: the parent compares it with what it seeded."""
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def render_list(org: str, listed: RunnerList) -> str:
    """The ``list`` handler's work after the listing: filter, render, serialise."""
    command = parse(f"list {org}")
    assert command.target is not None
    c = command
    shown = matching(RunnerFilter(c.status, c.busy, c.labels, c.name), listed.runners)
    reply = fleet_view.runner_list(command.target, listed, shown, command)
    return json.dumps(reply.payload())


def client(page_concurrency: int = PAGE_CONCURRENCY, **kwargs: Any) -> GitHubClient:
    return GitHubClient(
        api_url=os.environ["GITHUB_API_URL"],
        app_id=os.environ["GITHUB_APP_ID"],
        private_key=os.environ["GITHUB_PRIVATE_KEY"],
        page_concurrency=page_concurrency,
        **kwargs,
    )


async def reply(org: str) -> dict[str, Any]:
    """Figures of one ``list`` by the service itself: listing, render CPU time, memory."""
    settings = load_settings()
    services = Services.build(settings)
    service.create_app(settings, services)  # the ASGI app, with its bolt app and routes
    after_imports = rss_mb()
    try:
        started = time.perf_counter()
        listed = await services.runners.list_runners(parse_target(org))
        listing_seconds = time.perf_counter() - started
    finally:
        await services.github.close()
    cpu = []
    body = ""
    for _ in range(RENDERS):
        before = time.process_time()
        body = render_list(org, listed)
        cpu.append(time.process_time() - before)
    blocks = json.loads(body)["blocks"]
    return {
        "runners": len(listed.runners),
        "unique": len({r.id for r in listed.runners}),
        "ids": ids_digest([r.id for r in listed.runners]),
        "complete": listed.complete,
        "listing_seconds": listing_seconds,
        "render_cpu_seconds": statistics.median(cpu),
        "blocks": len(blocks),
        "chars": sum(len(b.get("text", {}).get("text", "")) for b in blocks)
        + sum(len(e.get("text", "")) for b in blocks for e in b.get("elements", [])),
        "rss_after_imports_mb": after_imports,
        # Charts are drawn on demand: a listing does not pay for matplotlib.
        "matplotlib_loaded": "matplotlib" in sys.modules,
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


class Answers:
    """What GitHub answered, as the client's metrics hook sees it."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        # The highest ``x-ratelimit-used`` seen per credential: the app's JWT and an
        # installation's token count against limits of their own.
        self.used: dict[str, int] = {}

    def __call__(self, method: str, status: int, headers: Any, credential: str) -> None:
        self.statuses.append(status)
        try:
            used = int(headers.get("x-ratelimit-used", ""))
        except ValueError:
            return
        self.used[credential] = max(self.used.get(credential, 0), used)

    def cost_since(self, before: dict[str, int]) -> int:
        return sum(used - before.get(who, 0) for who, used in self.used.items())


async def timed(github: GitHubClient, answers: Answers, target: Target) -> dict[str, Any]:
    seen, used = len(answers.statuses), dict(answers.used)
    started = time.perf_counter()
    listed = await RunnerService(github).list_runners(target)
    seconds = time.perf_counter() - started
    statuses = answers.statuses[seen:]
    return {
        "seconds": seconds,
        "requests": len(statuses),
        "not_modified": statuses.count(304),
        "rate_cost": answers.cost_since(used),
        "runners": len(listed.runners),
        "unique": len({r.id for r in listed.runners}),
        "ids": ids_digest([r.id for r in listed.runners]),
        "complete": listed.complete,
    }


async def pages(org: str) -> dict[str, Any]:
    """Sequential, parallel, and parallel again: each client warmed first (installation
    id and token), as a running service's are."""
    target = parse_target(org)
    runs: dict[str, Any] = {}
    for name, concurrency in (("sequential", 1), ("parallel", PAGE_CONCURRENCY)):
        answers = Answers()
        github = client(concurrency, observe=answers)
        try:
            await github.call(target, "GET", "/actions/runners/downloads")
            runs[name] = await timed(github, answers, target)
            if name == "parallel":
                runs["again"] = await timed(github, answers, target)
        finally:
            await github.close()
    return runs


def main() -> None:
    mode, org = sys.argv[1], sys.argv[2]
    work = {"reply": reply, "pages": pages}[mode]
    print(json.dumps(asyncio.run(work(org))), flush=True)


if __name__ == "__main__":
    main()
