"""Logs: one JSON object per line when ``LOG_FORMAT=json`` (PaaS log drains parse it),
with a request id that follows a command from its ack to its reply.

The id lives in a context variable: asyncio copies the context into the tasks a request
starts (slack-bolt's lazy listener), so every record of that command carries it.
Redaction (``bot.redact``) happens when a record is created, before any formatter.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
log = logging.getLogger("bot.handled")


@dataclass
class Handling:
    """What one command or button did, said in one line when it ends (:func:`handled`).

    The dispatcher fills ``verb``, ``target`` and ``outcome`` as it learns them; the GitHub
    client counts its requests here (:func:`github_request_made`)."""

    kind: str  # "command" or "button"
    user_id: str
    verb: str = ""
    target: str = ""
    outcome: str = "ok"  # "ok", "refused" or "error KIND"
    github_requests: int = 0

    def fields(self, duration_ms: int) -> dict[str, object]:
        return {
            "request_id": request_id.get(),
            "kind": self.kind,
            "user_id": self.user_id,
            "verb": self.verb,
            "target": self.target,
            "outcome": self.outcome,
            "github_requests": self.github_requests,
            "duration_ms": duration_ms,
        }


# The command being handled: set by its listener, copied into every task it starts.
handling: contextvars.ContextVar[Handling | None] = contextvars.ContextVar("handling", default=None)
_WORD = re.compile(r"[^A-Za-z0-9_.:/@#-]")


def word(text: str, limit: int = 100) -> str:
    """A value from the outside as one safe log word (no spaces, newlines or quotes)."""
    return _WORD.sub("?", text[:limit])


def github_request_made() -> None:
    found = handling.get()
    if found is not None:
        found.github_requests += 1


def error_kind(exc: BaseException) -> str:
    """``NotInstalled`` -> ``not_installed``: the outcome's machine word."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


@contextlib.contextmanager
def handled(kind: str, user_id: str, verb: str = "") -> Iterator[Handling]:
    """One structured line per command or button, whatever happens inside."""
    current = Handling(kind, word(user_id), word(verb))
    token = handling.set(current)
    started = time.perf_counter()
    try:
        yield current
    except BaseException as exc:
        if current.outcome == "ok":
            current.outcome = f"error {error_kind(exc)}"
        raise
    finally:
        handling.reset(token)
        ms = round((time.perf_counter() - started) * 1000)
        log.info(
            "%s %s target=%s user=%s outcome=%s github_requests=%d duration_ms=%d",
            current.kind,
            current.verb or "-",
            current.target or "-",
            current.user_id or "-",
            current.outcome,
            current.github_requests,
            ms,
            extra={"fields": current.fields(ms)},
        )


def new_request_id(given: str | None = None) -> str:
    value = (given or uuid.uuid4().hex)[:36]
    request_id.set(value)
    return value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "") or request_id.get()
        if rid:
            line["request_id"] = rid
        fields = getattr(record, "fields", None)  # a structured line's own keys
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Apply the format to every handler that exists (ours and uvicorn's)."""
    if log_format != "json":
        return
    formatter = JsonFormatter()
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)
            handler.addFilter(RequestIdFilter())
