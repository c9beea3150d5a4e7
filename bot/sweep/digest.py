"""The daily digest's I/O, run at the end of each sweep round by its leader.

Each watch with ``--digest HH:MM`` whose day is due (bot/watch/digest.py ``due``) has its
facts read (the day's queue times and those before, its alerts, the runners offline now,
versions near their end, capacity advice bounded in time and off the event loop), then
its day claimed in one conditional UPDATE (bot/store/watches.py ``claim_digest``): only the
process that wins posts, so a digest goes out once however many processes sweep. One
watch's digest that fails (a read, the post) is logged and counted and stops nothing
else. A post Slack refused (it answered with an error: surely not posted) gives its claim
back, so a later round posts it; a post whose outcome is unknown (a timeout, a connection
cut after sending) keeps it: exactly once where Slack says so, never twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.views.digest import digest_message
from bot.store.digest import DigestStore
from bot.store.watches import Watch
from bot.sweep.failures import Round, failed_alone, surely_refused
from bot.sweep.fleetview import FleetMemo
from bot.targets import Scope, parse_target
from bot.watch import capacity
from bot.watch import digest as plan
from bot.watch.digest import Facts, NearEnd
from bot.watch.labels import LabelSetKey
from bot.watch.stats import QueueStats

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
# How long the capacity advice may take, its read and its replay (as ``stats``): past it
# the digest goes without it, saying so.
CAPACITY_DEADLINE = 2.0  # seconds


class Digests:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = DigestStore(services.store.db)

    async def run(self, watches: list[Watch], memo: FleetMemo, now: datetime, done: Round) -> None:
        """Send each due digest; each watch's alone."""
        for watch in watches:
            if watch.digest_at is None:
                continue
            try:
                if await self.send(watch, memo, now):
                    done.digests += 1
            except Exception as exc:  # this digest alone; the next round tries again
                metrics = self.services.metrics
                failed_alone(metrics, done, watch.target, "digest", watch.channel, exc)

    async def send(self, watch: Watch, memo: FleetMemo, now: datetime) -> bool:
        """Post ``watch``'s digest if one is due and this process claims it."""
        assert watch.digest_at is not None
        at, zone = plan.parse_hhmm(watch.digest_at), plan.parse_zone(watch.digest_tz)
        day = plan.due(now, at, zone, watch.digest_day)
        if day is None:
            return False
        facts = await self.facts(watch, memo, day, plan.windows(day, at, zone), now)
        claims = self.services.store.watches
        if not await claims.claim_digest(watch, day.isoformat()):
            return False  # another process has it
        reply = digest_message(plan.digest(facts))
        try:
            await once(self.services.slack).chat_postMessage(
                channel=watch.channel,
                text=reply.text,
                blocks=[b.to_dict() for b in reply.blocks],
                unfurl_links=False,
            )
        except Exception as exc:  # logged and counted by the caller
            refused = isinstance(exc, SlackApiError) and surely_refused(exc)
            back = refused and await claims.release_digest(watch, day.isoformat())
            log.warning(
                "digest of %s for %s %s: its claim %s",
                watch.target,
                day,
                "refused by Slack" if refused else "not known to be posted",
                "given back for a later round" if back else "kept (never twice)",
            )
            raise
        return True

    async def facts(
        self, watch: Watch, memo: FleetMemo, day: date, span: plan.Windows, now: datetime
    ) -> Facts:
        """What the digest of ``day`` says, read from the store (and the sweep's memory
        of the target's last runner listing, for the versions)."""
        target = parse_target(watch.target)
        empty: dict[LabelSetKey, QueueStats] = {}
        today = before = week = empty
        advice: capacity.Capacity | None = capacity.Capacity({}, 0)  # none to give
        if target.scope is not Scope.ENTERPRISE:  # jobs are known of organizations, repos
            repo = str(target) if target.scope is Scope.REPO else None
            window = self.store.queue_window
            today = await window(target.owner, repo, span.start, span.end, threshold=watch.after)
            before = await window(
                target.owner, repo, span.previous_start, span.start, threshold=watch.after
            )
            week = await window(
                target.owner, repo, span.week_start, span.start, threshold=watch.after
            )
            advice = await self._capacity(watch, target.owner, repo, span)
        rows = await self.store.alerts_between(watch.channel, watch.target, span.start, span.end)
        seen = await self.services.store.fleet.seen(watch.target)
        return Facts(
            target=watch.target,
            day=day,
            span=span,
            zone=watch.digest_tz,
            today=today,
            day_before=before,
            week=week,
            alerts=rows,
            offline=[s.name for s in seen.values() if s.status == "offline"],
            versions=await self._versions(watch, memo, now),
            capacity=advice,
        )

    async def _versions(self, watch: Watch, memo: FleetMemo, now: datetime) -> list[NearEnd] | None:
        """Runners on versions near their end, from the last listing this process kept
        and the dates stored by ``versions``; None when either is missing."""
        kept = memo.scopes.get(watch.target_key)
        if kept is None:
            return None
        counts = Counter(r.version for r in kept[0].runners if r.version)
        if not counts:
            return None
        dates = await self.services.store.versions.fresh(sorted(counts))
        if not dates:
            return None
        stops = {v: d.runtime_deprecates_at for v, d in dates.items()}
        return plan.near_end(dict(counts), stops, now, watch.version_warn)

    async def _capacity(
        self, watch: Watch, owner: str, repo: str | None, span: plan.Windows
    ) -> capacity.Capacity | None:
        """The day's capacity advice, or None past :data:`CAPACITY_DEADLINE` (or on a
        failure): a bounded read, replayed in a worker process stopping at the deadline."""
        stats = self.services.store.jobs.stats
        return await self.services.offload.advice(
            lambda: stats.recent_rows(owner, repo, span.start, span.end),
            after=watch.after,
            start=span.start,
            end=span.end,
            seconds=CAPACITY_DEADLINE,
            what=f"digest capacity advice of {watch.target}",
        )


def once(slack: AsyncWebClient) -> AsyncWebClient:
    """``slack`` without slack_sdk's default retry of a dropped connection, which would
    send again a post Slack may already have taken (never twice)."""
    return AsyncWebClient(
        token=slack.token,
        base_url=slack.base_url,
        timeout=slack.timeout,
        ssl=slack.ssl,
        proxy=slack.proxy,
        session=slack.session,
        headers=slack.headers,
        retry_handlers=[],
    )
