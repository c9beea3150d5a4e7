"""prune end to end: signed commands and clicks, the GitHub double, an injected clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Sandbox, reply_text
from bot.slack.prune import PRUNE_ACTION
from bot.store import once
from tests.conftest import Clock

DAY = 86400.0
ORG = "/orgs/acme"


def seed(gh: GitHubDouble) -> None:
    gh.add_org("acme")
    gh.add_installation("acme")
    for i in range(1, 7):
        gh.add_runner(ORG, f"dead-{i}", status="offline", labels=["gpu"] if i <= 2 else [])
    gh.add_runner(ORG, "alive", status="online")
    gh.add_runner(ORG, "busy-offline", status="offline", busy=True)


@pytest.fixture
async def sb(make_sandbox: Any, clock: Clock) -> Any:
    async with make_sandbox(seed=seed, clock=clock, policy=PLATFORM_POLICY) as sandbox:
        yield sandbox


async def summary_of(sb: Sandbox, message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Click Delete and return the last message: progress may come first."""
    body, response_url = sb.click_body(message, action_id=PRUNE_ACTION, **kwargs)
    sent = await sb.post_slack(body, sb.signed_headers(body), response_url)
    assert sent.status == 200
    while True:
        reply = await sb.slack.next_reply(response_url, 30)
        if "Pruning" not in reply_text(reply):
            return reply


def names(sb: Sandbox) -> set[str]:
    return {r["name"] for r in sb.github.runners(ORG)}


async def test_dry_run_then_delete(sb: Sandbox, clock: Clock) -> None:
    first = reply_text(await sb.run("prune acme"))
    assert "Nothing to prune" in first  # never seen before: offline counts from now
    assert "6 offline runners runnerops has never seen online" in first  # and it says so
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    text = reply_text(ask)
    assert "6 runners" in text and "never seen online" in text
    assert all(f"dead-{i}" in text for i in range(1, 7))
    assert "alive" not in text.split("Kept")[0] and "1 online" in text and "1 busy" in text
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == 0  # a dry run
    done = reply_text(await summary_of(sb, ask))
    assert "6 deleted, 0 skipped, 0 failed" in done
    assert names(sb) == {"alive", "busy-offline"}
    entries = await sb.services.store.audit.recent(limit=50)
    deleted = [e for e in entries if e.action == "prune" and e.outcome == "deleted"]
    planned = [e for e in entries if e.outcome == "planned"]
    assert len(deleted) == 6 and len(planned) == 2
    assert planned[0].detail.startswith("6 runners")


async def test_each_runner_is_checked_again_before_its_delete(sb: Sandbox, clock: Clock) -> None:
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    sb.github.set_runner(ORG, "dead-1", status="online")  # came back
    sb.github.set_runner(ORG, "dead-2", busy=True)  # took a job
    sb.github.remove_runner(ORG, "dead-3")  # removed elsewhere
    done = reply_text(await summary_of(sb, ask))
    assert "3 deleted, 3 skipped, 0 failed" in done
    assert "came back online" in done and "is running a job" in done
    assert "was already gone" in done
    assert {"dead-1", "dead-2"} <= names(sb) and "dead-4" not in names(sb)


async def test_filters_and_last_seen_online(sb: Sandbox, clock: Clock) -> None:
    sb.github.set_runner(ORG, "alive", status="online")
    await sb.run("prune acme")  # alive is seen online now
    sb.github.set_runner(ORG, "alive", status="offline")
    clock.advance(3 * DAY)
    text = reply_text(await sb.run("prune acme --label GPU --offline-for 2d"))
    assert "2 runners" in text and "dead-1" in text and "dead-3" not in text
    assert "not matching the filters" in text
    text = reply_text(await sb.run("prune acme --name aliv"))
    assert "1 runner" in text and "last seen online 3d" in text
    text = reply_text(await sb.run("prune acme --offline-for 4d"))
    assert "Nothing to prune" in text


async def test_two_clicks_prune_once(sb: Sandbox, clock: Clock) -> None:
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    sb.github.add_fault("DELETE", ORG + "/actions/runners/.*", delay=0.2, times=None)
    first, second = await asyncio.gather(summary_of(sb, ask), summary_of(sb, ask))
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == 6
    for reply in (first, second):
        assert "6 deleted" in reply_text(reply)


class HeldPause:
    """An injected sleep that moves the clock and, once ``hold`` seconds of a pause have
    passed, waits for the test: the prune is then mid-pause, its claim's lease long gone
    by but renewed as it went."""

    def __init__(self, clock: Clock, hold: float) -> None:
        self.clock, self.hold, self.slept = clock, hold, 0.0
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.slept += seconds
        if self.slept >= self.hold and not self.reached.is_set():
            self.reached.set()
            await self.release.wait()


def deletes(sb: Sandbox) -> dict[str, int]:
    """Successful DELETEs per runner path."""
    done: dict[str, int] = {}
    for rec in sb.github.requests:
        if rec.method == "DELETE" and rec.status == 204:
            done[rec.path] = done.get(rec.path, 0) + 1
    return done


async def start_paused(
    sb: Sandbox, clock: Clock, held: HeldPause, limited: int = 1
) -> tuple[dict[str, Any], str]:
    """Click Delete with the first ``limited`` DELETEs rate-limited for ten minutes;
    return once the prune is held in its pause and all those DELETEs have arrived."""
    sb.services.sleep = held
    arrived: list[int] = []
    all_arrived = asyncio.Event()

    def arrive() -> None:
        arrived.append(1)
        if len(arrived) == limited:
            all_arrived.set()

    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    sb.github.add_fault(
        "DELETE",
        ORG + "/actions/runners/.*",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(clock() + 600))},
        body={"message": "API rate limit exceeded"},
        times=limited,
        side_effect=arrive,
    )
    body, response_url = sb.click_body(ask, action_id=PRUNE_ACTION)
    assert (await sb.post_slack(body, sb.signed_headers(body), response_url)).status == 200
    await held.reached.wait()
    await all_arrived.wait()
    return ask, response_url


async def last_reply(sb: Sandbox, response_url: str) -> dict[str, Any]:
    while True:
        reply = await sb.slack.next_reply(response_url, 30)
        if "Pruning" not in reply_text(reply):
            return reply


async def test_a_click_during_a_long_prune_does_not_prune_again(
    make_sandbox: Any, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(once, "WAIT", 0.5)  # the second click's wait for the first one
    held = HeldPause(clock, hold=300)  # five leases into a ten-minute rate-limit pause
    async with make_sandbox(
        seed=seed, clock=clock, policy=PLATFORM_POLICY, database_url=database_url
    ) as sb:
        ask, first_url = await start_paused(sb, clock, held)
        second = reply_text(await summary_of(sb, ask))
        assert "Another click is pruning" in second
        held.release.set()
        first = reply_text(await last_reply(sb, first_url))
        assert "6 deleted, 0 skipped, 0 failed" in first
        assert len(deletes(sb)) == 6 and set(deletes(sb).values()) == {1}
        third = reply_text(await summary_of(sb, ask))  # a click after it: the outcome
        assert "6 deleted" in third and len(deletes(sb)) == 6


async def test_a_prune_whose_process_stopped_beating_is_taken_over(
    make_sandbox: Any, clock: Clock, database_url: str
) -> None:
    held = HeldPause(clock, hold=300)
    async with make_sandbox(
        seed=seed, clock=clock, policy=PLATFORM_POLICY, database_url=database_url
    ) as sb:
        # Every worker meets the limit: none finishes a runner (and beats) from now on.
        ask, first_url = await start_paused(sb, clock, held, limited=4)
        clock.advance(once.LEASE.total_seconds() + 1)  # held: no heartbeat, as if it died
        second = reply_text(await summary_of(sb, ask))
        assert "Prune of" in second and "Another click" not in second  # it pruned
        held.release.set()
        first = reply_text(await last_reply(sb, first_url))
        assert "Prune of" in first  # the old holder's re-checks find the rest gone
        assert len(deletes(sb)) == 6 and set(deletes(sb).values()) == {1}


async def test_a_rate_limit_pauses_the_work_and_says_so(sb: Sandbox, clock: Clock) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    sb.services.sleep = sleep
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    reset = int(clock() + 120)
    sb.github.add_fault(
        "DELETE",
        ORG + "/actions/runners/.*",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded"},
    )
    body, response_url = sb.click_body(ask, action_id=PRUNE_ACTION)
    await sb.post_slack(body, sb.signed_headers(body), response_url)
    seen = []
    while not seen or "Pruning" in reply_text(seen[-1]):
        seen.append(await sb.slack.next_reply(response_url, 30))
    assert any("Paused for GitHub's rate limit" in reply_text(r) for r in seen)
    assert "6 deleted, 0 skipped, 0 failed" in reply_text(seen[-1])
    assert waited and 100 < sum(waited) <= 121  # in slices, the claim renewed between


async def test_prune_needs_admin_at_the_command_and_the_click(sb: Sandbox, clock: Clock) -> None:
    refused = reply_text(await sb.run("prune acme", user_id="U0BOB", user_name="bob"))
    assert "may not" in refused
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    clicked = reply_text(await summary_of(sb, ask, user_id="U0BOB", user_name="bob"))
    assert "may not" in clicked
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == 0


async def test_an_expired_plan_deletes_nothing(sb: Sandbox, clock: Clock) -> None:
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    clock.advance(DAY + 1)
    assert "expired" in reply_text(await summary_of(sb, ask))
    assert sb.github.count("DELETE", ORG + "/actions/runners/.*") == 0


@pytest.mark.parametrize("bad", ["prune", "prune acme --offline-for 5x", "prune acme/api extra"])
async def test_bad_input_is_explained(sb: Sandbox, bad: str) -> None:
    text = reply_text(await sb.run(bad))
    assert "prune TARGET" in text
    assert sb.github.count("GET", ORG + "/actions/runners") == 0


def test_a_thousand_runners_fit_slack() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.fleet.prune import Candidate, Selection, Since, Tally
    from bot.github.models import Runner
    from bot.slack import prune as view
    from bot.targets import parse_target

    now = datetime(2026, 11, 29, tzinfo=UTC)
    candidates = tuple(
        Candidate(
            Runner(id=i, name=f"runner-{'x' * 60}-{i}"),
            now - timedelta(days=3),
            Since.FIRST_OFFLINE,
        )
        for i in range(1000)
    )
    selection = Selection(candidates, never_seen_online=1000, over_limit=250)
    target = parse_target("acme")
    for reply in (
        view.plan(
            target, selection, "p" * 32, criteria="offline for 1d or more", now=now, incomplete=True
        ),
        view.summary(
            target,
            Tally(
                1000,
                deleted=[c.runner.name for c in candidates[:400]],
                skipped={"came back online": [c.runner.name for c in candidates[400:700]]},
                failed={"GitHubUnavailable": [c.runner.name for c in candidates[700:]]},
            ),
            "U0ALICE",
        ),
    ):
        payload = reply.payload()  # slack_sdk validates each element's limits
        assert len(payload["blocks"]) <= 50
        assert len(json.dumps(payload["blocks"])) < 13_000


async def test_a_big_prune_posts_one_summary_to_the_audit_channel(
    make_sandbox: Any, clock: Clock
) -> None:
    def many(gh: GitHubDouble) -> None:
        seed(gh)
        for i in range(60):
            gh.add_runner(ORG, f"gone-{i}", status="offline")

    async with make_sandbox(
        seed=many, clock=clock, policy=PLATFORM_POLICY, audit_slack_channel="C0AUDIT"
    ) as sb:
        await sb.run("prune acme")
        clock.advance(2 * DAY)
        ask = await sb.run("prune acme")
        before = len(sb.slack.posted)
        assert "66 deleted" in reply_text(await summary_of(sb, ask))
        posts = [p for p in sb.slack.posted[before:] if p.get("channel") == "C0AUDIT"]
        assert len(posts) == 1, [p["text"] for p in posts]
        assert "`prune` on *acme*: *pruned* — 66 of 66 runners deleted" in posts[0]["text"]
        assert "and 56 more" in posts[0]["text"]
        entries = await sb.services.store.audit.recent(limit=200)
        deleted = [e for e in entries if e.action == "prune" and e.outcome == "deleted"]
        assert len(deleted) == 66  # one entry per runner stays in the trail


def runner_path(sb: Sandbox, name: str) -> str:
    rid = next(r["id"] for r in sb.github.runners(ORG) if r["name"] == name)
    return f"{ORG}/actions/runners/{rid}"


def rate_limited(sb: Sandbox, path: str, reset: float, method: str = "DELETE") -> None:
    sb.github.add_fault(
        method,
        path,
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset))},
        body={"message": "API rate limit exceeded"},
    )


async def all_replies(sb: Sandbox, ask: dict[str, Any]) -> list[dict[str, Any]]:
    body, response_url = sb.click_body(ask, action_id=PRUNE_ACTION)
    assert (await sb.post_slack(body, sb.signed_headers(body), response_url)).status == 200
    seen = [await sb.slack.next_reply(response_url, 30)]
    while "Pruning" in reply_text(seen[-1]):
        seen.append(await sb.slack.next_reply(response_url, 30))
    return seen


async def test_many_pauses_leave_room_for_the_summary(sb: Sandbox, clock: Clock) -> None:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    sb.services.sleep = sleep
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    for k in range(1, 7):  # one rate limit after another: six pauses
        rate_limited(sb, ORG + "/actions/runners/.*", clock() + 100 * k)
    seen = await all_replies(sb, ask)
    # Slack takes five posts per response_url: the summary must not be a sixth.
    assert len(seen) <= 5, [reply_text(r) for r in seen]
    assert any("Paused for GitHub's rate limit" in reply_text(r) for r in seen)
    assert "6 deleted, 0 skipped, 0 failed" in reply_text(seen[-1])


async def test_a_long_rate_limit_says_run_prune_again(sb: Sandbox, clock: Clock) -> None:
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    rate_limited(sb, ORG + "/actions/runners/.*", clock() + 3600)  # past the longest pause
    done = reply_text((await all_replies(sb, ask))[-1])
    assert "not attempted" in done and "run `prune` again" in done
    assert "press the button" not in done


async def test_failures_are_given_in_words(sb: Sandbox, clock: Clock) -> None:
    await sb.run("prune acme")
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme")
    refused = {"message": "Resource not accessible by integration"}
    for method, name in (("GET", "dead-1"), ("DELETE", "dead-2")):  # also after a re-mint
        sb.github.add_fault(method, runner_path(sb, name), status=403, body=refused, times=None)
    done = reply_text((await all_replies(sb, ask))[-1])
    assert "4 deleted, 0 skipped, 2 failed" in done
    assert "failed (check failed: GitHub refused: runnerops lacks organization permission" in done
    assert "failed (GitHub refused: runnerops lacks organization permission" in done
    assert "Forbidden" not in done
    entries = await sb.services.store.audit.recent(limit=50)
    failed = [e for e in entries if e.action == "prune" and e.outcome == "failed"]
    assert [e.detail.startswith("dead-2: GitHub refused") for e in failed] == [True]


@pytest.mark.parametrize(
    ("target", "path", "prefix"),
    [
        ("acme/api", "/repos/acme/api", ""),
        ("acme/api", "/repos/acme/api", "/api/v3"),
        ("enterprise:octo-ent", "/enterprises/octo-ent", "/api/v3"),  # GHES, with the PAT
    ],
    ids=["repo", "ghes-repo", "ghes-enterprise"],
)
async def test_prune_at_repository_and_enterprise_scope(
    make_sandbox: Any, clock: Clock, target: str, path: str, prefix: str
) -> None:
    def fleet(gh: GitHubDouble) -> None:
        gh.add_org("acme")
        gh.add_repo("acme", "api")
        gh.add_installation("acme")
        gh.add_enterprise("octo-ent")
        for i in range(1, 4):
            gh.add_runner(path, f"dead-{i}", status="offline")
        gh.add_runner(path, "alive", status="online")

    async with make_sandbox(seed=fleet, clock=clock, policy=PLATFORM_POLICY, prefix=prefix) as sb:
        await sb.run(f"prune {target}")
        clock.advance(2 * DAY)
        ask = await sb.run(f"prune {target}")
        assert "3 runners" in reply_text(ask)
        done = reply_text(await summary_of(sb, ask))
        assert "3 deleted, 0 skipped, 0 failed" in done
        assert {r["name"] for r in sb.github.runners(path)} == {"alive"}
        assert sb.github.count("DELETE", path + "/actions/runners/[0-9]+") == 3
        assert all(r.path.startswith(("/app/", path)) for r in sb.github.requests)


async def test_a_runner_that_came_back_since_the_dry_run_is_skipped(
    sb: Sandbox, clock: Clock
) -> None:
    """build-7 was planned at a day offline, then seen online by the watch for five hours,
    then went offline a minute before the click: GitHub says only "offline" now, but by
    runnerops' records it has been offline one minute, not a day. Skipped, not deleted."""
    assert "Watching" in reply_text(await sb.run("watch acme", channel_id="C0ALERTS"))
    sb.github.add_runner(ORG, "build-7", status="offline")
    assert sb.sweeper is not None
    await sb.sweeper.run_once()  # first seen offline now
    clock.advance(2 * DAY)
    ask = await sb.run("prune acme --offline-for 1d")
    assert "build-7" in reply_text(ask)
    sb.github.set_runner(ORG, "build-7", status="online")
    for _ in range(5):  # the watch sees it online, hour after hour
        clock.advance(3600)
        await sb.sweeper.run_once()
    sb.github.set_runner(ORG, "build-7", status="offline")
    await sb.sweeper.run_once()  # and offline again
    clock.advance(60)
    done = reply_text(await summary_of(sb, ask))
    assert "build-7" in done and "came back online since the dry run" in done
    assert "build-7" in names(sb)  # not deleted
    assert {f"dead-{i}" for i in range(1, 7)}.isdisjoint(names(sb))  # the others were
    rid = next(r["id"] for r in sb.github.runners(ORG) if r["name"] == "build-7")
    assert sb.github.count("DELETE", f"{ORG}/actions/runners/{rid}") == 0
    assert "6 deleted, 1 skipped, 0 failed" in done
