"""The manifest flow's ``state`` values: signed, bound to a browser, spent once.

A state is made when the setup form is posted and comes back on GitHub's callback;
making one keeps nothing in memory (see :class:`States`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

STATE_TTL = 3600.0  # GitHub's code lives an hour; the state need not outlive it
# Spent states remembered at most (about 150 bytes each). Only a callback with a state this
# process signed for the caller's own browser adds one, and each costs a request to GitHub.
MAX_SPENT = 20_000
_STATE = re.compile(r"(\d{1,16})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})")


class States:
    """The ``state`` values handed to GitHub: signed, so that making one keeps nothing.

    A state is ``MILLISECONDS.NONCE.SIGNATURE``, the signature over the browser's setup
    cookie too: good for an hour, in that browser, once. Spent states are remembered until
    they expire; should more than ``max_spent`` be spent within the hour, the oldest spent
    record is dropped and every state issued before it stops working (its record might be
    the one dropped), so that no state ever works twice.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        ttl: float = STATE_TTL,
        max_spent: int = MAX_SPENT,
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_spent = max_spent
        self._key = secrets.token_bytes(32)
        self._spent: dict[str, int] = {}  # state -> when it was issued (ms), in spending order
        self._floor = -1  # states issued at or before this (ms) are refused

    def _sign(self, purpose: str, browser: str, text: str, length: int) -> str:
        mac = hmac.new(self._key, f"{purpose}\0{browser}\0{text}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode()[:length]

    def form_token(self, browser: str) -> str:
        """The token the page's form carries: proves a POST comes from the page this browser
        was shown (with its SameSite=Lax cookie, a cross-site form cannot start a flow)."""
        return self._sign("form", browser, "", 32)

    def form_ok(self, token: str, browser: str) -> bool:
        return bool(browser) and secrets.compare_digest(
            token.encode(), self.form_token(browser).encode()
        )

    def new(self, browser: str, *, several: bool = False) -> str:
        """A state; ``several`` (a public App, for several organizations) is carried in the
        nonce's first character, which the signature covers, so the callback knows it."""
        issued = str(int(self.clock() * 1000))
        nonce = ("s" if several else "o") + secrets.token_urlsafe(12)[:15]
        return f"{issued}.{nonce}.{self._sign('state', browser, f'{issued}.{nonce}', 22)}"

    def spend(self, state: str, browser: str) -> bool:
        """True, once, for a current state this process made for this ``browser``."""
        found = _STATE.fullmatch(state)
        if not found or not browser:
            return False
        issued, nonce, signature = found.groups()
        expected = self._sign("state", browser, f"{issued}.{nonce}", 22)
        if not secrets.compare_digest(signature.encode(), expected.encode()):
            return False
        now = int(self.clock() * 1000)
        if not (now - self.ttl * 1000 < int(issued) <= now) or int(issued) <= self._floor:
            return False
        if state in self._spent:
            return False
        self._forget_expired(now)
        while len(self._spent) >= self.max_spent:
            oldest = next(iter(self._spent))
            self._floor = max(self._floor, self._spent.pop(oldest))
        self._spent[state] = int(issued)
        return True

    @staticmethod
    def several(state: str) -> bool:
        """Whether ``state`` (one :meth:`spend` accepted) started a public App's flow."""
        found = _STATE.fullmatch(state)
        return found is not None and found.group(2).startswith("s")

    def _forget_expired(self, now: int) -> None:
        horizon = now - self.ttl * 1000
        for state in [s for s, issued in self._spent.items() if issued <= horizon]:
            del self._spent[state]

    def __len__(self) -> int:
        """Spent states remembered: all the memory states take."""
        return len(self._spent)
