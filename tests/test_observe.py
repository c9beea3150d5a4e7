"""Metrics for Prometheus, readiness, and JSON logs that follow a command."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.observe.metrics import Bounded, label_set
from bot.sandbox.harness import Keys, Sandbox, slack_signature
from tests.postgres import running_server
from tests.test_procfile import SIGNING_SECRET, _post, procfile_web, slack_double

TOKEN = "metrics-token-0123456789"


async def scrape(sb: Sandbox, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with sb.session.get(sb.url + "/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_need_the_token_and_are_absent_without_one(
    make_sandbox: Callable[..., Any],
) -> None:
    async with make_sandbox() as sb:
        assert (await scrape(sb))[0] == 404  # no METRICS_TOKEN: no route
    async with make_sandbox(metrics_token=TOKEN) as sb:
        assert (await scrape(sb, token=None))[0] == 401
        assert (await scrape(sb, token="wrong"))[0] == 401
        status, text = await scrape(sb)
        assert status == 200 and "runnerops_slack_acks_total" in text
        assert TOKEN not in text


async def test_metrics_count_what_happened(make_sandbox: Callable[..., Any]) -> None:
    async with make_sandbox(metrics_token=TOKEN) as sb:
        await sb.run("list acme")
        await sb.run("token acme")
        payload = {"action": "new_permissions_accepted", "installation": {"id": 1}}
        await sb.deliver("installation", payload, delivery="m-1")
        await sb.deliver("installation", payload, delivery="m-1")
        await sb.deliver("installation", payload, delivery="m-2", secret="wrong")
        found = samples((await scrape(sb))[1])
    assert value(found, "runnerops_slack_acks_total", status="200") == 2
    assert value(found, "runnerops_slack_ack_seconds_count") == 2
    assert value(found, "runnerops_github_requests_total", method="GET", status="200") >= 1
    assert value(found, "runnerops_github_requests_total", method="POST", status="201") >= 1
    rate = [v for (name, labels), v in found.items() if name.endswith("rate_limit_remaining")]
    assert rate and all(0 < v <= 5000 for v in rate)
    deliveries = "runnerops_webhook_deliveries_total"
    assert value(found, deliveries, event="installation", outcome="accepted") == 1
    assert value(found, deliveries, event="installation", outcome="duplicate") == 1
    assert value(found, deliveries, event="(unsigned)", outcome="401") == 1


def test_label_values_are_bounded() -> None:
    bounded = Bounded(3)
    assert [bounded(v) for v in ("a", "b", "a", "c", "d", "b")] == [
        "a",
        "b",
        "a",
        "c",
        "other",
        "b",
    ]
    assert label_set(["Self-Hosted", "gpu", "GPU", "linux"]) == "gpu,linux,self-hosted"
    assert len(label_set(["x" * 500])) == 120


async def test_readyz_names_the_failing_dependency(make_sandbox: Callable[..., Any]) -> None:
    with running_server() as server:
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url) as sb:
            async with sb.session.get(sb.url + "/readyz") as resp:
                assert resp.status == 200
                assert await resp.json() == {"status": "ready", "checks": {"database": "ok"}}
            server.stop()
            async with sb.session.get(sb.url + "/readyz") as resp:
                body = await resp.json()
            assert resp.status == 503 and body["status"] == "unready"
            assert body["checks"]["database"].startswith("unreachable")
            async with sb.session.get(sb.url + "/healthz") as resp:
                assert resp.status == 200  # healthz stays cheap: the process is alive


def test_json_logs_carry_a_request_id_from_ack_to_reply(keys: Keys, tmp_path: Path) -> None:
    with (
        slack_double() as slack,
        procfile_web(
            keys,
            tmp_path,
            LOG_FORMAT="json",
            GITHUB_API_URL="http://127.0.0.1:9",  # refuses at once: each command logs why
            SLACK_API_URL=slack.base_url + "/api/",
            SLACK_RESPONSE_URL_PREFIXES=slack.base_url + "/response/",
        ) as (url, seen),
    ):
        for trigger in ("t-json-1", "t-json-2"):
            command = urllib.parse.urlencode(
                {
                    "command": "/runners",
                    "text": "list acme",
                    "user_id": "U0ALICE",
                    "channel_id": "C0OPS",
                    "response_url": slack.new_response_url(),
                    "trigger_id": trigger,
                }
            ).encode()
            ts = str(int(time.time()))
            headers = {
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": ts,
                "x-slack-signature": slack_signature(SIGNING_SECRET, ts, command),
            }
            assert _post(f"{url}/slack/events", command, headers)[0] == 200
        deadline = time.monotonic() + 30
        while len(slack.all_replies) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(slack.all_replies) == 2, "the commands were not answered"
    lines = [line for chunk in seen for line in chunk.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines)  # every line is one JSON object
    posts = [r for r in records if "POST /slack/events" in r["message"]]
    failures = [r for r in records if "command failed" in r["message"]]
    assert len(posts) == 2 and len(failures) == 2
    assert {r["request_id"] for r in posts} == {r["request_id"] for r in failures}
    assert posts[0]["request_id"] != posts[1]["request_id"]
    assert {"time", "level", "logger", "message"} <= set(failures[0])


async def test_metrics_from_the_watch_queue_times_queued_jobs_runners(
    make_sandbox: Callable[..., Any],
) -> None:
    from tests.conftest import Clock

    clock = Clock()
    async with make_sandbox(metrics_token=TOKEN, clock=clock) as sb:
        gh = sb.github
        gh.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
        started = gh.add_job("acme", "api", labels=["self-hosted", "GPU"])
        waiting = gh.add_job("acme", "api", labels=["self-hosted", "gpu"])
        hosted = gh.add_job("acme", "api", labels=["ubuntu-latest"])
        for job in (started, waiting, hosted):
            await sb.deliver("workflow_job", gh.workflow_job_payload(job["id"], "queued"))
        clock.advance(90)
        gh.set_job(started["id"], status="in_progress", runner="gpu-1")
        await sb.deliver("workflow_job", gh.workflow_job_payload(started["id"], "in_progress"))
        await sb.run("prune acme")  # records what the listing shows of acme's runners
        found = samples((await scrape(sb))[1])
    labels = {"labels": "gpu,self-hosted", "owner": "acme"}
    assert value(found, "runnerops_job_queue_seconds_count", **labels) == 1
    assert value(found, "runnerops_job_queue_seconds_sum", **labels) == 90
    assert value(found, "runnerops_jobs_queued", labels="gpu,self-hosted") == 1
    assert value(found, "runnerops_jobs_queued", labels="ubuntu-latest") == 0  # hosted
    # linux-idle online; linux-busy and gpu-1 (which took the job) busy; mac-offline
    assert value(found, "runnerops_runners", target="acme", status="online") == 1
    assert value(found, "runnerops_runners", target="acme", status="busy") == 2
    assert value(found, "runnerops_runners", target="acme", status="offline") == 1
