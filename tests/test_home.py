"""The Home tab: a signed app_home_opened event publishes the fleet at a glance."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from bot.sandbox.harness import Sandbox
from bot.slack.home import HOME_FOCUS, HOME_REFRESH
from tests.conftest import Clock

POLICY = """
[[grant]]
name = "platform"
actions = ["read", "token", "admin"]
users = ["U0ALICE"]
targets = ["*"]

[[grant]]
name = "bob reads acme"
actions = ["read"]
users = ["U0BOB"]
targets = ["acme"]
"""


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(clock=clock, policy=POLICY) as sandbox:
        for target in ("acme", "acme/api"):
            assert "Watching" in json.dumps(await sandbox.run(f"watch {target}"))
        job = sandbox.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
        payload = sandbox.github.workflow_job_payload(job["id"], "queued")
        assert (await sandbox.deliver("workflow_job", payload))[0] == 200
        assert sandbox.sweeper is not None
        await sandbox.sweeper.run_once()  # lists the runners: counts and a fleet sample
        yield sandbox


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


async def test_a_reader_sees_only_what_they_may_read(sb: Sandbox) -> None:
    requests = len(sb.github.requests)
    view = await sb.open_home("U0BOB")
    assert len(sb.github.requests) == requests  # opening the tab asks GitHub nothing
    assert len(view["blocks"]) <= 100
    shown = texts(view)
    assert "*acme*" in shown and "*acme/api*" not in shown  # no panel for the repository
    assert "idle" in shown and "busy" in shown and "offline" in shown
    images = [b for b in view["blocks"] if b["type"] == "image"]
    assert len(images) == 2 and all("/charts/" in b["image_url"] for b in images)


async def test_the_charts_are_served_signed_and_only_signed(sb: Sandbox) -> None:
    view = await sb.open_home("U0ALICE")
    for block in (b for b in view["blocks"] if b["type"] == "image"):
        url = urlsplit(block["image_url"])
        local = sb.url + url.path + "?" + url.query
        async with sb.session.get(local) as resp:
            assert resp.status == 200 and resp.content_type == "image/png"
            assert (await resp.read()).startswith(b"\x89PNG")
        query = dict(parse_qsl(url.query))
        forged = {**query, "target": "acme/web"}
        async with sb.session.get(sb.url + url.path, params=forged) as resp:
            assert resp.status == 403
        async with sb.session.get(sb.url + url.path, params={**query, "sig": "0" * 32}) as resp:
            assert resp.status == 403


async def test_a_user_without_grants_is_told_how_to_get_one(sb: Sandbox) -> None:
    view = await sb.open_home("U0CAROL")
    assert "You may not see any target yet" in texts(view) and "whoami" in texts(view)
    assert not [b for b in view["blocks"] if b["type"] == "image"]


async def test_buttons_refresh_and_focus_the_home_tab(sb: Sandbox) -> None:
    await sb.open_home("U0ALICE")
    for action_id, value in ((HOME_FOCUS, "acme/api"), (HOME_REFRESH, "")):
        payload = {
            "type": "block_actions",
            "team": {"id": sb.slack.team_id, "domain": "sandbox"},
            "user": {"id": "U0ALICE", "username": "alice", "team_id": sb.slack.team_id},
            "api_app_id": "A0RUNNEROPS",
            "container": {"type": "view", "view_id": "V0HOME"},
            "trigger_id": uuid.uuid4().hex,
            "view": {"id": "V0HOME", "type": "home"},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "type": "button",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = ("payload=" + quote(json.dumps(payload))).encode()
        sent = await sb.post_slack(body, sb.signed_headers(body))
        assert sent.status == 200
        view = (await sb.slack.next_publish())["view"]
        if action_id == HOME_FOCUS:
            assert "acme/api: the last 7 days" in texts(view)
        else:
            assert "acme: the last 7 days" in texts(view)  # the first target again


async def test_stats_shows_the_charts_too(sb: Sandbox) -> None:
    reply = await sb.run("stats acme")
    images = [b for b in reply["blocks"] if b["type"] == "image"]
    assert [urlsplit(b["image_url"]).path for b in images] == [
        "/charts/queue.png",
        "/charts/fleet.png",
    ]
    host = urlsplit(sb.url).netloc
    assert all(urlsplit(b["image_url"]).netloc == host for b in images)  # where Slack came


def test_resolved_alerts_say_what_they_were() -> None:
    """The store keeps a resolved alert without members (bot.store.alerts.resolve): the
    count is the one its message showed last, not 0."""
    from datetime import UTC, datetime, timedelta

    from bot.slack.home import home_view
    from bot.watch.alerts import Alert, AlertKind

    now = datetime(2027, 1, 15, 12, tzinfo=UTC)
    offline = Alert("offline|acme|x", AlertKind.OFFLINE, "acme", "C1", now, shown_count=2)
    stuck = Alert(
        "stuck|acme|all_busy|gpu",
        AlertKind.STUCK,
        "acme",
        "C1",
        now,
        reason="all_busy",
        labels=("gpu", "self-hosted"),
        shown_count=1,
    )
    view = home_view([], now=now, resolved=[(offline, now), (stuck, now - timedelta(hours=1))])
    shown = texts(view)
    assert "acme: 2 runners offline, resolved 0s ago" in shown
    assert "acme: 1 job waiting for `gpu, self-hosted`: runners busy, resolved 1h ago" in shown
    assert " 0 runners" not in shown and " 0 jobs" not in shown
