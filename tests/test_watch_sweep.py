"""The sweep end to end: signed workflow_job deliveries in, the GitHub double answering
the confirmations and runner lists, the Slack double recording chat.postMessage and
chat.update; time moved by the test's clock, rounds run with ``run_once`` (no sleeping)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.fleet import generated_fleet
from bot.sandbox.github_double import GitHubDouble, RunnerSpec
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.services import Services
from bot.sweep.loop import Sweeper
from tests.conftest import Clock

CHANNEL = "C0ALERTS"
MINUTE = 60.0


def seed(gh: GitHubDouble) -> None:
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_repo("acme", "web")
    gh.add_installation("acme")


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def watch(sb: Sandbox, text: str = "acme") -> None:
    reply = await sb.run(f"watch {text}", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)


async def queued(sb: Sandbox, labels: list[str], repo: str = "api", **kw: Any) -> int:
    job = sb.github.add_job("acme", repo, labels=labels, **kw)
    status, _ = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job["id"]))
    assert status == 200
    return int(job["id"])


async def deliver(sb: Sandbox, job_id: int) -> None:
    status, _ = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job_id))
    assert status == 200


async def sweep(sb: Sandbox) -> Any:
    assert sb.sweeper is not None
    return await sb.sweeper.run_once()


def alerts(sb: Sandbox) -> list[dict[str, Any]]:
    """The channel's messages as they read now, the watch's confirmation left out."""
    return [m for m in sb.slack.in_channel(CHANNEL) if "now watches" not in m["text"]]


def text_of(message: dict[str, Any]) -> str:
    return reply_text(message)


async def stuck_alert(sb: Sandbox, clock: Clock, labels: list[str]) -> str:
    """Watch acme, queue one job, let 6 minutes pass: the one alert's text."""
    await watch(sb)
    await queued(sb, labels)
    await sweep(sb)
    assert alerts(sb) == []  # not stuck yet
    clock.advance(6 * MINUTE)
    done = await sweep(sb)
    assert done.posted == 1
    [message] = alerts(sb)
    return text_of(message)


# -- a test per reason -------------------------------------------------------------------


async def test_no_runner_has_the_labels(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "linux-1", labels=["docker"])
    text = await stuck_alert(sb, clock, ["self-hosted", "arm64-gpu"])
    assert "1 job waiting for" in text and "`arm64-gpu`" in text
    assert "No runner has every label" in text and "`runs-on`" in text


async def test_every_matching_runner_offline(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], status="offline")
    text = await stuck_alert(sb, clock, ["self-hosted", "gpu"])
    assert "Every runner that could take it is offline" in text and "*gpu-1*" in text
    assert "never seen online" in text


async def test_every_matching_runner_busy(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    group = sb.github.add_runner_group(
        "/orgs/acme", "web-only", visibility="selected", selected_repositories=["web"]
    )
    sb.github.add_runner("/orgs/acme", "gpu-9", labels=["gpu"], runner_group_id=group)
    text = await stuck_alert(sb, clock, ["self-hosted", "gpu"])
    assert "All 1 runner that could take it is busy" in text
    assert "*gpu-9* in group *web-only* may not take it (selected repositories)" in text


async def test_runner_group_not_allowed(sb: Sandbox, clock: Clock) -> None:
    group = sb.github.add_runner_group(
        "/orgs/acme", "secure", visibility="selected", selected_repositories=["web"]
    )
    sb.github.add_runner("/orgs/acme", "vault-1", labels=["secure"], runner_group_id=group)
    text = await stuck_alert(sb, clock, ["self-hosted", "secure"])
    assert "runner group" in text and "*secure*" in text and "selected repositories" in text
    assert "*vault-1*" in text


async def test_idle_runner_not_taking_the_job(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], version="2.300.0")
    sb.github.add_runner("/orgs/acme", "gpu-2", labels=["gpu"])  # the current release
    text = await stuck_alert(sb, clock, ["self-hosted", "gpu"])
    assert "Idle runners could take it but do not:" in text
    assert "*gpu-1* (version 2.300.0, outdated), *gpu-2*." in text
    assert (
        "The runner process may be unhealthy or out of date; GitHub stops sending jobs to"
        " runners not updated within 30 days of a release." in text
    )


async def test_waiting_for_approval_and_github_hosted_are_not_alerted(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    await queued(sb, ["self-hosted", "gpu"], status="waiting")
    await queued(sb, ["ubuntu-latest"])
    clock.advance(30 * MINUTE)
    done = await sweep(sb)
    assert done.stuck == 0 and alerts(sb) == []


# -- grouping, updates, resolution -------------------------------------------------------


async def test_many_jobs_one_message_then_updates_in_place(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    for _ in range(12):
        await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    [message] = alerts(sb)
    assert "*12 jobs waiting for `gpu`* in *acme*" in text_of(message)
    # Each job says when it was queued, not how long ago: the message is updated only
    # when its jobs change, and an age would go stale in between.
    assert text_of(message).count("· queued since <!date^") == 10  # the first ten shown
    assert len(sb.slack.posted) == 2  # the confirmation, then the one alert
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    done = await sweep(sb)
    assert done.updated == 1 and done.posted == 0
    [message] = alerts(sb)
    assert "*13 jobs waiting for `gpu`* in *acme*" in text_of(message)
    assert sb.slack.updated[-1]["ts"] == message["ts"]
    assert len(sb.slack.posted) == 2
    clock.advance(MINUTE)
    assert (await sweep(sb)).updated == 0  # nothing changed: nothing sent
    first = (await sb.services.store.jobs.open_jobs("acme"))[0].job
    sb.github.set_job(first.id, status="completed", conclusion="cancelled")
    assert first.id is not None
    await deliver(sb, first.id)
    clock.advance(MINUTE)
    assert (await sweep(sb)).updated == 1
    [message] = alerts(sb)
    assert "*12 jobs waiting for `gpu`*" in text_of(message)
    assert "Since the last update" in text_of(message)
    assert "cancelled after 13m without starting" in text_of(message)


async def test_resolved_in_place_when_the_job_starts(
    sb: Sandbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.sweep")
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    [posted] = alerts(sb)
    clock.advance(72)  # 7m 12s after it was queued
    sb.github.set_runner("/orgs/acme", "gpu-1", busy=False)
    sb.github.set_job(job, status="in_progress", runner="gpu-1")
    await deliver(sb, job)
    done = await sweep(sb)
    assert done.resolved == 1
    [message] = alerts(sb)
    assert message["ts"] == posted["ts"]
    assert "Resolved" in text_of(message)
    assert "picked up by *gpu-1* after 7m 12s" in text_of(message)
    assert await sb.services.store.alerts.open_alerts() == []
    # The reason's machine name in the log and the audit, for the post and the resolution.
    key = "stuck|acme|all_busy|gpu,self-hosted"
    for outcome in ("posted", "resolved"):
        line = f"alert {outcome}: reason=all_busy key={key} channel={CHANNEL} jobs=1"
        assert line in caplog.text
    entries = await sb.services.store.audit.recent(target="acme")
    told = [(e.user_id, e.outcome, e.detail) for e in entries if e.action == "alert"]
    assert told == [
        ("runnerops", "resolved", f"all_busy (1 jobs; {key})"),
        ("runnerops", "posted", f"all_busy (1 jobs; {key})"),
    ]


async def test_resolved_in_place_when_the_job_is_cancelled(sb: Sandbox, clock: Clock) -> None:
    await watch(sb)
    job = await queued(sb, ["self-hosted", "nowhere"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    clock.advance(MINUTE)
    sb.github.set_job(job, status="completed", conclusion="cancelled")
    await deliver(sb, job)
    assert (await sweep(sb)).resolved == 1
    [message] = alerts(sb)
    assert "cancelled after 7m without starting" in text_of(message)


async def test_a_missed_in_progress_is_caught_by_the_confirmation(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    await watch(sb)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(3 * MINUTE)
    sb.github.set_job(job, status="in_progress", runner="gpu-1")  # its delivery is lost
    clock.advance(3 * MINUTE)
    done = await sweep(sb)
    assert done.stuck == 0 and alerts(sb) == []
    assert sb.github.count("GET", f"/repos/acme/api/actions/jobs/{job}") == 1
    stored = await sb.services.store.jobs.get(job)
    assert stored is not None and stored.job.status == "in_progress"
    assert stored.job.runner_name == "gpu-1"


# -- offline runners ---------------------------------------------------------------------


async def test_offline_runner_alert_and_its_recovery(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "linux-1", labels=["docker"])
    sb.github.add_runner("/orgs/acme", "never-started", status="offline")
    await watch(sb)
    await sweep(sb)  # linux-1 seen online now
    sb.github.set_runner("/orgs/acme", "linux-1", status="offline")
    clock.advance(5 * MINUTE)
    await sweep(sb)
    assert alerts(sb) == []  # not past --offline-after 10m yet
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [posted] = alerts(sb)
    assert "1 runner of acme offline" in text_of(posted) and "*linux-1*" in text_of(posted)
    assert "never-started" not in text_of(posted)  # never online: not an outage
    clock.advance(12 * MINUTE)
    sb.github.set_runner("/orgs/acme", "linux-1", status="online")
    assert (await sweep(sb)).resolved == 1
    [message] = alerts(sb)
    assert message["ts"] == posted["ts"]
    assert "Resolved" in text_of(message) and "*linux-1* back after 23m" in text_of(message)


async def test_a_missing_permission_is_said_once_in_the_channel(sb: Sandbox, clock: Clock) -> None:
    """Said once it has lasted five minutes (issue 16: a watch that cannot be swept for
    longer than three periods or 5 minutes is said in its channel once)."""
    await watch(sb)
    sb.github.set_permissions("acme", {"metadata": "read", "actions": "read"})
    sb.github.expire_installation_tokens()
    clock.advance(MINUTE)
    done = await sweep(sb)
    assert done.skipped == ["acme"]
    assert alerts(sb) == []
    clock.advance(5 * MINUTE)
    await sweep(sb)
    [message] = alerts(sb)
    assert "cannot fully watch *acme*" in text_of(message)
    assert "Self-hosted runners" in text_of(message)
    clock.advance(MINUTE)
    await sweep(sb)
    assert len(alerts(sb)) == 1


# -- an incomplete listing ----------------------------------------------------------------


async def test_a_failed_page_never_yields_a_confident_reason(sb: Sandbox, clock: Clock) -> None:
    """The only runner with ``gpu`` is on the organization's second page, which fails: the
    sweep raises no "no runner has these labels" alert from the first page alone, and
    ``why`` says the listing was incomplete. Once the page answers, the truth is found."""
    fleet = [RunnerSpec(f"cpu-{i:03d}", labels=("linux",)) for i in range(120)]
    sb.github.add_runners("/orgs/acme", [*fleet, RunnerSpec("gpu-1", busy=True, labels=("gpu",))])
    await watch(sb)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    sb.github.add_fault(
        "GET", "/orgs/acme/actions/runners", status=502, query={"page": "2"}, times=None
    )
    done = await sweep(sb)
    assert done.skipped == ["acme"] and done.posted == 0 and alerts(sb) == []
    answer = reply_text(await sb.run(f"why acme/api {job}"))
    assert "runner listing came back incomplete (a page failed)" in answer, answer
    sb.github.clear_faults()
    clock.advance(MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    assert "All 1 runner that could take it is busy" in text_of(message), text_of(message)
    assert "incomplete" not in text_of(message)


# -- slash commands during a round --------------------------------------------------------


async def test_a_sweep_round_never_blocks_slash_commands(sb: Sandbox, clock: Clock) -> None:
    """A round over a 1,000-runner organization whose pages GitHub is slow to send: a
    signed ``/runners help`` sent mid-round is acknowledged, and answered, while the round
    is still waiting on GitHub. Ordering is asserted, not a duration."""
    sb.github.add_runners("/orgs/acme", generated_fleet(1_000))
    await watch(sb)
    await queued(sb, ["self-hosted", "nowhere"])
    clock.advance(6 * MINUTE)
    polling = asyncio.Event()
    sb.github.add_fault(
        "GET", "/orgs/acme/actions/runners", delay=0.3, times=None, side_effect=polling.set
    )
    assert sb.sweeper is not None
    round_ = asyncio.create_task(sb.sweeper.run_once())
    await polling.wait()  # the round is waiting on GitHub's pages
    sent = await sb.send("help", channel_id=CHANNEL)
    assert sent.status == 200
    assert not round_.done()  # acknowledged before the round finished
    reply = await sb.slack.next_reply(sent.response_url)
    assert "watch" in reply_text(reply)
    assert not round_.done()  # answered, too, while the round still polls
    done = await round_
    assert done.skipped == [] and done.posted == 1  # the round itself went through


# -- two processes -------------------------------------------------------------------------


async def test_two_sweepers_on_one_database_post_an_alert_once(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Two processes (two Services, two Sweepers) on one PostgreSQL, and on one SQLite
    file: one leads (advisory lock / lease), the alert is posted once, and when the
    leader goes the other takes over without posting it again."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        other = Services.build(sb.settings, github_backoff=0.01, clock=clock)
        second = Sweeper(other)
        try:
            sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
            await watch(sb)
            await queued(sb, ["self-hosted", "gpu"])
            clock.advance(6 * MINUTE)
            assert sb.sweeper is not None
            rounds = await asyncio.gather(sb.sweeper.run_once(), second.run_once())
            assert sorted(r.leader for r in rounds) == [False, True]
            assert len(alerts(sb)) == 1
            await sb.sweeper.close()  # the leader's process goes away
            clock.advance(MINUTE)
            assert (await second.run_once()).leader is True
            assert len(alerts(sb)) == 1 and len(sb.slack.posted) == 2
        finally:
            await second.close()
            await other.close()


async def test_a_vanished_leader_is_replaced_within_two_periods(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """The leader stops without a word (no release: a host gone): another process does not
    lead within one period, and leads once two have passed, on both engines."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        assert sb.sweeper is not None
        period = sb.sweeper.period
        other = Services.build(sb.settings, github_backoff=0.01, clock=clock)
        second = Sweeper(other)
        try:
            assert sb.sweeper is not None
            assert (await sb.sweeper.run_once()).leader is True
            assert (await second.run_once()).leader is False
            clock.advance(period)  # the leader's last round; then it vanishes
            assert (await sb.sweeper.run_once()).leader is True
            clock.advance(period * 0.99)
            assert (await second.run_once()).leader is False  # not within one period
            clock.advance(period * 1.01)
            assert (await second.run_once()).leader is True  # within two
            assert (await sb.sweeper.run_once()).leader is False  # and the old one yields
        finally:
            await second.close()
            await other.close()


# -- the polling budget --------------------------------------------------------------------


async def test_polling_stays_within_the_budget(
    keys: Keys, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # 0.08% of GitHub's 5,000 an hour: 4 requests an hour for the sweep on acme, which its
    # first round spends (the job, the repository's runners, the organization's and its
    # groups). A window's first round always goes; the next would pass the budget.
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, poll_budget=0.0008
    ) as sb:
        sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
        await watch(sb)
        await queued(sb, ["self-hosted", "gpu"])
        clock.advance(6 * MINUTE)
        assert sb.sweeper is not None
        assert (await sweep(sb)).posted == 1
        assert sb.sweeper.budget.used("acme") >= 4
        polled = len(sb.github.requests)
        for _ in range(4):  # within the job's --after: its confirmation is not due either
            clock.advance(MINUTE)
            done = await sweep(sb)  # its stuck job is watched from the last listing
            assert done.skipped == [] and done.paced == ["acme"]
        assert len(sb.github.requests) == polled  # over budget: not polled
        warning = "polling budget of acme would be passed"
        assert caplog.text.count(warning) == 1
        clock.advance(3600)  # a new hour, a new allowance
        assert (await sweep(sb)).skipped == []
        assert len(sb.github.requests) > polled


async def test_a_paced_round_confirms_before_it_alerts(sb: Sandbox, clock: Clock) -> None:
    """Pacing leaves listings out, never the confirmation: a job that started without its
    in_progress delivery is not alerted on, whether the budget admits the round or not."""
    assert sb.sweeper is not None
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    job_id = await queued(sb, ["self-hosted", "gpu"])
    await sweep(sb)
    sb.sweeper.budget.spend("acme", 400)  # that round spent most of the hour's 500
    sb.github.set_job(job_id, status="in_progress", runner="gpu-1")  # its delivery is lost
    rounds = []
    for _ in range(13):  # paced out for the rest of the hour, admitted in the next
        clock.advance(5 * MINUTE)
        rounds.append(await sweep(sb))
    # A paced round watches the stuck job from the last listing, after asking GitHub.
    assert rounds[0].paced == ["acme"] and rounds[-1].paced == rounds[-1].skipped == []
    # No stuck-job alert: the round asked GitHub first. The one message says the budget
    # kept the runner listing out for an hour, then that watching is whole again.
    [notice] = alerts(sb)
    assert "watching *acme* again" in text_of(notice) and "RUNNEROPS_POLL_BUDGET" in str(notice)
    assert sb.github.count("GET", f"/repos/acme/api/actions/jobs/{job_id}") == 1
    stored = await sb.services.store.jobs.get(job_id)
    assert stored is not None and stored.job.status == "in_progress"


async def test_the_budget_counts_every_charged_page_and_no_304(sb: Sandbox, clock: Clock) -> None:
    """A 250-runner organization is three pages, three requests: the budget once counted one
    a listing, so a 1,000-runner fleet used ten times the share it was given
    (tests/benchmarks/watch.py). A 304 costs nothing at GitHub, and nothing here: counting
    them slowed the polling of quiet fleets for the rest of the hour."""
    sb.github.add_runners(
        "/orgs/acme", [RunnerSpec(f"gpu-{i:03d}", busy=True, labels=("gpu",)) for i in range(250)]
    )
    await watch(sb)
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert sb.sweeper is not None
    before = len(sb.github.requests)
    for _ in range(3):
        assert (await sweep(sb)).skipped == []
        clock.advance(MINUTE)
    polled = [r for r in sb.github.requests[before:] if r.auth == "installation"]
    pages = [r for r in polled if r.path == "/orgs/acme/actions/runners"]
    assert len(pages) == 3 * 3
    not_modified = [r for r in polled if r.status == 304]
    assert not_modified  # the fleet did not change: its pages answered 304 after the first
    assert sb.sweeper.budget.used("acme") == len(polled) - len(not_modified)


def test_the_budget_is_a_share_of_the_limit_github_reports(clock: Clock) -> None:
    from bot.watch.budget import PollBudget

    seen: list[int | None] = [None]
    budget = PollBudget(0.1, clock, lambda: seen[0])
    assert budget.allowance() == 500  # GitHub's default until a limit is seen
    seen[0] = 15_000  # a GitHub Enterprise Cloud installation
    assert budget.allowance() == 1500
    budget.new_round()
    assert budget.admit("Acme")  # a window's first round always goes
    budget.spend("acme", 100)
    budget.new_round()  # that round cost 100
    assert budget.round_cost("ACME") == 100
    clock.advance(3000)  # 3,000 + 600 s of 3,600: the whole allowance is earned
    assert budget.admit("acme")
    budget.spend("acme", 1350)
    budget.new_round()
    assert not budget.admit("ACME")  # 1,450 + 1,350 would pass 1,500
    assert budget.admit("globex")
    clock.advance(600)  # a new window
    budget.new_round()
    assert budget.admit("acme")


@pytest.mark.parametrize(
    ("used", "round_cost", "allowance", "elapsed", "admitted"),
    [
        (0, 0, 500, 0, True),  # a window's first round always goes
        (0, 900, 500, 0, True),  # ... even when a round costs more than the hour's share
        (10, 10, 500, 0, True),  # 20 <= 500 x 600/3600 = 83
        (70, 10, 500, 0, True),  # 80 <= 83
        (80, 10, 500, 0, False),  # 90 > 83: too fast for the start of the hour
        (80, 10, 500, 300, True),  # 90 <= 500 x 900/3600 = 125
        (480, 20, 500, 3000, True),  # all of it earned by the hour's last 10 minutes
        (481, 20, 500, 3000, False),  # never past the allowance
        (490, 20, 500, 3500, False),  # the earned share is capped at the allowance
        (1, 0, 500, 0, True),  # nothing known about a round's cost yet
    ],
)
def test_pacing_admits_a_round_while_its_cost_fits_what_the_hour_has_earned(
    used: int, round_cost: int, allowance: int, elapsed: float, admitted: bool
) -> None:
    from bot.watch.budget import admit

    assert admit(used=used, round_cost=round_cost, allowance=allowance, elapsed=elapsed) is admitted


async def test_names_from_workflows_cannot_ping_the_channel(sb: Sandbox, clock: Clock) -> None:
    await watch(sb)
    await queued(sb, ["self-hosted", "<!channel>"], name="<!here> deploy")
    clock.advance(6 * MINUTE)
    await sweep(sb)
    [message] = alerts(sb)
    raw = str(message)
    assert "<!channel>" not in raw and "<!here>" not in raw
    assert "&lt;!channel&gt;" in message["text"] and "&lt;!here&gt; deploy" in text_of(message)


async def test_enterprise_watch_alerts_offline_runners_and_a_deleted_one_resolves(
    keys: Keys, clock: Clock
) -> None:
    def with_enterprise(gh: GitHubDouble) -> None:
        seed(gh)
        gh.add_enterprise("octo-ent", organizations=["acme"])
        gh.add_runner("/enterprises/octo-ent", "ent-1")

    async with Sandbox.running(
        keys=keys, seed=with_enterprise, policy=PLATFORM_POLICY, clock=clock
    ) as sb:
        await watch(sb, "enterprise:octo-ent --offline-after 2m")
        [confirmation] = sb.slack.in_channel(CHANNEL)
        assert "runners offline longer than 2m" in confirmation["text"]
        assert "jobs queued" not in confirmation["text"]  # enterprises: offline alerts only
        await sweep(sb)
        sb.github.set_runner("/enterprises/octo-ent", "ent-1", status="offline")
        clock.advance(3 * MINUTE)
        assert (await sweep(sb)).posted == 1
        assert "1 runner of enterprise:octo-ent offline" in text_of(alerts(sb)[0])
        sb.github.remove_runner("/enterprises/octo-ent", "ent-1")
        clock.advance(MINUTE)
        assert (await sweep(sb)).resolved == 1
        [message] = alerts(sb)
        assert "Resolved" in text_of(message) and "*ent-1* was deleted" in text_of(message)


async def test_github_failing_leaves_alerts_as_they_are(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    sb.github.add_fault("GET", rf"/repos/acme/api/actions/jobs/{job}", status=502, times=None)
    clock.advance(5 * MINUTE)  # a stuck job is confirmed again once per --after
    done = await sweep(sb)
    assert done.skipped == ["acme"] and done.resolved == 0 and done.updated == 0
    assert len(await sb.services.store.alerts.open_alerts()) == 1
    assert "Resolved" not in text_of(alerts(sb)[0])
    assert len(alerts(sb)) == 1  # a GitHub outage is not a permission problem to report
    sb.github.clear_faults()
    clock.advance(MINUTE)
    assert (await sweep(sb)).skipped == []
