"""Audit entries posted to ``AUDIT_SLACK_CHANNEL``, with refusals counted, not repeated.

One user's burst of refused commands must not flood the channel (nor bury the entries that
matter): the first refusal in a window is posted; the next ones in that window update
the same message with their count, at most every ``UPDATE_EVERY`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cachetools
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.render import audit_line
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
            maxsize=10_000, ttl=WINDOW
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
            self._bursts[entry.user_id] = burst = _Burst(now, 1, self.channel, None, now, entry)
            response = await self.slack.chat_postMessage(
                channel=self.channel, text=audit_line(entry), unfurl_links=False
            )
            burst.channel = str(response.get("channel") or self.channel)
            burst.ts = response.get("ts")
            return
        burst.count += 1
        if step == "update" and burst.ts:
            burst.updated = now
            text = (
                f"{audit_line(burst.first)}\n:repeat: {burst.count} refusals from this user in"
                f" the last {round((now - burst.started) / 60) or 1} min; latest:"
                f" {audit_line(entry)}"
            )
            await self.slack.chat_update(channel=burst.channel, ts=burst.ts, text=text)
