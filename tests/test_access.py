"""Authorization end to end: refusals reach no GitHub endpoint; whoami; the audit trail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.sandbox.harness import Sandbox, reply_text
from bot.slack.views.delete import DELETE_ACTION

GROUP_POLICY = """
[[grant]]
actions = ["read"]
targets = ["*"]

[[grant]]
name = "runner admins"
actions = ["token", "admin"]
groups = ["S0RUNNERS"]
channels = ["C0OPS"]
targets = ["acme", "acme/*"]
"""


async def test_refused_token_reaches_no_github_endpoint(sandbox: Sandbox) -> None:
    before = len(sandbox.github.requests)
    text = reply_text(await sandbox.run("token acme", user_id="U0BOB", user_name="bob"))
    assert "You may not `token` on *acme*" in text and "whoami" in text
    assert len(sandbox.github.requests) == before
    assert sandbox.github.issued_runner_tokens == []


async def test_refused_delete_click(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme linux-idle")  # alice may
    text = reply_text(await sandbox.click(ask, DELETE_ACTION, user_id="U0BOB", user_name="bob"))
    assert "You may not `delete`" in text
    assert sandbox.github.count("DELETE", ".*") == 0


async def test_default_policy_reads_only_and_says_how_to_grant(make_sandbox) -> None:
    async with make_sandbox(policy=None) as sb:
        assert "3 runners" in reply_text(await sb.run("list acme"))
        text = reply_text(await sb.run("token acme"))
        assert "RUNNEROPS_POLICY" in text and "[[grant]]" in text and "U0ALICE" in text
        assert "no RUNNEROPS_POLICY is set" in reply_text(await sb.run("whoami"))
        assert sb.github.count("POST", ".*") == 1  # only the installation token for list


async def test_group_and_channel_grants(make_sandbox) -> None:
    async with make_sandbox(policy=GROUP_POLICY) as sb:
        sb.slack.groups["S0RUNNERS"] = ["U0BOB"]
        assert "./config.sh" in reply_text(await sb.run("token acme/api", user_id="U0BOB"))
        elsewhere = reply_text(await sb.run("token acme", user_id="U0BOB", channel_id="C0DEV"))
        assert "only in other channels" in elsewhere
        assert "You may not" in reply_text(await sb.run("token acme", user_id="U0ALICE"))
        assert "You may not" in reply_text(
            await sb.run("token enterprise:octo-ent", user_id="U0BOB")
        )
        # Memberships are cached: one lookup for all these commands.
        assert sb.slack.calls.count("usergroups.users.list") == 1
        whoami = reply_text(await sb.run("whoami", user_id="U0BOB"))
        assert "*token, admin* on `acme`, `acme/*`" in whoami and "<#C0OPS>" in whoami


async def test_slack_failure_fails_closed(make_sandbox) -> None:
    async with make_sandbox(policy=GROUP_POLICY) as sb:
        # The group is unknown to Slack: nobody is in it.
        assert "You may not" in reply_text(await sb.run("token acme", user_id="U0BOB"))
        # Bob is in the group, but Slack refuses the lookup (a revoked bot token):
        # the membership cannot be shown, so the grant does not apply.
        sb.slack.groups["S0RUNNERS"] = ["U0BOB"]
        sb.slack.bot_token = "xoxb-revoked"
        assert "You may not" in reply_text(await sb.run("token acme", user_id="U0BOB"))
        assert sb.github.issued_runner_tokens == []


async def test_audit_trail(sandbox: Sandbox) -> None:
    await sandbox.run("token acme")
    await sandbox.run("remove-token acme/api")
    await sandbox.run("token acme", user_id="U0BOB", user_name="bob")
    ask = await sandbox.run("delete acme linux-busy")
    await sandbox.click(ask, DELETE_ACTION)
    entries = await sandbox.services.store.audit.recent(limit=10)
    summary = [(e.user_name, e.action, e.target, e.outcome) for e in reversed(entries)]
    assert summary == [
        ("alice", "token", "acme", "issued"),
        ("alice", "remove-token", "acme/api", "issued"),
        ("bob", "token", "acme", "refused"),
        ("alice", "delete", "acme", "not-deleted"),
    ]
    stored = " ".join(f"{e.detail} {e.target}" for e in entries)
    assert all(token not in stored for token in sandbox.github.issued_runner_tokens)
    text = reply_text(await sandbox.run("audit acme --limit 1"))
    assert "not-deleted" in text and "issued" not in text
    # Refusals are counted apart from the list, so they never take a place in it.
    assert "<@U0BOB> (bob) `token` on *acme*: *refused* once" in text
    refusals = reply_text(await sandbox.run("audit acme --refused"))
    assert "Refusals of acme" in refusals and "*refused*" in refusals
    assert "not-deleted" not in refusals and "issued" not in refusals
    assert "You may not `audit`" in reply_text(await sandbox.run("audit", user_id="U0BOB"))


async def test_audit_channel(make_sandbox) -> None:
    async with make_sandbox(audit_slack_channel="C0AUDIT") as sb:
        await sb.run("token acme")
        assert sb.slack.posted[-1]["channel"] == "C0AUDIT"
        assert "`token` on *acme*: *issued*" in sb.slack.posted[-1]["text"]


@pytest.mark.parametrize(
    ("bad", "line"),
    # The line of the key at fault (actions), not of its [[grant]]; a syntax error's own.
    [('[[grant]]\nactions = ["tokens"]\ntargets = ["*"]\n', 2), ("[[grant]\n", 1)],
)
def test_bad_policy_stops_start_up(bad: str, line: int, tmp_path) -> None:
    import subprocess
    import sys

    env = {
        "GITHUB_APP_ID": "1",
        "GITHUB_WEBHOOK_SECRET": "w",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "RUNNEROPS_POLICY": bad,
        "DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
        "GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import app; app.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"runnerops cannot start: policy line {line}: "), done.stderr
    assert "Traceback" not in done.stderr


async def test_refusals_are_counted_not_repeated_in_the_audit_channel(make_sandbox) -> None:
    from tests.conftest import Clock

    clock = Clock()
    async with make_sandbox(audit_slack_channel="C0AUDIT", clock=clock) as sb:
        for _ in range(11):
            await sb.run("token acme", user_id="U0BOB", user_name="bob")
        to_channel = [p for p in sb.slack.posted if p["channel"] == "C0AUDIT"]
        assert len(to_channel) == 1 and "*refused*" in to_channel[0]["text"]
        assert not sb.slack.updated  # within 30 s of the first: counted quietly
        clock.advance(31)
        await sb.run("token acme", user_id="U0BOB", user_name="bob")
        (update,) = sb.slack.updated  # the same message now says how many
        assert update["channel"] == "C0AUDIT" and "12 refusals from this user" in update["text"]
        assert len([p for p in sb.slack.posted if p["channel"] == "C0AUDIT"]) == 1
        assert len(await sb.services.store.audit.recent(limit=100)) == 12  # all recorded
        await sb.run("token acme")  # what matters still gets its own post
        assert "*issued*" in sb.slack.posted[-1]["text"]


async def test_a_burst_that_ends_in_silence_still_shows_its_count(make_sandbox) -> None:
    """A burst of refusals inside 30 s, then none: the count reaches the channel's message
    from the background flush (off the request path), not only from a later refusal."""
    from tests.conftest import Clock

    clock = Clock()
    async with make_sandbox(audit_slack_channel="C0AUDIT", clock=clock) as sb:
        channel = sb.services.audit_channel
        for _ in range(25):
            await sb.run("token acme", user_id="U0BOB", user_name="bob")
            clock.advance(1)
        assert not sb.slack.updated
        assert await channel.flush() == 0  # the first post is under 30 s old: not yet
        clock.advance(30)
        assert await channel.flush() == 1
        (update,) = sb.slack.updated
        assert update["channel"] == "C0AUDIT" and "25 refusals from this user" in update["text"]
        posted = [p for p in sb.slack.posted if p["channel"] == "C0AUDIT"]
        assert len(posted) == 1  # the one message, which now reads:
        assert "25 refusals" in sb.slack.messages[("C0AUDIT", update["ts"])]["text"]
        clock.advance(60)
        assert await channel.flush() == 0  # nothing new to show: no second update
        # The burst ages out on the injected clock: the next refusal is a new post.
        clock.advance(600)
        await sb.run("token acme", user_id="U0BOB", user_name="bob")
        assert len([p for p in sb.slack.posted if p["channel"] == "C0AUDIT"]) == 2
        assert len(sb.slack.updated) == 1


@pytest.mark.parametrize(
    ("burst", "now", "step"),
    [
        (None, 0.0, "post"),
        ((0.0, 0.0), 10.0, "quiet"),
        ((0.0, 0.0), 31.0, "update"),
        ((0.0, 31.0), 40.0, "quiet"),
        ((0.0, 31.0), 599.0, "update"),
        ((0.0, 31.0), 600.0, "post"),
    ],
)
def test_refusal_burst_steps(burst, now: float, step: str) -> None:
    from bot.slack.audit_channel import _Burst, next_step

    state = None if burst is None else _Burst(burst[0], 1, "C", "1.0", burst[1], None)  # type: ignore[arg-type]
    assert next_step(state, now) == step


async def test_a_flood_of_refusals_does_not_hide_an_admins_entries(sandbox) -> None:
    await sandbox.run("token acme")  # alice's entry, then bob floods the trail
    store = sandbox.services.store.audit
    first = (await store.recent())[0]
    for _ in range(1500):  # bob's refused bare `audit`s: entries with no target
        await store.record(replace(first, id=None, user_id="U0BOB", outcome="refused", target=""))
    text = reply_text(await sandbox.run("audit", channel_id="C0OPS"))
    assert "issued" in text and "acme" in text


async def test_refusals_on_an_admins_own_target_do_not_hide_its_entries(sandbox) -> None:
    """Bob's refused ``token acme`` commands, more than ``--limit`` can show, once pushed
    alice's entries of acme out of ``audit acme``: they are counted now, not listed."""
    await sandbox.run("token acme")
    for _ in range(201):
        await sandbox.run("token acme", user_id="U0BOB", user_name="bob")
    text = reply_text(await sandbox.run("audit acme --limit 200"))
    assert "`token` on *acme*: *issued*" in text
    assert "<@U0BOB> (bob) `token` on *acme*: *refused* 201 times" in text
    assert "`audit acme acme --refused`" not in text and "`audit acme --refused`" in text
    listed = reply_text(await sandbox.run("audit acme --refused --limit 3"))
    assert listed.count("*refused*") == 3 and "issued" not in listed
    bare = reply_text(await sandbox.run("audit", channel_id="C0OPS"))
    assert "*issued*" in bare and "refused* 201 times" in bare
