"""Audit entries posted to ``AUDIT_SLACK_CHANNEL``, with refusals counted, not repeated.

One user's burst of refused commands must not flood the channel (nor bury the entries that
matter): the first refusal in a window is posted; the next ones in that window update
the same message with their count, at most every ``UPDATE_EVERY`` seconds. A count not yet
shown when the refusals stop is shown by :meth:`AuditChannel.flush`, which the app runs in
the background (never on a request's path), so a burst that ends in silence still shows
its final count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cachetools
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.views.access import audit_line
from bot.store.audit import AuditEntry

log = logging.getLogger(__name__)

WINDOW = 600.0  # seconds one message gathers a user's refusals
UPDATE_EVERY = 30.0  # at most one chat.update per user per this many seconds


@dataclass
class _Burst:
    started: float
    count: int
    channel: str
    ts: str | None
    updated: float
    first: AuditEntry
    shown: int = 1  # the count the channel's message shows
    last: float = 0.0  # when the latest refusal came
    latest: AuditEntry | None = None


def flush_due(burst: _Burst, now: float) -> bool:
    """Pure: whether the background flush updates this burst's message now: it has
    refusals the message does not count, and the last update is ``UPDATE_EVERY`` old."""
    return (
        burst.ts is not None and burst.count > burst.shown and now - burst.updated >= UPDATE_EVERY
    )


def burst_text(burst: _Burst) -> str:
    minutes = round((burst.last - burst.started) / 60) or 1
    return (
        f"{audit_line(burst.first)}\n:repeat: {burst.count} refusals from this user in"
        f" {minutes} min; latest: {audit_line(burst.latest or burst.first)}"
    )


Step = Literal["post", "update", "quiet"]


def next_step(burst: _Burst | None, now: float) -> Step:
    """Pure: what one more refusal from the same user does to the channel."""
    if burst is None or now - burst.started >= WINDOW:
        return "post"
    if now - burst.updated >= UPDATE_EVERY:
        return "update"
    return "quiet"


class AuditChannel:
    def __init__(self, slack: AsyncWebClient, channel: str | None, clock: Callable[[], float]):
        self.slack = slack
        self.channel = channel
        self.clock = clock
        self._bursts: cachetools.TTLCache[str, _Burst] = cachetools.TTLCache(
            maxsize=10_000, ttl=WINDOW, timer=clock
        )

    async def publish(self, entry: AuditEntry) -> None:
        if not self.channel:
            return
        try:
            if entry.outcome == "refused":
                await self._refusal(entry)
            else:
                await self.slack.chat_postMessage(
                    channel=self.channel, text=audit_line(entry), unfurl_links=False
                )
        except Exception as exc:
            log.warning("could not post to the audit channel: %s", type(exc).__name__)

    async def _refusal(self, entry: AuditEntry) -> None:
        assert self.channel is not None
        now = self.clock()
        burst = self._bursts.get(entry.user_id)
        step = next_step(burst, now)
        if step == "post" or burst is None:
            if burst is not None and burst.ts and burst.count > burst.shown:
                await self._update(burst, now)  # the ending window's final count first
            self._bursts[entry.user_id] = burst = _Burst(
                now, 1, self.channel, None, now, entry, last=now, latest=entry
            )
            response = await self.slack.chat_postMessage(
                channel=self.channel, text=audit_line(entry), unfurl_links=False
            )
            burst.channel = str(response.get("channel") or self.channel)
            burst.ts = response.get("ts")
            return
        burst.count += 1
        burst.last, burst.latest = now, entry
        if step == "update" and burst.ts:
            await self._update(burst, now)

    async def flush(self) -> int:
        """Show every count the channel's messages lag behind (see :func:`flush_due`);
        the number of messages updated. Run off the request path, every ``UPDATE_EVERY``."""
        if not self.channel:
            return 0
        now = self.clock()
        updated = 0
        for burst in [b for b in list(self._bursts.values()) if flush_due(b, now)]:
            try:
                await self._update(burst, now)
                updated += 1
            except Exception as exc:
                log.warning("could not update the audit channel: %s", type(exc).__name__)
        return updated

    async def flush_forever(self, every: float = UPDATE_EVERY) -> None:
        while True:
            await asyncio.sleep(every)
            await self.flush()

    async def _update(self, burst: _Burst, now: float) -> None:
        assert burst.ts is not None
        burst.updated, burst.shown = now, burst.count
        await self.slack.chat_update(channel=burst.channel, ts=burst.ts, text=burst_text(burst))
