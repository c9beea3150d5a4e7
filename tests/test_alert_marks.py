"""Acknowledge, Snooze 1h and escalation (issue 20 §2), end to end.

Signed workflow_job deliveries raise a stuck-job alert; signed Slack clicks press its
buttons; the Slack double records the post, its in-place updates and thread replies;
time moves with the test's clock and rounds run with ``run_once`` (nothing sleeps). The
marks are stored (both engines), so a double click on two processes acknowledges once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.slack.views.alerts import ACK_ACTION, SNOOZE_ACTION
from tests.conftest import Clock
from tests.test_home import texts
from tests.test_watch_sweep import CHANNEL, MINUTE, alerts, deliver, queued, seed, sweep

ONCALL = "<@U0ONCALL>"
SRE = "<!subteam^S0SRE|@sre>"


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def watch(sb: Sandbox, flags: str = "") -> None:
    reply = await sb.run(f"watch acme {flags}".strip(), channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)


async def alert_posted(sb: Sandbox, clock: Clock, flags: str = "") -> dict[str, Any]:
    """Watch acme (``flags`` added), queue a job no runner can take, let 6 minutes pass:
    the alert as the channel shows it."""
    await watch(sb, flags)
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    return message


def current(sb: Sandbox, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as it reads now (after updates)."""
    found: dict[str, Any] = sb.slack.messages[(CHANNEL, message["ts"])]
    return found


def thread_replies(sb: Sandbox, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in sb.slack.posted if p.get("thread_ts") == message["ts"]]


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


async def click(sb: Sandbox, message: dict[str, Any], action: str, user: str) -> str:
    reply = await sb.click(
        message, action, user_id=user, user_name=user.lower(), channel_id=CHANNEL
    )
    return reply_text(reply)


async def marked_entries(sb: Sandbox) -> list[Any]:
    """The audit entries of Acknowledge and Snooze clicks, newest first."""
    entries = await sb.services.store.audit.recent(target="acme", limit=50, refused=False)
    return [e for e in entries if e.action in ("acknowledge", "snooze")]


# -- acknowledge ---------------------------------------------------------------------------


async def test_acknowledge_marks_the_alert_in_place_and_stops_its_escalation(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        message = await alert_posted(sb, clock, f"--mention {ONCALL} --mention-after 10m")
        assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]
        said = await click(sb, message, ACK_ACTION, "U0BOB")  # a reader: read is enough
        assert "You acknowledged this alert" in said
        shown = current(sb, message)
        assert "Acknowledged by <@U0BOB> at" in str(shown["blocks"])
        assert "waiting for" in reply_text(shown)  # the rest of the message stays
        assert sb.slack.updated[-1]["text"] == "1 job waiting for gpu, self-hosted"
        assert buttons(shown) == [SNOOZE_ACTION]
        [entry] = await marked_entries(sb)
        assert (entry.action, entry.outcome, entry.user_id) == (
            "acknowledge",
            "acknowledged",
            "U0BOB",
        )
        # Another job joins: the sweep's update of the message keeps saying it.
        clock.advance(MINUTE)
        await queued(sb, ["self-hosted", "gpu"])
        clock.advance(6 * MINUTE)
        assert (await sweep(sb)).updated == 1
        shown = current(sb, message)
        assert "2 jobs waiting" in reply_text(shown)
        assert "Acknowledged by <@U0BOB> at" in str(shown["blocks"])
        # Past --mention-after: no one is mentioned for an acknowledged alert.
        clock.advance(20 * MINUTE)
        assert (await sweep(sb)).escalated == 0
        assert thread_replies(sb, message) == []
        # A second click is told who acknowledged it; nothing changes.
        again = await click(sb, message, ACK_ACTION, "U0ALICE")
        assert "<@U0BOB> acknowledged this alert already" in again


async def test_a_double_click_on_two_processes_acknowledges_once(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Two runnerops processes (two apps, one database): Alice and Bob click Acknowledge
    at once, one on each; one acknowledgement is stored and audited, the other is told."""
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        message = await alert_posted(sb, clock)
        async with Sandbox.running(
            keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
        ) as other:
            said = await asyncio.gather(
                click(sb, message, ACK_ACTION, "U0ALICE"),
                click(other, message, ACK_ACTION, "U0BOB"),
            )
        assert sum("You acknowledged" in s for s in said) == 1, said
        assert sum("acknowledged this alert already" in s for s in said) == 1, said
        outcomes = [e.outcome for e in await marked_entries(sb)]
        assert sorted(outcomes) == ["acknowledged", "not-done"], outcomes
        [(_, marks)] = await sb.services.store.alerts.open_marked()
        assert marks.acknowledged_by in ("U0ALICE", "U0BOB")


async def test_a_click_without_the_grant_is_refused_and_changes_nothing(
    keys: Keys, clock: Clock
) -> None:
    policy = """
[[grant]]
name = "platform team"
actions = ["read", "token", "admin"]
users = ["U0ALICE"]
targets = ["*"]
"""
    async with Sandbox.running(keys=keys, seed=seed, policy=policy, clock=clock) as sb:
        message = await alert_posted(sb, clock)
        updates = len(sb.slack.updated)
        for action in (ACK_ACTION, SNOOZE_ACTION):
            assert "You may not" in await click(sb, message, action, "U0MALLORY")
        refusals = await sb.services.store.audit.recent(refused=True, limit=10)
        assert [(r.user_id, r.target) for r in refusals] == [("U0MALLORY", "acme")] * 2
        [(_, marks)] = await sb.services.store.alerts.open_marked()
        assert not marks.acknowledged and marks.snoozed_until is None
        assert len(sb.slack.updated) == updates


async def test_an_offline_alert_is_acknowledged_and_escalated_alike(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.add_runner("/orgs/acme", "linux-1", labels=["docker"])
    await watch(sb, f"--mention {ONCALL} --mention-after 5m")
    await sweep(sb)  # linux-1 seen online now
    sb.github.set_runner("/orgs/acme", "linux-1", status="offline")
    clock.advance(11 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    assert buttons(message)[-2:] == [ACK_ACTION, SNOOZE_ACTION]  # after its fix (Prune these)
    clock.advance(5 * MINUTE)
    assert (await sweep(sb)).escalated == 1
    [reply] = thread_replies(sb, message)
    assert reply["text"].startswith(ONCALL) and "1 runner of *acme* offline" in reply["text"]
    assert "You acknowledged" in await click(sb, message, ACK_ACTION, "U0BOB")
    shown = current(sb, message)
    assert "1 runner of acme offline" in reply_text(shown)
    assert "Acknowledged by <@U0BOB>" in str(shown["blocks"])
    clock.advance(MINUTE)
    sb.github.set_runner("/orgs/acme", "linux-1", status="online")
    assert (await sweep(sb)).resolved == 1
    assert buttons(current(sb, message)) == []  # over: no buttons left
    assert "This alert is over" in await click(sb, message, ACK_ACTION, "U0ALICE")


# -- escalation ----------------------------------------------------------------------------


async def test_an_alert_nobody_acknowledged_is_escalated_once_in_its_thread(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock, f"--mention {ONCALL} --mention {SRE}")
    clock.advance(14 * MINUTE)  # 14 minutes after it was posted: not yet (default 15m)
    assert (await sweep(sb)).escalated == 0
    assert thread_replies(sb, message) == []
    clock.advance(MINUTE)
    assert (await sweep(sb)).escalated == 1
    [reply] = thread_replies(sb, message)
    assert reply["channel"] == CHANNEL
    text = reply["text"]
    assert text.startswith("<@U0ONCALL> <!subteam^S0SRE> ")
    assert "1 job waiting for `gpu` in *acme*" in text
    assert "<!channel>" not in str(reply) and "<!here>" not in str(reply)
    for _ in range(3):  # never more than one per alert
        clock.advance(30 * MINUTE)
        await sweep(sb)
    assert len(thread_replies(sb, message)) == 1


async def test_no_escalation_without_mentions(sb: Sandbox, clock: Clock) -> None:
    message = await alert_posted(sb, clock)  # no --mention
    clock.advance(30 * MINUTE)
    assert (await sweep(sb)).escalated == 0
    assert thread_replies(sb, message) == []


async def test_a_resolved_alert_is_not_escalated(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], busy=True)
    await watch(sb, f"--mention {ONCALL}")
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    clock.advance(MINUTE)
    sb.github.set_runner("/orgs/acme", "gpu-1", busy=False)
    sb.github.set_job(job, status="in_progress", runner="gpu-1")
    await deliver(sb, job)
    assert (await sweep(sb)).resolved == 1
    assert "Resolved" in reply_text(current(sb, message))
    assert buttons(current(sb, message)) == []  # nothing left to acknowledge
    clock.advance(30 * MINUTE)
    assert (await sweep(sb)).escalated == 0
    assert thread_replies(sb, message) == []


async def test_one_failing_escalation_fails_alone(sb: Sandbox, clock: Clock) -> None:
    """Slack refuses the thread reply (the bot was removed from the channel): logged and
    counted, the round goes on; the claim is released, so the next round posts it, once."""
    message = await alert_posted(sb, clock, f"--mention {ONCALL}")
    sb.slack.not_in.add(CHANNEL)
    clock.advance(15 * MINUTE)
    done = await sweep(sb)
    assert done.escalated == 0 and done.failed == 1
    assert thread_replies(sb, message) == []
    sb.slack.not_in.discard(CHANNEL)
    clock.advance(MINUTE)
    assert (await sweep(sb)).escalated == 1
    clock.advance(MINUTE)
    assert (await sweep(sb)).escalated == 0
    assert len(thread_replies(sb, message)) == 1


# -- snooze ----------------------------------------------------------------------------------


async def test_snooze_hides_the_alert_from_escalation_and_home_for_an_hour(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock, f"--mention {ONCALL}")
    said = await click(sb, message, SNOOZE_ACTION, "U0BOB")
    assert "You snoozed this alert until" in said
    assert "Snoozed by <@U0BOB> until" in str(current(sb, message)["blocks"])
    [entry] = await marked_entries(sb)
    assert (entry.action, entry.outcome) == ("snooze", "snoozed")
    home = texts(await sb.open_home("U0ALICE"))
    assert "no open alerts" in home
    assert "Acknowledged or snoozed" in home and "snoozed by <@U0BOB>" in home
    clock.advance(30 * MINUTE)  # past --mention-after, within the hour
    assert (await sweep(sb)).escalated == 0
    clock.advance(31 * MINUTE)  # the hour is over: escalated, and open again on Home
    assert (await sweep(sb)).escalated == 1
    assert len(thread_replies(sb, message)) == 1
    home = texts(await sb.open_home("U0ALICE"))
    assert "no open alerts" not in home and "Acknowledged or snoozed" not in home


async def test_home_shows_acknowledged_alerts_apart(sb: Sandbox, clock: Clock) -> None:
    message = await alert_posted(sb, clock)
    assert "1 job waiting for" in texts(await sb.open_home("U0ALICE"))
    await click(sb, message, ACK_ACTION, "U0ALICE")
    home = texts(await sb.open_home("U0ALICE"))
    assert "no open alerts" in home
    assert "Acknowledged or snoozed" in home and "acknowledged by <@U0ALICE>" in home


# -- the flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["@channel", "<!channel>", "<!here>", "<!everyone>", "bob", "@bob", "<#C0OPS>"]
)
async def test_mention_takes_only_a_user_or_a_user_group(sb: Sandbox, who: str) -> None:
    reply = reply_text(await sb.run(f"watch acme --mention {who}", channel_id=CHANNEL))
    assert "`--mention` takes a Slack user" in reply
    assert await sb.services.store.watches.all() == []


async def test_watching_and_help_show_the_mentions(sb: Sandbox) -> None:
    await watch(sb, f"--mention <@U0ONCALL|oncall> --mention {SRE} --mention-after 30m")
    [stored] = await sb.services.store.watches.all()
    assert stored.mentions == ("<@U0ONCALL>", "<!subteam^S0SRE>")
    listed = reply_text(await sb.run("watching", channel_id=CHANNEL))
    assert "mentions <@U0ONCALL> <!subteam^S0SRE>" in listed and "after 30m" in listed
    help_text = reply_text(await sb.run("help watch"))
    assert "--mention WHO" in help_text and "--mention-after DURATION" in help_text
    bad = reply_text(await sb.run("watch acme --mention-after soon", channel_id=CHANNEL))
    assert "--mention-after" in bad


async def test_a_forged_alert_button_is_answered_privately_and_the_alert_stays(
    sb: Sandbox, clock: Clock
) -> None:
    """A value runnerops did not write is refused to the clicker alone: replacing the
    message would take the alert from the whole channel."""
    message = await alert_posted(sb, clock)
    forged = json.loads(json.dumps(message))
    for block in forged["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ACK_ACTION:
                element["value"] = "{not json"
    reply = await sb.click(forged, ACK_ACTION, user_id="U0ALICE", channel_id=CHANNEL)
    assert "not valid" in reply_text(reply)
    assert not reply.get("replace_original") and reply.get("response_type") == "ephemeral"
    assert current(sb, message) == message  # untouched, still with its buttons
