"""Signed ``workflow_job`` deliveries sent from a process of their own.

``python -m tests.benchmarks.ingest_send URL DELIVERIES CONCURRENCY FIRST_JOB_ID`` (with
``GITHUB_WEBHOOK_SECRET`` in the environment) builds ``DELIVERIES`` deliveries of
``ceil(DELIVERIES / 3)`` jobs, ids from ``FIRST_JOB_ID`` on: every job's ``queued``, then
every ``in_progress``, then every ``completed``, as a matrix is queued, taken and finished;
each body about 8 KB and signed as GitHub signs it. It then posts them to
``URL/github/webhooks`` with ``CONCURRENCY`` in flight and prints one JSON line: the
wall time, the count of each HTTP status, and each delivery's seconds from send to answer.
Building and signing happen before the clock starts, in this process, so the figures are
the receiver's own.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import math
import os
import sys
import time
import uuid
from typing import Any

import aiohttp

from tests.benchmarks.burst import allow_open_files

BODY_BYTES = 8000  # about the size of a real workflow_job delivery
RUNNERS = 50
ORG = "ingest"


def _template() -> dict[str, dict[str, Any]]:
    """One job's three deliveries as the GitHub double shapes them."""
    from bot.sandbox.github_double import GitHubDouble
    from bot.sandbox.harness import Keys

    gh = GitHubDouble(app_id="1", public_key_pem=Keys.generate().public_pem)
    gh.add_org(ORG)
    gh.add_repo(ORG, "api")
    gh.add_installation(ORG)
    gh.add_runner(f"/orgs/{ORG}", "r-00", labels=["build"])
    job = gh.add_job(ORG, "api", labels=["self-hosted", "linux", "x64", "build"], name="test")
    out = {"queued": gh.workflow_job_payload(job["id"], "queued")}
    gh.set_job(job["id"], status="in_progress", runner="r-00")
    out["in_progress"] = gh.workflow_job_payload(job["id"], "in_progress")
    gh.set_job(job["id"], status="completed")
    out["completed"] = gh.workflow_job_payload(job["id"], "completed")
    for payload in out.values():  # a real repository says more of itself: to ~8 KB
        size = len(json.dumps(payload))
        payload["repository"]["description"] = "x" * max(0, BODY_BYTES - size - 20)
    return out


def deliveries(n: int, first_id: int) -> list[tuple[str, bytes]]:
    """``n`` (action, body) pairs: every job's queued, then in_progress, then completed."""
    templates = _template()
    jobs = math.ceil(n / 3)
    out: list[tuple[str, bytes]] = []
    for action in ("queued", "in_progress", "completed"):
        for i in range(jobs):
            if len(out) == n:
                break
            payload = copy.deepcopy(templates[action])
            job = payload["workflow_job"]
            job_id = first_id + i
            job["id"] = job_id
            job["run_id"] = first_id * 2 + i // 10  # ten jobs a run, as a matrix
            job["name"] = f"test ({i % 10})"
            job["html_url"] = f"https://github.com/{ORG}/api/actions/runs/1/job/{job_id}"
            if action != "queued":
                job["runner_id"] = 1 + i % RUNNERS
                job["runner_name"] = f"r-{i % RUNNERS:02d}"
            out.append((action, json.dumps(payload).encode()))
    return out


async def send_all(
    url: str, bodies: list[tuple[str, bytes]], concurrency: int, secret: bytes
) -> dict[str, Any]:
    signed = [
        (
            body,
            {
                "content-type": "application/json",
                "x-github-event": "workflow_job",
                "x-github-delivery": str(uuid.uuid4()),
                "x-hub-signature-256": "sha256="
                + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            },
        )
        for _, body in bodies
    ]
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    queue = iter(signed)

    async def sender(session: aiohttp.ClientSession) -> None:
        for body, headers in queue:
            sent = time.perf_counter()
            try:
                async with session.post(url + "/github/webhooks", data=body, headers=headers) as r:
                    await r.read()
                    status = str(r.status)
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - sent)
            statuses[status] = statuses.get(status, 0) + 1

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "statuses": statuses,
        "latencies": latencies,
        "bytes": sum(len(b) for _, b in bodies) / max(1, len(bodies)),
    }


def main() -> None:
    url, n, concurrency, first_id = sys.argv[1], *map(int, sys.argv[2:5])
    allow_open_files(concurrency)
    secret = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
    bodies = deliveries(n, first_id)
    print(json.dumps(asyncio.run(send_all(url, bodies, concurrency, secret))), flush=True)


if __name__ == "__main__":
    main()
