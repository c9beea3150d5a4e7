"""Keep secrets out of logs, whoever logs them (our code, gidgethub, aiohttp, slack-bolt).

A log-record factory rewrites every record as it is created: known secret values
(settings, and every installation or runner token as soon as we receive it) and
credential-shaped strings (GitHub and Slack tokens, JWTs, PEM keys) become ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
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

    def size(self) -> int:
        """Values known: settings plus tokens received (none comes from a visitor)."""
        return len(self._secrets) + len(self._tokens)

    def __call__(self, text: str) -> str:
        text = _PATTERNS.sub(REDACTED, text)
        pattern = self._pattern
        if pattern is None and (self._secrets or self._tokens):
            with self._lock:
                alternatives = sorted({*self._secrets, *self._tokens}, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, alternatives)))
        return pattern.sub(REDACTED, text) if pattern is not None else text


redact = Redactor()
_installed = False


def _redact_arg(value: Any) -> Any:
    """A log argument with no secret in it, kept as it is when it holds none (so that
    ``%d`` and friends still format it); otherwise its redacted text."""
    if isinstance(value, str):
        return redact(value)
    for text in (str(value), repr(value)):
        if redact(text) != text:
            return redact(str(value))
    return value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite ``record`` so that no secret reaches any output, keeping it formattable.

    Formatters may use ``msg`` and ``args`` separately (uvicorn's access formatter
    unpacks ``args`` as a 5-tuple), so they are kept, each redacted, whenever that makes
    the formatted message clean; only when it does not (a secret split across arguments,
    a broken format string) is the record flattened into its redacted message.
    """
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw text
        message = str(record.msg)
        record.msg, record.args = redact(message), None
    else:
        if redact(message) != message:  # the common case, a clean record, is left alone
            args = record.args
            if isinstance(args, Mapping):
                record.args = {key: _redact_arg(value) for key, value in args.items()}
            elif isinstance(args, tuple):
                record.args = tuple(_redact_arg(value) for value in args)
            record.msg = _redact_arg(record.msg)
            try:
                again = record.getMessage()
            except Exception:
                again = None
            if again is None or redact(again) != again:
                record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    return record


def install() -> None:
    """Route every log record through :func:`redact_record` (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
