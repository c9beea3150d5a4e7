"""runnerops as several real processes (``uvicorn app:app``) sharing one database.

The GitHub and Slack doubles run in the caller's event loop; each process is started from
environment variables alone, as a PaaS starts it, and is reachable through a
:class:`~bot.sandbox.harness.Sandbox` view whose ``url`` is that process. What must happen
once across processes (retries, double clicks, redeliveries) is tested through these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import APP_ID, Keys, Sandbox, sandbox_settings
from bot.sandbox.serve import serve
from bot.sandbox.slack_double import SlackDouble

ROOT = Path(__file__).resolve().parent.parent.parent
UVICORN = (sys.executable, "-m", "uvicorn")
APP = "app:app"  # the service; a benchmark may name another module's app to compare with


def settings_env(settings: Settings, github: GitHubDouble | None = None) -> dict[str, str]:
    """The environment a PaaS would give a process with these settings. The sandbox's
    settings serve every account (``github_allowed_accounts`` None), which no variable
    says: given the double, its accounts are listed in GITHUB_ALLOWED_ACCOUNTS instead."""
    allowed = settings.github_allowed_accounts
    if allowed is None and github is not None:
        allowed = tuple(github.account_logins())
    env = {
        "GITHUB_ALLOWED_ACCOUNTS": ",".join(allowed or ()),
        "GITHUB_APP_ID": settings.github_app_id,
        "GITHUB_PRIVATE_KEY": settings.github_private_key,
        "GITHUB_WEBHOOK_SECRET": settings.github_webhook_secret,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "GITHUB_API_URL": settings.github_api_url,
        "GITHUB_URL": settings.github_url,
        "SLACK_API_URL": settings.slack_api_url,
        "GITHUB_APP_SLUG": settings.github_app_slug or "",
        "GITHUB_TIMEOUT": str(settings.github_timeout),
        "DATABASE_URL": settings.database_url,
        "SLACK_RESPONSE_URL_PREFIXES": ",".join(settings.slack_response_url_prefixes),
        "RUNNEROPS_POLICY": settings.policy or "",
        "GITHUB_ENTERPRISE_TOKEN": settings.github_enterprise_token or "",
    }
    return {k: v for k, v in env.items() if v}


@dataclass
class Process:
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        """Until ``text`` appears in the process's log (what it did, seen from outside)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.output():
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} never appeared in the log:\n{self.output()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no cleanup, as when a host dies."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)


@dataclass
class Cluster:
    github: GitHubDouble
    slack: SlackDouble
    settings: Settings
    processes: list[Process]
    views: list[Sandbox] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(env: dict[str, str], log: Path, port: int, app: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*UVICORN, app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _start(env: dict[str, str], log: Path, app: str = APP) -> Process:
    port = _free_port()
    popen = _spawn(env, log, port, app)
    process = Process(f"http://127.0.0.1:{port}", popen, log)
    try:
        await process.wait_for_log("Uvicorn running on", timeout=60)
    except AssertionError:
        popen.kill()
        raise
    return process


@contextlib.asynccontextmanager
async def cluster(
    n: int,
    *,
    database_url: str,
    keys: Keys,
    seed: Callable[[GitHubDouble], None] | None = None,
    policy: str | None = None,
    app: str = APP,
    **settings_changes: Any,
) -> AsyncIterator[Cluster]:
    github = GitHubDouble(
        app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token="sandbox-enterprise-pat"
    )
    if seed is not None:
        seed(github)
    slack = SlackDouble(bot_token="xoxb-sandbox-" + secrets.token_hex(8))
    slack.users.update({"U0ALICE": "alice", "U0BOB": "bob"})
    async with (
        serve(github.app) as github_url,
        serve(slack.app) as slack_url,
        aiohttp.ClientSession() as session,
    ):
        slack.base_url = slack_url
        settings = sandbox_settings(
            keys,
            slack,
            github_api_url=github_url,
            github_enterprise_token="sandbox-enterprise-pat",
            database_url=database_url,
            policy=policy,
            **settings_changes,
        )
        env = settings_env(settings, github)
        with tempfile.TemporaryDirectory(prefix="runnerops-procs-") as logs:
            processes: list[Process] = []
            try:
                for i in range(n):
                    processes.append(await _start(env, Path(logs) / f"process-{i}.log", app))
                group = Cluster(github, slack, settings, processes)
                group.views = [
                    Sandbox(
                        github,
                        slack,
                        settings,
                        None,
                        p.url,
                        session,
                        keys,
                        settings.slack_signing_secret,
                    )
                    for p in processes
                ]
                yield group
            finally:
                for process in processes:
                    if process.popen.poll() is None:
                        process.popen.terminate()
                for process in processes:
                    try:
                        process.popen.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.popen.kill()
