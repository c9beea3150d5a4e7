"""Each watch's health: whether it was swept, and the one message in its channel that
says so when it has not been for a while (updated in place, then told when it is back).

Kept in the sweeping process's memory as well as in the store, so that a leader whose
database is away can still say so in the channels it watched.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import errors
from bot.slack.blocks import Reply
from bot.slack.views import alerts as alerts_view
from bot.slack.views.errors import error_text
from bot.store.database import StoreUnavailable
from bot.store.health import Health, WatchId
from bot.store.watches import Watch
from bot.sweep.failures import (
    Failure,
    database_failure,
    internal_failure,
    metric_reason,
    poll_budget_failure,
    watch_id,
    words,
)

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


class WatchHealth:
    def __init__(self, services: Services, *, notice_after: timedelta) -> None:
        self.services = services
        self.metrics = services.metrics
        self.notice_after = notice_after
        self.known: dict[WatchId, Health] = {}  # each watch's health as last known
        self._gauged: set[str] = set()  # targets with a freshness gauge

    async def load(self, *, continuing: bool) -> None:
        """Merge what the store holds with what this process knows. ``continuing``: this
        process led the last round too, so what it holds in memory is the latest (the
        database may have missed it); otherwise the last leader's record is."""
        try:
            stored = await self.services.store.health.all()
        except StoreUnavailable:
            stored = {}
        if continuing:
            self.known = {**stored, **self.known}
        else:
            self.known = {**self.known, **stored}

    def forget_unwatched(self, watches: list[Watch]) -> None:
        """Health and the freshness gauge of watches that ended go with them."""
        now_watched = {watch_id(w) for w in watches}
        for wid in [w for w in self.known if w not in now_watched]:
            del self.known[wid]
        targets = {w.target_key for w in watches}
        for target in self._gauged - targets:
            self.metrics.unswept(target)
        self._gauged = targets

    def failure(self, watch: Watch, exc: Exception) -> Failure:
        """Name what stopped ``watch`` this round; logged and counted here."""
        install_url = self.services.settings.install_url
        if isinstance(exc, errors.RunnerOpsError):
            failure = Failure(metric_reason(exc), error_text(exc, install_url=install_url))
        elif isinstance(exc, StoreUnavailable):
            failure = database_failure(exc.reason or exc.what)
        else:
            log.error("sweep of %s failed", watch.target, exc_info=exc)
            failure = internal_failure(exc)
        if failure.reason != "internal":
            log.warning("sweep of %s (%s) failed: %s", watch.target, watch.channel, words(exc))
        self.metrics.sweep_failed(watch.target, failure.reason)
        return failure

    def paced_failure(self, watch: Watch, kept: timedelta | None) -> Failure:
        """The poll budget left the account's runner listing out for too long."""
        self.metrics.sweep_failed(watch.target, "poll_budget")
        return poll_budget_failure(self.services.settings.poll_budget, kept)

    async def record(
        self, watch: Watch, failure: Failure | None, now: datetime, delayed: int
    ) -> None:
        """Record whether ``watch`` was swept; say in its channel when it has not been for
        a while (one message, updated in place), and when it is swept again."""
        wid = watch_id(watch)
        old = self.known.get(wid, Health(watch.channel, watch.target_key))
        if failure is None:
            self.metrics.swept(watch.target, now.timestamp())
            new = replace(old, failing_since=None, reason="", detail="", last_success=now)
            if old.failing_since is not None and old.notice_ts is not None:
                reply = alerts_view.watch_recovered(
                    watch.target, since=old.failing_since, now=now, delayed=delayed, was=old.detail
                )
                await self.notice(watch, reply, old.notice_ts)
            new = replace(new, notice_ts=None)
        else:
            since = old.failing_since or now
            new = replace(old, failing_since=since, reason=failure.reason, detail=failure.text)
            due = now - since >= self.notice_after
            changed = (old.reason, old.detail) != (new.reason, new.detail)
            if due and (old.notice_ts is None or changed):
                reply = alerts_view.watch_problem(watch.target, failure.text, since=since)
                ts = await self.notice(watch, reply, old.notice_ts)
                new = replace(new, notice_ts=ts or old.notice_ts)
        self.known[wid] = new
        if new != old:
            try:
                await self.services.store.health.put(new)
            except StoreUnavailable:
                pass  # kept in memory; written on a later round

    async def round_failed(self, watches: list[Watch], failure: Failure, now: datetime) -> None:
        """The whole round failed: every watch fails alike (said once it has lasted)."""
        for watch in watches:
            self.metrics.sweep_failed(watch.target, failure.reason)
            try:
                await self.record(watch, failure, now, 0)
            except Exception:
                log.exception("could not record the health of %s", watch.target)

    async def hand_over(self) -> None:
        """Another process leads now: what this one knew of the watches' health (a notice
        posted while the database was away) goes to the store for it, then is dropped."""
        for health in list(self.known.values()):
            try:
                await self.services.store.health.put(health)
            except StoreUnavailable:
                return  # kept: handed over on a later round
        self.known.clear()

    async def notice(self, watch: Watch, reply: Reply, ts: str | None) -> str | None:
        """Post (or update in place) the watch's health message; its ts, None if not sent."""
        blocks = [b.to_dict() for b in reply.blocks]
        slack = self.services.slack
        try:
            if ts is not None:
                await slack.chat_update(
                    channel=watch.channel, ts=ts, text=reply.text, blocks=blocks
                )
                return ts
            answer = await slack.chat_postMessage(
                channel=watch.channel, text=reply.text, blocks=blocks, unfurl_links=False
            )
            return str(answer["ts"])
        except Exception as error:  # Slack away: said on a later round
            log.warning(
                "could not tell %s about the watch of %s: %s",
                watch.channel,
                watch.target,
                words(error),
            )
            return None
