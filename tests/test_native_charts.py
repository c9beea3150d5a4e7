"""Slack's own chart block in ``stats`` messages (issue 19 §2): the charts are drawn by
Slack from a ``data_visualization`` block, within Slack's limits (the Slack double refuses
what Slack refuses); a workspace that does not take the block yet gets the reply again
without it, the figures in text. The Home tab keeps its images."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.sandbox.harness import Sandbox
from bot.sandbox.slack_charts import chart_errors
from bot.slack import charts
from bot.watch.models import Job
from tests.conftest import Clock
from tests.test_home import press

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=7), NOW)


def native(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "data_visualization"]


def accepted(block: dict[str, Any] | None) -> list[str]:
    return chart_errors([block], accepted=True, surface="message")


def test_queue_chart_is_p95_minutes_per_day_with_a_value_for_every_day() -> None:
    points = [
        charts.QueuePoint(date(2027, 3, 8), "gpu,self-hosted", 30.0, 300.0),
        charts.QueuePoint(date(2027, 3, 10), "gpu,self-hosted", 12.0, 90.0),
        charts.QueuePoint(date(2027, 3, 9), "linux,self-hosted", 5.0, 6.0),
    ]
    block = charts.queue_native(points, WINDOW, "Queue time · acme (7 days)")
    assert block is not None and accepted(block) == []
    chart = block["chart"]
    assert isinstance(chart, dict) and chart["type"] == "bar"
    days = chart["axis_config"]["categories"]
    assert days[0] == "Wed 03" and days[-1] == "Wed 10" and len(days) == 8  # 8 days touched
    by_name = {s["name"]: {d["label"]: d["value"] for d in s["data"]} for s in chart["series"]}
    assert by_name["gpu,self-hosted"]["Mon 08"] == 5.0  # 300 s
    assert by_name["gpu,self-hosted"]["Wed 10"] == 1.5
    assert by_name["gpu,self-hosted"]["Tue 09"] == 0  # no job that day: 0, as Slack needs one
    assert by_name["linux,self-hosted"]["Tue 09"] == 0.1
    assert charts.queue_native([], WINDOW, "Queue time") is None


def test_long_windows_labels_and_titles_are_cut_to_slacks_limits() -> None:
    window = (NOW - timedelta(days=40), NOW)
    hostile = "<!channel> " + "x" * 40
    points = [
        charts.QueuePoint(NOW.date() - timedelta(days=d), f"{hostile}{n}", 1.0, 60.0)
        for d in range(40)
        for n in range(3)
    ]
    block = charts.queue_native(points, window, "Q" * 80)
    assert block is not None and accepted(block) == []  # the double checks every limit
    chart = block["chart"]
    assert isinstance(chart, dict) and len(chart["axis_config"]["categories"]) == 20
    names = [s["name"] for s in chart["series"]]
    assert len(set(names)) == 3 and all(len(n) <= 20 for n in names)
    assert len(str(block["title"])) == 50


def test_fleet_chart_follows_the_figures_days() -> None:
    points = [
        charts.FleetPoint(NOW - timedelta(days=1, hours=2), online=5, busy=2, offline=1),
        charts.FleetPoint(NOW - timedelta(hours=1), online=6, busy=4, offline=0),
    ]
    block = charts.fleet_native(points, WINDOW, "Runners · acme (7 days)")
    assert block is not None and accepted(block) == []
    chart = block["chart"]
    assert isinstance(chart, dict)
    series = {s["name"]: [d["value"] for d in s["data"]] for s in chart["series"]}
    assert series == {"busy": [2.0, 4.0], "idle": [3.0, 2.0], "offline": [1.0, 0.0]}
    assert "Tue 09 2/3/1 · Wed 10 4/2/0" in charts.fleet_figures(points, WINDOW)
    assert charts.fleet_native([], WINDOW, "Runners") is None


def test_the_double_refuses_what_slack_refuses() -> None:
    good = charts.fleet_native(
        [charts.FleetPoint(NOW, online=1, busy=0, offline=0)], WINDOW, "Runners"
    )
    assert good is not None
    assert chart_errors([good, good, good], accepted=True, surface="message") == [
        "a message holds at most 2 data_visualization blocks"
    ]
    assert chart_errors([good], accepted=False, surface="message")  # not rolled out here
    assert chart_errors([good], accepted=True, surface="home")  # never sent to Home
    bad = json.loads(json.dumps(good))
    bad["chart"]["series"][0]["data"][0]["label"] = "Thu 11"
    assert any("follow the categories" in e for e in accepted(bad))
    bad = json.loads(json.dumps(good))
    bad["chart"]["series"][0]["data"][0]["value"] = float("nan")
    assert any("finite" in e for e in accepted(bad))
    assert any("title" in e for e in accepted({**good, "title": ""}))


# -- end to end ------------------------------------------------------------------------


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(clock=clock) as sandbox:
        now = datetime.fromtimestamp(clock(), UTC)
        created = now - timedelta(hours=3)
        await sandbox.services.store.jobs.record(
            Job(
                id=7001,
                labels=("self-hosted", "gpu"),
                status="completed",
                repository="acme/api",
                repository_public=False,
                created_at=created,
                started_at=created + timedelta(minutes=4),
                completed_at=created + timedelta(minutes=9),
                run_id=1,
                name="build",
                workflow_name="CI",
                runner_id=1,
                runner_name="linux-idle",
            ),
            conclusion="success",
        )
        yield sandbox


async def test_stats_draws_the_queue_with_slacks_own_chart(sb: Sandbox) -> None:
    reply = await sb.run("stats acme")
    [queue] = native(reply["blocks"])  # no fleet sample yet: the queue chart only
    assert queue["title"] == "Queue time · acme (7 days)"
    [series] = queue["chart"]["series"]
    assert series["name"] == "gpu,self-hosted"
    assert [d["value"] for d in series["data"]][-1] == 4.0  # waited 4 minutes today
    text = json.dumps(reply["blocks"])
    assert "Queue time p50/p95 per day (UTC)" in text  # and the figures, in text


async def test_a_workspace_without_the_chart_block_gets_the_figures(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sb.slack.native_charts = False
    caplog.set_level(logging.WARNING, logger="bot.slackapp.bolt")
    reply = await sb.run("stats acme")
    assert native(reply["blocks"]) == [] and reply["blocks"]
    assert "Queue time p50/p95 per day (UTC)" in json.dumps(reply["blocks"])
    assert any("response_url answered 400" in r.getMessage() for r in caplog.records)
    # A Home button's answer goes by DM: the same second try without the chart.
    await press(sb, "U0ALICE", "home_run_stats", "acme")
    dm = await sb.slack.next_post("U0ALICE")
    assert native(dm["blocks"]) == [] and "Queue time p50/p95" in json.dumps(dm["blocks"])
