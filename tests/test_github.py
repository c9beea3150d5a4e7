"""The GitHub transport: installation tokens cached per installation, re-minted on 401."""

from __future__ import annotations

import asyncio
import re
import time

from bot.sandbox.harness import Sandbox, reply_text

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
    assert "GitHub did not answer; nothing was changed" in text
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
