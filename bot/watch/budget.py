"""How much of each installation's hourly rate limit the watch's polling may use.

Commands typed by people must never find the rate limit spent by a background task, so
the sweep's own requests are counted per account (one installation each) in hourly
windows, against ``RUNNEROPS_POLL_BUDGET`` (a share, default 10%) of the limit GitHub
reports in ``x-ratelimit-limit`` (5,000 until one is seen). Over budget the sweep polls
that account less often (every ``SLOW_EVERY``-th round) until the window ends, and says
so in the log once per window. What counts is what GitHub charges: every answer the
sweep's requests get (pages, retries, an installation token minted on the way), except a
304 to a conditional request, which GitHub does not count against the rate limit. So a
quiet fleet, whose pages keep answering 304, is polled at full speed all hour long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.github.client import charged_to

log = logging.getLogger(__name__)
WINDOW = 3600.0
DEFAULT_LIMIT = 5000
SLOW_EVERY = 10
NOT_MODIFIED = 304


@dataclass
class _Account:
    started: float
    used: int = 0
    warned: bool = False


class PollBudget:
    def __init__(
        self,
        share: float,
        clock: Callable[[], float] = time.time,
        limit_of: Callable[[], int | None] | None = None,
    ) -> None:
        self.share = share
        self.clock = clock
        self._limit_of = limit_of or (lambda: None)
        self._accounts: dict[str, _Account] = {}
        self.limit = DEFAULT_LIMIT

    def _account(self, account: str) -> _Account:
        now = self.clock()
        state = self._accounts.get(account)
        if state is None or now - state.started >= WINDOW:
            state = self._accounts[account] = _Account(now)
        return state

    def allowance(self) -> int:
        seen = self._limit_of()
        if seen:
            self.limit = seen
        return max(1, int(self.limit * self.share))

    def spend(self, account: str, requests: int = 1) -> None:
        self._account(account.lower()).used += requests

    def answered(self, account: str, status: int) -> None:
        """One answer to the sweep's polling of ``account``: charged unless it is a 304."""
        if status != NOT_MODIFIED:
            self.spend(account)

    @contextmanager
    def paying(self, account: str) -> Iterator[None]:
        """Charge the GitHub answers of the requests made inside to ``account``."""
        key = account.lower()
        token = charged_to.set(lambda status: self.answered(key, status))
        try:
            yield
        finally:
            charged_to.reset(token)

    def used(self, account: str) -> int:
        return self._account(account.lower()).used

    def over(self, account: str) -> bool:
        """Whether ``account``'s share of this hour is used up (logged once a window)."""
        state = self._account(account.lower())
        allowance = self.allowance()
        if state.used < allowance:
            return False
        if not state.warned:
            state.warned = True
            log.warning(
                "polling budget of %s used up (%d of %d requests this hour, %.0f%% of %d):"
                " polling it less often until the hour ends",
                account,
                state.used,
                allowance,
                self.share * 100,
                self.limit,
            )
        return True
