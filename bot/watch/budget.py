"""How much of each installation's hourly rate limit the watch's polling may use.

Commands typed by people must never find the rate limit spent by a background task, so
the sweep's own requests are counted per account (one installation each) in hourly
windows, against ``RUNNEROPS_POLL_BUDGET`` (a share, default 10%) of the limit GitHub
reports in ``x-ratelimit-limit`` (5,000 until one is seen). What counts is what GitHub
charges the installation: every answer to a request made with its token (pages,
retries), except a 304 to a conditional request, which GitHub does not count against the
rate limit (the app's own JWT calls, such as minting that token, have a limit of their
own). So a quiet fleet, whose pages keep answering 304, is polled at
full speed all hour long.

The budget is paced, not spent then stopped (:func:`admit`): a round polls an account
only if what it has used plus what a round has lately cost it stays within the share of
the allowance the hour has reached so far (plus ``LEAD``). A busy fleet is then polled
evenly through the hour instead of every round until the budget is gone, and an account
that is polled is polled whole: its suspected stale jobs are always confirmed with GitHub
before an alert (an unconfirmed record is never alerted on).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
WINDOW = 3600.0
LEAD = 600.0  # the allowance a window's pacing may run ahead of the clock
DEFAULT_LIMIT = 5000
NOT_MODIFIED = 304


def admit(
    *,
    used: int,
    round_cost: int,
    allowance: int,
    elapsed: float,
    lead: float = LEAD,
    window: float = WINDOW,
) -> bool:
    """Whether a round may poll an account that has ``used`` requests ``elapsed`` seconds
    into its window, when one round has lately cost it ``round_cost``.

    A window's first round always goes (nothing is known to be spent yet); later ones go
    while the spend after the round stays under the allowance earned so far, ``lead``
    seconds ahead of the clock, so the budget is spread over the hour and never passed
    by more than a round's misjudged cost."""
    if used <= 0:
        return True
    earned = allowance * min(1.0, max(elapsed + lead, 0.0) / window)
    return used + round_cost <= earned


@dataclass
class _Account:
    started: float
    used: int = 0
    warned: bool = False


@dataclass
class _Round:
    """This round's decision for an account and what it has spent since."""

    admitted: bool
    spent: int = 0


@dataclass
class _History:
    costs: deque[tuple[float, int]] = field(default_factory=deque)  # (when, cost)

    def cost(self, now: float) -> int:
        while self.costs and now - self.costs[0][0] >= WINDOW:
            self.costs.popleft()
        return max((c for _, c in self.costs), default=0)


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
        self._round: dict[str, _Round] = {}
        self._history: dict[str, _History] = {}
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
        key = account.lower()
        self._account(key).used += requests
        current = self._round.get(key)
        if current is not None:
            current.spent += requests

    def answered(self, account: str, status: int) -> None:
        """One answer to the sweep's polling of ``account``: charged unless it is a 304."""
        if status != NOT_MODIFIED:
            self.spend(account)

    def used(self, account: str) -> int:
        return self._account(account.lower()).used

    def round_cost(self, account: str) -> int:
        """The most one admitted round has cost ``account`` in the last hour."""
        history = self._history.get(account.lower())
        return history.cost(self.clock()) if history is not None else 0

    def new_round(self) -> None:
        """A sweep round starts: what the last one spent per account becomes history."""
        now = self.clock()
        for key, last in self._round.items():
            if last.admitted:
                self._history.setdefault(key, _History()).costs.append((now, last.spent))
        self._round = {}

    def admit(self, account: str) -> bool:
        """Whether this round polls ``account`` (decided once a round; a refusal is logged
        once a window)."""
        key = account.lower()
        decided = self._round.get(key)
        if decided is not None:
            return decided.admitted
        state = self._account(key)
        allowance = self.allowance()
        cost = self.round_cost(key)
        admitted = admit(
            used=state.used,
            round_cost=cost,
            allowance=allowance,
            elapsed=self.clock() - state.started,
        )
        self._round[key] = _Round(admitted)
        if not admitted and not state.warned:
            state.warned = True
            log.warning(
                "polling budget of %s would be passed (%d of %d requests this hour, %.0f%%"
                " of %d; a round costs up to %d): polling it less often until the hour ends",
                account,
                state.used,
                allowance,
                self.share * 100,
                self.limit,
                cost,
            )
        return admitted
