"""The runner-group fix buttons of a ``group_not_allowed`` alert (issue 20 §1), end to end.

Signed workflow_job deliveries raise the alert; the sweep (``run_once``, time moved by
the test's clock) posts it with the buttons that fit its group's exclusion; signed Slack
clicks press them. The GitHub double records each request and changes its groups as
GitHub would, so the next sweep sees the group's new settings.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import ButtonElement

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.sandbox.slack_double import SlackDouble
from bot.slack.views import fixes as fixes_view
from bot.slack.views.alerts import ACK_ACTION, SNOOZE_ACTION
from bot.slack.views.fix_groups import (
    ALLOW_PUBLIC_ACTION,
    ALLOW_PUBLIC_ACTIONS,
    ALLOW_REPO_ACTION,
    ALLOW_REPO_ACTIONS,
    group_fixes,
)
from bot.watch.alerts import Alert, AlertKind
from bot.watch.diagnosis import Diagnosis, Exclusion, GroupExclusion, Reason
from tests.conftest import Clock
from tests.test_alert_marks import buttons, click, current
from tests.test_watch_sweep import CHANNEL, MINUTE, alerts, queued, seed, sweep

LABELS = ["self-hosted", "gpu"]
GROUP_PATH = r"/orgs/acme/actions/runner-groups/\d+"
PUT_PATH = GROUP_PATH + r"/repositories/\d+"
REPO_IDS: dict[str, int] = {}  # the double's repository ids, as the job payloads say


def seed_groups(gh: GitHubDouble) -> None:
    """acme/api (private) and acme/site (public); gpu-1 in ``gpu-group`` (selected
    repositories: web only, public repositories not allowed)."""
    seed(gh)
    gh.add_repo("acme", "site", private=False)
    group = gh.add_runner_group(
        "/orgs/acme", "gpu-group", visibility="selected", selected_repositories=["web"]
    )
    gh.add_runner("/orgs/acme", "gpu-1", labels=["gpu"], runner_group_id=group)


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(
        keys=keys, seed=seed_groups, policy=PLATFORM_POLICY, clock=clock
    ) as s:
        yield s


async def alert_posted(sb: Sandbox, clock: Clock, repo: str = "api") -> dict[str, Any]:
    """Watch acme, queue a gpu job in ``repo``, let 6 minutes pass: the alert."""
    reply = await sb.run("watch acme", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)
    job = await queued(sb, LABELS, repo=repo)
    REPO_IDS[repo] = int(sb.github.workflow_job_payload(job)["repository"]["id"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    assert "runner group this repository or workflow may not use" in reply_text(message)
    return message


def group(sb: Sandbox) -> dict[str, Any]:
    [found] = [g for g in sb.github.runner_groups("/orgs/acme") if g["name"] == "gpu-group"]
    return found


def group_writes(sb: Sandbox) -> list[tuple[str, str, int]]:
    return [
        (r.method, r.path, r.status)
        for r in sb.github.requests
        if r.method in ("PUT", "PATCH") and "/runner-groups/" in r.path
    ]


async def fix_entries(sb: Sandbox, *, refused: bool = False) -> list[Any]:
    entries = await sb.services.store.audit.recent(target="acme", limit=50, refused=refused)
    return [e for e in entries if e.action in ("allow-repository", "allow-public")]


def the_button(message: dict[str, Any], action: str) -> dict[str, Any]:
    [found] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action
    ]
    return found


# -- which buttons ---------------------------------------------------------------------------


async def test_a_repository_left_out_of_a_selected_group_gets_allow_repo(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock)
    assert buttons(message) == [ALLOW_REPO_ACTION, ACK_ACTION, SNOOZE_ACTION]
    button = the_button(message, ALLOW_REPO_ACTION)
    assert button["text"]["text"] == "Allow acme/api in gpu-group"
    said = button["confirm"]["text"]["text"]
    assert "Every workflow of *acme/api* may then run jobs on the runners of *gpu-group*" in said
    assert "1 runner with these labels" in said
    # The alert links to the group's settings on the configured GitHub.
    gid = group(sb)["id"]
    link = f"https://github.com/organizations/acme/settings/actions/runner-groups/{gid}"
    assert f"<{link}|gpu-group>" in str(message["blocks"])


async def test_a_public_repository_gets_allow_public_and_its_risk(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="all")
    message = await alert_posted(sb, clock, repo="site")
    assert buttons(message) == [ALLOW_PUBLIC_ACTION, ACK_ACTION, SNOOZE_ACTION]
    button = the_button(message, ALLOW_PUBLIC_ACTION)
    assert button["text"]["text"] == "Allow public repositories in gpu-group"
    said = button["confirm"]["text"]["text"]
    assert "Every public repository of *acme* that *gpu-group* admits" in said
    assert "run code from forks' pull requests" in said


async def test_workflow_restrictions_get_a_link_and_no_button(sb: Sandbox, clock: Clock) -> None:
    sb.github.set_runner_group(
        "/orgs/acme",
        "gpu-group",
        visibility="all",
        restricted_to_workflows=True,
        selected_workflows=["acme/api/.github/workflows/deploy.yml@refs/heads/main"],
    )
    message = await alert_posted(sb, clock)
    assert "workflow restrictions" in reply_text(message)
    assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]
    assert "/settings/actions/runner-groups/" in str(message["blocks"])


async def test_a_group_for_private_repositories_only_gets_no_public_button(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="private")
    message = await alert_posted(sb, clock, repo="site")
    assert "private repositories only" in reply_text(message)
    assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]
    assert "/settings/actions/runner-groups/" in str(message["blocks"])


async def test_the_link_is_on_the_configured_github_enterprise_server(
    keys: Keys, clock: Clock
) -> None:
    async with Sandbox.running(
        keys=keys,
        seed=seed_groups,
        policy=PLATFORM_POLICY,
        clock=clock,
        github_url="https://ghes.corp.example",
    ) as sb:
        message = await alert_posted(sb, clock)
        gid = group(sb)["id"]
        link = f"https://ghes.corp.example/organizations/acme/settings/actions/runner-groups/{gid}"
        assert link in str(message["blocks"])


async def test_several_groups_get_distinct_action_ids_and_each_button_works(
    sb: Sandbox, clock: Clock
) -> None:
    """Two groups shut acme/api out: Slack refuses an actions block whose action ids
    repeat, so each group's button has its own, and the second one allows in its group."""
    other = sb.github.add_runner_group(
        "/orgs/acme", "gpu-group-2", visibility="selected", selected_repositories=["web"]
    )
    sb.github.add_runner("/orgs/acme", "gpu-2", labels=["gpu"], runner_group_id=other)
    message = await alert_posted(sb, clock)
    [fixes] = [b for b in message["blocks"] if b.get("block_id") == "alert_fixes"]
    ids = [e["action_id"] for e in fixes["elements"]]
    assert ids == list(ALLOW_REPO_ACTIONS[:2]), ids
    second = the_button(message, ALLOW_REPO_ACTIONS[1])
    assert second["text"]["text"] == "Allow acme/api in gpu-group-2"
    said = await click(sb, message, ALLOW_REPO_ACTIONS[1], "U0ALICE")
    assert "You allowed *acme/api* in runner group *gpu-group-2*" in said, said
    assert group_writes(sb) == [
        ("PUT", f"/orgs/acme/actions/runner-groups/{other}/repositories/{REPO_IDS['api']}", 204)
    ]


async def three_groups_alert(sb: Sandbox, clock: Clock) -> dict[str, Any]:
    """acme/site (public) is shut out of three groups that allow no public repository."""
    for n in (2, 3):
        gid = sb.github.add_runner_group(
            "/orgs/acme", f"gpu-group-{n}", visibility="selected", selected_repositories=["web"]
        )
        sb.github.add_runner("/orgs/acme", f"gpu-{n}", labels=["gpu"], runner_group_id=gid)
    return await alert_posted(sb, clock, repo="site")


def test_three_groups_needing_two_fixes_each_show_all_six() -> None:
    """Three groups each keep the repository out twice (not selected, public not allowed):
    six buttons, all shown, each with its own action id, and no "not shown" line."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    alert = Alert("k", AlertKind.STUCK, "acme", CHANNEL, now, "group_not_allowed", ("gpu",))
    both = (Exclusion.SELECTED_REPOSITORIES, Exclusion.PUBLIC_NOT_ALLOWED)
    groups = tuple(GroupExclusion(n, f"g{n}", both, (f"r{n}",)) for n in (1, 2, 3))
    diagnosis = Diagnosis(
        Reason.GROUP_NOT_ALLOWED, ("gpu",), excluded_groups=groups, repository="acme/site"
    )
    blocks = fixes_view.fixes_block(alert, diagnosis, (group_fixes,))
    [fixes] = [b.to_dict() for b in blocks]
    ids = [e["action_id"] for e in fixes["elements"]]
    assert ids == [i for p in zip(ALLOW_REPO_ACTIONS, ALLOW_PUBLIC_ACTIONS, strict=True) for i in p]
    assert SlackDouble(bot_token="x").refused([fixes], "message") is None


def test_fixes_past_the_cap_are_counted_in_a_line() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    alert = Alert("k", AlertKind.STUCK, "acme", CHANNEL, now, "all_busy", ("gpu",))

    def many(alert: Alert, diagnosis: Diagnosis | None) -> list[ButtonElement]:
        return [ButtonElement(text=f"Fix {n}", action_id=f"fix_{n}") for n in range(10)]

    fixes, more = [b.to_dict() for b in fixes_view.fixes_block(alert, None, (many,))]
    assert len(fixes["elements"]) == fixes_view.MAX_FIX_BUTTONS == 8
    assert more["elements"][0]["text"].startswith("2 more fixes not shown")


async def test_fixes_past_the_cap_are_said_on_the_alert(
    sb: Sandbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fewer buttons allowed than fixes apply, the alert the sweep posts says how
    many it leaves out and where they are made (Slack takes the message)."""
    monkeypatch.setattr(fixes_view, "MAX_FIX_BUTTONS", 2)
    message = await three_groups_alert(sb, clock)
    [fixes] = [b for b in message["blocks"] if b.get("block_id") == "alert_fixes"]
    assert [e["action_id"] for e in fixes["elements"]] == list(ALLOW_PUBLIC_ACTIONS[:2])
    [more] = [b for b in message["blocks"] if b.get("block_id") == "alert_more_fixes"]
    said = more["elements"][0]["text"]
    assert said == "1 more fix not shown: see the runner group settings links"
    assert str(message["blocks"]).count("/settings/actions/runner-groups/") == 3
    # The buttons shown work; the third group's settings are reached by its link.
    name = the_button(message, ALLOW_PUBLIC_ACTIONS[1])["text"]["text"]
    said = await click(sb, message, ALLOW_PUBLIC_ACTIONS[1], "U0ALICE")
    assert name.startswith("Allow public repositories in gpu-group")
    assert "You allowed public repositories in runner group *gpu-group" in said, said


def test_slack_refuses_an_actions_block_whose_action_ids_repeat() -> None:
    """The Slack double answers as Slack does (``invalid_blocks``), so a message that
    repeats an id in one actions block fails the tests that post it."""
    slack = SlackDouble(bot_token="xoxb-test")
    button = {"type": "button", "text": {"type": "plain_text", "text": "Allow"}}
    twice = [{**button, "action_id": ALLOW_REPO_ACTION}] * 2
    refused = slack.refused([{"type": "actions", "elements": twice}], "message")
    assert refused is not None and refused["error"] == "invalid_blocks"
    assert ALLOW_REPO_ACTION in refused["errors"][0]
    distinct = [{**button, "action_id": a} for a in ALLOW_REPO_ACTIONS]
    apart = [{"type": "actions", "elements": [e]} for e in twice]  # one per block is fine
    assert slack.refused([{"type": "actions", "elements": distinct}], "message") is None
    assert slack.refused(apart, "message") is None


async def test_other_reasons_get_no_group_button(sb: Sandbox, clock: Clock) -> None:
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="all")
    sb.github.set_runner("/orgs/acme", "gpu-1", status="offline")
    reply = await sb.run("watch acme", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply)
    await queued(sb, LABELS)
    clock.advance(6 * MINUTE)
    await sweep(sb)
    stuck = [m for m in alerts(sb) if "waiting for" in reply_text(m)]
    assert stuck and all(
        ALLOW_REPO_ACTION not in buttons(m) and ALLOW_PUBLIC_ACTION not in buttons(m) for m in stuck
    )
    assert "/settings/actions/runner-groups/" not in str([m["blocks"] for m in stuck])


# -- the clicks --------------------------------------------------------------------------------


async def test_allow_repo_adds_it_and_the_next_sweep_resolves_the_alert(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    async with Sandbox.running(
        keys=keys, seed=seed_groups, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        message = await alert_posted(sb, clock)
        gid = group(sb)["id"]
        said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
        assert "You allowed *acme/api* in runner group *gpu-group*" in said
        # Exactly the documented write, with the id GET /repos/acme/api gave.
        path = f"/orgs/acme/actions/runner-groups/{gid}/repositories/{REPO_IDS['api']}"
        assert group_writes(sb) == [("PUT", path, 204)]
        assert sb.github.count("GET", r"/repos/acme/api") == 1
        # The alert says who fixed it, in place.
        shown = current(sb, message)
        assert "Fixed by <@U0ALICE> at" in str(shown["blocks"])
        assert "allowed acme/api in gpu-group" in str(shown["blocks"])
        [entry] = await fix_entries(sb)
        assert (entry.action, entry.outcome, entry.user_id) == (
            "allow-repository",
            "allowed",
            "U0ALICE",
        )
        assert "acme/api in gpu-group" in entry.detail
        # GitHub's listings now admit the repository: the next sweep resolves the alert.
        clock.advance(MINUTE)
        assert (await sweep(sb)).resolved == 1
        assert "Resolved" in reply_text(current(sb, message))


async def test_allow_public_sets_it_and_the_next_sweep_resolves_the_alert(
    sb: Sandbox, clock: Clock
) -> None:
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="all")
    message = await alert_posted(sb, clock, repo="site")
    gid = group(sb)["id"]
    said = await click(sb, message, ALLOW_PUBLIC_ACTION, "U0ALICE")
    assert "You allowed public repositories in runner group *gpu-group*" in said
    assert group_writes(sb) == [("PATCH", f"/orgs/acme/actions/runner-groups/{gid}", 200)]
    now = group(sb)
    assert now["allows_public_repositories"] is True
    assert (now["name"], now["visibility"]) == ("gpu-group", "all")  # nothing else changed
    assert "allowed public repositories in gpu-group" in str(current(sb, message)["blocks"])
    [entry] = await fix_entries(sb)
    assert (entry.action, entry.outcome) == ("allow-public", "allowed")
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1


async def test_a_click_without_the_grant_is_refused_privately_and_asks_nothing(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock)
    before, updates = len(sb.github.requests), len(sb.slack.updated)
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0BOB")  # reads, no admin
    assert "You may not `allow-repository` on *acme* (a *admin* action)" in said
    assert len(sb.github.requests) == before
    assert len(sb.slack.updated) == updates
    [refusal] = await fix_entries(sb, refused=True)
    assert (refusal.user_id, refusal.target) == ("U0BOB", "acme")
    assert await fix_entries(sb) == []


async def test_a_grant_on_the_repository_does_not_reach_its_organization_groups(
    keys: Keys, clock: Clock
) -> None:
    policy = (
        PLATFORM_POLICY
        + """
[[grant]]
name = "api owners"
actions = ["read", "token", "admin"]
users = ["U0BOB"]
targets = ["acme/api"]
"""
    )
    async with Sandbox.running(keys=keys, seed=seed_groups, policy=policy, clock=clock) as sb:
        message = await alert_posted(sb, clock)
        before = len(sb.github.requests)
        assert "You may not" in await click(sb, message, ALLOW_REPO_ACTION, "U0BOB")
        assert len(sb.github.requests) == before


async def test_allowed_since_the_alert_says_so_and_writes_nothing(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock)
    sb.github.set_runner_group("/orgs/acme", "gpu-group", selected_repositories=["web", "api"])
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "*acme/api* is already allowed in runner group *gpu-group*" in said
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="all")
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "no longer admits only selected repositories" in said
    assert group_writes(sb) == []
    assert await fix_entries(sb) == []
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_public_allowed_since_the_alert_says_so(sb: Sandbox, clock: Clock) -> None:
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="all")
    message = await alert_posted(sb, clock, repo="site")
    sb.github.set_runner_group("/orgs/acme", "gpu-group", visibility="private")
    said = await click(sb, message, ALLOW_PUBLIC_ACTION, "U0ALICE")
    assert "now admits private repositories only" in said
    sb.github.set_runner_group(
        "/orgs/acme", "gpu-group", visibility="all", allows_public_repositories=True
    )
    said = await click(sb, message, ALLOW_PUBLIC_ACTION, "U0ALICE")
    assert "already allows public repositories" in said
    assert group_writes(sb) == [] and await fix_entries(sb) == []


async def test_github_errors_are_answered_in_words(sb: Sandbox, clock: Clock) -> None:
    message = await alert_posted(sb, clock)
    # 422: GitHub refuses the change.
    sb.github.add_fault("PUT", PUT_PATH, status=422, body={"message": "Validation Failed"})
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "GitHub refused to change runner group *gpu-group*: Validation Failed" in said
    # 404: the group went away between the check and the write.
    sb.github.add_fault("PUT", PUT_PATH, status=404, body={"message": "Not Found"})
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "GitHub has no runner group *gpu-group* in *acme* any more" in said
    # 403: the App may read the group and not change it.
    sb.github.set_permissions("acme", {"organization_self_hosted_runners": "read"})
    sb.github.expire_installation_tokens()
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "runnerops lacks organization permission “Self-hosted runners” (read and write)" in said
    outcomes = [e.outcome for e in await fix_entries(sb)]
    assert outcomes == ["failed"] * 3, outcomes
    assert "Fixed by" not in str(current(sb, message)["blocks"])
    assert group(sb)["visibility"] == "selected"


async def test_a_click_on_a_resolved_alert_says_it_is_over_and_asks_nothing(
    sb: Sandbox, clock: Clock
) -> None:
    message = await alert_posted(sb, clock)
    sb.github.set_runner_group("/orgs/acme", "gpu-group", selected_repositories=["web", "api"])
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1
    before = len(sb.github.requests)
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "This alert is over (resolved, or its watch removed): nothing was done." in said
    assert "acknowledge" not in said
    assert len(sb.github.requests) == before and await fix_entries(sb) == []
    assert "Resolved" in reply_text(current(sb, message))


async def test_an_alert_resolved_while_the_fix_runs_stays_resolved(
    sb: Sandbox, clock: Clock
) -> None:
    """The alert resolves between the click's check and GitHub's answer: the change is
    made and said to the clicker, and the resolved message is left as it is (no fix note
    drawing the open alert back over it)."""
    message = await alert_posted(sb, clock)
    arrived, release = asyncio.Event(), asyncio.Event()
    sb.github.add_fault("PUT", PUT_PATH, side_effect=arrived.set, hold=release)
    pending = asyncio.create_task(click(sb, message, ALLOW_REPO_ACTION, "U0ALICE"))
    await asyncio.wait_for(arrived.wait(), 30)
    sb.github.set_runner_group("/orgs/acme", "gpu-group", selected_repositories=["web", "api"])
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1
    updates = len(sb.slack.updated)
    release.set()
    said = await pending
    assert "You allowed *acme/api* in runner group *gpu-group*" in said, said
    assert len(sb.slack.updated) == updates
    shown = current(sb, message)
    assert "Resolved" in reply_text(shown) and "Fixed by" not in str(shown["blocks"])


async def test_a_repository_gone_before_the_click_is_said(sb: Sandbox, clock: Clock) -> None:
    message = await alert_posted(sb, clock)
    sb.github.remove_repo("acme", "api")
    said = await click(sb, message, ALLOW_REPO_ACTION, "U0ALICE")
    assert "GitHub has no repository *acme/api* that runnerops can see" in said
    assert group_writes(sb) == [] and await fix_entries(sb) == []


async def test_a_double_click_on_two_processes_is_harmless(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Two runnerops processes (one database, one GitHub): Alice and Bob click at once,
    one on each. Adding a repository is idempotent on GitHub: the group admits it once,
    every write is a 204, and a later click is told it is allowed already."""
    async with Sandbox.running(
        keys=keys, seed=seed_groups, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        message = await alert_posted(sb, clock)
        async with Sandbox.running(
            keys=keys,
            policy=PLATFORM_POLICY,
            clock=clock,
            database_url=database_url,
            github_api_url=sb.settings.github_api_url,  # the same GitHub as the first
        ) as other:
            both = await asyncio.gather(
                click(sb, message, ALLOW_REPO_ACTION, "U0ALICE"),
                click(other, message, ALLOW_REPO_ACTION, "U0ALICE"),
            )
            later = await click(other, message, ALLOW_REPO_ACTION, "U0ALICE")
        assert any("You allowed" in s for s in both), both
        assert all("You allowed" in s or "already allowed" in s for s in both), both
        assert "already allowed" in later
        writes = group_writes(sb)
        assert 1 <= len(writes) <= 2 and all(w[0] == "PUT" and w[2] == 204 for w in writes)
        selected = sb.github.count("GET", r"/orgs/acme/actions/runner-groups/\d+/repositories")
        assert selected == 3  # each click read the group's repositories first
        outcomes = [e.outcome for e in await fix_entries(sb)]
        assert outcomes == ["allowed"] * len(writes), outcomes


async def test_a_forged_group_fix_is_refused_privately_and_the_alert_stays(
    sb: Sandbox, clock: Clock
) -> None:
    """A value runnerops did not write (no group id) is answered to the clicker alone:
    the channel's alert is not replaced, and GitHub is not written to."""
    message = await alert_posted(sb, clock)
    forged = json.loads(json.dumps(message))
    for block in forged["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ALLOW_REPO_ACTION:
                value = json.loads(element["value"])
                value["fix"].pop("group_id")
                element["value"] = json.dumps(value)
    reply = await sb.click(forged, ALLOW_REPO_ACTION, user_id="U0ALICE", channel_id=CHANNEL)
    assert "not valid" in reply_text(reply)
    assert not reply.get("replace_original") and reply.get("response_type") == "ephemeral"
    assert group_writes(sb) == [] and current(sb, message) == message
