"""Setup mode through the real process: the Procfile's ``uvicorn app:app`` chooses it from the
environment alone, and leaves it out entirely once every variable is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bot.sandbox.harness import Keys
from tests.test_procfile import _free_port, _post, procfile_web

UNSET = {  # empty counts as absent, as a PaaS dashboard leaves a cleared variable
    "GITHUB_APP_ID": "",
    "GITHUB_PRIVATE_KEY": "",
    "GITHUB_WEBHOOK_SECRET": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_BOT_TOKEN": "",
}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_without_the_apps_variables_the_process_serves_setup_mode(
    keys: Keys, tmp_path: Path
) -> None:
    with procfile_web(keys, tmp_path, RUNNEROPS_PUBLIC_URL="https://ops.example.org", **UNSET) as (
        url,
        seen,
    ):
        for probe in ("/healthz", "/readyz"):  # a readiness probe must not hide /setup
            status, body = _get(f"{url}{probe}")
            assert status == 200 and json.loads(body) == {"status": "setup"}, probe
        for path in ("/slack/events", "/github/webhooks"):
            status, body = _post(f"{url}{path}", b"{}", {"content-type": "application/json"})
            assert status == 503, (path, body)
            assert b"setup mode" in body and b"https://ops.example.org/setup" in body
        status, body = _get(f"{url}/setup")
        assert status == 200 and b"Register on GitHub" in body
    output = "".join(seen)
    assert "finish it at https://ops.example.org/setup" in output, output
    assert "Traceback" not in output, output


def test_without_a_public_url_the_log_still_names_the_setup_page(
    keys: Keys, tmp_path: Path
) -> None:
    with procfile_web(keys, tmp_path, **UNSET) as (url, seen):
        assert _get(f"{url}/healthz")[0] == 200
    output = "".join(seen)
    port = url.rsplit(":", 1)[1]
    assert f"finish it at http://127.0.0.1:{port}/setup" in output, output  # as listened on


def test_the_log_names_the_port_uvicorn_listens_on_without_port(tmp_path: Path) -> None:
    """``uvicorn app:app --port N`` with no PORT variable: the log's setup address is the
    one the process listens on, not PORT's default 8000."""
    port = _free_port()
    root = Path(__file__).parent.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{tmp_path}/a.db", **UNSET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert server.stdout is not None
        for line in server.stdout:
            seen.append(line)
            if "finish it at" in line:
                break
        assert _get(f"http://127.0.0.1:{port}/readyz")[0] == 200
    finally:
        server.terminate()
        seen.append(server.communicate(timeout=30)[0])
    output = "".join(seen)
    assert f"finish it at http://127.0.0.1:{port}/setup" in output, output
    assert "localhost:8000" not in output


def test_with_every_variable_set_there_is_no_setup_page(keys: Keys, tmp_path: Path) -> None:
    with procfile_web(keys, tmp_path) as (url, seen):
        assert json.loads(_get(f"{url}/healthz")[1]) == {"status": "ok"}
        for path in ("/setup", "/setup/github/callback?code=x&state=y"):
            assert _get(f"{url}{path}")[0] == 404, path
        assert _post(f"{url}/setup/github", b"state=x", {})[0] == 404
    assert "setup mode" not in "".join(seen)


def _start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Build ``app.app`` from ``env`` alone in a fresh interpreter, as uvicorn would."""
    root = Path(__file__).parent.parent
    return subprocess.run(
        [sys.executable, "-c", "import app; app.app"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_half_configured_github_app_still_stops_start_up(tmp_path: Path) -> None:
    done = _start(tmp_path, GITHUB_APP_ID="1")
    assert done.returncode == 1
    assert "missing settings: GITHUB_WEBHOOK_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


def test_other_config_errors_stop_setup_mode_too(tmp_path: Path) -> None:
    done = _start(tmp_path, PORT="eighty")
    assert done.returncode == 1 and "PORT must be a number" in done.stderr
    done = _start(tmp_path, RUNNEROPS_POLICY="[[grant]]\nactions = 'read'")
    assert done.returncode == 1 and "actions must be a list of strings" in done.stderr
    # A typo on line 3 is named on line 3, and said as every other start-up stop is.
    policy = '[[grant]]\nactions = ["read"]\ntagets = ["*"]\n'
    done = _start(tmp_path, RUNNEROPS_POLICY=policy)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "runnerops cannot start: policy line 3: grant #1: unknown key 'tagets'"
    ), done.stderr
    configured = {  # and outside setup mode alike
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\\nx\\n-----END RSA PRIVATE KEY-----",
        "GITHUB_WEBHOOK_SECRET": "w",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
    }
    done = _start(tmp_path, RUNNEROPS_POLICY=policy, **configured)
    assert done.returncode == 1
    assert done.stderr.startswith("runnerops cannot start: policy line 3: "), done.stderr
    assert "Traceback" not in done.stderr
    assert _start(tmp_path).returncode == 0  # and nothing at all is setup mode
