"""workflow_job deliveries written in groups (one transaction for those that arrive
together), signed as GitHub signs them, into /github/webhooks, on both engines.

A batch is held together by making the database busy (another connection holds the write
lock) while the deliveries arrive, as a slow disk or a busy server would: the first
delivery's transaction waits, the others gather behind it. Nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys, Sandbox
from bot.sandbox.processes import cluster
from bot.store.database import parse_database_url, sync_engine
from bot.store.jobs import status_rank
from bot.sweep.ingest import Ingest
from tests.conftest import seed_basic

POISON_ID = 2**63  # a job id no BIGINT column takes: its write fails, whatever the engine


def seed(gh: GitHubDouble) -> None:
    seed_basic(gh)
    gh.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], database_url: str) -> AsyncIterator[Sandbox]:
    async with make_sandbox(seed=seed, database_url=database_url) as sandbox:
        yield sandbox


@contextlib.contextmanager
def database_busy(database_url: str) -> Iterator[None]:
    """Another connection holds what a delivery's transaction needs until the block
    exits: SQLite's write lock, or PostgreSQL's lock on the once table."""
    url = parse_database_url(database_url)
    if url.is_sqlite:
        assert url.sync_url.database is not None
        conn = sqlite3.connect(url.sync_url.database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
    else:
        pg = url.sync_url
        with psycopg.connect(
            host=pg.host, port=pg.port, user=pg.username, password=pg.password, dbname=pg.database
        ) as conn:
            conn.execute("LOCK TABLE once IN SHARE ROW EXCLUSIVE MODE")
            yield
            conn.commit()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (no time asserted: a deadline only so a bug cannot hang)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def ingest_of(sb: Sandbox) -> Ingest:
    assert sb.ingest is not None
    return sb.ingest


async def in_one_batch(
    sb: Sandbox, database_url: str, sends: list[tuple[dict[str, Any], str]]
) -> tuple[list[tuple[int, str]], int]:
    """Deliver ``sends`` (payload, delivery id) so that they are written together: first
    deliveries occupy every writer, held at the busy database, while ``sends`` gather
    behind them, in order. Returns their answers, none of which came before the database
    was free (a delivery is durable before its 2xx), and the transactions that stored
    them."""
    ingest = ingest_of(sb)
    before = ingest.batches
    with database_busy(database_url):
        openers = []
        for _ in range(ingest.writers):
            job = sb.github.add_job("acme", "web", labels=["self-hosted", "gpu"])
            opener = sb.github.workflow_job_payload(job["id"], "queued")
            openers.append(asyncio.create_task(sb.deliver("workflow_job", opener)))
            n = len(openers)
            await until(lambda: ingest.writing == n, "every writer is busy")  # noqa: B023
        tasks = []
        for payload, delivery in sends:  # one after the other: they arrive in this order
            sent = sb.deliver("workflow_job", payload, delivery=delivery)
            tasks.append(asyncio.create_task(sent))
            n = len(tasks)
            await until(lambda: ingest.waiting == n, "the delivery is waiting")  # noqa: B023
        assert not any(t.done() for t in [*openers, *tasks])  # none answered yet
    assert [(await t)[0] for t in openers] == [200] * len(openers)
    answers = list(await asyncio.gather(*tasks))
    return answers, ingest.batches - before - len(openers)


async def test_concurrent_deliveries_are_written_together_and_all_stored(
    sb: Sandbox, database_url: str
) -> None:
    jobs = [sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"]) for _ in range(20)]
    sends = [(sb.github.workflow_job_payload(j["id"], "queued"), str(uuid.uuid4())) for j in jobs]
    answers, transactions = await in_one_batch(sb, database_url, sends)
    assert transactions == 1
    assert [status for status, _ in answers] == [200] * 20
    assert all('"accepted"' in body for _, body in answers)
    assert ingest_of(sb).largest == 20  # one transaction held them all
    stored = await sb.services.store.jobs.open_jobs("acme", "acme/api")
    assert sorted(r.job.id for r in stored) == sorted(j["id"] for j in jobs)


async def test_a_redelivery_inside_a_batch_and_in_a_later_one_is_stored_once(
    sb: Sandbox, database_url: str
) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    queued = sb.github.workflow_job_payload(job["id"], "queued")
    answers, transactions = await in_one_batch(
        sb, database_url, [(queued, "d-same"), (queued, "d-same")]
    )
    assert transactions == 1
    bodies = sorted(body for _, body in answers)
    assert [status for status, _ in answers] == [200, 200]
    assert "accepted" in bodies[0] and "already processed" in bodies[1]
    # A later redelivery, alone and in another batch, is known too.
    status, body = await sb.deliver("workflow_job", queued, delivery="d-same")
    assert status == 200 and "already processed" in body
    sb.github.set_job(job["id"], status="in_progress", runner="gpu-1")
    started = sb.github.workflow_job_payload(job["id"], "in_progress")
    answers, _ = await in_one_batch(sb, database_url, [(started, "d-same"), (started, "d-new")])
    assert ["already processed" in body for _, body in answers] == [True, False]
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None and stored.job.status == "in_progress"


async def test_out_of_order_deliveries_in_one_batch_end_completed(
    sb: Sandbox, database_url: str
) -> None:
    job = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    queued = sb.github.workflow_job_payload(job["id"], "queued")
    sb.github.set_job(job["id"], status="in_progress", runner="gpu-1")
    in_progress = sb.github.workflow_job_payload(job["id"], "in_progress")
    sb.github.set_job(job["id"], status="completed", conclusion="failure")
    completed = sb.github.workflow_job_payload(job["id"], "completed")
    sends = [(p, str(uuid.uuid4())) for p in (completed, in_progress, queued)]
    answers, transactions = await in_one_batch(sb, database_url, sends)
    assert transactions == 1
    assert [status for status, _ in answers] == [200, 200, 200]
    stored = await sb.services.store.jobs.get(job["id"])
    assert stored is not None
    assert stored.job.status == "completed" and stored.conclusion == "failure"
    assert stored.job.runner_name == "gpu-1" and stored.job.started_at is not None
    assert await sb.services.store.jobs.open_jobs("acme", "acme/api") == []


async def test_a_runners_last_report_in_a_batch_sets_its_busy_state(
    sb: Sandbox, database_url: str
) -> None:
    from bot.watch.models import runners_from_github

    runners, _ = runners_from_github(sb.github.runners("/orgs/acme"))
    await sb.services.store.fleet.observe("acme", runners)
    gpu = next(r for r in runners if r.name == "gpu-1")
    ended, started = (sb.github.add_job("acme", "api", labels=["gpu"]) for _ in range(2))
    sb.github.set_job(ended["id"], status="in_progress", runner="gpu-1")
    sb.github.set_job(ended["id"], status="completed")
    sb.github.set_job(started["id"], status="in_progress", runner="gpu-1")
    done = sb.github.workflow_job_payload(ended["id"], "completed")
    taken = sb.github.workflow_job_payload(started["id"], "in_progress")
    # One job ends on gpu-1, then the next starts there: busy. Keys sort the other way.
    await in_one_batch(sb, database_url, [(done, "z-ended"), (taken, "a-started")])
    assert (await sb.services.store.fleet.seen("acme"))[gpu.id].busy is True
    sb.github.set_job(started["id"], status="completed")
    finished = sb.github.workflow_job_payload(started["id"], "completed")
    await in_one_batch(sb, database_url, [(finished, str(uuid.uuid4()))])
    assert (await sb.services.store.fleet.seen("acme"))[gpu.id].busy is False


async def test_one_poisoned_delivery_fails_alone_and_its_redelivery_is_tried_again(
    sb: Sandbox, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = [sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"]) for _ in range(5)]
    poisoned = sb.github.workflow_job_payload(good[0]["id"], "queued")
    poisoned["workflow_job"] = {**poisoned["workflow_job"], "id": POISON_ID}
    sends = [
        (sb.github.workflow_job_payload(j["id"], "queued"), f"d-good-{i}")
        for i, j in enumerate(good)
    ]
    sends.insert(2, (poisoned, "d-poison"))
    with caplog.at_level(logging.WARNING):
        answers, transactions = await in_one_batch(sb, database_url, sends)
    assert [status for status, _ in answers] == [200, 200, 500, 200, 200, 200]
    assert transactions == 5  # the batch failed as a whole; then each good one alone
    assert "Traceback" not in answers[2][1]
    stored = await sb.services.store.jobs.open_jobs("acme", "acme/api")
    assert sorted(r.job.id for r in stored) == sorted(j["id"] for j in good)
    # Logged alone, with its delivery and the database's own message (not just a class).
    [line] = [r.getMessage() for r in caplog.records if "d-poison" in r.getMessage()]
    assert "failed" in line and ("out of range" in line or "too large" in line), line
    # Not marked done: GitHub's manual redelivery is tried again (and fails again here).
    status, body = await sb.deliver("workflow_job", poisoned, delivery="d-poison")
    assert status == 500 and "already processed" not in body


async def test_a_delivery_id_too_long_for_an_index_fails_alone(
    sb: Sandbox, database_url: str
) -> None:
    """The delivery id is a header, not under the signature: one too long for
    PostgreSQL's btree is refused (400) before it reaches the database, on both engines,
    and the deliveries beside it are stored."""
    good = [sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"]) for _ in range(3)]
    sends = [(sb.github.workflow_job_payload(j["id"], "queued"), f"d-ok-{j['id']}") for j in good]
    long_id = "".join(uuid.uuid4().hex for _ in range(200))  # 6,400 characters, random
    extra = sb.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
    status, _ = await sb.deliver(
        "workflow_job", sb.github.workflow_job_payload(extra["id"], "queued"), delivery=long_id
    )
    assert status == 400
    answers, _ = await in_one_batch(sb, database_url, sends)
    assert [status for status, _ in answers] == [200, 200, 200]
    stored = {r.job.id for r in await sb.services.store.jobs.open_jobs("acme", "acme/api")}
    assert {j["id"] for j in good} <= stored and extra["id"] not in stored


async def test_non_workflow_job_events_keep_their_path(sb: Sandbox) -> None:
    uninstall = {"action": "deleted", "installation": {"id": 1, "account": {"login": "acme"}}}
    assert (await sb.deliver("installation", uninstall, delivery="i-1"))[0] == 200
    status, body = await sb.deliver("installation", uninstall, delivery="i-1")
    assert status == 200 and "already processed" in body
    assert ingest_of(sb).batches == 0  # not written through the job batches


# -- kill -9 -------------------------------------------------------------------------


def stored_state(database_url: str) -> tuple[dict[int, str], set[str]]:
    """Every job's status and every delivery key marked done, read from the database."""
    engine = sync_engine(parse_database_url(database_url))
    try:
        with engine.connect() as conn:
            jobs = {int(i): str(s) for i, s in conn.execute(sa.text("SELECT id, status FROM jobs"))}
            done = {
                str(k)
                for (k,) in conn.execute(sa.text("SELECT key FROM once WHERE state = 'done'"))
            }
    finally:
        engine.dispose()
    return jobs, done


async def test_every_acknowledged_delivery_survives_kill_9(keys: Keys, database_url: str) -> None:
    """``uvicorn app:app`` in its own process, 20 deliveries in flight; SIGKILL as soon as
    30 have been answered 2xx; then every answered delivery is in the database."""
    async with cluster(1, database_url=database_url, keys=keys, seed=seed) as group:
        view, process = group.views[0], group.processes[0]
        sends: list[tuple[int, str, dict[str, Any], str]] = []
        for _ in range(40):
            job = group.github.add_job("acme", "api", labels=["self-hosted", "gpu"])
            for action in ("queued", "in_progress", "completed"):
                if action != "queued":
                    group.github.set_job(job["id"], status=action, runner="gpu-1")
                payload = group.github.workflow_job_payload(job["id"], action)
                sends.append((job["id"], action, payload, str(uuid.uuid4())))
        acknowledged: list[tuple[int, str, str]] = []
        killed = asyncio.Event()
        queue = iter(sends)

        async def sender() -> None:
            for job_id, action, payload, delivery in queue:
                if killed.is_set():
                    return
                with contextlib.suppress(Exception):  # the process dies mid-request
                    status, _ = await view.deliver("workflow_job", payload, delivery=delivery)
                    if status == 200:
                        acknowledged.append((job_id, action, delivery))
                        if len(acknowledged) >= 30 and not killed.is_set():
                            killed.set()
                            process.kill()  # SIGKILL, at once, as a host dies

        await asyncio.gather(*(sender() for _ in range(20)))
        assert killed.is_set() and process.popen.poll() is not None
    jobs, done = stored_state(database_url)
    assert len(acknowledged) >= 30
    for job_id, action, delivery in acknowledged:
        assert f"delivery:{delivery}" in done, (job_id, action)
        assert job_id in jobs and status_rank(jobs[job_id]) >= status_rank(action), (
            job_id,
            action,
            jobs.get(job_id),
        )
