"""A throwaway PostgreSQL cluster for the tests: ``initdb`` into a temp dir, ``pg_ctl`` on
a free loopback port, torn down after. Never a mock: the store must meet the real server.

Where no PostgreSQL binaries exist the tests that need one skip, saying why; with
``RUNNEROPS_POSTGRES_REQUIRED=1`` (set by ``.ci/run``) or ``CI=true`` that is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

USER = "runnerops"


def required() -> bool:
    flag = os.environ.get("RUNNEROPS_POSTGRES_REQUIRED", "") or os.environ.get("CI", "")
    return flag.lower() in {"1", "true", "yes"}


def find_bindir() -> Path | None:
    """Debian keeps the server binaries in /usr/lib/postgresql/N/bin, off PATH."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent

    def version(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    password: str
    datadir: Path
    run_as: list[str]
    bindir: Path
    options: str = ""

    def url(self, database: str = "postgres", scheme: str = "postgresql") -> str:
        return f"{scheme}://{USER}:{self.password}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        name = "t_" + secrets.token_hex(6)
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start(self) -> None:
        started = subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.datadir.parent / "log"),
                "-o",
                self.options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            log = self.datadir.parent / "log"
            raise RuntimeError(
                f"pg_ctl start failed: {started.stderr}\n{log.read_text() if log.exists() else ''}"
            )

    def _processes(self) -> list[int]:
        """The postmaster (from postmaster.pid) and its children, from /proc."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """SIGSTOP the whole cluster: the kernel still accepts TCP connections into the
        postmaster's backlog, and nothing answers: a server hung, not down."""
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def stop(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if required():
            pytest.fail(reason + " (required here: RUNNEROPS_POSTGRES_REQUIRED or CI is set)")
        pytest.skip(reason)
    top = Path(tempfile.mkdtemp(prefix="runnerops-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the package's own user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and no 'postgres' user exists to run initdb as")
        os.chown(top, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_hex(12)
    pwfile = top / "pw"
    pwfile.write_text(password)
    if run_as:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    datadir = top / "data"
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {top} -c fsync=off -c max_connections=200"
    server = PostgresServer("127.0.0.1", port, password, datadir, run_as, bindir, options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(top, ignore_errors=True)
