"""The Procfile's command starts the service from environment variables alone."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bot.sandbox.harness import Keys, slack_signature
from bot.sandbox.serve import serve
from bot.sandbox.slack_double import SlackDouble

ROOT = Path(__file__).parent.parent
WEBHOOK_SECRET = "whsec-procfile"
SIGNING_SECRET = "slsec-procfile"
MARKER = "UNSIGNED-BODY-MARKER-procfile"


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


@contextlib.contextmanager
def slack_double() -> Iterator[SlackDouble]:
    """A Slack double served from a thread of its own (this test's service is a separate
    process, which must not reach the real Slack: bolt calls ``auth.test`` per command)."""
    slack = SlackDouble(bot_token="xoxb-test")
    up, stop = threading.Event(), threading.Event()

    async def main() -> None:
        async with serve(slack.app) as url:
            slack.base_url = url
            up.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert up.wait(10), "the Slack double did not start"
    try:
        yield slack
    finally:
        stop.set()
        thread.join(10)


@contextlib.contextmanager
def procfile_web(keys: Keys, tmp_path: Path, **more_env: str) -> Iterator[tuple[str, list[str]]]:
    """Run the Procfile's web command as a PaaS would (access log on, root logging at INFO);
    yield its base URL and the list its output (stdout and stderr) is collected into,
    complete once the block has exited."""
    command = procfile()["web"]
    port = _free_port()
    argv = shlex.split(command.replace("$PORT", str(port)).replace("0.0.0.0", "127.0.0.1"))
    assert argv[0] == "uvicorn"
    env = {
        "PATH": os.environ["PATH"],
        "PORT": str(port),
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "DATABASE_URL": f"sqlite:///{tmp_path}/audit.db",
        **more_env,
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
        # uvicorn says when it listens ("Application startup complete" comes before the
        # socket is bound); EOF means it died.
        for out in server.stdout:
            seen.append(out)
            if "Uvicorn running on" in out:
                break
        else:
            raise AssertionError("the service did not start:\n" + "".join(seen))
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.terminate()
        seen.append(server.communicate(timeout=30)[0])


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_procfile_web_process_serves_healthz(keys: Keys, tmp_path: Path) -> None:
    with procfile_web(keys, tmp_path) as (url, seen):
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as r:
            assert r.status == 200 and b'"ok"' in r.read()
        assert (tmp_path / "audit.db").exists()  # the audit schema is created at start
    assert keys.private_pem.splitlines()[1] not in "".join(seen)


def test_procfile_logs_access_lines_not_tracebacks(keys: Keys, tmp_path: Path) -> None:
    """The log-record factory must leave records formattable by every formatter, uvicorn's
    access formatter included (it unpacks the record's args), or each request logs a
    traceback instead of its access line."""
    with (
        slack_double() as slack,
        procfile_web(
            keys,
            tmp_path,
            SLACK_API_URL=slack.base_url + "/api/",
            SLACK_RESPONSE_URL_PREFIXES=slack.base_url + "/response/",
        ) as (url, seen),
    ):
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as r:
            assert r.status == 200
        # A signed GitHub delivery...
        ping = json.dumps({"zen": "Keep it logically awesome."}).encode()
        digest = hmac.new(WEBHOOK_SECRET.encode(), ping, hashlib.sha256).hexdigest()
        status, _ = _post(
            f"{url}/github/webhooks",
            ping,
            {
                "content-type": "application/json",
                "x-github-event": "ping",
                "x-github-delivery": "procfile-1",
                "x-hub-signature-256": "sha256=" + digest,
            },
        )
        assert status == 200
        # ...a signed Slack command, answered on its response_url...
        command = urllib.parse.urlencode(
            {
                "command": "/runners",
                "text": "help",
                "user_id": "U0ALICE",
                "channel_id": "C0OPS",
                "response_url": slack.new_response_url(),
                "trigger_id": "t-procfile",
            }
        ).encode()
        ts = str(int(time.time()))
        form = {"content-type": "application/x-www-form-urlencoded"}
        signed = form | {
            "x-slack-request-timestamp": ts,
            "x-slack-signature": slack_signature(SIGNING_SECRET, ts, command),
        }
        sent = _post(f"{url}/slack/events", command, signed)
        assert sent[0] == 200, (sent, "".join(seen))
        # ...and an unsigned one, whose body must reach no log.
        forged = f"text={MARKER}\n2026-01-01 INFO runnerops forged {MARKER}".encode()
        assert _post(f"{url}/slack/events", forged, form)[0] == 401
        deadline = time.monotonic() + 30
        while not slack.all_replies and time.monotonic() < deadline:
            time.sleep(0.02)
        assert slack.all_replies, "the signed command was not answered"
    output = "".join(seen)
    assert '"GET /healthz HTTP/1.1" 200' in output, output
    assert '"POST /github/webhooks HTTP/1.1" 200' in output, output
    assert '"POST /slack/events HTTP/1.1" 200' in output, output
    assert '"POST /slack/events HTTP/1.1" 401' in output, output
    assert "Traceback" not in output, output
    assert "--- Logging error ---" not in output, output
    assert MARKER not in output, output


def test_procfile_web_stops_in_one_line_when_the_database_is_unreachable(
    keys: Keys, tmp_path: Path
) -> None:
    """A PaaS shows the operator the process's output: one line naming the host (never
    the password), a non-zero exit so the platform reports a crash, no traceback."""
    password = "pw-" + os.urandom(6).hex()
    port = _free_port()  # nothing listens there
    database_url = f"postgres://runnerops:{password}@127.0.0.1:{port}/runnerops?connect_timeout=5"
    argv = shlex.split(procfile()["web"].replace("$PORT", str(_free_port())))
    assert argv[0] == "uvicorn"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "DATABASE_URL": database_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Uvicorn running on" not in output, output
    assert "Traceback" not in output and password not in output, output
    (line,) = output.strip().splitlines()  # the whole output is the one line
    assert line.startswith("runnerops cannot start: the database"), output
    assert f"127.0.0.1:{port}" in line, output
