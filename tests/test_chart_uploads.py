"""Charts without an inbound fetch: in Socket Mode (no public address) the PNGs are
uploaded to Slack once each and shown by ``slack_file``; with a public address the signed
links stay. Either way every chart says its figures in text."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk.errors import SlackApiError

from bot.sandbox.harness import Sandbox
from tests.conftest import Clock

PNG = b"\x89PNG\r\n\x1a\n"
UPLOAD = "files.getUploadURLExternal"


async def _seeded(sandbox: Sandbox) -> Sandbox:
    assert "Watching" in json.dumps(await sandbox.run("watch acme"))
    job = sandbox.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    payload = sandbox.github.workflow_job_payload(job["id"], "queued")
    assert (await sandbox.deliver("workflow_job", payload))[0] == 200
    assert sandbox.sweeper is not None
    await sandbox.sweeper.run_once()  # lists the runners: a fleet sample to chart
    return sandbox


@pytest.fixture
async def socket_sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(socket_mode=True, clock=clock) as sandbox:
        yield await _seeded(sandbox)


@pytest.fixture
async def http_sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(clock=clock) as sandbox:
        yield await _seeded(sandbox)


def images(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "image"]


def native(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "data_visualization"]


def figures(blocks: list[dict[str, Any]]) -> list[str]:
    """The text of the context blocks that give a chart's figures."""
    found = []
    for block in blocks:
        if block["type"] == "context":
            text = " ".join(e.get("text", "") for e in block["elements"])
            if text.startswith(("Queue time", "Runners")):
                found.append(text)
    return found


def assert_figures(blocks: list[dict[str, Any]]) -> None:
    queue, fleet = figures(blocks)
    assert queue == "Queue time: no jobs in this period."  # queued, none started yet
    # The sweep's one sample: acme's runners busy/idle/offline (seed_basic's fleet).
    assert fleet.startswith("Runners busy/idle/offline at each day's last sample (UTC): ")
    day, counts = fleet.rsplit(": ", 1)[1].rsplit(" ", 1)
    busy, idle, offline = (int(n) for n in counts.split("/"))
    assert len(day.split()) == 2 and busy + idle + offline > 0


async def test_socket_mode_home_shows_uploaded_charts_once(socket_sb: Sandbox) -> None:
    sb = socket_sb
    view = await sb.open_home("U0ALICE")
    shown = images(view["blocks"])
    files = sb.slack.files.completed
    assert [b["slack_file"] for b in shown] == [{"id": i} for i in files]
    assert not any("image_url" in b for b in shown)  # nothing Slack must fetch
    assert sb.url not in json.dumps(view)  # no link to runnerops at all
    assert all(
        f.data and f.data.startswith(PNG) and len(f.data) == f.length for f in files.values()
    )
    assert all(f.channel is None for f in files.values())  # private to the app
    assert [f.title for f in files.values()] == [b["alt_text"] for b in shown]
    assert_figures(view["blocks"])

    # Opened again, the same charts: the same files, nothing uploaded.
    uploads = sb.slack.calls.count(UPLOAD)
    assert uploads == 2
    again = await sb.open_home("U0ALICE")
    assert images(again["blocks"]) == shown
    assert sb.slack.calls.count(UPLOAD) == uploads and not sb.slack.files.pending


async def test_new_figures_are_new_files(socket_sb: Sandbox, clock: Clock) -> None:
    sb = socket_sb
    first = images((await sb.open_home("U0ALICE"))["blocks"])
    clock.advance(86_400)  # a day on: another window, other charts
    later = images((await sb.open_home("U0ALICE"))["blocks"])
    assert sb.slack.calls.count(UPLOAD) == 4
    assert {b["slack_file"]["id"] for b in later}.isdisjoint(b["slack_file"]["id"] for b in first)


async def test_a_refused_upload_gives_the_figures_only(
    socket_sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb = socket_sb
    sb.slack.files.refuse = "missing_scope"  # an app installed without files:write
    caplog.set_level(logging.WARNING, logger="bot.slack.chart_files")
    for _ in range(2):
        view = await sb.open_home("U0ALICE")
        assert not images(view["blocks"])  # never a broken image block
        assert_figures(view["blocks"])
    warned = [r for r in caplog.records if r.name == "bot.slack.chart_files"]
    assert len(warned) == 1 and "missing_scope" in warned[0].getMessage()
    assert not sb.slack.files.completed

    sb.slack.files.refuse = None  # the scope granted: the charts come back
    assert len(images((await sb.open_home("U0ALICE"))["blocks"])) == 2


async def test_socket_mode_stats_draws_slacks_own_charts(socket_sb: Sandbox) -> None:
    """A message takes Slack's chart block: nothing uploaded, nothing fetched."""
    reply = await socket_sb.run("stats acme")
    assert not images(reply["blocks"])
    # No job started yet: no queue chart; the sweep's sample: the fleet chart.
    assert [b["title"] for b in native(reply["blocks"])] == ["Runners · acme (7 days)"]
    assert not [c for c in socket_sb.slack.calls if c.startswith("files.")]
    assert_figures(reply["blocks"])


async def test_with_a_public_address_the_signed_links_stay(http_sb: Sandbox) -> None:
    sb = http_sb
    host = urlsplit(sb.url).netloc
    view = await sb.open_home("U0ALICE")
    assert [urlsplit(b["image_url"]).netloc for b in images(view["blocks"])] == [host, host]
    assert_figures(view["blocks"])
    reply = await sb.run("stats acme")  # a message: Slack's own chart, no link
    assert not images(reply["blocks"]) and len(native(reply["blocks"])) == 1
    assert_figures(reply["blocks"])
    assert not [c for c in sb.slack.calls if c.startswith("files.")]


async def test_the_double_answers_files_as_slack_does(socket_sb: Sandbox) -> None:
    slack = socket_sb.services.slack

    async def error(call: Any) -> str:
        with pytest.raises(SlackApiError) as refused:
            await call
        return str(refused.value.response["error"])

    assert await error(slack.files_completeUploadExternal(files=[{"id": "F0NONE"}])) == (
        "file_not_found"
    )
    assert await error(slack.api_call("files.completeUploadExternal", params={})) == (
        "invalid_arguments"
    )
    assert await error(slack.api_call(UPLOAD, params={"length": 3})) == "invalid_arguments"
    got = await slack.files_getUploadURLExternal(filename="x.png", length=len(PNG))
    # Not uploaded yet: neither completed nor shown.
    assert await error(slack.files_completeUploadExternal(files=[{"id": got["file_id"]}])) == (
        "file_not_found"
    )
    block = {"type": "image", "slack_file": {"id": got["file_id"]}, "alt_text": "x"}
    view = {"type": "home", "blocks": [block]}
    assert await error(slack.views_publish(user_id="U0ALICE", view=view)) == "invalid_blocks"
    assert await error(slack.chat_postMessage(channel="C0OPS", text="x", blocks=[block])) == (
        "invalid_blocks"
    )
    reply = {"text": "x", "blocks": [block]}  # a response_url refuses it too
    async with socket_sb.session.post(socket_sb.slack.new_response_url(), json=reply) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_blocks"
    async with socket_sb.session.post(str(got["upload_url"]), data=PNG) as resp:
        assert resp.status == 200
    done = await slack.files_completeUploadExternal(files=[{"id": got["file_id"], "title": "x"}])
    assert done["files"][0]["id"] == got["file_id"]
    assert (await slack.views_publish(user_id="U0ALICE", view=view))["ok"]


async def test_one_chart_opened_twice_at_once_is_uploaded_once(socket_sb: Sandbox) -> None:
    files = socket_sb.services.chart_files
    png = PNG + b"a chart"
    ids = await asyncio.gather(*(files.file_id(png, "q.png", "Queue") for _ in range(3)))
    other = await files.file_id(PNG + b"another", "f.png", "Runners")
    assert ids[0] is not None and ids == [ids[0]] * 3 and other not in ids
    assert socket_sb.slack.calls.count(UPLOAD) == 2
    assert set(socket_sb.slack.files.completed) == {ids[0], other}


async def test_a_chart_that_cannot_be_drawn_leaves_its_figures(
    socket_sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack import charts

    def broken(*_: Any) -> bytes:
        raise RuntimeError("a font that is not there")

    monkeypatch.setattr(charts, "fleet_chart", broken)
    view = await socket_sb.open_home("U0ALICE")
    assert [b["alt_text"] for b in images(view["blocks"])] == ["Queue time of acme, 7 days"]
    assert_figures(view["blocks"])  # the runners' figures all the same
