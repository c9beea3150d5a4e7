"""DATABASE_URL as operators and PaaS add-ons write it; migrations; start-up failures."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import Store, migrate
from bot.store.database import DatabaseConfigError, parse_database_url, sync_engine
from bot.store.schema import metadata
from tests.conftest import Clock
from tests.postgres import PostgresServer

ROOT = Path(__file__).parent.parent.parent
# SQLite cannot reflect the lower(target) index: alembic says so, and skips only that index.
pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///runnerops.db", "runnerops.db"),
        ("sqlite:///data/audit.db", "data/audit.db"),
        ("sqlite:////var/lib/runnerops/audit.db", "/var/lib/runnerops/audit.db"),
        ("SQLite:///x.db", "x.db"),
        ("  sqlite:///x.db  ", "x.db"),
        ("sqlite:///my%20audit.db", "my audit.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    parsed = parse_database_url(url)
    assert parsed.dialect == "sqlite"
    assert parsed.async_url.drivername == "sqlite+aiosqlite"
    assert parsed.async_url.database == path


@pytest.mark.parametrize(
    ("url", "host", "port", "database", "query"),
    [
        ("postgres://u:p%40ss@db.example.com:5432/d1", "db.example.com", 5432, "d1", {}),
        (
            "postgres://u:pw@ec2-1-2-3-4.compute-1.amazonaws.com:5432/dabc?sslmode=require",
            "ec2-1-2-3-4.compute-1.amazonaws.com",
            5432,
            "dabc",
            {"sslmode": "require"},
        ),
        (
            "postgresql://u:pw@h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5",
            "h",
            None,
            "d",
            {"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem", "connect_timeout": "5"},
        ),
    ],
)
def test_postgres_urls_as_paas_add_ons_set_them(
    url: str, host: str, port: int | None, database: str, query: dict[str, str]
) -> None:
    parsed = parse_database_url(url)
    assert parsed.dialect == "postgresql"
    assert parsed.async_url.drivername == "postgresql+psycopg_async"
    assert parsed.sync_url.drivername == "postgresql+psycopg"
    assert (parsed.async_url.host, parsed.async_url.port) == (host, port)
    assert parsed.async_url.database == database
    assert dict(parsed.async_url.query) == query  # libpq options go to psycopg as given
    assert "pw" not in parsed.shown and "p@ss" not in parsed.shown
    assert host in parsed.shown


def test_password_with_special_characters_is_decoded() -> None:
    parsed = parse_database_url("postgres://user:p%40ss%2Fw@db/x")
    assert parsed.async_url.password == "p@ss/w"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://db/audit", "scheme 'mysql' is not supported"),
        ("runnerops.db", "must be sqlite:///FILE or postgres://"),
        ("sqlite://runnerops.db", "three slashes"),
        ("sqlite:runnerops.db", "three slashes"),
        ("sqlite:///", "must name a database file"),
        ("sqlite:///:memory:", "must name a database file"),
        ("sqlite:///x.db?mode=ro", "options"),
        ("postgres://user:hunter2@db.example/", "names no database"),
        ("postgres://user:hunter2@db.example:port/x", "port that is not a number"),
    ],
)
def test_bad_urls_say_why_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(DatabaseConfigError, match=reason) as info:
        parse_database_url(url)
    assert "hunter2" not in str(info.value)


def test_default_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store.open(None, clock=clock)
    asyncio.run(store.close())
    assert (tmp_path / "runnerops.db").exists()


def test_migrated_schema_matches_the_metadata(database_url: str) -> None:
    url = parse_database_url(database_url)
    assert migrate.upgrade(url) == migrate.head()
    assert migrate.upgrade(url) == migrate.head()  # a second run has nothing to do
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


# The audit file an earlier runnerops wrote (its own schema, user_version 1, no Alembic).
LEGACY_SCHEMA = """
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
PRAGMA user_version=1;
"""


async def test_an_earlier_versions_audit_file_migrates_without_losing_an_entry(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "runnerops.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(LEGACY_SCHEMA)
        for i in range(250):
            conn.execute(
                "INSERT INTO audit (at, user_id, user_name, action, target, outcome, detail,"
                " channel_id) VALUES (?, 'U1', 'alice', 'token', 'Acme/API', 'issued', ?, 'C1')",
                (f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00.000000+00:00", f"entry {i}"),
            )
    store = Store.open(f"sqlite:///{path}", clock=clock)
    try:
        entries = await store.audit.recent(target="acme/api", limit=1000)
        assert len(entries) == 250
        assert entries[0].detail == "entry 249" and entries[-1].detail == "entry 0"
        assert entries[0].at.isoformat() == "2026-11-11T09:00:00+00:00"
        new = await store.audit.record(replace(entries[0], id=None))
        assert new.id == 251
    finally:
        await store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    # Only what SQLite cannot tell apart remains: the legacy rowid id is declared nullable
    # (it can never be NULL), and its times are TEXT where the new schema says VARCHAR(32).
    kinds = {(op[0], op[2], op[3]) for ops in diff for op in ops}
    assert kinds <= {("modify_nullable", "audit", "id"), ("modify_type", "audit", "at")}


def test_unreachable_postgres_stops_start_up_in_one_line_without_the_password(
    clock: Clock,
) -> None:
    with socket_closed_port() as port:
        url = f"postgres://runnerops:hunter2secret@127.0.0.1:{port}/runnerops?connect_timeout=3"
        with pytest.raises(DatabaseConfigError) as info:
            Store.open(url, clock=clock)
    message = str(info.value)
    assert "\n" not in message and "hunter2secret" not in message
    assert f"127.0.0.1:{port}" in message and message.startswith("runnerops cannot start")


def test_wrong_password_is_reported_without_it(postgres: PostgresServer, clock: Clock) -> None:
    url = postgres.url("postgres").replace(postgres.password, "not-the-password-x")
    with pytest.raises(DatabaseConfigError) as info:
        Store.open(url, clock=clock)
    assert "not-the-password-x" not in str(info.value)
    assert "authentication failed" in str(info.value)


def test_sslmode_from_the_url_reaches_libpq(postgres_url: str, clock: Clock) -> None:
    """The throwaway cluster has no TLS: ``sslmode=require`` must be refused by libpq
    itself (proof the option reaches it), in one line, without the password."""
    password = parse_database_url(postgres_url).sync_url.password
    assert password
    with pytest.raises(DatabaseConfigError) as info:
        Store.open(postgres_url + "?sslmode=require", clock=clock)
    message = str(info.value)
    assert message.startswith("runnerops cannot start") and "\n" not in message
    assert "SSL" in message and password not in message, message


async def test_sslmode_disable_opens(postgres_url: str, clock: Clock) -> None:
    store = Store.open(postgres_url + "?sslmode=disable&connect_timeout=5", clock=clock)
    try:
        await store.db.ping()
        assert await store.audit.recent() == []
    finally:
        await store.close()


def test_without_migrate_on_start_an_old_schema_is_refused(tmp_path: Path, clock: Clock) -> None:
    with pytest.raises(DatabaseConfigError, match="python -m bot migrate"):
        Store.open(f"sqlite:///{tmp_path}/new.db", clock=clock, migrate_now=False)


def test_migrate_command(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"at schema {migrate.head()}" in done.stdout
    password = parse_database_url(database_url).sync_url.password
    assert not password or password not in done.stdout + done.stderr


def test_migrate_command_fails_clearly() -> None:
    with socket_closed_port() as port:
        env = {**os.environ, "DATABASE_URL": f"postgres://u:pw-secret@127.0.0.1:{port}/x"}
        done = subprocess.run(
            [sys.executable, "-m", "bot", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 1
    assert "cannot start" in done.stderr and "pw-secret" not in done.stderr
    assert "Traceback" not in done.stderr


def runnerops_script() -> str:
    """The console script ``pip install -e .`` put beside this interpreter."""
    here = os.path.dirname(sys.executable)
    found = shutil.which("runnerops", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    assert found, "the runnerops console script is not installed (pip install -e .)"
    return found


def test_runnerops_migrate_console_script(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [runnerops_script(), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"at schema {migrate.head()}" in done.stdout
    assert migrate.current(parse_database_url(database_url)) == migrate.head()
    password = parse_database_url(database_url).sync_url.password
    assert not password or password not in done.stdout + done.stderr


def test_runnerops_console_script_refuses_clearly(tmp_path: Path) -> None:
    with socket_closed_port() as port:
        env = {**os.environ, "DATABASE_URL": f"postgres://u:pw-secret@127.0.0.1:{port}/x"}
        done = subprocess.run(
            [runnerops_script(), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("runnerops cannot start")
    assert "pw-secret" not in done.stderr and "Traceback" not in done.stderr
    no_verb = subprocess.run([runnerops_script()], capture_output=True, text=True)
    assert no_verb.returncode == 2 and "migrate" in no_verb.stderr  # argparse's usage line


class socket_closed_port:
    """A loopback port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def _migrate(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


async def test_rolling_back_a_release(
    database_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/operations.md's rollback, on both engines: `migrate --to REV` undoes the newer
    migrations; and a release rolled back without it runs on the newer schema as it is
    (migrations only add), saying so, instead of refusing to start."""
    assert _migrate(database_url).returncode == 0
    revisions = migrate.revisions()
    previous = revisions[-2]
    done = _migrate(database_url, "--to", previous)
    assert done.returncode == 0, done.stderr
    assert f"at schema {previous}" in done.stdout
    assert migrate.current(parse_database_url(database_url)) == previous
    refused = _migrate(database_url, "--to", "nope")
    assert refused.returncode == 1 and "no schema 'nope' here" in refused.stderr
    assert _migrate(database_url).returncode == 0  # and forward again
    engine = sync_engine(parse_database_url(database_url))
    try:
        with engine.begin() as conn:  # as a newer release would leave it
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
        with caplog.at_level(logging.WARNING, logger="bot.store.migrate"):
            store = Store.open(database_url, clock=clock)
        await store.close()
        assert "at schema 0099, newer than this version's" in caplog.text
        kept = Store.open(database_url, clock=clock, migrate_now=False)
        await kept.close()
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": migrate.head()}
            )
        engine.dispose()
