"""watch, unwatch, watching: signed slash commands, the Slack double recording what the
channel sees."""

from __future__ import annotations

import pytest

from bot.sandbox.harness import Sandbox, reply_text


async def test_watch_posts_a_confirmation_and_stores_the_watch(sandbox: Sandbox) -> None:
    reply = await sandbox.run("watch acme --after 2m", channel_id="C0ALERTS")
    assert "Watching *acme*" in reply_text(reply)
    assert reply.get("response_type") == "ephemeral"
    [message] = sandbox.slack.in_channel("C0ALERTS")
    assert "jobs queued longer than 2m" in message["text"]
    assert "runners offline longer than 10m" in message["text"]
    [watch] = await sandbox.services.store.watches.all()
    assert (watch.channel, watch.target, watch.after.total_seconds()) == ("C0ALERTS", "acme", 120)
    [entry] = await sandbox.services.store.audit.recent(target="acme")
    assert (entry.action, entry.outcome) == ("watch", "watched")


async def test_watching_again_updates_the_thresholds(sandbox: Sandbox) -> None:
    await sandbox.run("watch acme/api", channel_id="C0ALERTS")
    reply = await sandbox.run("watch acme/api --offline-after 1h", channel_id="C0ALERTS")
    assert "Still watching" in reply_text(reply)
    [watch] = await sandbox.services.store.watches.all()
    assert watch.offline_after.total_seconds() == 3600 and watch.after.total_seconds() == 300
    listed = reply_text(await sandbox.run("watching", user_id="U0BOB", user_name="bob"))
    assert "*acme/api* in <#C0ALERTS>" in listed and "offline > 1h" in listed
    assert "<@U0ALICE>" in listed


async def test_not_in_channel_stores_nothing_and_says_how_to_invite(sandbox: Sandbox) -> None:
    sandbox.slack.not_in.add("C0PRIVATE")
    reply = reply_text(await sandbox.run("watch acme", channel_id="C0PRIVATE"))
    assert "/invite @runnerops" in reply and "not_in_channel" in reply
    assert await sandbox.services.store.watches.all() == []
    assert sandbox.slack.in_channel("C0PRIVATE") == []


async def test_watch_of_an_account_without_the_app_stores_nothing(sandbox: Sandbox) -> None:
    reply = reply_text(await sandbox.run("watch globex", channel_id="C0ALERTS"))
    assert "not installed" in reply
    assert await sandbox.services.store.watches.all() == []
    assert sandbox.slack.in_channel("C0ALERTS") == []


async def test_watch_needs_admin_and_bad_durations_change_nothing(sandbox: Sandbox) -> None:
    refused = reply_text(await sandbox.run("watch acme", user_id="U0BOB", user_name="bob"))
    assert "You may not `watch`" in refused
    bad = reply_text(await sandbox.run("watch acme --after 5 minutes"))
    assert "Usage:" in bad
    assert await sandbox.services.store.watches.all() == []
    assert sandbox.slack.posted == []


async def test_unwatch(sandbox: Sandbox) -> None:
    await sandbox.run("watch acme", channel_id="C0ALERTS")
    other = reply_text(await sandbox.run("unwatch acme", channel_id="C0ELSE"))
    assert "does not watch" in other
    assert len(await sandbox.services.store.watches.all()) == 1
    done = reply_text(await sandbox.run("unwatch ACME", channel_id="C0ALERTS"))
    assert "no longer watches" in done
    assert await sandbox.services.store.watches.all() == []
    entries = await sandbox.services.store.audit.recent(target="acme")
    assert [e.action for e in entries] == ["unwatch", "watch"]


async def test_help_covers_the_watch_verbs(sandbox: Sandbox) -> None:
    overview = reply_text(await sandbox.run("help"))
    for verb in ("watch", "unwatch", "watching", "queue", "why", "stats"):
        assert f"/runners {verb}" in overview
        one = reply_text(await sandbox.run(f"help {verb}"))
        assert f"*{verb}*:" in one
    assert "--offline-after DURATION" in reply_text(await sandbox.run("help watch"))


async def test_a_database_outage_gets_a_clear_reply(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store.database import StoreUnavailable

    async def down() -> list[object]:
        raise StoreUnavailable("watch read")

    monkeypatch.setattr(sandbox.services.store.watches, "all", down)
    text = reply_text(await sandbox.run("watching"))
    assert "database did not answer; nothing was changed" in text
