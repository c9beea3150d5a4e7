"""One deployment, several organizations: GITHUB_ALLOWED_ACCOUNTS through the harness.

Three organizations each install the App (their own installation); a fourth installs the
public App without being allowed. Signed commands and signed webhooks go in; the GitHub
double records which installation's token each request carried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.github.client import OWNER_RETRY
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys, Sandbox, reply_text
from bot.slack.views.home import MAX_BLOCKS, PER_TARGET, Panel, home_view
from bot.slack.views.prune import PRUNE_ACTION
from tests.conftest import Clock

ORGS = ("acme", "globex", "initech")
STRANGER = "umbrella"  # installed the public App; not allowed
DAY = 86400.0
KEY = "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----"
BASE = {
    "GITHUB_APP_ID": "1",
    "GITHUB_PRIVATE_KEY": KEY,
    "GITHUB_WEBHOOK_SECRET": "w",
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_BOT_TOKEN": "xoxb-1",
}


def seed(gh: GitHubDouble) -> None:
    for org in (*ORGS, STRANGER):
        gh.add_org(org)
        gh.add_repo(org, "api")
        gh.add_installation(org)
        gh.add_runner(f"/orgs/{org}", f"{org}-idle", labels=["gpu"])
        gh.add_runner(f"/orgs/{org}", f"{org}-dead", status="offline")
    gh.app_owner = "acme"


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], clock: Clock) -> AsyncIterator[Sandbox]:
    # Typed by an operator in any case; read as GitHub compares logins.
    env = {**BASE, "GITHUB_ALLOWED_ACCOUNTS": " ACME, Globex,,initech "}
    allowed = load_settings(env).github_allowed_accounts
    assert allowed == ORGS
    async with make_sandbox(seed=seed, clock=clock, github_allowed_accounts=allowed) as sandbox:
        yield sandbox


def installation_of(sb: Sandbox, org: str) -> int:
    return next(i["id"] for i in sb.github.installations() if i["account"]["login"] == org)


def org_of(path: str) -> str | None:
    found = re.match(r"/(?:orgs|repos)/([^/]+)", path)
    return found.group(1).lower() if found else None


def test_the_setting_is_read_and_checked() -> None:
    base = BASE
    assert load_settings(base).github_allowed_accounts == ()  # the App's owner
    assert load_settings({**base, "GITHUB_ALLOWED_ACCOUNTS": "a,A,b"}).github_allowed_accounts == (
        "a",
        "b",
    )
    with pytest.raises(ConfigError, match="GITHUB_ALLOWED_ACCOUNTS holds GitHub logins"):
        load_settings({**base, "GITHUB_ALLOWED_ACCOUNTS": "acme;globex"})


async def test_list_token_watch_and_prune_on_each_organization(sb: Sandbox, clock: Clock) -> None:
    for org in ORGS:
        listed = reply_text(await sb.run(f"list {org.upper()}"))
        assert f"{org}-idle" in listed and f"{org}-dead" in listed
        assert "not served" not in listed and "not installed" not in listed
        token = reply_text(await sb.run(f"token {org}"))
        assert "registration token" in token.lower() and "not served" not in token
        watched = reply_text(await sb.run(f"watch {org}", channel_id="C0ALERTS"))
        assert f"Watching *{org}*" in watched
        first = reply_text(await sb.run(f"prune {org}"))
        assert "Nothing to prune" in first
    assert sb.sweeper is not None
    await sb.sweeper.run_once()
    clock.advance(2 * DAY)
    for org in ORGS:
        ask = await sb.run(f"prune {org}")
        assert f"{org}-dead" in reply_text(ask)
        body, response_url = sb.click_body(ask, action_id=PRUNE_ACTION)
        sent = await sb.post_slack(body, sb.signed_headers(body), response_url)
        assert sent.status == 200
        while "Pruning" in (done := reply_text(await sb.slack.next_reply(response_url, 30))):
            pass
        assert "1 deleted, 0 skipped, 0 failed" in done
        assert {r["name"] for r in sb.github.runners(f"/orgs/{org}")} == {f"{org}-idle"}

    # Each installation's token reached its own organization only, and each was minted.
    by_org: dict[str, set[int | None]] = {}
    for rec in sb.github.requests:
        if rec.auth == "installation" and (org := org_of(rec.path)):
            by_org.setdefault(org, set()).add(rec.installation)
    assert by_org == {org: {installation_of(sb, org)} for org in ORGS}
    minted = {
        int(m.group(1))
        for rec in sb.github.requests
        if (m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", rec.path))
    }
    assert minted == {installation_of(sb, org) for org in ORGS}
    # The allowed accounts were configured: nobody asked GitHub who owns the App.
    assert sb.github.count("GET", "/app") == 0


async def test_the_home_tab_groups_watched_targets_by_organization(sb: Sandbox) -> None:
    for target in ("initech", "acme/api", "globex", "acme"):
        await sb.run(f"watch {target}", channel_id="C0ALERTS")
    assert sb.sweeper is not None
    await sb.sweeper.run_once()
    view = await sb.open_home("U0ALICE")
    order: list[tuple[str, str]] = []
    for block in view["blocks"]:
        if block["type"] == "header" and not block["text"]["text"].endswith("last 7 days"):
            order.append(("org", block["text"]["text"]))  # not the focused target's charts
        elif block["type"] == "section" and block["text"]["text"].startswith("*"):
            where = block["text"]["text"][1:].split("*", 1)[0]
            if "idle" in block["text"]["text"] or "not listed" in block["text"]["text"]:
                order.append(("target", where))
    assert order[0] == ("org", "runnerops: your fleet")
    grouped = order[1:]
    assert [name for kind, name in grouped if kind == "org"] == list(ORGS)
    # Each organization's targets come right after its heading.
    current = ""
    for kind, name in grouped:
        if kind == "org":
            current = name
        else:
            assert name.split("/")[0] == current, grouped
    assert sorted(n for k, n in grouped if k == "target") == [
        "acme",
        "acme/api",
        "globex",
        "initech",
    ]


async def test_commands_on_an_account_not_served_say_so_and_ask_github_nothing(
    sb: Sandbox,
) -> None:
    before = len(sb.github.requests)
    for command in (f"list {STRANGER}", f"token {STRANGER}", f"list {STRANGER}/api"):
        text = reply_text(await sb.run(command))
        assert f"does not serve the account *{STRANGER}*" in text, text
        assert "GITHUB_ALLOWED_ACCOUNTS" in text and "*acme*, *globex*, *initech*" in text
    watch = reply_text(await sb.run(f"watch {STRANGER}", channel_id="C0ALERTS"))
    assert "does not serve" in watch
    assert await sb.services.store.watches.all() == []
    assert [r for r in sb.github.requests[before:] if org_of(r.path) == STRANGER] == []
    stranger = installation_of(sb, STRANGER)
    assert not any(r.installation == stranger for r in sb.github.requests)
    assert sb.github.count("POST", rf"/app/installations/{stranger}/access_tokens") == 0


async def test_webhooks_of_an_account_not_served_are_refused_and_logged_once(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    job = sb.github.add_job(STRANGER, "api", labels=["self-hosted", "gpu"])["id"]
    for _ in range(2):
        status, body = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job))
        assert status == 200 and "not served" in body
    assert await sb.services.store.jobs.get(job) is None  # nothing stored
    refusals = [r for r in caplog.records if "webhooks from umbrella are refused" in r.message]
    assert len(refusals) == 1 and "GITHUB_ALLOWED_ACCOUNTS" in refusals[0].message
    # An allowed organization's delivery is stored as ever.
    ours = sb.github.add_job("globex", "api", labels=["self-hosted", "gpu"])["id"]
    status, body = await sb.deliver("workflow_job", sb.github.workflow_job_payload(ours))
    assert status == 200 and "accepted" in body
    assert await sb.services.store.jobs.get(ours) is not None


async def test_an_installation_by_an_account_not_served_says_how_to_serve_it(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    installation = next(i for i in sb.github.installations() if i["account"]["login"] == STRANGER)
    payload = {
        "action": "created",
        "installation": installation,
        "repositories": [],
        "sender": installation["account"],
    }
    status, body = await sb.deliver("installation", payload)
    assert status == 200 and "not served" in body
    (line,) = [r.message for r in caplog.records if "is not served" in r.message]
    assert f"installation {installation['id']} on umbrella (created)" in line
    assert "GITHUB_ALLOWED_ACCOUNTS=acme,globex,initech,umbrella" in line
    status, body = await sb.deliver("installation", {**payload, "action": "deleted"})
    assert status == 200  # each installation event is logged, not only the first
    assert len([r for r in caplog.records if "is not served" in r.message]) == 2


async def test_by_default_the_apps_owner_alone_is_served(
    make_sandbox: Callable[..., Any], keys: Keys
) -> None:
    """GITHUB_ALLOWED_ACCOUNTS empty: the owner GitHub names (GET /app, with the app JWT)
    is served, asked once for any number of commands and webhooks."""
    async with make_sandbox(seed=seed, github_allowed_accounts=()) as sb:
        assert "acme-idle" in reply_text(await sb.run("list acme"))
        refused = reply_text(await sb.run("list globex"))
        assert "does not serve the account *globex*: it serves *acme*" in refused
        job = sb.github.add_job("globex", "api", labels=["self-hosted"])["id"]
        status, body = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job))
        assert status == 200 and "not served" in body
        assert "acme-idle" in reply_text(await sb.run("list ACME"))
        assert sb.github.count("GET", "/app") == 1
        (asked,) = [r for r in sb.github.requests if r.path == "/app"]
        assert asked.auth == "jwt" and asked.status == 200


async def test_an_unknown_owner_refuses_nothing_for_good(
    make_sandbox: Callable[..., Any], clock: Clock
) -> None:
    """GitHub failing GET /app: the command says GitHub did not answer and the webhook is
    taken as before (GitHub would never redeliver it); GET /app is not asked again for
    each request meanwhile, and once GitHub answers the owner alone is served."""
    async with make_sandbox(seed=seed, clock=clock, github_allowed_accounts=()) as sb:
        sb.github.add_fault("GET", "/app", status=502, times=None)
        text = reply_text(await sb.run("list acme"))
        assert "GitHub did not answer" in text
        asked = sb.github.count("GET", "/app")
        job = sb.github.add_job("acme", "api", labels=["self-hosted"])["id"]
        status, body = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job))
        assert status == 200 and "accepted" in body
        assert await sb.services.store.jobs.get(job) is not None
        assert "GitHub did not answer" in reply_text(await sb.run("list acme"))
        assert sb.github.count("GET", "/app") == asked  # within OWNER_RETRY: not asked
        sb.github.clear_faults()
        clock.advance(OWNER_RETRY)
        assert "acme-idle" in reply_text(await sb.run("list acme"))
        assert "does not serve" in reply_text(await sb.run("list globex"))


async def test_store_only_verbs_say_not_served_and_unwatch_still_works(
    make_sandbox: Callable[..., Any],
) -> None:
    """queue and stats read runnerops' own records: they too say the account is not
    served. A watch made while the account was served can still be removed."""
    async with make_sandbox(seed=seed, github_allowed_accounts=(*ORGS, STRANGER)) as sb:
        await sb.run(f"watch {STRANGER}", channel_id="C0ALERTS")
        assert [w.target for w in await sb.services.store.watches.all()] == [STRANGER]
        # As after a restart with the account taken out of GITHUB_ALLOWED_ACCOUNTS.
        sb.services.github.allowed_accounts = ORGS
        for verb in ("queue", "stats", "watch"):
            text = reply_text(await sb.run(f"{verb} {STRANGER}", channel_id="C0ALERTS"))
            assert f"does not serve the account *{STRANGER}*" in text, text
        assert "not served" not in reply_text(await sb.run("queue acme"))
        unwatched = reply_text(await sb.run(f"unwatch {STRANGER}", channel_id="C0ALERTS"))
        assert "not served" not in unwatched
        assert await sb.services.store.watches.all() == []


def test_grouped_home_stays_within_slacks_block_limit() -> None:
    """Forty targets over twenty organizations: headings count against the 100 blocks,
    and the targets that do not fit are counted, never cut mid-panel."""
    panels = [
        Panel(target=f"org{n:02d}" + ("/api" if i else ""), channels=("C0ALERTS",))
        for n in range(20)
        for i in range(2)
    ]
    view = home_view(panels, now=datetime(2026, 12, 6, tzinfo=UTC))
    blocks = view["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    headings = [b["text"]["text"] for b in blocks if b["type"] == "header"][1:]
    panels_shown = sum(1 for b in blocks if b["type"] == "divider")
    assert headings == [f"org{n:02d}" for n in range(len(headings))]
    assert panels_shown == 2 * len(headings) or panels_shown == 2 * len(headings) - 1
    assert panels_shown * PER_TARGET + len(headings) <= MAX_BLOCKS
    more = [b for b in blocks if b["type"] == "context" and "more targets" in str(b)]
    assert len(more) == 1 and f"… and {40 - panels_shown} more targets" in str(more[0])


async def test_a_long_list_of_accounts_is_shortened_in_the_reply(
    make_sandbox: Callable[..., Any],
) -> None:
    many = tuple(f"team{n:03d}" for n in range(300))
    async with make_sandbox(seed=seed, github_allowed_accounts=many) as sb:
        text = reply_text(await sb.run(f"list {STRANGER}"))
        assert "*team000*" in text and "*team009*" in text and "team010" not in text
        assert "and 290 more (`GITHUB_ALLOWED_ACCOUNTS`)" in text
