"""Two runnerops processes sharing one real PostgreSQL behave as one service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.sandbox.harness import PLATFORM_POLICY, Keys, reply_text
from bot.sandbox.processes import Cluster, cluster
from bot.slack.views.delete import DELETE_ACTION
from bot.store import Store
from tests.conftest import seed_basic

TOKEN_PATH = "/orgs/acme/actions/runners/registration-token"


@pytest.fixture
async def pair(postgres_url: str, keys: Keys) -> AsyncIterator[Cluster]:
    # Both "processes", the doubles and 200 commands share one event loop on a shared
    # machine: deadlines long enough that what is proven (nothing lost or done twice across
    # processes) is not a race with the machine's load (the deadlines have tests of their own).
    async with cluster(
        2,
        database_url=postgres_url,
        keys=keys,
        seed=seed_basic,
        policy=PLATFORM_POLICY,
        github_timeout=60.0,
        database_timeout=60.0,
    ) as group:
        yield group


@pytest.fixture
async def store(pair: Cluster) -> AsyncIterator[Store]:
    """The shared database, read from the test's side."""
    opened = Store.open(pair.settings.database_url)
    yield opened
    await opened.close()


async def test_a_retry_on_the_other_process_runs_once(pair: Cluster, store: Store) -> None:
    a, b = pair.views
    body, response_url = a.command_body("token acme")
    sent = await a.post_slack(body, a.signed_headers(body), response_url)
    assert sent.status == 200
    reply = await a.slack.next_reply(response_url)
    assert "registration token" in reply_text(reply).lower()
    # Slack retries the same command (same trigger_id), and this time it lands on B.
    retry = await b.post_slack(body, {**b.signed_headers(body), "x-slack-retry-num": "1"})
    assert retry.status == 200
    await pair.processes[1].wait_for_log("ignoring a redelivered command")
    assert pair.github.count("POST", TOKEN_PATH) == 1
    assert a.slack.replies(response_url).empty()
    entries = await store.audit.recent()
    assert [(e.action, e.outcome) for e in entries] == [("token", "issued")]


async def test_the_same_command_on_both_at_once_runs_once(pair: Cluster, store: Store) -> None:
    a, b = pair.views
    body, response_url = a.command_body("token acme")
    await asyncio.gather(
        a.post_slack(body, a.signed_headers(body)),
        b.post_slack(body, {**b.signed_headers(body), "x-slack-retry-num": "1"}),
    )
    await a.slack.next_reply(response_url)
    logs = [p.wait_for_log("ignoring a redelivered command") for p in pair.processes]
    _, pending = await asyncio.wait(
        [asyncio.ensure_future(w) for w in logs], return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    assert pair.github.count("POST", TOKEN_PATH) == 1
    assert len(await store.audit.recent()) == 1


# Bob may delete too, so his click on the other process is a second admin's, not a refusal.
DELETERS_POLICY = (
    PLATFORM_POLICY
    + """
[[grant]]
name = "on call"
actions = ["read", "admin"]
users = ["U0BOB"]
targets = ["*"]
"""
)


@pytest.fixture
async def pair_of_deleters(postgres_url: str, keys: Keys) -> AsyncIterator[Cluster]:
    async with cluster(
        2, database_url=postgres_url, keys=keys, seed=seed_basic, policy=DELETERS_POLICY
    ) as group:
        yield group


async def test_delete_clicked_on_each_process_deletes_once(pair_of_deleters: Cluster) -> None:
    pair = pair_of_deleters
    a, b = pair.views
    ask = await a.run("delete acme linux-idle")
    # Alice's DELETE reaches GitHub and its answer is held; Bob clicks on B meanwhile.
    arrived = asyncio.Event()
    pair.github.add_fault(
        "DELETE", "/orgs/acme/actions/runners/.*", delay=0.5, side_effect=arrived.set
    )
    first = asyncio.ensure_future(a.click(ask, DELETE_ACTION))
    await asyncio.wait_for(arrived.wait(), 20)
    second = await b.click(ask, DELETE_ACTION, user_id="U0BOB", user_name="bob")
    assert pair.github.count("DELETE", "/orgs/acme/actions/runners/.*") == 1
    # Both clickers get the outcome, and it names who deleted it: Alice, not Bob.
    for reply in (await first, second):
        text = reply_text(reply)
        assert "was deleted" in text and "<@U0ALICE>" in text and "U0BOB" not in text
    opened = Store.open(pair.settings.database_url)
    try:
        deletes = [e for e in await opened.audit.recent() if e.action == "delete"]
    finally:
        await opened.close()
    assert [(e.outcome, e.user_id) for e in deletes] == [("deleted", "U0ALICE")]


async def test_a_redelivered_webhook_is_processed_once(pair: Cluster) -> None:
    a, b = pair.views
    payload = {
        "action": "new_permissions_accepted",
        "installation": {"id": 1, "account": {"login": "acme"}},
    }
    assert await a.deliver("installation", payload, delivery="d-1") == (
        200,
        '{"msg":"accepted","event":"installation"}',
    )
    status, text = await b.deliver("installation", payload, delivery="d-1")
    assert status == 200 and "already processed" in text


async def test_an_audit_entry_written_on_one_is_seen_on_the_other(pair: Cluster) -> None:
    a, b = pair.views
    await a.run("token acme")
    listing = reply_text(await b.run("audit acme"))
    assert "token" in listing and "issued" in listing


async def test_kill_9_mid_token_leaves_an_entry_never_a_silent_token(
    pair: Cluster, store: Store
) -> None:
    a, _ = pair.views
    # GitHub issues the token, then its answer is slow: the process dies before reading it.
    arrived = asyncio.Event()
    pair.github.add_fault("POST", TOKEN_PATH, delay=30.0, act_first=True, side_effect=arrived.set)
    await a.send("token acme")
    await asyncio.wait_for(arrived.wait(), 20)
    pair.processes[0].kill()
    (entry,) = await store.audit.recent()
    assert (entry.action, entry.target, entry.user_id) == ("token", "acme", "U0ALICE")
    assert entry.outcome == "pending"  # an entry exists for the token GitHub issued


async def test_200_concurrent_commands_over_both(pair: Cluster, store: Store) -> None:
    views = pair.views
    sent = await asyncio.gather(*(views[i % 2].send("token acme") for i in range(200)))
    assert {s.status for s in sent} == {200}
    replies = await asyncio.gather(*(views[0].slack.next_reply(s.response_url) for s in sent))
    failed = {reply_text(r) for r in replies if "registration token" not in reply_text(r).lower()}
    assert not failed, sorted(failed)[:3]
    entries = await store.audit.recent(limit=1000)
    assert len(entries) == 200 and {e.outcome for e in entries} == {"issued"}
    assert pair.github.count("POST", TOKEN_PATH) == 200
