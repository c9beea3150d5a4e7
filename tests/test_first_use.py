"""What a new user trips over (issue 19 §8): each fixed, each shown here."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fleet import seed_demo
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys, Sandbox, reply_text
from bot.slack.blocks import MARKS
from bot.slack.views import access as access_view
from bot.slack.views.home import Panel, home_view
from bot.store.audit import AuditEntry
from bot.watch.alerts import Alert, AlertKind, Member
from handlers import nearest_verb
from tests.test_procfile import procfile_web

ROOT = Path(__file__).resolve().parent.parent


# -- a mistyped verb ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said", "usage"),
    [
        ("lsit acme", "unknown command `lsit`: did you mean `list`?", "/runners list TARGET"),
        ("tokn acme", "unknown command `tokn`: did you mean `token`?", "/runners token TARGET"),
        ("help lst", "no command `lst`: did you mean `list`?", "/runners list TARGET"),
    ],
)
async def test_a_mistyped_verb_gets_the_nearest_verb_not_the_whole_help(
    sandbox: Sandbox, text: str, said: str, usage: str
) -> None:
    shown = reply_text(await sandbox.run(text))
    assert said in shown and f"Usage: `{usage}" in shown
    assert "Commands:" not in shown  # not every verb


async def test_a_word_near_no_verb_still_lists_the_verbs(sandbox: Sandbox) -> None:
    shown = reply_text(await sandbox.run("frobnicate acme"))
    assert "unknown command `frobnicate`" in shown and "did you mean" not in shown
    assert "Commands:" in shown
    assert nearest_verb("ls") == "list" and nearest_verb("zzzz") is None


# -- the Home tab and `list` ------------------------------------------------------------


def test_the_home_tabs_offline_count_and_its_alert_agree() -> None:
    now = datetime(2027, 1, 15, 12, tzinfo=UTC)
    members = tuple(Member(i, f"r{i}", now - timedelta(hours=1)) for i in (1, 2))
    alert = Alert("offline|acme|x", AlertKind.OFFLINE, "acme", "C1", now, members=members)
    panel = Panel("acme", ("C1",), online=4, busy=1, offline=3, seen=True, alerts=[alert])
    shown = json.dumps(home_view([panel], now=now))
    assert "3 offline" in shown
    assert "2 runners offline past the watch's limit, of 3 offline now" in shown
    # When the counts are the same there is nothing to explain.
    same = Panel("acme", ("C1",), offline=2, seen=True, alerts=[alert])
    assert "past the watch's limit" not in json.dumps(home_view([same], now=now))


async def test_list_and_the_home_tab_use_the_same_marks(make_sandbox: Any) -> None:
    async with make_sandbox() as sb:
        assert "Watching" in reply_text(await sb.run("watch acme"))
        assert sb.sweeper is not None
        await sb.sweeper.run_once()  # lists acme's runners for the Home tab
        listed = reply_text(await sb.run("list acme"))
        home = json.dumps(await sb.open_home("U0ALICE"))
    for state in ("idle", "busy", "offline"):
        mark = MARKS[state]
        assert mark in listed and f"{mark} 1 {state}" in home, state
    assert ":large_blue_circle:" not in home and ":white_circle:" not in home


# -- get, tokens, the audit --------------------------------------------------------------


async def test_get_names_the_runner_group(sandbox: Sandbox) -> None:
    shown = json.dumps(await sandbox.run("get acme linux-idle"))
    assert "*Runner group*\\nDefault" in shown
    assert "*Runner group*\\n1" not in shown


async def test_token_replies_say_when_they_expire_once(sandbox: Sandbox) -> None:
    for verb in ("token", "remove-token"):
        text = reply_text(await sandbox.run(f"{verb} acme"))
        assert re.search(
            r"expires at <!date\^\d+\^\{time\}\|\d\d:\d\d UTC> \(in (59|60) min\)", text
        )
        for line in text.splitlines():  # the notification's text, and the message
            assert line.count("expire") <= 1, line


async def test_the_remove_token_says_what_a_remove_token_allows(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("remove-token acme"))
    assert "remove a runner from this target" in text
    assert "attach" not in text  # the registration token's warning, not this one's
    assert "attach a machine" in reply_text(await sandbox.run("token acme"))


async def test_the_audit_reads_in_durations_and_readable_times(sandbox: Sandbox) -> None:
    assert "Watching" in reply_text(await sandbox.run("watch acme --after 5m", channel_id="C0W"))
    await sandbox.run("token acme")
    shown = reply_text(await sandbox.run("audit acme"))
    assert "after 5m, offline after" in shown and "300s" not in shown
    assert re.search(r"issued\* — expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", shown), shown
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", shown)  # no raw ISO anywhere


def test_audit_entries_written_before_read_the_same_way() -> None:
    at = datetime(2026, 12, 6, 21, 9, tzinfo=UTC)
    old = AuditEntry(
        at=at,
        user_id="U1",
        user_name="alice",
        action="watch",
        target="acme",
        outcome="watched",
        detail="after 300s, offline after 600s, in C0W",
    )
    token = AuditEntry(
        at=at,
        user_id="U1",
        user_name="alice",
        action="token",
        target="acme",
        outcome="issued",
        detail="expires 2026-12-06T22:09:00+00:00",
    )
    assert "after 5m, offline after 10m, in C0W" in access_view.audit_line(old)
    line = access_view.audit_line(token)
    assert "expires 2026-12-06 22:09 UTC" in line and "T22:09" not in line
    assert "|2026-12-06 21:09 UTC>" in line  # the entry's own time: readable where Slack
    # cannot draw dates


# -- a clean start, migrate's logs, the demo ---------------------------------------------


def test_a_healthy_start_logs_no_warning(keys: Keys, tmp_path: Path) -> None:
    with procfile_web(keys, tmp_path) as (_url, seen):
        pass
    output = "".join(seen)
    assert "Application startup complete" in output
    assert "WARNING" not in output and "will be unused" not in output, output


def test_migrate_honours_log_format_json(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path}/runnerops.db",
        "LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line one JSON object
    assert any("at schema" in r["message"] for r in records)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)


def test_the_demos_arm64_and_mac_runners_report_arm64() -> None:
    double = GitHubDouble(app_id="1", public_key_pem=Keys.generate().public_pem)
    seed_demo(double)
    runners = double.runners("/orgs/acme") + double.runners("/repos/acme/api")
    runners += double.runners("/enterprises/octo-ent")

    def arch(runner: dict[str, Any]) -> str:
        found = [lab["name"] for lab in runner["labels"] if lab["type"] == "read-only"]
        return next(name for name in found if name in ("X64", "ARM64", "ARM", "X86"))

    for runner in runners:  # the names say it: acme-arm-01, api-mac-01...
        wanted = "ARM64" if re.search(r"-(arm|mac)-", runner["name"]) else "X64"
        assert arch(runner) == wanted, runner["name"]
    assert {arch(r) for r in runners} == {"ARM64", "X64"}


def test_no_log_warning_from_building_the_slack_app(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slack-bolt reads SLACK_BOT_TOKEN itself and warns that our client wins over it."""
    from bot.slackapp.bolt import quiet_bolt_body_logs

    quiet_bolt_body_logs()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    with caplog.at_level(logging.WARNING):
        AsyncApp(signing_secret="s", client=AsyncWebClient(token="xoxb-test"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
