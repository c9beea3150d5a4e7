"""The audit trail: every token issued, every delete, every refusal.

Each entry says who (Slack user id and name), what, on which target, when and with what
outcome, so an admin can answer "who added that runner?" later. Entries never hold a
token: callers pass none, and recognisable credential shapes are masked as a backstop.

SQLite is built in (``DATABASE_URL=sqlite:///runnerops.db``); the rest of the service
talks to :class:`AuditStore` only, so a server database can take its place later.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable
from urllib.parse import unquote

DEFAULT_DATABASE_URL = "sqlite:///runnerops.db"
_SQLITE_PREFIX = "sqlite:///"
_SCHEMA_VERSION = 1
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and Slack tokens (xox?-).
_CREDENTIAL = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[a-z]-[A-Za-z0-9-]{10,})"
)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime  # UTC, tz-aware
    user_id: str
    user_name: str
    action: str  # the command verb: "token", "remove-token", "delete", "list", ...
    target: str  # str(Target), or "" when the command had none
    outcome: str  # "issued", "deleted", "refused", "failed", "not-deleted", ...
    detail: str = ""  # runner name or id, refusal reason, error kind; never a secret
    channel_id: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        # A naive time is ambiguous in a trail read across time zones: refuse it.
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("AuditEntry.at must be timezone-aware")
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", self.at.astimezone(UTC))


@runtime_checkable
class AuditStore(Protocol):
    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Store ``entry``; return it with its ``id`` set."""
        ...

    async def recent(self, *, target: str | None = None, limit: int = 20) -> list[AuditEntry]:
        """Newest first; ``target`` matches exactly, ignoring case."""
        ...

    async def close(self) -> None: ...


class AuditConfigError(ValueError):
    """``DATABASE_URL`` cannot be used; the message is for the operator."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    channel_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at, id);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target COLLATE NOCASE, at, id);
"""
_COLUMNS = "id, at, user_id, user_name, action, target, outcome, detail, channel_id"


def _mask(text: str) -> str:
    return _CREDENTIAL.sub("[redacted]", text)


def _timestamp(at: datetime) -> str:
    # Fixed width UTC text sorts in time order and stays readable in the sqlite3 shell.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class SQLiteAuditStore:
    """SQLite behind one connection; calls run in a worker thread, one at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=5.0
            )
            if path != ":memory:":
                # WAL lets readers (an operator's sqlite3 shell) work alongside the writer.
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise AuditConfigError(f"cannot open the audit database {path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the audit store is closed")
        return self._conn

    def _insert(self, entry: AuditEntry) -> AuditEntry:
        with self._lock:
            cursor = self._connection().execute(
                "INSERT INTO audit (at, user_id, user_name, action, target, outcome, detail,"
                " channel_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _timestamp(entry.at),
                    entry.user_id,
                    entry.user_name,
                    entry.action,
                    entry.target,
                    entry.outcome,
                    _mask(entry.detail),
                    entry.channel_id,
                ),
            )
            row_id = cursor.lastrowid
        return replace(entry, detail=_mask(entry.detail), id=row_id)

    def _select(self, target: str | None, limit: int) -> list[AuditEntry]:
        query = f"SELECT {_COLUMNS} FROM audit"
        params: tuple[object, ...] = ()
        if target is not None:
            query += " WHERE target = ? COLLATE NOCASE"
            params = (target,)
        query += " ORDER BY at DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._connection().execute(query, (*params, limit)).fetchall()
        return [
            AuditEntry(
                at=datetime.fromisoformat(at),
                user_id=user_id,
                user_name=user_name,
                action=action,
                target=row_target,
                outcome=outcome,
                detail=detail,
                channel_id=channel_id,
                id=row_id,
            )
            for (
                row_id,
                at,
                user_id,
                user_name,
                action,
                row_target,
                outcome,
                detail,
                channel_id,
            ) in rows
        ]

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def record(self, entry: AuditEntry) -> AuditEntry:
        return await asyncio.to_thread(self._insert, entry)

    async def recent(self, *, target: str | None = None, limit: int = 20) -> list[AuditEntry]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return []
        return await asyncio.to_thread(self._select, target, limit)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


def sqlite_path(database_url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    url = database_url.strip()
    scheme, sep, _ = url.partition(":")
    if not sep or scheme.lower() != "sqlite":
        # The URL itself may hold a password: name only its scheme.
        shown = scheme.lower() if sep and _SCHEME.fullmatch(scheme) else "(none)"
        raise AuditConfigError(
            f"DATABASE_URL scheme {shown!r} is not supported: only sqlite:/// is built in"
            " (e.g. sqlite:///runnerops.db or sqlite:////var/lib/runnerops/audit.db)"
        )
    if not url.lower().startswith(_SQLITE_PREFIX):
        raise AuditConfigError(
            "DATABASE_URL for SQLite has three slashes before a relative path and four"
            " before an absolute one: sqlite:///runnerops.db, sqlite:////var/lib/audit.db"
        )
    rest = url[len(_SQLITE_PREFIX) :]
    if "?" in rest:
        raise AuditConfigError("DATABASE_URL options (?...) are not supported for SQLite")
    path = unquote(rest)
    if not path:
        raise AuditConfigError("DATABASE_URL names no database file after sqlite:///")
    return path


def open_store(database_url: str | None) -> AuditStore:
    """Open the store ``DATABASE_URL`` names (SQLite by default), creating its schema."""
    return SQLiteAuditStore(sqlite_path(database_url or DEFAULT_DATABASE_URL))
