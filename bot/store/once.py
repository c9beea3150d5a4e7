"""Do a thing once per key, however many times it is asked for.

Slack redelivers a slash command it thinks went unanswered (``X-Slack-Retry-Num``), and
people double-click. The first caller runs the work; callers that arrive while it runs,
or later while the key is remembered, get the first outcome instead of a second run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import cachetools

T = TypeVar("T")


class Once:
    def __init__(self, ttl: float = 900.0, maxsize: int = 100_000) -> None:
        self._done: cachetools.TTLCache[Any, asyncio.Future[Any]] = cachetools.TTLCache(
            maxsize=maxsize, ttl=ttl
        )

    def seen(self, key: Any) -> bool:
        """Mark ``key``; True if it was already marked (a redelivery)."""
        if self.is_done(key):
            return True
        self.done(key)
        return False

    def is_done(self, key: Any) -> bool:
        """Whether ``key`` was marked (by :meth:`seen`, :meth:`done` or a kept :meth:`run`)."""
        return key in self._done

    def done(self, key: Any) -> None:
        """Mark ``key`` once its work has succeeded, so that a failure can be retried."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        self._done[key] = future

    async def run(
        self, key: Any, work: Callable[[], Awaitable[T]], *, keep: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """Return ``(outcome, ran_here)``. Outcomes ``keep`` rejects are forgotten once
        delivered, so a failed attempt can be tried again later."""
        future = self._done.get(key)
        if future is not None:
            return await asyncio.shield(future), False
        future = asyncio.get_running_loop().create_future()
        self._done[key] = future
        try:
            outcome = await work()
        except BaseException as exc:
            self._done.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        future.set_result(outcome)
        if not keep(outcome):
            self._done.pop(key, None)
        return outcome, True
