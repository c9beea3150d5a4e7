"""Metrics for Prometheus, readiness, and JSON logs that follow a command."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.observe.metrics import MAX_VALUES, Bounded, label_set
from bot.sandbox.harness import Keys, Sandbox, slack_signature
from tests.postgres import running_server
from tests.test_procfile import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    _post,
    procfile_web,
    slack_double,
)

TOKEN = "metrics-token-0123456789"


async def scrape(sb: Sandbox, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with sb.session.get(sb.url + "/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


async def lead(sb: Sandbox) -> None:
    """A sweep round: this process takes the sweep lease (no watch, nothing else done)."""
    assert sb.sweeper is not None
    await sb.sweeper.run_once()
    assert sb.sweeper.leader.held


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (whatever their other labels)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= set(ls))


def label_values(found: dict[Any, float], name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls), _v in found.items() if n == name and label in dict(ls)}


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
    requests = "runnerops_github_requests_total"
    assert total(found, requests, method="GET", status="200") >= 1
    assert total(found, requests, method="POST", status="201") >= 1
    # Per installation: the app's own JWT calls (finding the installation, minting its
    # token) apart from those made with acme's installation token.
    installations = label_values(found, requests, "installation")
    assert "app" in installations and any(i.isdigit() for i in installations)
    installation = next(i for i in installations if i.isdigit())
    assert total(found, requests, method="POST", installation=installation) >= 1
    rate = [v for (name, labels), v in found.items() if name.endswith("rate_limit_remaining")]
    assert rate and all(0 < v <= 5000 for v in rate)
    deliveries = "runnerops_webhook_deliveries_total"
    assert value(found, deliveries, event="installation", outcome="accepted") == 1
    assert value(found, deliveries, event="installation", outcome="duplicate") == 1
    assert value(found, deliveries, event="(unsigned)", outcome="401") == 1


async def test_label_sets_past_the_bound_are_counted_as_other(
    make_sandbox: Callable[..., Any],
) -> None:
    async with make_sandbox(metrics_token=TOKEN) as sb:
        # 105 jobs queued, each with a label set of its own: more than MAX_VALUES (100).
        for i in range(MAX_VALUES + 5):
            job = sb.github.add_job("acme", "api", labels=["self-hosted", f"pool-{i:03d}"])
            payload = sb.github.workflow_job_payload(job["id"], "queued")
            assert (await sb.deliver("workflow_job", payload))[0] == 200
        await lead(sb)  # the store-backed gauges are the sweep lease holder's
        status, text = await scrape(sb)
    assert status == 200
    found = samples(text)
    queued = label_values(found, "runnerops_jobs_queued", "labels")
    assert len(queued) == MAX_VALUES + 1  # the first hundred label sets, and "other"
    assert value(found, "runnerops_jobs_queued", labels="other") == 5
    assert value(found, "runnerops_jobs_queued", labels="pool-000,self-hosted") == 1


async def test_open_alerts_by_kind_and_reason_after_a_sweep(
    make_sandbox: Callable[..., Any],
) -> None:
    from tests.conftest import Clock
    from tests.test_watch_sweep import MINUTE, alerts, queued, sweep, watch

    clock = Clock()
    async with make_sandbox(metrics_token=TOKEN, clock=clock) as sb:
        await watch(sb)  # acme, alerts in CHANNEL
        await queued(sb, ["self-hosted", "arm64-gpu"])  # no runner has these labels
        await sweep(sb)
        before = samples((await scrape(sb))[1])
        clock.advance(6 * MINUTE)
        assert (await sweep(sb)).posted == 1
        assert len(alerts(sb)) == 1
        after = samples((await scrape(sb))[1])
    open_alerts = "runnerops_alerts_open"
    assert total(before, open_alerts) == 0  # not stuck yet: nothing open
    assert value(after, open_alerts, kind="stuck", reason="no_matching_labels") == 1
    assert total(after, open_alerts) == 1


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
                body = await resp.json()
                assert body["status"] == "ready"
                assert body["checks"] == {"database": "ok", "sweep": "ok"}
            server.stop()
            async with sb.session.get(sb.url + "/readyz") as resp:
                body = await resp.json()
            assert resp.status == 503 and body["status"] == "unready"
            assert body["checks"]["database"].startswith("unreachable")
            async with sb.session.get(sb.url + "/healthz") as resp:
                assert resp.status == 200  # healthz stays cheap: the process is alive


def _command(url: str, text: str, response_url: str, trigger: str, *, query: str = "") -> None:
    """A signed ``/runners TEXT`` from alice, posted to the process at ``url``."""
    command = urllib.parse.urlencode(
        {
            "command": "/runners",
            "text": text,
            "user_id": "U0ALICE",
            "channel_id": "C0OPS",
            "response_url": response_url,
            "trigger_id": trigger,
        }
    ).encode()
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": slack_signature(SIGNING_SECRET, ts, command),
    }
    target = f"{url}/slack/events" + (f"?{query}" if query else "")
    assert _post(target, command, headers)[0] == 200


def _await_replies(slack: Any, n: int) -> None:
    """Wait (a real process answers on its own time, 30 s at most) for exactly ``n``."""
    deadline = time.monotonic() + 30
    while len(slack.all_replies) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(slack.all_replies) == n, "the commands were not answered"


def _json_lines(seen: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The process's log lines, and each parsed: every line must be one JSON object."""
    lines = [line for chunk in seen for line in chunk.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines)
    return lines, records


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
            _command(url, "list acme", slack.new_response_url(), trigger)
        _await_replies(slack, 2)
    _lines, records = _json_lines(seen)
    posts = [r for r in records if "POST /slack/events" in r["message"]]
    failures = [r for r in records if "command failed" in r["message"]]
    assert len(posts) == 2 and len(failures) == 2
    assert {r["request_id"] for r in posts} == {r["request_id"] for r in failures}
    assert posts[0]["request_id"] != posts[1]["request_id"]
    assert {"time", "level", "logger", "message"} <= set(failures[0])


def test_json_logs_never_carry_a_configured_secret(keys: Keys, tmp_path: Path) -> None:
    """Two ways a secret reaches a log line from outside: uvicorn's access log writes the
    query string, and a refused response_url's host is logged. Both are redacted before
    the JSON formatter sees them."""
    secrets = [WEBHOOK_SECRET, SIGNING_SECRET, "xoxb-test", TOKEN]
    with (
        slack_double() as slack,
        procfile_web(
            keys,
            tmp_path,
            LOG_FORMAT="json",
            METRICS_TOKEN=TOKEN,
            GITHUB_API_URL="http://127.0.0.1:9",
            SLACK_API_URL=slack.base_url + "/api/",
            SLACK_RESPONSE_URL_PREFIXES=slack.base_url + "/response/",
        ) as (url, seen),
    ):
        query = urllib.parse.urlencode({f"s{i}": s for i, s in enumerate(secrets)})
        with urllib.request.urlopen(f"{url}/healthz?{query}", timeout=10) as resp:
            assert resp.status == 200
        # The first command's reply would go to a host named by a secret: refused, logged.
        # The second is answered; once its reply is in, the first has been dealt with.
        replies_to = [f"https://{WEBHOOK_SECRET}.example.test/commands/1"]
        replies_to.append(slack.new_response_url())
        for i, response_url in enumerate(replies_to):
            _command(url, "help", response_url, f"t-secret-{i}", query=query)
        _await_replies(slack, 1)
    lines, records = _json_lines(seen)
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text
    for line in keys.private_pem.splitlines():
        if len(line) >= 8 and "-----" not in line:
            assert line not in text
    # The secrets were there to leak, and were redacted where they would have been.
    access = [r for r in records if "GET /healthz" in r["message"]]
    assert len(access) == 1 and "[redacted]" in access[0]["message"]
    refused = [r for r in records if "response_url is not Slack's" in r["message"]]
    assert len(refused) == 1 and "[redacted].example.test" in refused[0]["message"]


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
        await lead(sb)
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


# -- metrics that add up over several processes ---------------------------------------


async def test_a_process_that_loses_the_sweep_lease_serves_no_store_gauge_and_says_so(
    make_sandbox: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The leader serves the store-backed gauges and the sweep's freshness; once another
    process takes the lease, this one serves neither (its last values would be counted
    twice, or go stale), and it logs taking and losing the lease once each."""
    from datetime import timedelta

    from bot.store.leases import Leader
    from tests.conftest import Clock
    from tests.test_watch_sweep import MINUTE, queued, watch

    clock = Clock()
    async with make_sandbox(metrics_token=TOKEN, clock=clock) as sb:
        assert sb.sweeper is not None
        holder = sb.sweeper.leader.holder
        swept_at = clock()
        await watch(sb)
        await queued(sb, ["self-hosted", "gpu"])
        before = samples((await scrape(sb))[1])  # nobody has swept: nobody leads
        with caplog.at_level(logging.INFO, logger="bot.store.leases"):
            await sb.sweeper.run_once()
            await sb.sweeper.run_once()  # renewed: no second line
            leading = samples((await scrape(sb))[1])
            other = Leader(
                sb.services.store.db, "sweep", "other", ttl=timedelta(minutes=1), clock=clock
            )
            clock.advance(5 * MINUTE)  # this process's lease ran out (it stopped sweeping)
            assert await other.acquire()
            assert not (await sb.sweeper.run_once()).leader
            following = samples((await scrape(sb))[1])
    said = [r.getMessage() for r in caplog.records if r.name == "bot.store.leases"]
    assert said == [
        f"sweep lease taken by {holder}",
        "sweep lease taken by other",  # the other process's own line
        f"sweep lease lost by {holder}",
    ]
    freshness = "runnerops_sweep_last_success_timestamp_seconds"
    for found in (before, following):
        assert not label_values(found, freshness, "target")
        for name in ("runnerops_jobs_queued", "runnerops_runners", "runnerops_alerts_open"):
            assert not [n for (n, _ls) in found if n == name], name
    assert value(leading, freshness, target="acme") == swept_at
    assert value(leading, "runnerops_jobs_queued", labels="gpu,self-hosted") == 1
    # The per-process series stay whoever leads.
    assert value(following, "runnerops_slack_acks_total", status="200") == 1


async def test_build_info_and_the_process_and_python_collectors(
    make_sandbox: Callable[..., Any],
) -> None:
    from importlib.metadata import version

    async with make_sandbox(metrics_token=TOKEN) as sb:
        found = samples((await scrape(sb))[1])
    info = [dict(ls) for (n, ls), v in found.items() if n == "runnerops_build_info" and v == 1]
    assert len(info) == 1 and info[0]["version"] == version("runnerops")
    assert info[0]["revision"]
    assert value(found, "process_resident_memory_bytes") > 0
    assert value(found, "process_open_fds") > 0
    assert total(found, "python_info") == 1
    assert total(found, "python_gc_collections_total") > 0


def test_the_revision_comes_from_the_platform() -> None:
    from bot.observe.metrics import revision

    assert revision({"SOURCE_VERSION": "abc123"}) == "abc123"  # Heroku
    assert revision({"RENDER_GIT_COMMIT": "def456"}) == "def456"  # Render
    assert revision({"PATH": "/bin"}) == "unknown"


def _scrape_url(url: str) -> dict[Any, float]:
    request = urllib.request.Request(url + "/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return samples(r.read().decode())


def test_two_processes_on_one_database_only_the_lease_holder_serves_store_gauges(
    keys: Keys, tmp_path: Path
) -> None:
    """Two `uvicorn app:app` processes (as two dynos) on one database, each sweeping: the
    store-backed gauges come from one of them alone, so their sum over processes is the
    truth; each serves its build and process metrics."""
    from bot.sandbox.github_double import GitHubDouble

    github = GitHubDouble(app_id="1", public_key_pem=keys.public_pem)
    github.add_org("acme")
    github.add_repo("acme", "api")
    job = github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    body = json.dumps(github.workflow_job_payload(job["id"], "queued")).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    # A period of 3 s: the lease lasts 4.5 s, so a busy machine does not hand it over mid-test.
    env = {"METRICS_TOKEN": TOKEN, "RUNNEROPS_SWEEP_SECONDS": "3", "SOURCE_VERSION": "0123abc"}
    with (
        procfile_web(keys, tmp_path, **env) as (one, _),
        procfile_web(keys, tmp_path, **env) as (two, _),
    ):
        headers = {
            "content-type": "application/json",
            "x-github-event": "workflow_job",
            "x-github-delivery": "two-processes-1",
            "x-hub-signature-256": "sha256=" + digest,
        }
        assert _post(f"{two}/github/webhooks", body, headers)[0] == 200
        deadline = time.monotonic() + 60  # until a first sweep round has taken the lease
        while time.monotonic() < deadline:
            found = {url: _scrape_url(url) for url in (one, two)}
            queued = [total(f, "runnerops_jobs_queued") for f in found.values()]
            if any(queued):
                break
            time.sleep(0.2)  # real processes on their real sweep period: polled
        # Settled: scraped again, both answer the same way (the lease is renewed each round).
        found = {url: _scrape_url(url) for url in (one, two)}
    queued = [total(f, "runnerops_jobs_queued", labels="gpu,self-hosted") for f in found.values()]
    assert sorted(queued) == [0, 1]  # one process serves it; the sum is the one job
    serving = [f for f in found.values() if total(f, "runnerops_jobs_queued")]
    idle = [f for f in found.values() if not total(f, "runnerops_jobs_queued")]
    assert len(serving) == len(idle) == 1
    assert not [n for (n, _ls) in idle[0] if n.startswith("runnerops_jobs_queued")]
    for f in found.values():
        info = [dict(ls) for (n, ls), v in f.items() if n == "runnerops_build_info"]
        assert info and info[0]["revision"] == "0123abc"
        assert value(f, "process_resident_memory_bytes") > 0
