"""Reading is limited to what the policy grants (issue 17, section 2).

A grant on ``acme`` is the organization only; ``acme/*`` its repositories. Bob reads
``acme`` alone: organization-level figures (runner counts, queue times per label set) stay
visible to him, but no job of a private ``acme/*`` repository (its repository, workflow,
job name or link), and no watch of a target he may not read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import Clock
from tests.test_home import POLICY, press

SECRET_JOB = "deploy-secrets"
SECRET_WORKFLOW = "Release pipeline"


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(clock=clock, policy=POLICY) as sandbox:
        for target in ("acme", "acme/api"):
            assert "Watching" in json.dumps(await sandbox.run(f"watch {target}"))
        for repo, name, workflow in (("api", SECRET_JOB, SECRET_WORKFLOW), ("api", "b", "CI")):
            job = sandbox.github.add_job(
                "acme", repo, labels=["self-hosted", "gpu"], name=name, workflow_name=workflow
            )
            payload = sandbox.github.workflow_job_payload(job["id"], "queued")
            assert (await sandbox.deliver("workflow_job", payload))[0] == 200
        yield sandbox


def dumped(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def bob() -> dict[str, str]:
    return {"user_id": "U0BOB", "user_name": "bob"}


async def test_watching_lists_only_watches_of_readable_targets(sb: Sandbox) -> None:
    mine = reply_text(await sb.run("watching", **bob()))
    assert "*acme* in <#C0OPS>" in mine
    assert "acme/api" not in mine
    assert "…and 1 watch of targets you may not read." in mine
    carol = reply_text(await sb.run("watching", user_id="U0CAROL", user_name="carol"))
    assert "Nothing you may read is watched." in carol
    assert "acme" not in carol.replace("…and 2 watches of targets you may not read.", "")
    assert "<@U0ALICE>" not in carol
    everything = reply_text(await sb.run("watching"))  # alice reads everything
    assert "*acme/api* in <#C0OPS>" in everything and "may not read" not in everything


async def test_queue_of_an_organization_counts_jobs_of_unreadable_repositories(
    sb: Sandbox,
) -> None:
    text = dumped(await sb.run("queue acme", **bob()))
    for secret in (SECRET_JOB, SECRET_WORKFLOW, "acme/api", "/actions/runs/"):
        assert secret not in text
    assert "…and 2 jobs in repositories you may not read." in text
    before = [r.path for r in sb.github.requests]
    assert not [p for p in before if "/actions/jobs/" in p]  # nothing confirmed for Bob
    alice = reply_text(await sb.run("queue acme"))
    assert SECRET_JOB in alice and "acme/api" in alice and "may not read" not in alice


async def test_why_of_a_job_in_an_unreadable_repository_is_refused(sb: Sandbox) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"], name=SECRET_JOB)
    url = sb.github.job(job["id"])["html_url"]
    text = reply_text(await sb.run(f"why {url}", **bob()))
    assert "You may not `why` on *acme/api*" in text and SECRET_JOB not in text


async def test_stats_of_an_organization_keeps_its_figures_and_no_job_detail(sb: Sandbox) -> None:
    text = dumped(await sb.run("stats acme", **bob()))
    assert "`gpu` `self-hosted`: 0 jobs, 2 not started" in reply_text(
        await sb.run("stats acme", **bob())
    )
    for secret in (SECRET_JOB, SECRET_WORKFLOW, "acme/api"):
        assert secret not in text


async def test_the_home_tab_shows_no_job_of_an_unreadable_repository(sb: Sandbox) -> None:
    assert sb.sweeper is not None
    await sb.sweeper.run_once()
    view = dumped(await sb.open_home("U0BOB"))
    for secret in (SECRET_JOB, SECRET_WORKFLOW, "acme/api", "/actions/runs/"):
        assert secret not in view
    assert "No self-hosted job you may read is queued now." in view
    assert "…and 2 jobs in repositories you may not read." in view
    assert "idle" in view and "busy" in view  # the organization's runner counts stay
    assert view.count('"type": "image"') == 2  # and its charts (label sets, runner counts)
    alice = dumped(await sb.open_home("U0ALICE"))
    assert SECRET_JOB in alice and "may not read" not in alice


async def test_a_home_queue_button_answers_with_the_same_limit(sb: Sandbox) -> None:
    await press(sb, "U0BOB", "home_run_queue", "acme")
    dm = dumped(await sb.slack.next_post("U0BOB"))
    assert SECRET_JOB not in dm and "acme/api" not in dm
    assert "…and 2 jobs in repositories you may not read." in dm
