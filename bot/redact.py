"""Keep secrets out of logs, whoever logs them (our code, gidgethub, aiohttp, slack-bolt).

A log-record factory rewrites every record as it is created: known secret values
(settings, and every installation or runner token as soon as we receive it) and
credential-shaped strings (GitHub and Slack tokens, JWTs, PEM keys) become ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import cachetools

REDACTED = "[redacted]"
_PATTERNS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|\bxox[abeoprs]-[A-Za-z0-9-]{8,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    re.DOTALL,
)
_MIN_SECRET = 8  # shorter values would redact ordinary words


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        # Minted tokens live an hour; remembering them for two bounds the pattern's size.
        self._tokens: cachetools.TTLCache[str, None] = cachetools.TTLCache(maxsize=50_000, ttl=7200)
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add_setting(self, *secrets: str | None) -> None:
        """Remember configured secrets for good; PEM keys are also known line by line."""
        with self._lock:
            for secret in secrets:
                for value in (secret or "", *(secret or "").splitlines()):
                    if len(value.strip()) >= _MIN_SECRET and "-----" not in value:
                        self._secrets.add(value.strip())
            self._pattern = None

    def add(self, token: str) -> None:
        """Remember a token received at run time (installation or runner token)."""
        if len(token) >= _MIN_SECRET:
            with self._lock:
                self._tokens[token] = None
                self._pattern = None

    def __call__(self, text: str) -> str:
        text = _PATTERNS.sub(REDACTED, text)
        pattern = self._pattern
        if pattern is None and self._secrets:
            with self._lock:
                alternatives = sorted({*self._secrets, *self._tokens}, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, alternatives)))
        return pattern.sub(REDACTED, text) if pattern is not None else text


redact = Redactor()
_installed = False


def install() -> None:
    """Route every log record through :data:`redact` (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw text
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
