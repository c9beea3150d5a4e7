"""Bring the database to the newest schema (Alembic), before anything serves.

Runs from the Procfile's ``release:`` line (``python -m bot migrate``) and, unless
``RUNNEROPS_MIGRATE_ON_START=0``, at start-up. Several processes starting at once are safe:
on PostgreSQL an advisory lock lets one migrate while the others wait and then find
nothing to do; on SQLite the file's write lock does the same.
"""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc, text

from bot.store.database import MIGRATIONS, DatabaseConfigError, DatabaseURL, sync_engine

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x72756E6E  # "runn": the advisory lock key that serialises migrations


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _unreachable(url: DatabaseURL, error: Exception) -> DatabaseConfigError:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = reason[0] if reason else type(error).__name__
    password = url.sync_url.password
    if password:
        first = first.replace(str(password), "[redacted]")
    return DatabaseConfigError(
        f"runnerops cannot start: the database ({url.shown}) failed: {first}"
    )


def upgrade(url: DatabaseURL) -> str:
    """Apply every pending migration; return the revision the database is now at."""
    engine = sync_engine(url)
    try:
        for attempt in (1, 2):
            try:
                with engine.begin() as conn:
                    if not url.is_sqlite:
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                        )
                    config = _config()
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    current = MigrationContext.configure(conn).get_current_revision()
                return current or ""
            except exc.OperationalError as error:
                # Another process created the same table a moment before us (SQLite has
                # no lock to wait on here): the second attempt finds it done.
                if attempt == 1 and url.is_sqlite and "already exists" in str(error):
                    continue
                raise _unreachable(url, error) from None
            except exc.DBAPIError as error:
                raise _unreachable(url, error) from None
        raise AssertionError("unreachable")
    finally:
        engine.dispose()


def current(url: DatabaseURL) -> str | None:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except exc.DBAPIError as error:
        raise _unreachable(url, error) from None
    finally:
        engine.dispose()
