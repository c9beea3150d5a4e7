"""Issue 20 §1: "Register a JIT runner for these labels" on a stuck-job alert whose runners
are all busy or offline, and "Prune these" on an offline alert, end to end.

Signed workflow_job deliveries raise the alerts; signed Slack clicks press the buttons;
the GitHub double holds the runners and groups and records every request; the Slack
double records posts, in-place updates and the replies to each click's response_url.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.slack.views.alerts import ACK_ACTION, SNOOZE_ACTION
from bot.slack.views.fix_jit import JIT_FIX_ACTION
from bot.slack.views.fix_prune import PRUNE_FIX_ACTION
from bot.slack.views.prune import PRUNE_ACTION
from bot.store.schema import once
from handlers.fix_jit import CLAIM_FOR, LabelRefused, jit_labels, runner_name
from tests.conftest import Clock
from tests.test_alert_marks import buttons, current
from tests.test_watch_sweep import CHANNEL, MINUTE, alerts, deliver, queued, seed, sweep

ORG = "/orgs/acme"
JIT = ORG + "/actions/runners/generate-jitconfig"
# Alice and Carol may both register runners and prune.
TWO_ADMINS = PLATFORM_POLICY.replace('users = ["U0ALICE"]', 'users = ["U0ALICE", "U0CAROL"]')


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def watch(sb: Sandbox) -> None:
    reply = await sb.run("watch acme", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)


async def click(sb: Sandbox, message: dict[str, Any], action: str, user: str) -> dict[str, Any]:
    return await sb.click(message, action, user_id=user, user_name=user.lower(), channel_id=CHANNEL)


def stuck(sb: Sandbox) -> dict[str, Any]:
    [message] = [m for m in alerts(sb) if "waiting for" in m["text"]]
    return message


def runner(sb: Sandbox, name: str) -> dict[str, Any]:
    return next(r for r in sb.github.runners(ORG) if r["name"] == name)


async def stuck_alert(sb: Sandbox, clock: Clock, **state: Any) -> tuple[dict[str, Any], int]:
    """gpu-1 (in the GPU group) carries ``gpu`` and is busy or offline (``state``); a job
    asking for self-hosted + gpu waits 6 minutes: the alert, and the GPU group's id."""
    gpu = sb.github.add_runner_group(ORG, "GPU")
    sb.github.add_runner(ORG, "gpu-1", labels=["gpu"], runner_group_id=gpu, **state)
    await watch(sb)
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    return stuck(sb), gpu


def everything_said(sb: Sandbox) -> str:
    """Every channel post and update the Slack double saw."""
    return json.dumps([sb.slack.posted, sb.slack.updated, list(sb.slack.messages.values())])


# -- Register a JIT runner ----------------------------------------------------------------


async def test_jit_button_is_on_busy_and_offline_alerts_only(sb: Sandbox, clock: Clock) -> None:
    message, _ = await stuck_alert(sb, clock, busy=True)
    assert "busy" in reply_text(message)
    assert buttons(message) == [JIT_FIX_ACTION, ACK_ACTION, SNOOZE_ACTION]
    [button] = [e for b in message["blocks"] for e in b.get("elements", []) if "confirm" in e]
    said = json.dumps(button["confirm"])
    assert "join a runner group of *acme*" in said and "sent only to you" in said
    # No runner carries the labels: adding a runner is not the fix.
    await queued(sb, ["self-hosted", "tpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    [other] = [m for m in alerts(sb) if "tpu" in m["text"]]
    assert JIT_FIX_ACTION not in buttons(other)  # labels may be (tests/test_fix_labels.py)
    assert buttons(other)[-2:] == [ACK_ACTION, SNOOZE_ACTION]


async def test_jit_button_on_an_all_offline_alert(sb: Sandbox, clock: Clock) -> None:
    message, _ = await stuck_alert(sb, clock, status="offline")
    assert "offline" in reply_text(message)
    assert JIT_FIX_ACTION in buttons(message)


async def test_a_jit_runner_goes_to_the_clicker_only_and_the_alert_says_so(
    sb: Sandbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message, gpu = await stuck_alert(sb, clock, busy=True)
    reply = await click(sb, message, JIT_FIX_ACTION, "U0ALICE")
    assert reply["response_type"] == "ephemeral" and not reply.get("replace_original")
    [config] = sb.github.issued_jit_configs
    assert f"./run.sh --jitconfig {config}" in reply_text(reply)
    assert config not in reply["text"]
    [made] = [r for r in sb.github.runners(ORG) if r["name"].startswith("jit-gpu-")]
    assert made["runner_group_id"] == gpu  # the group of the matching runners
    assert {label["name"] for label in made["labels"]} == {"self-hosted", "gpu"}
    assert made["ephemeral"] is True
    assert sb.github.count("POST", JIT) == 1
    # The alert says it in place, with no secret.
    shown = current(sb, message)
    assert "Fixed by <@U0ALICE> at" in str(shown["blocks"])
    assert f"registered a JIT runner {made['name']} for gpu, self-hosted" in str(shown["blocks"])
    assert config not in everything_said(sb)
    [entry] = [e for e in await sb.services.store.audit.recent(limit=50) if e.action == "jit"]
    assert (entry.outcome, entry.user_id) == ("issued", "U0ALICE")
    assert made["name"] in entry.detail and f"(id {gpu})" in entry.detail
    assert all(config not in e.detail for e in await sb.services.store.audit.recent(limit=50))
    assert config not in caplog.text


async def test_the_group_is_one_the_repository_may_use(sb: Sandbox, clock: Clock) -> None:
    """gpu-2's group admits only acme/web: the job of acme/api gets a runner in GPU."""
    closed = sb.github.add_runner_group(ORG, "Web only", visibility="selected")
    sb.github.set_runner_group(ORG, "Web only", selected_repositories=["web"])
    sb.github.add_runner(ORG, "gpu-2", labels=["gpu"], runner_group_id=closed, busy=True)
    sb.github.add_runner(ORG, "gpu-3", labels=["gpu"], runner_group_id=closed, busy=True)
    message, gpu = await stuck_alert(sb, clock, busy=True)
    await click(sb, message, JIT_FIX_ACTION, "U0ALICE")
    [made] = [r for r in sb.github.runners(ORG) if r["name"].startswith("jit-")]
    assert made["runner_group_id"] == gpu


async def test_a_runner_idle_by_the_click_registers_nothing(sb: Sandbox, clock: Clock) -> None:
    message, _ = await stuck_alert(sb, clock, busy=True)
    sb.github.set_runner(ORG, "gpu-1", busy=False)
    said = reply_text(await click(sb, message, JIT_FIX_ACTION, "U0ALICE"))
    assert "*gpu-1*" in said and "idle now" in said and "No JIT runner was registered" in said
    assert sb.github.count("POST", JIT) == 0
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_a_jit_click_without_the_grant_is_refused(sb: Sandbox, clock: Clock) -> None:
    message, _ = await stuck_alert(sb, clock, busy=True)
    before, updates = len(sb.github.requests), len(sb.slack.updated)
    reply = await click(sb, message, JIT_FIX_ACTION, "U0BOB")  # read only
    assert reply["response_type"] == "ephemeral"
    assert "You may not `jit` on *acme*" in reply_text(reply)
    assert len(sb.github.requests) == before  # not even a listing
    [refusal] = await sb.services.store.audit.recent(refused=True, limit=10)
    assert (refusal.user_id, refusal.action, refusal.target) == ("U0BOB", "jit", "acme")
    assert len(sb.slack.updated) == updates


async def test_a_github_error_is_answered_in_words(sb: Sandbox, clock: Clock) -> None:
    message, _ = await stuck_alert(sb, clock, busy=True)
    sb.github.add_fault(
        "POST", JIT, status=422, body={"message": "Invalid request.\n\nLabels are invalid."}
    )
    said = reply_text(await click(sb, message, JIT_FIX_ACTION, "U0ALICE"))
    assert "GitHub refused the request: Invalid request" in said and "Nothing was changed" in said
    assert sb.github.issued_jit_configs == []
    [entry] = [e for e in await sb.services.store.audit.recent(limit=50) if e.action == "jit"]
    assert entry.outcome == "failed"
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_labels_github_would_refuse_get_a_clear_reply(sb: Sandbox, clock: Clock) -> None:
    """A workflow may ask for any text; a runner label has at most 100 characters."""
    long = "g" * 150
    sb.github.add_runner(ORG, "odd-1", labels=[long], busy=True)
    await watch(sb)
    await queued(sb, ["self-hosted", long])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    message = stuck(sb)
    assert JIT_FIX_ACTION in buttons(message)
    reply = await click(sb, message, JIT_FIX_ACTION, "U0ALICE")
    said = reply_text(reply)
    assert reply["response_type"] == "ephemeral"
    assert "GitHub would refuse for a runner" in said and "1 to 100 characters" in said
    assert sb.github.count("POST", JIT) == 0


async def test_a_click_on_a_resolved_alert_registers_nothing(sb: Sandbox, clock: Clock) -> None:
    gpu = sb.github.add_runner_group(ORG, "GPU")
    sb.github.add_runner(ORG, "gpu-1", labels=["gpu"], runner_group_id=gpu, busy=True)
    await watch(sb)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    await sweep(sb)
    message = stuck(sb)
    assert JIT_FIX_ACTION in buttons(message)
    sb.github.set_runner(ORG, "gpu-1", busy=False)
    sb.github.set_job(job, status="in_progress", runner="gpu-1")
    await deliver(sb, job)
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1
    said = reply_text(await click(sb, message, JIT_FIX_ACTION, "U0ALICE"))
    assert "This alert is over" in said
    assert sb.github.count("POST", JIT) == 0
    assert all(e.action != "jit" for e in await sb.services.store.audit.recent(limit=50))


async def test_a_double_click_on_two_processes_registers_one_runner(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Alice and Carol click at once, each on another process (one database, one GitHub):
    the alert's JIT fix is claimed in the database before GitHub is asked, so one runner is
    registered; the other click is told who registers which runner, privately. A later
    click within the claim's period asks GitHub nothing; past it, a click may add one."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=TWO_ADMINS, clock=clock, database_url=database_url
    ) as sb:
        message, _ = await stuck_alert(sb, clock, busy=True)
        async with Sandbox.running(
            keys=keys,
            policy=TWO_ADMINS,
            clock=clock,
            database_url=database_url,
            github_api_url=sb.settings.github_api_url,  # one GitHub behind both processes
        ) as other:
            replies = await asyncio.gather(
                click(sb, message, JIT_FIX_ACTION, "U0ALICE"),
                click(other, message, JIT_FIX_ACTION, "U0CAROL"),
            )
            assert sb.github.count("POST", JIT) == 1
            [config] = sb.github.issued_jit_configs
            [made] = [r["name"] for r in sb.github.runners(ORG) if r["name"].startswith("jit-")]
            [issued] = [r for r in replies if "--jitconfig" in reply_text(r)]
            [turned] = [r for r in replies if r is not issued]
            said = reply_text(turned)
            assert turned["response_type"] == "ephemeral" and config not in json.dumps(turned)
            assert f"JIT runner *{made}* for this alert" in said
            assert "to register another, use `/runners jit`" in said
            [entry] = [
                e for e in await sb.services.store.audit.recent(limit=50) if e.action == "jit"
            ]
            assert f"<@{entry.user_id}>" in said and entry.outcome == "issued"
            # Later, on either process: who registered which runner when; GitHub not asked.
            before = len(sb.github.requests)
            for process in (sb, other):
                again = reply_text(await click(process, message, JIT_FIX_ACTION, "U0CAROL"))
                assert f"<@{entry.user_id}> registered JIT runner *{made}*" in again
                assert "for this alert at <!date^" in again
            assert len(sb.github.requests) == before
            # The claim holds no secret; past its period a click registers one more.
            assert config not in json.dumps(await claims(sb))
            clock.advance(CLAIM_FOR.total_seconds() + 1)
            more = await click(other, message, JIT_FIX_ACTION, "U0CAROL")
            assert "--jitconfig" in reply_text(more) and sb.github.count("POST", JIT) == 2


async def claims(sb: Sandbox) -> list[object]:
    """Every once-record's stored outcome (the JIT claims among them)."""
    db = sb.services.store.once.db
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(once.c.key, once.c.outcome))).all()
    return [[row.key, row.outcome] for row in rows]


async def test_a_failed_jit_click_lets_a_retry_register(sb: Sandbox, clock: Clock) -> None:
    """GitHub fails the first click: its claim is let go, so the next click registers."""
    message, _ = await stuck_alert(sb, clock, busy=True)
    sb.github.add_fault("POST", JIT, status=422, body={"message": "Invalid request."})
    assert "GitHub refused the request" in reply_text(
        await click(sb, message, JIT_FIX_ACTION, "U0ALICE")
    )
    retried = await click(sb, message, JIT_FIX_ACTION, "U0ALICE")
    assert "--jitconfig" in reply_text(retried)
    assert len(sb.github.issued_jit_configs) == 1 and sb.github.count("POST", JIT) == 2
    # A runner idle by the click registers nothing, and holds no claim either.
    sb.github.set_runner(ORG, "gpu-1", busy=False)
    clock.advance(CLAIM_FOR.total_seconds() + 1)
    assert "idle now" in reply_text(await click(sb, message, JIT_FIX_ACTION, "U0ALICE"))
    sb.github.set_runner(ORG, "gpu-1", busy=True)
    assert "--jitconfig" in reply_text(await click(sb, message, JIT_FIX_ACTION, "U0ALICE"))


def test_hostile_labels_and_names() -> None:
    for label, why in (("a,b", "no commas"), ("..", "`.` or `..`"), ("x\u200by", "spaces")):
        with pytest.raises(LabelRefused) as refused:
            jit_labels(["self-hosted", label])
        assert refused.value.label == label and why in refused.value.why
    with pytest.raises(LabelRefused) as refused:
        jit_labels([f"l{i}" for i in range(101)])
    assert refused.value.label is None
    assert jit_labels(["self-hosted", "gpu"]) == ("self-hosted", "gpu")
    name = runner_name(["self-hosted", "<!channel> GPU/x86"])
    assert name.startswith("jit-channel-gpu-x86-") and len(name) <= 100
    assert runner_name(["self-hosted"]).startswith("jit-runner-")
    assert runner_name(["gpu"]) != runner_name(["gpu"])


# -- Prune these ----------------------------------------------------------------------------


async def offline_alert(sb: Sandbox, clock: Clock) -> dict[str, Any]:
    """linux-1..3 seen online, then offline past the threshold: the offline alert."""
    for name in ("linux-1", "linux-2", "linux-3"):
        sb.github.add_runner(ORG, name, labels=["docker"])
    sb.github.add_runner(ORG, "linux-4", labels=["docker"], status="offline")  # not watched yet
    await watch(sb)
    await sweep(sb)
    for name in ("linux-1", "linux-2", "linux-3"):
        sb.github.set_runner(ORG, name, status="offline")
    clock.advance(11 * MINUTE)
    assert (await sweep(sb)).posted >= 1
    [message] = [m for m in alerts(sb) if "offline" in m["text"] and "linux-1" in reply_text(m)]
    return message


async def test_prune_these_dry_runs_exactly_the_alert_s_runners_privately(
    sb: Sandbox, clock: Clock
) -> None:
    message = await offline_alert(sb, clock)
    assert buttons(message)[0] == PRUNE_FIX_ACTION and ACK_ACTION in buttons(message)
    assert JIT_FIX_ACTION not in buttons(message)
    # Before the click: linux-2 comes back, linux-3 is deleted elsewhere.
    sb.github.set_runner(ORG, "linux-2", status="online")
    sb.github.remove_runner(ORG, "linux-3")
    posts, updates = len(sb.slack.posted), len(sb.slack.updated)
    deletes = sb.github.count("DELETE", ORG + "/actions/runners/.*")
    reply = await click(sb, message, PRUNE_FIX_ACTION, "U0ALICE")
    said = reply_text(reply)
    assert reply["response_type"] == "ephemeral" and not reply.get("replace_original")
    assert "Prune acme: 1 runner" in said and "`linux-1`" in said
    assert "`linux-2`" not in said and "`linux-3`" not in said and "linux-4" not in said
    assert "*linux-2* is back online" in said and "*linux-3* was deleted already" in said
    assert buttons(reply) == [PRUNE_ACTION]
    # A dry run: nothing deleted, nothing said in the channel, no fix note yet.
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == deletes
    assert (len(sb.slack.posted), len(sb.slack.updated)) == (posts, updates)
    [entry] = [e for e in await sb.services.store.audit.recent(limit=50) if e.action == "prune"]
    assert (entry.outcome, entry.user_id) == ("planned", "U0ALICE")
    # Its Delete button deletes exactly that runner, through prune's own plan.
    body, response_url = sb.click_body(
        reply, action_id=PRUNE_ACTION, user_id="U0ALICE", channel_id=CHANNEL
    )
    assert (await sb.post_slack(body, sb.signed_headers(body), response_url)).status == 200
    done = await sb.slack.next_reply(response_url, 30)
    while "Pruning" in reply_text(done):
        done = await sb.slack.next_reply(response_url, 30)
    assert "Prune of *acme* done: 1 deleted, 0 skipped, 0 failed" in reply_text(done)
    left = {r["name"] for r in sb.github.runners(ORG)}
    assert "linux-1" not in left and {"linux-2", "linux-4"} <= left
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == deletes + 1
    # ...and the alert then says so, in place (its message otherwise as it was).
    shown = current(sb, message)
    assert "Fixed by <@U0ALICE> at" in str(shown["blocks"])
    assert "pruned 1 runner" in str(shown["blocks"]) and "pruned 1 runners" not in str(shown)
    assert "runners of acme offline" in shown["text"] and "linux-1" in reply_text(shown)
    assert PRUNE_ACTION not in buttons(shown)


async def test_prune_these_without_the_grant_is_refused(sb: Sandbox, clock: Clock) -> None:
    message = await offline_alert(sb, clock)
    before = len(sb.github.requests)
    reply = await click(sb, message, PRUNE_FIX_ACTION, "U0BOB")
    assert reply["response_type"] == "ephemeral"
    assert "You may not `prune` on *acme*" in reply_text(reply)
    assert len(sb.github.requests) == before
    [refusal] = await sb.services.store.audit.recent(refused=True, limit=10)
    assert (refusal.user_id, refusal.action) == ("U0BOB", "prune")


async def test_a_double_click_on_prune_these_makes_two_harmless_dry_runs(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Alice and Carol click Prune these at once, each on another process: each gets a
    private dry run (a plan of its own); nothing is deleted, nothing said in the channel."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=TWO_ADMINS, clock=clock, database_url=database_url
    ) as sb:
        message = await offline_alert(sb, clock)
        posts, updates = len(sb.slack.posted), len(sb.slack.updated)
        async with Sandbox.running(
            keys=keys,
            policy=TWO_ADMINS,
            clock=clock,
            database_url=database_url,
            github_api_url=sb.settings.github_api_url,
        ) as other:
            replies = await asyncio.gather(
                click(sb, message, PRUNE_FIX_ACTION, "U0ALICE"),
                click(other, message, PRUNE_FIX_ACTION, "U0CAROL"),
            )
            for reply in replies:
                assert reply["response_type"] == "ephemeral" and not reply.get("replace_original")
                assert "Prune acme: 3 runners" in reply_text(reply)
                assert buttons(reply) == [PRUNE_ACTION]
            assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == 0
            assert len(sb.github.runners(ORG)) == 4
            assert (len(sb.slack.posted), len(sb.slack.updated)) == (posts, updates)
            assert (len(other.slack.posted), len(other.slack.updated)) == (0, 0)
            entries = [
                e for e in await sb.services.store.audit.recent(limit=50) if e.action == "prune"
            ]
            assert sorted((e.user_id, e.outcome) for e in entries) == [
                ("U0ALICE", "planned"),
                ("U0CAROL", "planned"),
            ]
            assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_prune_these_on_a_resolved_alert_asks_github_nothing(
    sb: Sandbox, clock: Clock
) -> None:
    message = await offline_alert(sb, clock)
    for name in ("linux-1", "linux-2", "linux-3"):
        sb.github.set_runner(ORG, name, status="online")
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1
    before = len(sb.github.requests)
    reply = await click(sb, message, PRUNE_FIX_ACTION, "U0ALICE")
    assert reply["response_type"] == "ephemeral"
    assert "This alert is over (resolved, or its watch removed): nothing was done" in reply_text(
        reply
    )
    assert len(sb.github.requests) == before
    assert all(e.action != "prune" for e in await sb.services.store.audit.recent(limit=50))
