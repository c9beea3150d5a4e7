"""Logs: one JSON object per line when ``LOG_FORMAT=json`` (PaaS log drains parse it),
with a request id that follows a command from its ack to its reply.

The id lives in a context variable: asyncio copies the context into the tasks a request
starts (slack-bolt's lazy listener), so every record of that command carries it.
Redaction (``bot.redact``) happens when a record is created, before any formatter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


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
