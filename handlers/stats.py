"""``stats``: queue times per label set and runner usage over a window, from stored jobs.

The share of jobs that waited too long is measured against the threshold the target is
watched with (a repository's own watch, else its organization's, else the default), so
the number matches what the alerts call stuck.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.commands import duration_flag, no_more, not_enterprise, take_target
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.slack import charts
from bot.slack.blocks import Reply
from bot.slack.views import stats as stats_view
from bot.slack.views.charts import Chart
from bot.targets import Scope, Target
from bot.watch import capacity
from handlers import home
from handlers.watch import DEFAULT_AFTER

DEFAULT_SINCE = timedelta(days=7)
router = Router()
# How long the capacity advice may take (its read and its replay, off the event loop):
# past it the reply goes without it, saying so, rather than keep the user waiting.
CAPACITY_DEADLINE = 2.0  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsArgs(Args):
    target: Target
    since: timedelta = DEFAULT_SINCE


def parse_stats(w: Words) -> StatsArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    not_enterprise(target, w.verb)
    return StatsArgs(
        target=target, since=duration_flag(w.flags, "--since", w.verb) or DEFAULT_SINCE
    )


async def stats(inv: Invocation[StatsArgs]) -> Reply:
    services, target = inv.services, inv.command.target
    since = inv.command.since
    now = datetime.fromtimestamp(services.clock(), UTC)
    start = now - since
    repository = str(target) if target.scope is Scope.REPO else None
    threshold = await _threshold(inv, repository)
    # The capacity advice reads and replays beside the other reads, not after them: its
    # bounded read is not queued behind theirs, and its replay runs in a worker process.
    advice = asyncio.ensure_future(_capacity(inv, repository, start, now, threshold))
    reads: list[asyncio.Future[Any]] = [advice]
    try:
        # Grouped and ranked by the database: one row per label set and per runner comes
        # back, however many jobs the window holds (bot/store/job_stats.py). The reads go
        # side by side (the store bounds how many scan at once); the first to fail
        # cancels the others (``finally``). The 7-day charts are asked first: their read
        # is the longest, and the store lets reads through in the order asked.
        figures = services.store.jobs.stats
        data = [
            asyncio.ensure_future(home.chart_data(services, kind, str(target)))
            for kind in charts.KINDS
        ]
        queues = asyncio.ensure_future(
            figures.queue_stats(target.owner, repository, start, threshold=threshold)
        )
        usage = asyncio.ensure_future(figures.runner_usage(target.owner, repository, start, now))
        reads += [queues, usage, *data]
        await asyncio.gather(queues, usage, *data)
        # The charts of the last 7 days, drawn by Slack in the message itself: nothing for
        # Slack to fetch from runnerops, nothing to upload (a workspace that refuses them
        # gets the figures in text: bot.slackapp.bolt.post).
        shown = [
            Chart(f"{name} of {target}, 7 days", one.figures(), native=one.native())
            for name, one in zip(charts.KINDS.values(), (d.result() for d in data), strict=True)
        ]
        found = await advice
    finally:
        for read in reads:  # when a read failed: nothing more is read for a reply not sent
            read.cancel()
    reply = stats_view.stats_reply(
        str(target), since, threshold, queues.result(), usage.result(), found, CAPACITY_DEADLINE
    )
    return stats_view.with_charts(reply, shown)


async def _capacity(
    inv: Invocation[StatsArgs],
    repository: str | None,
    start: datetime,
    now: datetime,
    threshold: timedelta,
) -> capacity.Capacity | None:
    """The capacity advice of the window, or None when it could not be had within
    :data:`CAPACITY_DEADLINE` (or the database failed it): a bounded read of the most
    recent finished jobs, replayed in a worker process that stops at the same deadline."""
    owner, figures = inv.command.target.owner, inv.services.store.jobs.stats
    return await inv.services.offload.advice(
        lambda: figures.recent_rows(owner, repository, start, now),
        after=threshold,
        start=start,
        end=now,
        seconds=CAPACITY_DEADLINE,
        what=f"stats capacity advice of {owner}",
    )


async def _threshold(inv: Invocation[StatsArgs], repository: str | None) -> timedelta:
    target = inv.command.target
    watches = await inv.services.store.watches.all()
    for key in (repository.lower() if repository else None, target.owner.lower()):
        found = [w.after for w in watches if key is not None and w.target_key == key]
        if found:
            return min(found)
    return DEFAULT_AFTER


router.add(
    Verb(
        "stats",
        "stats TARGET [--since DURATION]",
        "queue times p50/p95/max per label set, runner usage and capacity advice (default 7d)",
        "read",
        parse_stats,
        stats,
        flags={"--since": True},
    )
)
