"""Where data is stored: one schema on SQLite (embedded) or PostgreSQL (deployments).

``DATABASE_URL`` is taken exactly as operators and PaaS add-ons write it
(``sqlite:///rel.db``, ``sqlite:////abs.db``, ``postgres://USER:PASS@HOST:5432/DB?sslmode=require``)
and turned into SQLAlchemy URLs here, so no other module knows about drivers:

- SQLite runs through aiosqlite, WAL mode, a busy timeout so two processes can share a file.
- PostgreSQL runs through psycopg 3: it accepts every libpq option in the URL's query
  (``sslmode``, ``sslrootcert``, ``connect_timeout``...) and, with ``prepare_threshold=None``,
  stays correct behind PgBouncer in transaction mode, where asyncpg's named prepared
  statements break.

Migrations (Alembic) run synchronously with the same drivers' sync side, before the web
process serves (``python -m bot migrate`` or at start-up).

Every call has a deadline (``DATABASE_TIMEOUT``): the drivers' own (PostgreSQL's
``connect_timeout`` and ``statement_timeout``, the pool's wait, SQLite's busy timeout),
which say what failed, and a bound around each :meth:`Database.read` and
:meth:`Database.write` for a server that accepts connections and then answers nothing,
where no driver deadline fires.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///runnerops.db"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
MIGRATIONS = Path(__file__).parent / "migrations"
# A failed write is tried this many times in all, briefly, before the caller is told.
WRITE_ATTEMPTS = 3
WRITE_BACKOFF = 0.1
DEFAULT_TIMEOUT = 5.0  # DATABASE_TIMEOUT: seconds for a connect, a pool wait, a statement
# The bound around a call is the deadline plus this: a driver's own timeout, which says
# what failed (connecting, a lock), comes first; the bound is for a server gone silent.
BOUND_GRACE = 1.0
# How long close() gives calls abandoned at their bound to finish their own cancellation.
ABANDONED_GRACE = 1.0
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


class DatabaseConfigError(ValueError):
    """``DATABASE_URL`` cannot be used, or the database cannot be reached at start-up.

    The message is one line for the operator and names the host, never the password."""


class StoreUnavailable(Exception):
    """A database operation failed after its retries, or had no answer within its
    deadline; callers decide what that means. ``reason`` is short and safe to show (the
    driver's error class, or the deadline); the driver's own message is in the log."""

    def __init__(self, what: str, reason: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.reason = reason


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed ``DATABASE_URL``: what the engines need and what is safe to show."""

    dialect: str  # "sqlite" or "postgresql"
    async_url: URL
    sync_url: URL
    shown: str  # for logs and errors: never the password

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"


def parse_database_url(text: str | None) -> DatabaseURL:
    url = (text or DEFAULT_DATABASE_URL).strip()
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower()
    if not sep or not _SCHEME.fullmatch(scheme):
        raise DatabaseConfigError(
            "DATABASE_URL must be sqlite:///FILE or postgres://USER:PASSWORD@HOST:PORT/DB"
        )
    if scheme == "sqlite":
        return _sqlite_url(url)
    if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
        return _postgres_url(url)
    raise DatabaseConfigError(
        f"DATABASE_URL scheme {scheme!r} is not supported: use sqlite:///FILE"
        " or postgres://USER:PASSWORD@HOST:PORT/DB"
    )


def _sqlite_url(url: str) -> DatabaseURL:
    if not url.lower().startswith("sqlite:///"):
        raise DatabaseConfigError(
            "DATABASE_URL for SQLite has three slashes before a relative path and four"
            " before an absolute one: sqlite:///runnerops.db, sqlite:////var/lib/audit.db"
        )
    rest = url[len("sqlite:///") :]
    if "?" in rest:
        raise DatabaseConfigError("DATABASE_URL options (?...) are not supported for SQLite")
    path = unquote(rest)
    if not path or path == ":memory:":
        raise DatabaseConfigError(
            "DATABASE_URL must name a database file after sqlite:/// (an in-memory database"
            " would be lost at once and is not shared between processes)"
        )
    return DatabaseURL(
        dialect="sqlite",
        async_url=URL.create("sqlite+aiosqlite", database=path),
        sync_url=URL.create("sqlite", database=path),
        shown=f"sqlite file {path}",
    )


def _postgres_url(url: str) -> DatabaseURL:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DatabaseConfigError("DATABASE_URL has a port that is not a number") from None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    host = parts.hostname or query.get("host") or "localhost"
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DatabaseConfigError("DATABASE_URL names no database after the host (…/DBNAME)")
    common: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "host": parts.hostname,
        "port": port,
        "database": database,
        "query": query,  # libpq options (sslmode, sslrootcert, ...) go to the driver as given
    }
    return DatabaseURL(
        dialect="postgresql",
        async_url=URL.create("postgresql+psycopg_async", **common),
        sync_url=URL.create("postgresql+psycopg", **common),
        shown=f"PostgreSQL at {host}:{port or 5432}/{database}",
    )


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers work beside the writer; the busy timeout lets processes that
        # share one file wait for each other's write, for a while, instead of failing at
        # once (and bounds that wait, which no asyncio deadline can end: it blocks the
        # driver's thread).
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _statement_timeout(ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A SET once per new connection rather than a startup ``options`` parameter, which
        # PgBouncer refuses by default. Outside a transaction, so that it holds for the
        # session.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {ms:d}")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    return on_connect


def _pg_connect_args(url: DatabaseURL, timeout: float) -> dict[str, Any]:
    args: dict[str, Any] = {"prepare_threshold": None}
    if "connect_timeout" not in url.async_url.query:  # the URL's own value wins
        args["connect_timeout"] = max(2, math.ceil(timeout))  # libpq: whole seconds, 2 at least
    return args


def sync_engine(url: DatabaseURL, *, timeout: float = DEFAULT_TIMEOUT) -> sa.Engine:
    """For migrations and the start-up check: no event loop involved. Connecting has a
    deadline; statements do not (a migration of a large table may take minutes)."""
    if url.is_sqlite:
        engine = sa.create_engine(url.sync_url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas(10_000))
        return engine
    return sa.create_engine(
        url.sync_url, poolclass=NullPool, connect_args=_pg_connect_args(url, timeout)
    )


def _kind(error: BaseException) -> str:
    """What failed, in a word safe for any reader: the driver's error class."""
    return type(getattr(error, "orig", None) or error).__name__


def _timed_out(error: BaseException) -> bool:
    """A driver's own deadline passed: trying again would only wait it out once more."""
    if isinstance(error, exc.TimeoutError):  # the pool's wait
        return True
    orig = getattr(error, "orig", None)
    if isinstance(orig, psycopg.errors.ConnectionTimeout | psycopg.errors.QueryCanceled):
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


class Database:
    """The async engine the stores share, the retry rule for their writes, and the
    deadline of every call."""

    def __init__(
        self, url: DatabaseURL, *, pool_size: int = 10, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.url = url
        self.dialect = url.dialect
        self.timeout = timeout
        # Calls given up at their bound, still unwinding (psycopg cancels a query on the
        # server before it lets go): held so that none is collected mid-flight.
        self._abandoned: set[asyncio.Task[Any]] = set()
        if url.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(
                url.async_url, pool_timeout=timeout, connect_args={"timeout": timeout}
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(round(timeout * 1000)))
        else:
            self.engine = create_async_engine(
                url.async_url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=timeout,
                # No ping before each checkout (a round trip on every query): a connection
                # a failover or restart killed fails once, is discarded by the pool, and
                # write()/read() try again on a fresh one.
                pool_recycle=1800,
                connect_args=_pg_connect_args(url, timeout),
            )
            event.listen(
                self.engine.sync_engine, "connect", _statement_timeout(round(timeout * 1000))
            )

    async def write(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``work`` (one transaction), retrying briefly on a connection failure,
        within the deadline; :class:`StoreUnavailable` when it fails or has no answer
        (a write whose answer was lost may have been carried out)."""

        async def attempts() -> T:
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    return await work()
                except (exc.DBAPIError, exc.TimeoutError, OSError) as error:
                    # A constraint or a read-only database will not heal in a second, and a
                    # deadline that passed would only pass again: say so now.
                    transient = isinstance(
                        error, exc.OperationalError | exc.InterfaceError | OSError
                    ) and not _timed_out(error)
                    if attempt == WRITE_ATTEMPTS or not transient:
                        self._fail(what, self._message(error), _kind(error))
                    await asyncio.sleep(WRITE_BACKOFF * 2 ** (attempt - 1))
            raise AssertionError("unreachable")

        return await self._bounded(attempts, what)

    async def read(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        async def attempts() -> T:
            for attempt in (1, 2):
                try:
                    return await work()
                except (exc.DBAPIError, exc.TimeoutError, OSError) as error:
                    stale = isinstance(error, exc.DBAPIError) and error.connection_invalidated
                    if attempt == 1 and stale:
                        continue  # a pooled connection the server had closed: once more
                    self._fail(what, self._message(error), _kind(error))
            raise AssertionError("unreachable")

        return await self._bounded(attempts, what)

    async def _bounded(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """``call``'s result, or StoreUnavailable once its bound has passed.

        Not ``asyncio.timeout``: a cancelled psycopg query first tries to cancel itself on
        the server, and a server that answers nothing holds that up too, so the caller
        would wait on. The call runs as a task of its own, cancelled and left to unwind."""
        task = asyncio.ensure_future(call())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout + BOUND_GRACE)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            deadline = f"no answer within {self.timeout + BOUND_GRACE:g} s"
            self._fail(what, deadline, deadline)
        return task.result()

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller has been answered already

    def _fail(self, what: str, message: str, reason: str) -> NoReturn:
        log.warning("database %s failed (%s): %s", what, self.url.shown, message)
        raise StoreUnavailable(what, reason) from None

    def _message(self, error: BaseException) -> str:
        """The driver's own message, on one line, never the password."""
        orig = getattr(error, "orig", None) or error
        lines = _BACKGROUND.sub("", str(orig)).strip().splitlines()
        text = f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__
        password = self.url.async_url.password
        if password:
            text = text.replace(str(password), "[redacted]")
        return text[:300]

    async def ping(self) -> None:
        """One round trip (/readyz), bounded like any read."""

        async def select() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

        await self.read(select, "ping")

    async def close(self) -> None:
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=ABANDONED_GRACE)
        await self.engine.dispose()
