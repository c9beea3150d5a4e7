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
from alembic.util.exc import CommandError
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


def known(revision: str) -> bool:
    """Whether this version of runnerops has ``revision`` among its migrations."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(url: DatabaseURL) -> str:
    """Apply every pending migration; return the revision the database is now at.

    A database at a revision this version does not know was migrated by a newer release:
    after a rollback, the older code runs on it as it is (migrations only add tables,
    nullable columns and indexes, so the older code finds everything it reads), and says
    so; ``python -m bot migrate --to REVISION``, run by the newer release, undoes them."""
    at = current(url)
    if at is not None and not known(at):
        log.warning(
            "the database (%s) is at schema %s, newer than this version's %s (a rollback?):"
            " running on it unchanged",
            url.shown,
            at,
            head(),
        )
        return at
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
                    now_at = MigrationContext.configure(conn).get_current_revision()
                return now_at or ""
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


def downgrade(url: DatabaseURL, revision: str) -> str:
    """Undo the migrations after ``revision`` (before rolling back to the release that
    ends there); return the revision the database is now at."""
    if not known(revision):
        raise DatabaseConfigError(
            f"runnerops cannot migrate: no schema {revision!r} here"
            f" (known: {', '.join(revisions())})"
        )
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            if not url.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config = _config()
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
            return MigrationContext.configure(conn).get_current_revision() or ""
    except exc.DBAPIError as error:
        raise _unreachable(url, error) from None
    finally:
        engine.dispose()


def revisions() -> list[str]:
    """Every schema revision this version knows, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current(url: DatabaseURL) -> str | None:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except exc.DBAPIError as error:
        raise _unreachable(url, error) from None
    finally:
        engine.dispose()
