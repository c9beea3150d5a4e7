"""workflow_job deliveries, signed as GitHub signs them, into /github/webhooks: every job
stored, idempotently, in the right final state whatever order they arrive in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Sandbox
from tests.conftest import Clock, seed_basic
from tests.contract.webhooks import EXAMPLES_DIR, example, examples


def seed(gh: GitHubDouble) -> None:
    seed_basic(gh)
    gh.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    async with make_sandbox(seed=seed, clock=clock) as sandbox:
        yield sandbox


async def deliver(sb: Sandbox, job_id: int, action: str, delivery: str | None = None) -> None:
    status, body = await sb.deliver(
        "workflow_job", sb.github.workflow_job_payload(job_id, action), delivery=delivery
    )
    assert status == 200, body


@pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="tests/contract: npm ci not run")
async def test_a_published_delivery_is_stored(sb: Sandbox) -> None:
    payload = example("workflow_job", "queued")
    status, _ = await sb.deliver("workflow_job", payload)
    assert status == 200
    wanted = payload["workflow_job"]
    stored = await sb.services.store.jobs.get(wanted["id"])
    assert stored is not None
    assert stored.job.repository == payload["repository"]["full_name"]
    assert stored.job.status == "queued" and stored.job.name == wanted["name"]
    assert stored.job.labels == tuple(sorted(label.lower() for label in wanted["labels"]))


def _published(action: str) -> list[Any]:
    found = examples("workflow_job", action) if EXAMPLES_DIR.is_dir() else []
    return [pytest.param(p, id=f"{action}-{i}") for i, p in enumerate(found)] or [
        pytest.param(None, id=f"{action}-none")
    ]


@pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="tests/contract: npm ci not run")
@pytest.mark.parametrize(
    "payload", [*_published("waiting"), *_published("in_progress"), *_published("completed")]
)
async def test_published_waiting_in_progress_and_completed_deliveries_are_stored(
    sb: Sandbox, payload: dict[str, Any] | None
) -> None:
    """Each published example, delivered alone: the state, status and runner it carries."""
    assert payload is not None, "the package publishes an example for this action"
    status, body = await sb.deliver("workflow_job", payload)
    assert status == 200, body
    wanted = payload["workflow_job"]
    stored = await sb.services.store.jobs.get(wanted["id"])
    assert stored is not None
    job = stored.job
    assert job.repository == payload["repository"]["full_name"]
    assert job.status == wanted["status"] == payload["action"]
    assert job.run_id == wanted["run_id"] and job.name == wanted["name"]
    assert job.labels == tuple(sorted(label.lower() for label in wanted["labels"]))
    assert job.runner_id == wanted["runner_id"] and job.runner_name == wanted["runner_name"]
    assert stored.runner_group_name == wanted["runner_group_name"]
    assert stored.conclusion == wanted["conclusion"]
    if wanted["status"] == "waiting":
        assert job.runner_id is None and job.waiting and not job.queued
    else:
        assert job.started_at is not None and job.runner_name
    if wanted["status"] == "completed":
        assert job.completed_at is not None
    assert stored.hosted is (wanted["labels"] == ["ubuntu-latest"])


async def test_lifecycle_in_order_and_runner_busy(sb: Sandbox, clock: Clock) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    await deliver(sb, job["id"], "queued")
    clock.advance(432)
    sb.github.set_job(job["id"], status="in_progress", runner="gpu-1")
    await deliver(sb, job["id"], "in_progress")
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None and stored.job.status == "in_progress"
    assert stored.job.runner_name == "gpu-1"
    assert stored.job.started_at == datetime.fromtimestamp(clock(), UTC)
    clock.advance(60)
    sb.github.set_job(job["id"], status="completed")
    await deliver(sb, job["id"], "completed")
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None and stored.job.status == "completed"
    assert stored.conclusion == "success"


async def test_completed_before_in_progress_stays_completed(sb: Sandbox, clock: Clock) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    queued = sb.github.workflow_job_payload(job["id"], "queued")
    clock.advance(100)
    sb.github.set_job(job["id"], status="in_progress", runner="gpu-1")
    in_progress = sb.github.workflow_job_payload(job["id"], "in_progress")
    clock.advance(100)
    sb.github.set_job(job["id"], status="completed", conclusion="failure")
    completed = sb.github.workflow_job_payload(job["id"], "completed")
    for payload in (completed, in_progress, queued):
        assert (await sb.deliver("workflow_job", payload))[0] == 200
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None
    assert stored.job.status == "completed" and stored.conclusion == "failure"
    assert stored.job.runner_name == "gpu-1" and stored.job.started_at is not None
    assert stored.job.completed_at is not None
    assert await sb.services.store.jobs.open_jobs("acme") == []


async def test_redelivery_is_processed_once_and_repeats_change_nothing(sb: Sandbox) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    await deliver(sb, job["id"], "queued", delivery="d-1")
    status, body = await sb.deliver(
        "workflow_job", sb.github.workflow_job_payload(job["id"], "queued"), delivery="d-1"
    )
    assert status == 200 and "already processed" in body
    await deliver(sb, job["id"], "queued", delivery="d-2")  # a second, distinct delivery
    [stored] = await sb.services.store.jobs.open_jobs("acme")
    assert stored.job.id == job["id"] and stored.job.status == "queued"


async def test_in_progress_marks_the_runner_busy(sb: Sandbox) -> None:
    from bot.watch.models import runners_from_github

    runners, _ = runners_from_github(sb.github.runners("/orgs/acme"))
    await sb.services.store.fleet.observe("acme", runners)
    gpu = next(r for r in runners if r.name == "gpu-1")
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    sb.github.set_job(job["id"], status="in_progress", runner="gpu-1")
    await deliver(sb, job["id"], "in_progress")
    assert (await sb.services.store.fleet.seen("acme"))[gpu.id].busy is True
    sb.github.set_job(job["id"], status="completed")
    await deliver(sb, job["id"], "completed")
    assert (await sb.services.store.fleet.seen("acme"))[gpu.id].busy is False


async def test_github_hosted_jobs_are_stored_as_hosted(sb: Sandbox) -> None:
    job = sb.github.add_job("acme", "api", labels=["ubuntu-latest"])
    await deliver(sb, job["id"], "queued")
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None and stored.hosted is True


async def test_a_delivery_without_a_job_id_is_accepted_and_ignored(sb: Sandbox) -> None:
    status, _ = await sb.deliver(
        "workflow_job",
        {"action": "queued", "workflow_job": {"labels": ["x"]}, "repository": {}},
    )
    assert status == 200
    assert await sb.services.store.jobs.open_jobs("acme") == []
