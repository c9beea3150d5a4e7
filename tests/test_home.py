"""The Home tab: a signed app_home_opened event publishes the fleet at a glance."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from bot.sandbox.harness import Sandbox
from bot.slack.views.home import HOME_COMMANDS, HOME_FOCUS, HOME_GLOBAL_COMMANDS, HOME_REFRESH
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


def home_click(sb: Sandbox, user: str, action_id: str, value: str = "") -> bytes:
    """The signed-to-be body Slack sends for a button pressed in ``user``'s Home tab: a
    view container, no channel and no response_url."""
    payload = {
        "type": "block_actions",
        "team": {"id": sb.slack.team_id, "domain": "sandbox"},
        "user": {"id": user, "username": user.lower(), "team_id": sb.slack.team_id},
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
    return ("payload=" + quote(json.dumps(payload))).encode()


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def press(sb: Sandbox, user: str, action_id: str, value: str = "") -> None:
    body = home_click(sb, user, action_id, value)
    sent = await sb.post_slack(body, sb.signed_headers(body))
    assert sent.status == 200


async def test_buttons_refresh_and_focus_the_home_tab(sb: Sandbox) -> None:
    await sb.open_home("U0ALICE")
    for action_id, value in ((HOME_FOCUS, "acme/api"), (HOME_REFRESH, "")):
        await press(sb, "U0ALICE", action_id, value)
        view = (await sb.slack.next_publish())["view"]
        if action_id == HOME_FOCUS:
            assert "acme/api: the last 7 days" in texts(view)
        else:
            assert "acme: the last 7 days" in texts(view)  # the first target again


async def test_command_buttons_answer_the_clicker_by_dm(sb: Sandbox) -> None:
    """Each panel carries Queue, Stats and Runners for its target; a click runs that
    command for the clicker and the answer arrives as a DM (channel = the user id)."""
    view = await sb.open_home("U0ALICE")
    mine = {(b["action_id"], b.get("value", "")) for b in buttons(view)}
    for action_id in HOME_COMMANDS:
        assert (action_id, "acme") in mine and (action_id, "acme/api") in mine
    assert {a for a, _ in mine} >= set(HOME_GLOBAL_COMMANDS)
    requests = len(sb.slack.calls)
    await press(sb, "U0ALICE", "home_run_queue", "acme/api")
    dm = await sb.slack.next_post("U0ALICE")
    assert "chat.postMessage" in sb.slack.calls[requests:]
    shown = json.dumps(dm)
    assert "acme/api" in shown and "gpu" in shown  # the job queued in the fixture
    await press(sb, "U0ALICE", "home_run_stats", "acme")
    stats = await sb.slack.next_post("U0ALICE")
    assert [b["title"] for b in stats["blocks"] if b["type"] == "data_visualization"] == [
        "Runners · acme (7 days)"  # Slack's own chart; no job started yet: no queue chart
    ]
    await press(sb, "U0ALICE", "home_run_whoami")
    assert "*read, token, admin* on `*`" in (await sb.slack.next_post("U0ALICE"))["text"]


async def test_a_command_button_refuses_a_user_who_may_not_read(sb: Sandbox) -> None:
    """Bob reads acme, not acme/api: a Queue button for acme/api (a stale view, a crafted
    click) gets him a refusal by DM, not the queue; Carol, with no grant, the same."""
    await press(sb, "U0BOB", "home_run_queue", "acme/api")
    refused = await sb.slack.next_post("U0BOB")
    assert refused["text"].startswith(":no_entry_sign: You may not `queue` on *acme/api*")
    assert "gpu" not in json.dumps(refused)
    await press(sb, "U0CAROL", "home_run_list", "acme")
    refused_too = await sb.slack.next_post("U0CAROL")
    assert refused_too["text"].startswith(":no_entry_sign: You may not `list` on *acme*")
    assert len(refused_too["blocks"]) == 1  # the refusal only: no runner listed
    await press(sb, "U0BOB", "home_run_queue", "acme")  # what Bob may read, he gets:
    queue = json.dumps(await sb.slack.next_post("U0BOB"), ensure_ascii=False)
    # the queue of acme, whose only job is in acme/api, which "acme" alone does not grant
    # (issue 17): counted, not shown.
    assert "No job you may read in *acme* is queued now." in queue
    assert "…and 1 job in repositories you may not read." in queue and "acme/api" not in queue


async def test_stats_shows_the_charts_too(sb: Sandbox) -> None:
    """In a message the charts are Slack's own blocks, each with its figures in text."""
    reply = await sb.run("stats acme")
    assert not [b for b in reply["blocks"] if b["type"] == "image"]
    [fleet] = [b for b in reply["blocks"] if b["type"] == "data_visualization"]
    assert fleet["chart"]["type"] == "line"
    assert [s["name"] for s in fleet["chart"]["series"]] == ["busy", "idle", "offline"]
    texts = json.dumps(reply["blocks"])
    assert "Queue time: no jobs in this period." in texts and "Runners busy/idle/offline" in texts


def test_resolved_alerts_say_what_they_were() -> None:
    """The store keeps a resolved alert without members (bot.store.alerts.resolve): the
    count is the one its message showed last, not 0."""
    from datetime import UTC, datetime, timedelta

    from bot.slack.views.home import home_view
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


def test_a_command_button_runs_only_its_own_verb_on_one_target() -> None:
    from bot.slack.views.home import command_text

    assert command_text("home_run_stats", "acme/api") == "stats acme/api"
    assert command_text("home_run_help", "ignored") == "help"
    assert command_text("home_run_queue", "acme token acme") is None  # no second word
    assert command_text("home_run_queue", "") is None
    assert command_text("home_run_delete", "acme") is None  # not a Home command


async def test_sixty_watched_targets_fit_in_100_blocks_and_the_rest_are_counted(
    make_sandbox: Callable[..., Any], clock: Clock
) -> None:
    """Slack refuses a Home view of more than 100 blocks (the double does too): with 60
    readable targets watched, the view publishes, shows what fits, and says how many more."""
    async with make_sandbox(clock=clock, policy=POLICY) as sandbox:
        targets = [f"acme/svc-{n:02d}" for n in range(60)]
        for n, target in enumerate(targets):
            sandbox.github.add_repo("acme", target.split("/")[1])
            reply = await sandbox.run(f"watch {target}", channel_id=f"C0TEAM{n % 6}")
            assert "Watching" in json.dumps(reply)
        view = await sandbox.open_home("U0ALICE")
    assert len(view["blocks"]) <= 100
    panels = [
        b
        for b in view["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*acme/svc-")
    ]
    assert 10 <= len(panels) < 60  # as many as fit, not none
    more = re.search(r"… and (\d+) more targets", json.dumps(view, ensure_ascii=False))
    assert more is not None and int(more.group(1)) == 60 - len(panels)


async def test_the_queued_list_shows_the_oldest_and_counts_the_rest(
    sb: Sandbox, clock: Clock
) -> None:
    """The database counts the queued self-hosted jobs; only the oldest ten are read."""
    for i in range(13):
        clock.advance(1)
        job = sb.github.add_job("acme", "web", labels=["self-hosted", "arm"], name=f"arm-{i:02}")
        payload = sb.github.workflow_job_payload(job["id"], "queued")
        assert (await sb.deliver("workflow_job", payload))[0] == 200
    hosted = sb.github.add_job("acme", "web", labels=["ubuntu-latest"], name="hosted")
    assert (await sb.deliver("workflow_job", sb.github.workflow_job_payload(hosted["id"])))[
        0
    ] == 200
    shown = texts(await sb.open_home("U0ALICE"))
    assert [i for i in range(13) if f"arm-{i:02}" in shown] == list(range(9))  # the fixture's first
    assert "and 4 more: `/runners queue acme`" in shown  # 14 self-hosted, the hosted not counted
    assert "hosted" not in shown.replace("self-hosted", "")
