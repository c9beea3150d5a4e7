"""The watch never falls silent: one bad job, alert or repository fails alone, ghosts are
closed, and a watch that cannot be swept says so in its channel (and when it recovers).

Signed workflow_job deliveries in, the GitHub double answering, the Slack double recording
messages as they read now; time moved by the test's clock, rounds run with ``run_once``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.slack.views import alerts as alert_render
from tests.conftest import Clock

CHANNEL = "C0ALERTS"
MINUTE = 60.0
TOKEN = "metrics-token-for-tests"
# Right-to-left override, a combining accent, NUL, BEL and a tab: every one of them can be
# in a name GitHub hands over (a runs-on label, a job or workflow name, a runner name).
ODD = "odd\u202etxt-e\u0301\x00\x07\t"


def seed(gh: GitHubDouble) -> None:
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_repo("acme", "web")
    gh.add_repo("acme", "old")
    gh.add_installation("acme")


@pytest.fixture
async def sb(keys: Keys, clock: Clock, database_url: str) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(
        keys=keys,
        seed=seed,
        policy=PLATFORM_POLICY,
        clock=clock,
        database_url=database_url,
        metrics_token=TOKEN,
    ) as s:
        yield s


async def watch(sb: Sandbox, text: str = "acme", channel: str = CHANNEL) -> None:
    reply = await sb.run(f"watch {text}", channel_id=channel)
    assert "Watching" in reply_text(reply), reply_text(reply)


async def queued(sb: Sandbox, labels: list[str], repo: str = "api", **kw: Any) -> int:
    job = sb.github.add_job("acme", repo, labels=labels, **kw)
    status, _ = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job["id"]))
    assert status == 200
    return int(job["id"])


async def sweep(sb: Sandbox) -> Any:
    assert sb.sweeper is not None
    return await sb.sweeper.run_once()


async def sweep_all(sb: Sandbox, clock: Clock) -> Any:
    """Rounds a second apart until the pacer (one message a second per channel) has sent
    everything: the rounds' counts summed."""
    total = await sweep(sb)
    while total.deferred:
        clock.advance(1)
        done = await sweep(sb)
        total.posted += done.posted
        total.failed += done.failed
        total.deferred = done.deferred
    return total


def alerts(sb: Sandbox, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in sb.slack.in_channel(channel) if "now watches" not in m["text"]]


async def metric(sb: Sandbox, name: str, **labels: str) -> float | None:
    async with sb.session.get(
        f"{sb.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 200
        text = await response.text()
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


# -- one job cannot stop every alert ------------------------------------------------------


async def test_unruly_labels_and_names_never_stop_alerts(sb: Sandbox, clock: Clock) -> None:
    """On both engines: 30 labels of 100 characters (over PostgreSQL's index entry),
    1,000 labels, and control, NUL, right-to-left and combining characters in labels, job,
    workflow and runner names. Each gets its alert, and so does the ordinary job beside."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    sb.github.add_runner("/orgs/acme", f"runner-{ODD}", labels=["odd"])
    await watch(sb)
    long_labels = ["self-hosted", *(f"{i:02d}" + "x" * 98 for i in range(30))]
    many_labels = ["self-hosted", *(f"label-{i}" for i in range(1000))]
    odd_labels = ["self-hosted", f"gpu-{ODD}"]
    ids = [
        await queued(sb, long_labels),
        await queued(sb, many_labels, repo="web"),
        await queued(sb, odd_labels, name=f"job {ODD}", workflow_name=f"CI {ODD}"),
        await queued(sb, ["self-hosted", "gpu"]),
    ]
    await sweep(sb)  # every runner seen online
    sb.github.set_runner("/orgs/acme", f"runner-{ODD}", status="offline")
    clock.advance(11 * MINUTE)
    done = await sweep_all(sb, clock)
    assert done.failed == 0 and done.skipped == []
    assert done.posted == 5  # four stuck-job alerts and the odd runner's offline alert
    texts = [reply_text(m) for m in alerts(sb)]
    assert len(texts) == 5
    assert sum("No runner has every label" in t for t in texts) == 3, texts
    assert sum("All 1 runner that could take it" in t for t in texts) == 1, texts
    assert sum("runner-odd" in t and "offline" in t for t in texts) == 1, texts
    assert all(len(m["text"]) <= 40_000 for m in alerts(sb))
    odd = await sb.services.store.jobs.get(ids[2])
    assert odd is not None and odd.job.name == f"job {ODD}".replace("\x00", "\ufffd")
    assert odd.job.workflow_name == f"CI {ODD}".replace("\x00", "\ufffd")
    many = await sb.services.store.jobs.get(ids[1])
    assert many is not None and len(many.job.labels) == 1001
    # The next round updates nothing and fails nothing: the keys found their rows again.
    clock.advance(MINUTE)
    again = await sweep(sb)
    assert (again.posted, again.failed) == (0, 0)


async def test_one_alert_that_fails_does_not_stop_the_others(
    sb: Sandbox, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Rendering one alert raises (a bug, a strange value): that alert alone waits, logged
    with its key and the error's own words and counted; the others go out."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    await watch(sb, "acme/web", channel="C0OTHER")
    await queued(sb, ["self-hosted", "gpu"])
    await queued(sb, ["self-hosted", "cursed"])
    await queued(sb, ["self-hosted", "gpu"], repo="web")
    real = alert_render.stuck_alert

    def stuck_alert(alert: Any, *args: Any, **kwargs: Any) -> Any:
        if "cursed" in alert.labels:
            raise ValueError("a value no renderer expected")
        return real(alert, *args, **kwargs)

    monkeypatch.setattr(alert_render, "stuck_alert", stuck_alert)
    clock.advance(6 * MINUTE)
    with caplog.at_level(logging.ERROR, logger="bot.sweep"):
        done = await sweep_all(sb, clock)
    assert done.posted == 2 and done.failed == 1
    assert len(alerts(sb)) == 1 and len(alerts(sb, "C0OTHER")) == 1
    [line] = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert "stuck|acme|" in line and "cursed" in line and "a value no renderer expected" in line
    assert await metric(sb, "runnerops_sweep_failures_total", target="acme", reason="alert") == 1
    monkeypatch.setattr(alert_render, "stuck_alert", real)
    clock.advance(MINUTE)
    assert (await sweep(sb)).posted == 1  # tried again next round, and it goes


# -- a removed repository, ghost jobs -----------------------------------------------------


async def test_a_removed_repository_leaves_the_watch_whole(sb: Sandbox, clock: Clock) -> None:
    """A job queued in a repository later deleted: its confirmation meets 404s (the job and
    the repository's installation lookup). That job is closed as gone; the organization's
    watch goes on with its other repositories and its runners."""
    sb.github.add_runner("/orgs/acme", "linux-1", labels=["linux"])
    await watch(sb)
    old = await queued(sb, ["self-hosted", "gpu"], repo="old")
    await sweep(sb)
    sb.github.remove_repo("acme", "old")
    clock.advance(6 * MINUTE)
    done = await sweep(sb)
    assert done.skipped == [] and done.gone == 1 and done.posted == 0
    record = await sb.services.store.jobs.get(old)
    assert record is not None and record.job.status == "gone"
    # Later rounds: no GET for the gone job, and what else happens is still alerted.
    before = sb.github.count("GET", r"/repos/acme/old/.*")
    await queued(sb, ["self-hosted", "gpu"])
    sb.github.set_runner("/orgs/acme", "linux-1", status="offline")
    for _ in range(3):
        clock.advance(6 * MINUTE)
        done = await sweep(sb)
        assert done.skipped == []
    assert sb.github.count("GET", r"/repos/acme/old/.*") == before
    texts = " ".join(reply_text(m) for m in alerts(sb))
    assert "linux-1" in texts and "offline" in texts
    assert "gpu" in texts and "No runner has every label" in texts
    assert "cannot fully watch" not in texts
    reply = reply_text(await sb.run("queue acme"))
    assert "not installed" not in reply and "acme/api" in reply and "acme/old" not in reply


async def test_ghost_jobs_are_closed_and_asked_about_once_per_after(
    sb: Sandbox, clock: Clock
) -> None:
    """Twenty jobs GitHub no longer knows and one real one: the first round asks about
    each once and closes the twenty; later rounds ask about the real one once per --after,
    not every round; the queued-jobs metric counts the real one alone."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    ghosts = [await queued(sb, ["self-hosted", "gpu"]) for _ in range(20)]
    real = await queued(sb, ["self-hosted", "gpu"])
    for job in ghosts:
        sb.github.forget_job(job)
    clock.advance(6 * MINUTE)
    done = await sweep(sb)
    assert done.gone == 20 and done.posted == 1 and done.stuck == 1
    job_gets = r"/repos/acme/api/actions/jobs/\d+"
    assert sb.github.count("GET", job_gets) == 21
    assert await metric(sb, "runnerops_jobs_queued", labels="gpu,self-hosted") == 1
    for _ in range(4):  # four rounds within the watch's --after (5m)
        clock.advance(MINUTE)
        assert (await sweep(sb)).stuck == 1
    assert sb.github.count("GET", job_gets) == 21
    clock.advance(MINUTE)
    await sweep(sb)
    assert sb.github.count("GET", job_gets) == 22
    assert sb.github.count("GET", rf"/repos/acme/api/actions/jobs/{real}") == 2


async def test_a_job_open_past_githubs_24_hours_is_asked_about_once_more(
    sb: Sandbox, clock: Clock
) -> None:
    """A watch with --after 20h: its stuck job, confirmed queued, then finished without a
    delivery reaching runnerops. Past 24 hours it is asked about once more and closed."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb, "acme --after 20h")
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(20 * 3600 + MINUTE)
    assert (await sweep(sb)).posted == 1
    sb.github.set_job(job, status="completed", conclusion="cancelled")  # never delivered
    clock.advance(3 * 3600)  # 23 h: within --after of the last confirmation
    assert (await sweep(sb)).stuck == 1
    clock.advance(3600 + MINUTE)  # past 24 h
    done = await sweep(sb)
    assert done.stuck == 0 and done.resolved == 1
    record = await sb.services.store.jobs.get(job)
    assert record is not None and record.job.status == "completed"


# -- the watcher is watched -----------------------------------------------------------------


async def test_a_watch_that_cannot_be_swept_says_so_once_then_recovers(
    sb: Sandbox, clock: Clock
) -> None:
    """GitHub answers 502 to the organization's runner listing. The first rounds say
    nothing in the channel (a hiccup is not news); after five minutes one message says
    what fails and since when, and stays one message; once sweeping works again the same
    message says so, with the alert the outage delayed."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    await sweep(sb)
    assert await metric(sb, "runnerops_sweep_last_success_timestamp_seconds", target="acme") == (
        int(clock())
    )
    sb.github.add_fault("GET", "/orgs/acme/actions/runners", status=502, times=None)
    await queued(sb, ["self-hosted", "gpu"])
    await queued(sb, ["self-hosted", "arm64"])
    for _ in range(4):
        clock.advance(MINUTE)
        assert (await sweep(sb)).skipped == ["acme"]
    assert alerts(sb) == []
    clock.advance(2 * MINUTE)
    await sweep(sb)
    [notice] = alerts(sb)
    text = reply_text(notice)
    assert "cannot fully watch *acme* since" in text and "GitHub" in text
    for _ in range(3):
        clock.advance(MINUTE)
        await sweep(sb)
    assert len(alerts(sb)) == 1 and len(sb.slack.posted) == 2  # the watch's, the notice
    failures = await metric(sb, "runnerops_sweep_failures_total", target="acme", reason="github")
    assert failures is not None and failures >= 8
    sb.github.clear_faults()
    clock.advance(MINUTE)
    done = await sweep_all(sb, clock)  # two alerts, paced a second apart
    assert done.posted == 2 and done.skipped == []
    messages = alerts(sb)
    assert len(messages) == 3
    [recovered] = [m for m in messages if m["ts"] == notice["ts"]]
    assert "watching *acme* again" in reply_text(recovered)
    assert "2 alerts were delayed by up to 9m" in reply_text(recovered)
    swept = await metric(sb, "runnerops_sweep_last_success_timestamp_seconds", target="acme")
    assert swept is not None and swept >= int(clock()) - 1
    # Unwatched: its health and its freshness go with it (no stale-watch alert for ever).
    assert list(await sb.services.store.health.all()) == [(CHANNEL, "acme")]
    reply = reply_text(await sb.run("unwatch acme", channel_id=CHANNEL))
    assert "no longer" in reply.lower() or "stops" in reply.lower(), reply
    assert await sb.services.store.health.all() == {}  # gone with the watch
    await sweep(sb)
    assert await metric(sb, "runnerops_sweep_last_success_timestamp_seconds", target="acme") is None


async def test_a_lost_database_is_said_in_the_channel_and_its_return(
    sb: Sandbox, clock: Clock
) -> None:
    """The database goes away under the process that sweeps: no round can run (not even
    the lease), yet after five minutes each watched channel is told, and the same message
    says when the database is back and the watch with it."""
    from sqlalchemy.ext.asyncio import create_async_engine

    await watch(sb)
    await sweep(sb)
    db = sb.services.store.db
    working = db.engine
    db.engine = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/runnerops.db")
    try:
        for _ in range(4):
            clock.advance(MINUTE)
            assert (await sweep(sb)).leader is False
        assert alerts(sb) == []
        clock.advance(2 * MINUTE)
        await sweep(sb)
        [notice] = alerts(sb)
        assert "cannot fully watch *acme* since" in reply_text(notice)
        assert "database did not answer" in reply_text(notice)
        failures = await metric(sb, "runnerops_sweep_failures_total", reason="database")
        assert failures == 5
    finally:
        await db.engine.dispose()
        db.engine = working
    clock.advance(MINUTE)
    assert (await sweep(sb)).leader is True
    [recovered] = alerts(sb)
    assert recovered["ts"] == notice["ts"]
    assert "watching *acme* again" in reply_text(recovered)


async def test_a_job_that_fails_alone_stays_in_its_alert(
    sb: Sandbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job of an open alert cannot be diagnosed this round: counted and logged, and the
    alert stays as it was (silence is never taken for "resolved" or "no longer waiting")."""
    from bot.sweep.fleetview import FleetView

    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    cursed = await queued(sb, ["self-hosted", "gpu"])
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [before] = alerts(sb)
    assert "2 jobs waiting" in before["text"]
    real = FleetView.diagnose

    async def diagnose(self: FleetView, job: Any, **kwargs: Any) -> Any:
        if job.id == cursed:
            raise KeyError("a field no one expected")
        return await real(self, job, **kwargs)

    monkeypatch.setattr(FleetView, "diagnose", diagnose)
    clock.advance(MINUTE)
    done = await sweep(sb)
    assert (done.failed, done.updated, done.resolved) == (1, 0, 0)
    assert alerts(sb) == [before]
    assert await metric(sb, "runnerops_sweep_failures_total", target="acme", reason="job") == 1


async def test_readyz_reports_the_sweep_and_fails_when_it_is_stale(
    keys: Keys, clock: Clock
) -> None:
    """/readyz says who holds the sweep's lease and how old the last successful round
    is; with watches and no watch swept for 10 minutes it answers 503."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, sweep_seconds=3600.0
    ) as sb:

        async def readyz() -> tuple[int, dict[str, Any]]:
            async with sb.session.get(sb.url + "/readyz") as resp:
                return resp.status, await resp.json()

        status, body = await readyz()
        assert status == 200 and body["sweep"]["watches"] == 0
        await watch(sb)
        status, body = await readyz()
        assert status == 200 and body["sweep"]["last_success_seconds_ago"] is None
        await sweep(sb)
        status, body = await readyz()
        assert status == 200 and body["checks"] == {"database": "ok", "sweep": "ok"}
        assert body["sweep"]["lease"].startswith("held by ")
        assert body["sweep"]["last_success_seconds_ago"] == 0
        sb.github.add_fault("GET", "/orgs/acme/actions/runners", status=502, times=None)
        for _ in range(11):
            clock.advance(MINUTE)
            await sweep(sb)
        status, body = await readyz()
        assert status == 503 and body["checks"]["sweep"] == "stale (no watch was swept for 11 min)"
        sb.github.clear_faults()
        await sweep(sb)
        assert (await readyz())[0] == 200
