"""The GitHub transport: installation tokens cached per installation, re-minted on 401."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.github.transport import GET_ATTEMPTS, ETagCache, origin_of
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Sandbox, reply_text
from bot.targets import parse_target
from tests.conftest import seed_basic

MINT = r"/app/installations/\d+/access_tokens"


async def test_one_token_per_installation_across_many_commands(sandbox: Sandbox) -> None:
    sandbox.github.add_installation("globex")
    sandbox.github.add_runner("/orgs/globex", "g-1")
    texts = [
        "list acme",
        "token acme",
        "get acme linux-idle",
        "list acme/api",
        "downloads acme/api",
        "list globex",
        "token globex",
    ] * 3
    replies = await asyncio.gather(*(sandbox.run(t) for t in texts))
    assert all("GitHub" not in reply_text(r) or "runners" in reply_text(r) for r in replies)
    assert sandbox.github.count("POST", MINT) == 2  # acme and globex, once each
    assert sandbox.github.count("GET", "/orgs/acme/installation") == 1
    assert sandbox.github.count("GET", "/repos/acme/api/installation") == 1


async def test_expired_token_is_reminted_once(sandbox: Sandbox) -> None:
    await sandbox.run("list acme")
    assert sandbox.github.count("POST", MINT) == 1
    sandbox.github.expire_installation_tokens()
    text = reply_text(await sandbox.run("list acme"))
    assert "3 runners" in text
    assert sandbox.github.count("POST", MINT) == 2
    statuses = [r.status for r in sandbox.github.requests if r.path == "/orgs/acme/actions/runners"]
    # The retry carries the new token; the runners are unchanged, so GitHub may answer the
    # conditional request with 304.
    assert statuses[:2] == [200, 401] and statuses[2] in (200, 304)


async def test_token_near_expiry_is_not_reused(make_sandbox) -> None:
    async with make_sandbox() as sb:
        sb.github.token_ttl = 200.0  # inside the five-minute margin: never cached
        await sb.run("list acme")
        await sb.run("list acme")
        assert sb.github.count("POST", MINT) == 2


async def test_uninstall_webhook_forgets_installation_and_token(sandbox: Sandbox) -> None:
    installation_id = sandbox.github.add_installation("globex")
    await sandbox.run("list globex")
    status, _ = await sandbox.deliver(
        "installation",
        {
            "action": "deleted",
            "installation": {"id": installation_id, "account": {"login": "globex"}},
        },
    )
    assert status == 200
    await sandbox.run("list globex")
    assert sandbox.github.count("GET", "/orgs/globex/installation") == 2
    assert sandbox.github.count("POST", f"/app/installations/{installation_id}/access_tokens") == 2


async def test_server_errors_on_get_are_retried_then_reported(sandbox: Sandbox) -> None:
    sandbox.github.add_fault("GET", "/orgs/acme/actions/runners", status=502, times=2)
    assert "3 runners" in reply_text(await sandbox.run("list acme"))
    sandbox.github.add_fault("GET", "/orgs/acme/actions/runners", status=503, times=None)
    text = reply_text(await sandbox.run("list acme"))
    assert "GitHub did not answer; nothing was changed" in text


async def test_server_error_on_post_is_not_retried(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST", "/orgs/acme/actions/runners/registration-token", status=500, times=None
    )
    text = reply_text(await sandbox.run("token acme"))
    # A 5xx on a write is no proof that nothing happened: it is reported as unknown.
    assert "did not confirm the registration token" in text
    assert "nothing was changed" not in text
    assert sandbox.github.count("POST", "/orgs/acme/actions/runners/registration-token") == 1


async def test_timeout(make_sandbox) -> None:
    async with make_sandbox(github_timeout=0.3) as sb:
        sb.github.add_fault("GET", "/orgs/acme/actions/runners", delay=2.0, times=None)
        text = reply_text(await sb.run("list acme"))
        assert "GitHub did not answer; nothing was changed" in text


async def test_missing_permission_is_named(sandbox: Sandbox) -> None:
    sandbox.github.add_installation("globex", permissions={"metadata": "read"})
    text = reply_text(await sandbox.run("list globex"))
    assert "Self-hosted runners" in text


async def test_short_rate_limit_wait_is_waited_out(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "GET", "/orgs/acme/actions/runners", status=429, headers={"retry-after": "0"}, times=1
    )
    assert "3 runners" in reply_text(await sandbox.run("list acme"))
    assert sandbox.github.count("GET", "/orgs/acme/actions/runners") == 2


async def test_long_primary_rate_limit_tells_when_to_retry(sandbox: Sandbox) -> None:
    reset = int(time.time()) + 1800
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme/actions/runners/registration-token",
        status=403,
        times=None,
        headers={
            "x-ratelimit-remaining": "0",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": "5000",
        },
        body={
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            "status": "403",
        },
    )
    text = reply_text(await sandbox.run("token acme"))
    assert "rate limit" in text and re.search(r"try again in (29|30) min", text)
    assert f"<!date^{reset}^" in text
    assert sandbox.github.issued_runner_tokens == []


async def test_secondary_rate_limit(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "GET",
        "/orgs/acme/actions/runners",
        status=403,
        times=None,
        headers={"retry-after": "120"},
        body={
            "message": "You have exceeded a secondary rate limit.",
            "documentation_url": "https://docs.github.com/rest",
            "status": "403",
        },
    )
    assert "try again in 2 min" in reply_text(await sandbox.run("list acme"))


async def test_redirects_followed_only_on_the_api_host(sandbox: Sandbox) -> None:
    moved = sandbox.settings.github_api_url + "/repos/acme/api/installation"
    sandbox.github.add_fault(
        "GET",
        "/repos/acme/old-name/installation",
        status=301,
        headers={"location": moved},
        body={"message": "Moved Permanently"},
    )
    text = reply_text(await sandbox.run("list acme/old-name"))
    assert sandbox.github.count("GET", "/repos/acme/api/installation") == 1  # followed
    assert "GitHub knows no *acme/old-name*" in text  # the runners call itself is a 404
    sandbox.github.add_fault(
        "GET",
        "/repos/acme/web/installation",
        status=301,
        headers={"location": "http://127.0.0.2:9/steal"},
        body={"message": "Moved Permanently"},
    )
    text = reply_text(await sandbox.run("list acme/web"))
    assert "GitHub did not answer; nothing was changed" in text


# -- hardening: deadlines, origins, listings, odd data, permissions ------------------------


def _seed_fleet(size: int) -> Callable[[GitHubDouble], None]:
    def seed(gh: GitHubDouble) -> None:
        seed_basic(gh)
        for i in range(size):
            gh.add_runner("/orgs/acme", f"bulk-{i:04d}")

    return seed


async def test_trickling_body_meets_the_deadline(make_sandbox) -> None:
    """GITHUB_TIMEOUT bounds the whole request: a byte every 50 ms never trips a per-read
    timeout, and without a total deadline this list would take about a minute."""
    async with make_sandbox(github_timeout=0.5) as sb:
        sb.github.add_fault("GET", "/orgs/acme/actions/runners", trickle=0.05, times=None)
        text = reply_text(await sb.run("list acme"))
        assert "GitHub did not answer; nothing was changed" in text


async def test_shutdown_tells_unfinished_commands_to_retry(make_sandbox) -> None:
    async with make_sandbox() as sb:
        sb.services.shutdown_grace = 0.1
        sb.github.add_fault("GET", "/orgs/acme/actions/runners", delay=3.0)
        sent = await sb.send("list acme")
    reply = sb.slack.replies(sent.response_url).get_nowait()
    assert "runnerops is restarting" in reply_text(reply) and "try again" in reply_text(reply)


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://api.github.com/orgs/a", True),
        ("HTTPS://API.GitHub.com/orgs/a", True),
        ("https://api.github.com:443/orgs/a", True),
        ("https://api.github.com:8443/orgs/a", False),
        ("http://api.github.com/orgs/a", False),
        ("https://api.github.com.evil.test/orgs/a", False),
        ("https://api.github.com:notaport/orgs/a", False),
    ],
)
def test_origin_normalises_case_and_default_ports(url: str, same: bool) -> None:
    assert (origin_of(url) == origin_of("https://api.github.com")) is same


async def test_listing_does_not_depend_on_the_link_headers_host(
    make_sandbox: Callable[..., Any],
) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        # GitHub's Link header names the host in other letters than GITHUB_API_URL.
        sb.github.api_base = sb.settings.github_api_url.replace("127.0.0.1", "LOCALHOST")
        text = reply_text(await sb.run("list acme"))
        assert "253 runners" in text and "incomplete" not in text.lower()
        assert sb.github.count("GET", "/orgs/acme/actions/runners") == 3


async def test_a_page_that_fails_makes_the_listing_incomplete(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        sb.github.add_fault(
            "GET", "/orgs/acme/actions/runners", status=502, query={"page": "2"}, times=None
        )
        reply = await sb.run("list acme")
        text = reply_text(reply)
        assert "Incomplete listing" in text and "page 2" in text
        assert "(incomplete)" in reply["text"]
        assert "153 runners" in text  # pages 1 and 3, said to be incomplete
        # Page 2 was retried like any GET before the listing was called incomplete.
        asked = [r for r in sb.github.requests if r.path == "/orgs/acme/actions/runners"]
        assert [r.query.get("page") for r in asked].count("2") == GET_ATTEMPTS
        assert [r.status for r in asked if r.query.get("page") == "2"] == [502] * GET_ATTEMPTS


async def test_pages_come_back_in_githubs_order_without_duplicates(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        # A runner registers while the listing is under way: everything after it shifts one
        # place, so page 2 repeats page 1's last runner.
        sb.github.add_fault(
            "GET",
            "/orgs/acme/actions/runners",
            query={"page": "2"},
            side_effect=lambda: sb.github.add_runner("/orgs/acme", "aaa-new", runner_group_id=1),
        )
        listed = await sb.services.runners.list_runners(parse_target("acme"))
        ids = [r.id for r in listed.runners]
        assert len(ids) == len(set(ids))  # the repeated runner appears once
        assert ids == sorted(ids)  # GitHub's order (ids ascend in the double)
        assert listed.complete


async def test_a_runner_listed_first_between_pages_is_deduplicated(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        before = [r["id"] for r in sb.github.runners("/orgs/acme")]  # GitHub's order
        # Once page 1 is answered, a runner is listed first: every later runner moves one
        # place on, so page 1's last runner is also page 2's first. Pages 2 and 3 shift
        # alike, so nothing is missed between them.
        sb.github.add_fault(
            "GET",
            "/orgs/acme/actions/runners",
            query={"page": None},
            after=lambda: sb.github.add_runner("/orgs/acme", "aaa-new", position=0),
        )
        listing = await sb.services.github.listing(
            parse_target("acme"), "/actions/runners", "runners"
        )
        ids = [item["id"] for item in listing.items]
        assert listing.duplicates == 1
        assert ids == before  # each once, in GitHub's order; the newcomer was on page 1
        assert listing.complete


async def test_the_reply_says_the_fleet_changed_while_it_was_listed(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        path = "/orgs/acme/actions/runners"
        quiet = reply_text(await sb.run("list acme"))
        assert "253 runners" in quiet and "changed while it was listed" not in quiet
        # The same shift as above, seen through a signed `/runners list`: page 1 counts 253,
        # pages 2 and 3 count 254, and GitHub's first count matches what was gathered (the
        # newcomer was missed, a repeat dropped), so only the pages' counts and the repeat
        # show the change.
        sb.github.add_fault(
            "GET",
            path,
            query={"page": None},
            after=lambda: sb.github.add_runner("/orgs/acme", "aaa-new", position=0),
        )
        reply = await sb.run("list acme")
        text = reply_text(reply)
        assert "The fleet changed while it was listed; counts may be off by 1" in text
        assert "its pages counted 253 to 254 runners" in text
        assert "1 runner moved onto a later page and was shown once" in text
        assert "253 runners" in text and "GitHub counted" not in text


async def test_pages_answered_out_of_order_are_put_back_in_order(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        path = "/orgs/acme/actions/runners"
        order = [r["id"] for r in sb.github.runners("/orgs/acme")]
        page_3_answered = asyncio.Event()
        # Page 2's answer waits until page 3's has been made.
        sb.github.add_fault("GET", path, query={"page": "2"}, hold=page_3_answered)
        sb.github.add_fault("GET", path, query={"page": "3"}, after=page_3_answered.set)
        listed = await sb.services.runners.list_runners(parse_target("acme"))
        assert [r.id for r in listed.runners] == order
        assert listed.complete
        assert page_3_answered.is_set()  # so page 2 was answered after page 3
        asked = sorted(str(r.query.get("page")) for r in sb.github.requests if r.path == path)
        assert asked == ["2", "3", "None"]  # one request a page: nothing re-fetched


async def test_a_runner_removed_between_pages_is_reported_not_hidden(make_sandbox) -> None:
    async with make_sandbox(seed=_seed_fleet(250)) as sb:
        # A runner on page 1 goes away after page 1 was read: page 2 shifts back by one and
        # its first runner is never seen. GitHub's count says so.
        sb.github.add_fault(
            "GET",
            "/orgs/acme/actions/runners",
            query={"page": "2"},
            side_effect=lambda: sb.github.remove_runner("/orgs/acme", "bulk-0000"),
        )
        text = reply_text(await sb.run("list acme"))
        assert "GitHub counted 253 runners but 252 were gathered" in text


async def test_unreadable_runners_are_skipped_and_counted(sandbox: Sandbox) -> None:
    good = sandbox.github.runners("/orgs/acme")
    odd = [
        {k: v for k, v in good[0].items() if k != "id"},  # no id: cannot be acted on
        {**good[1], "labels": ["gpu", "docker"]},  # labels as plain strings: still readable
        good[2],
    ]
    sandbox.github.add_fault(
        "GET",
        "/orgs/acme/actions/runners",
        status=200,
        body={"total_count": 3, "runners": odd},
        times=None,
    )
    text = reply_text(await sandbox.run("list acme"))
    assert "2 runners" in text and "1 runner GitHub listed could not be read" in text
    assert "`gpu`" in text and "linux-busy" in text


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"<html><body>Unicorn! Something went wrong</body></html>", "text/html"),
        (b'{"total_count": 3, "runners": [{"id": 1, "na', "application/json"),
    ],
)
async def test_undecodable_answers_mean_github_is_unavailable(
    sandbox: Sandbox, raw: bytes, content_type: str
) -> None:
    for path in ("/orgs/acme/actions/runners", r"/orgs/acme/actions/runners/\d+"):
        sandbox.github.add_fault(
            "GET", path, status=200, raw=raw, content_type=content_type, times=None
        )
    for command in ("list acme", "get acme 1"):
        text = reply_text(await sandbox.run(command))
        assert "GitHub did not answer; nothing was changed" in text, command


async def test_new_permissions_accepted_drops_the_token(sandbox: Sandbox) -> None:
    await sandbox.run("list acme")
    installation = {"id": 1_000_001, "account": {"login": "acme"}}
    status, _ = await sandbox.deliver(
        "installation", {"action": "new_permissions_accepted", "installation": installation}
    )
    assert status == 200
    await sandbox.run("list acme")
    assert sandbox.github.count("POST", MINT) == 2


async def test_a_403_with_a_cached_token_mints_once_more(sandbox: Sandbox) -> None:
    sandbox.github.add_installation("globex", permissions={"metadata": "read"})
    sandbox.github.add_runner("/orgs/globex", "g-1")
    text = reply_text(await sandbox.run("list globex"))
    assert "Self-hosted runners" in text  # the permission is named
    assert sandbox.github.count("POST", MINT) == 1  # a fresh token: minting again is useless
    # The admin grants the permission; the cached token still carries the old ones.
    sandbox.github.set_permissions("globex", {"organization_self_hosted_runners": "write"})
    text = reply_text(await sandbox.run("list globex"))
    assert "1 runner" in text
    assert sandbox.github.count("POST", MINT) == 2


async def test_lookup_locks_do_not_pile_up(sandbox: Sandbox) -> None:
    for i in range(40):
        await sandbox.run(f"list ghost-{i}")
    gc.collect()
    assert len(sandbox.services.github._locks) == 0


def test_etag_store_keeps_bodies_compressed_and_is_bounded_by_bytes() -> None:
    page = {"total_count": 100, "runners": [{"id": i, "name": f"r{i:05d}"} for i in range(100)]}
    store = ETagCache(max_bytes=20_000)
    store["/page/1"] = ('W/"1"', None, page, None)
    etag, _modified, body, _more = store["/page/1"]
    assert etag == 'W/"1"' and body.decode() == page
    assert len(body.packed) < len(json.dumps(page)) / 3
    for i in range(2, 200):
        store[f"/page/{i}"] = (f'W/"{i}"', None, page, None)
    assert "/page/199" in store and "/page/1" not in store  # least recently used go first
    assert sum(len(store[url][2].packed) + 200 for url in list(store)) <= 20_000
    noise = {"runners": [os.urandom(16).hex() for _ in range(2000)]}  # will not compress
    store["/huge"] = (None, None, noise, None)
    assert "/huge" not in store and "/page/199" in store
