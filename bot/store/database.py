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
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

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


class DatabaseConfigError(ValueError):
    """``DATABASE_URL`` cannot be used, or the database cannot be reached at start-up.

    The message is one line for the operator and names the host, never the password."""


class StoreUnavailable(Exception):
    """A database operation failed after its retries; callers decide what that means."""


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work beside the writer; the busy timeout lets processes that share
    # one file wait for each other's write instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sync_engine(url: DatabaseURL) -> sa.Engine:
    """For migrations and the start-up check: no event loop involved."""
    if url.is_sqlite:
        engine = sa.create_engine(url.sync_url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(
        url.sync_url, poolclass=NullPool, connect_args={"prepare_threshold": None}
    )


class Database:
    """The async engine the stores share, and the retry rule for their writes."""

    def __init__(self, url: DatabaseURL, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = url.dialect
        if url.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url.async_url)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url.async_url,
                pool_size=pool_size,
                max_overflow=pool_size,
                # No ping before each checkout (a round trip on every query): a connection
                # a failover or restart killed fails once, is discarded by the pool, and
                # write()/read() try again on a fresh one.
                pool_recycle=1800,
                connect_args={"prepare_threshold": None},
            )

    async def write(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``work`` (one transaction), retrying briefly on a connection failure."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return await work()
            except (exc.DBAPIError, OSError) as error:
                # A constraint or a read-only database will not heal in a second: say so now.
                transient = isinstance(error, exc.OperationalError | exc.InterfaceError | OSError)
                if attempt == WRITE_ATTEMPTS or not transient:
                    log.warning("database %s failed: %s", what, type(error).__name__)
                    raise StoreUnavailable(what) from None
                await asyncio.sleep(WRITE_BACKOFF * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def read(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        for attempt in (1, 2):
            try:
                return await work()
            except (exc.DBAPIError, OSError) as error:
                stale = isinstance(error, exc.DBAPIError) and error.connection_invalidated
                if attempt == 1 and stale:
                    continue  # a pooled connection the server had closed: once more
                log.warning("database %s failed: %s", what, type(error).__name__)
                raise StoreUnavailable(what) from None
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
