"""queue, why and stats: signed slash commands answered from stored jobs and GitHub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from tests.conftest import Clock
from tests.test_watch_sweep import MINUTE, deliver, queued, seed


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def test_queue_lists_jobs_oldest_first_with_reasons(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    first = await queued(sb, ["self-hosted", "gpu"], name="train")
    clock.advance(2 * MINUTE)
    await queued(sb, ["self-hosted", "arm"], repo="web", name="lint")
    started = await queued(sb, ["self-hosted", "gpu"], name="already-running")
    sb.github.set_job(started, status="in_progress", runner="gpu-1")  # delivery missed
    clock.advance(MINUTE)
    reply = await sb.run("queue acme", user_id="U0BOB", user_name="bob")
    text = reply_text(reply)
    assert text.index("train") < text.index("lint")
    assert "already-running" not in text
    assert "acme/api" in text and "queued 3m" in text
    assert "busy" in text and "No runner has every label" in text
    assert f"/job/{first}|train>" in text
    only_web = reply_text(await sb.run("queue acme/web"))
    assert "lint" in only_web and "train" not in only_web


async def test_queue_with_nothing_queued(sb: Sandbox) -> None:
    assert "No job of *acme* is queued" in reply_text(await sb.run("queue acme"))


async def test_why_by_url_and_by_id(sb: Sandbox, clock: Clock) -> None:
    group = sb.github.add_runner_group(
        "/orgs/acme", "secure", visibility="selected", selected_repositories=["web"]
    )
    sb.github.add_runner("/orgs/acme", "vault-1", labels=["secure"], runner_group_id=group)
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "secure"], name="deploy")
    clock.advance(4 * MINUTE)
    url = sb.github.job(job["id"])["html_url"]
    by_url = reply_text(await sb.run(f"why {url}", user_id="U0BOB", user_name="bob"))
    assert "deploy" in by_url and "queued 4m" in by_url
    assert "runner group" in by_url and "*secure*" in by_url and "*vault-1*" in by_url
    by_id = reply_text(await sb.run(f"why acme/api {job['id']}"))
    assert "runner group" in by_id
    stored = await sb.services.store.jobs.get(job["id"])  # GitHub's answer was kept
    assert stored is not None and stored.job.status == "queued"


async def test_why_for_a_waiting_and_a_running_job(sb: Sandbox) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    waiting = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"], status="waiting")
    assert "approval" in reply_text(await sb.run(f"why acme/api {waiting['id']}"))
    running = sb.github.add_job(
        "acme", "api", labels=["self-hosted", "gpu"], status="in_progress", runner="gpu-1"
    )
    assert "not waiting" in reply_text(await sb.run(f"why acme/api {running['id']}"))


async def test_why_unknown_job_and_bad_input(sb: Sandbox) -> None:
    assert "knows no job 999" in reply_text(await sb.run("why acme/api 999"))
    bad = reply_text(await sb.run("why https://github.com/acme/api/pull/3"))
    assert "not a job URL" in bad and "Usage:" in bad
    before = len(sb.github.requests)
    await sb.run("why acme api")
    assert len(sb.github.requests) == before  # refused by the grammar: GitHub not asked


async def test_stats_queue_times_per_label_set_and_runner_usage(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    await sb.run("watch acme --after 5m", channel_id="C0ALERTS")
    waits = [1, 2, 3, 10]  # minutes each gpu job waits, one after another
    for minutes in waits:
        job = await queued(sb, ["self-hosted", "gpu"])
        clock.advance(minutes * MINUTE)
        sb.github.set_job(job, status="in_progress", runner="gpu-1")
        await deliver(sb, job)
        clock.advance(4 * MINUTE)
        sb.github.set_job(job, status="completed")
        await deliver(sb, job)
    await queued(sb, ["self-hosted", "arm"])  # never starts
    clock.advance(MINUTE)
    text = reply_text(await sb.run("stats acme", user_id="U0BOB", user_name="bob"))
    assert "acme: the last 7d" in text
    assert "`gpu` `self-hosted`: 4 jobs · p50 2m, p95 10m, max 10m · 25% waited 5m or more" in text
    assert "`arm` `self-hosted`: 0 jobs, 1 not started · none started" in text
    assert "*gpu-1*: 4 jobs, busy 0%" in text  # 16 minutes of a week
    narrow = reply_text(await sb.run("stats acme/api --since 20m"))
    assert "the last 20m" in narrow and "`gpu` `self-hosted`: 1 job" in narrow
    # The window is minutes 13 to 33: the third job ran 14-18, the fourth 28-32.
    assert "*gpu-1*: 2 jobs, busy 40%" in narrow
    assert "`--since`" in reply_text(await sb.run("stats acme --since soon"))


async def test_stats_gives_capacity_advice_per_label_set(sb: Sandbox, clock: Clock) -> None:
    """Two gpu jobs created together take turns on the one runner, 15 minutes each:
    minutes 1-16 and 16-31 of a two-hour window."""
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    await sb.run("watch acme --after 5m", channel_id="C0ALERTS")
    first, second = (
        await queued(sb, ["self-hosted", "gpu"]),
        await queued(sb, ["self-hosted", "gpu"]),
    )
    for job in (first, second):
        clock.advance(MINUTE if job == first else 0)
        sb.github.set_job(job, status="in_progress", runner="gpu-1")
        await deliver(sb, job)
        clock.advance(15 * MINUTE)
        sb.github.set_job(job, status="completed")
        await deliver(sb, job)
    clock.advance(29 * MINUTE)  # an hour after they were created
    text = reply_text(await sb.run("stats acme --since 2h"))
    # Never two at once; the runner was busy 30 of the 120 minutes (saturated 25%, it
    # being the only one); replayed on one runner the second waits 15 minutes, which is
    # the p95 of two waits and not under --after 5m: two runners.
    assert "*Capacity* (an estimate)" in text
    assert (
        "`gpu` `self-hosted`: peak 1 at once · its runner busy 25% of the time"
        " · suggested 2 runners"
    ) in text
    assert "identical runners that are always online" in text
    assert "within 5m" in text and "most recent" not in text


async def test_stats_says_when_capacity_advice_ran_out_of_time(
    sb: Sandbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.stats

    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    job = await queued(sb, ["self-hosted", "gpu"])
    sb.github.set_job(job, status="in_progress", runner="gpu-1")
    await deliver(sb, job)
    clock.advance(MINUTE)
    sb.github.set_job(job, status="completed")
    await deliver(sb, job)
    monkeypatch.setattr(handlers.stats, "CAPACITY_DEADLINE", 0.0)
    text = reply_text(await sb.run("stats acme"))
    assert "`gpu` `self-hosted`: 1 job" in text  # the rest of the reply is there
    assert "Capacity advice was not computed: it takes longer than 0s" in text
    assert "suggested" not in text


async def test_why_names_the_missing_actions_permission(sb: Sandbox) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    sb.github.set_permissions(
        "acme", {"organization_self_hosted_runners": "write", "administration": "write"}
    )
    sb.github.expire_installation_tokens()
    text = reply_text(await sb.run(f"why acme/api {job['id']}"))
    assert "“Actions” (read)" in text and "*acme/api*" in text


async def test_why_checks_a_group_restricted_to_selected_workflows(sb: Sandbox) -> None:
    group = sb.github.add_runner_group(
        "/orgs/acme",
        "deploys",
        restricted_to_workflows=True,
        selected_workflows=["acme/api/.github/workflows/deploy.yml@refs/heads/main"],
    )
    sb.github.add_runner("/orgs/acme", "secure-1", labels=["secure"], runner_group_id=group)
    ci = sb.github.add_job("acme", "api", labels=["self-hosted", "secure"])
    text = reply_text(await sb.run(f"why acme/api {ci['id']}"))
    assert "group *deploys* (workflow restrictions)" in text
    deploy = sb.github.add_job(
        "acme",
        "api",
        labels=["self-hosted", "secure"],
        workflow_path=".github/workflows/deploy.yml",
    )
    text = reply_text(await sb.run(f"why acme/api {deploy['id']}"))
    assert "Idle runners could take it but do not: *secure-1*" in text
    assert sb.github.count("GET", f"/repos/acme/api/actions/runs/{deploy['run_id']}") == 1


@pytest.mark.parametrize("host", ["ghes.corp.example", "evil.example:8443", "127.0.0.1"])
async def test_why_refuses_a_job_url_on_another_host(sb: Sandbox, host: str) -> None:
    """The URL's host named nothing: runnerops asked the configured GitHub about the
    same-numbered job. Refused by the grammar, naming the host expected; GitHub not asked."""
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"], name="deploy")
    url = sb.github.job(job["id"])["html_url"]
    assert url.startswith("https://github.com/")
    before = len(sb.github.requests)
    elsewhere = url.replace("https://github.com/", f"https://{host}/")
    text = reply_text(await sb.run(f"why <{elsewhere}>"))
    assert f"on `{host}`" in text and "the GitHub at `github.com`" in text
    assert "deploy" not in text
    assert len(sb.github.requests) == before
    same = url.replace("https://github.com/", "https://GitHub.com:443/")
    assert "deploy" in reply_text(await sb.run(f"why {same}"))


async def ghost(sb: Sandbox, job_id: int, name: str) -> None:
    """A ``queued`` delivery of a job GitHub no longer knows (its GET answers 404): a
    missed completion, or a repository removed since."""
    model = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"], name=name)
    payload = sb.github.workflow_job_payload(model["id"])
    payload["workflow_job"] |= {"id": job_id, "name": name}
    status, _ = await sb.deliver("workflow_job", payload)
    assert status == 200


async def test_queue_shows_a_real_job_behind_thirty_ghosts(sb: Sandbox, clock: Clock) -> None:
    for i in range(30):
        await ghost(sb, 9_000_000 + i, f"ghost-{i}")
        clock.advance(1)
    clock.advance(MINUTE)
    real = await queued(sb, ["self-hosted", "gpu"], name="real-build")
    before = sb.github.count("GET", r".*/actions/jobs/\d+")
    text = reply_text(await sb.run("queue acme"))
    assert f"/job/{real}|real-build>" in text
    assert "ghost-" not in text
    assert "1 job queued" in text and "more" not in text
    asked = sb.github.count("GET", r".*/actions/jobs/\d+") - before
    assert asked == 31  # each row confirmed once, and no more than the rows looked at


async def test_queue_counts_every_open_job_and_cuts_the_reply(sb: Sandbox, clock: Clock) -> None:
    ids = []
    for i in range(200):
        ids.append(await queued(sb, ["self-hosted", "arm"], name=f"job-{i:03}"))
        clock.advance(1)
    before = sb.github.count("GET", r".*/actions/jobs/\d+")
    reply = await sb.run("queue acme")
    text = reply_text(reply)
    assert "200 jobs queued" in text
    shown = [i for i in range(200) if f"|job-{i:03}>" in text]
    assert shown == list(range(20))  # the oldest, oldest first
    assert text.index("job-000") < text.index("job-019")
    assert "…and 180 more, newer ones." in text
    assert len(reply["blocks"]) <= 50
    assert sb.github.count("GET", r".*/actions/jobs/\d+") - before == 20


async def test_queue_confirmations_are_bounded(sb: Sandbox, clock: Clock) -> None:
    """A backlog of ghosts costs a bounded number of GitHub requests, and the reply
    still counts what is left unconfirmed."""
    for i in range(80):
        await ghost(sb, 9_100_000 + i, f"ghost-{i}")
        clock.advance(1)
    before = sb.github.count("GET", r".*/actions/jobs/\d+")
    text = reply_text(await sb.run("queue acme"))
    assert sb.github.count("GET", r".*/actions/jobs/\d+") - before == 60
    assert "None of the 60 oldest jobs of *acme* recorded as queued is queued" in text
    assert "20 newer ones were not checked" in text
