"""The Procfile's command starts the service from environment variables alone."""

from __future__ import annotations

import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from bot.sandbox.harness import Keys

ROOT = Path(__file__).parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().strip().splitlines()
    return dict(line.split(": ", 1) for line in lines)


def test_procfile_release_process_migrates_the_database(tmp_path: Path) -> None:
    command = procfile()["release"]
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{tmp_path}/runnerops.db"}
    argv = shlex.split(command)
    assert argv[0] == "python"
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "at schema" in done.stdout
    with sqlite3.connect(tmp_path / "runnerops.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"audit", "once", "alembic_version"} <= tables


def test_procfile_web_process_serves_healthz(keys: Keys, tmp_path: Path) -> None:
    command = procfile()["web"]
    port = _free_port()
    argv = shlex.split(command.replace("$PORT", str(port)).replace("0.0.0.0", "127.0.0.1"))
    assert argv[0] == "uvicorn"
    env = {
        "PATH": os.environ["PATH"],
        "PORT": str(port),
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": "whsec",
        "SLACK_SIGNING_SECRET": "slsec",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "DATABASE_URL": f"sqlite:///{tmp_path}/audit.db",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert server.stdout is not None
        for out in server.stdout:  # uvicorn says when it is up; EOF means it died
            seen.append(out)
            if "Uvicorn running on" in out:  # logged once the socket listens
                break
        else:
            raise AssertionError("the service did not start:\n" + "".join(seen))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200 and b'"ok"' in r.read()
        assert (tmp_path / "audit.db").exists()  # the audit schema is created at start
    finally:
        server.terminate()
        output = "".join(seen) + server.communicate(timeout=30)[0]
    assert keys.private_pem.splitlines()[1] not in output
