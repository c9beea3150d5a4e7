"""Registration and remove tokens: always ephemeral, with the exact config.sh line."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import SCOPES

CONFIG_URLS = {
    "org": "https://github.com/acme",
    "repo": "https://github.com/acme/api",
    "enterprise": "https://github.com/enterprises/octo-ent",
}


@pytest.mark.parametrize("scope", SCOPES)
async def test_registration_token(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    reply = await sandbox.run(f"token {target} --public")
    assert reply["response_type"] == "ephemeral"  # whatever flags are given
    token = sandbox.github.issued_runner_tokens[-1]
    text = reply_text(reply)
    assert f"./config.sh --url {CONFIG_URLS[scope]} --token {token}" in text
    assert re.search(r"expires at <!date\^\d+\^\{time\}\|\d\d:\d\d UTC> \(in (59|60) min\)", text)
    assert "(expires in" not in text  # said once a line
    assert sandbox.github.count("POST", f"{path}/actions/runners/registration-token") == 1


@pytest.mark.parametrize("scope", SCOPES)
async def test_remove_token(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    reply = await sandbox.run(f"remove-token {target}", command="/runner")
    assert reply["response_type"] == "ephemeral"
    token = sandbox.github.issued_runner_tokens[-1]
    assert f"./config.sh remove --token {token}" in reply_text(reply)
    assert sandbox.github.count("POST", f"{path}/actions/runners/remove-token") == 1


async def test_enterprise_without_pat_says_what_to_configure(make_sandbox) -> None:
    async with make_sandbox(enterprise_token=None) as sb:
        text = reply_text(await sb.run("token enterprise:octo-ent"))
        assert "GITHUB_ENTERPRISE_TOKEN" in text and "manage_runners:enterprise" in text
        assert sb.github.count("POST", "/enterprises/.*") == 0


async def test_ghes_prefix_kept_and_config_url_on_ghes_host(make_sandbox) -> None:
    async with make_sandbox(prefix="/api/v3") as sb:
        assert sb.settings.github_api_url.endswith("/api/v3")
        text = reply_text(await sb.run("token acme/api"))
        token = sb.github.issued_runner_tokens[-1]
        assert f"./config.sh --url https://ghe.sandbox/acme/api --token {token}" in text
        assert "3 runners" in reply_text(await sb.run("list enterprise:octo-ent"))
        # Every request reached the double under /api/v3 (it answers 404 elsewhere).
        assert sb.github.requests and all(r.status < 400 for r in sb.github.requests)


async def test_token_post_that_fails_after_github_acted_is_unknown(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST", "/orgs/acme/actions/runners/registration-token", status=502, act_first=True
    )
    reply = await sandbox.run("token acme")
    text = reply_text(reply)
    assert "did not confirm the registration token" in text and "nothing was changed" not in text
    assert len(sandbox.github.issued_runner_tokens) == 1  # GitHub did issue one
    assert sandbox.github.issued_runner_tokens[0] not in str(reply)
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("token", "unknown")


async def test_token_with_an_unreadable_expiry_is_shown_and_audited(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme/actions/runners/registration-token",
        status=201,
        body={"token": "AAAABBBBCCCCDDDDEEEEFFFFGGGG1", "expires_at": "next tuesday"},
    )
    text = reply_text(await sandbox.run("token acme"))
    assert "--token AAAABBBBCCCCDDDDEEEEFFFFGGGG1" in text
    assert "expiry time could not be read" in text
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("token", "issued")


async def test_token_answer_that_cannot_be_read_is_unknown(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme/actions/runners/registration-token",
        status=201,
        raw=b"<html>Unicorn!</html>",
    )
    text = reply_text(await sandbox.run("token acme"))
    assert "did not confirm the registration token" in text
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "unknown"


async def test_a_token_command_stopped_by_a_shutdown_is_audited_unknown(
    make_sandbox, tmp_path
) -> None:
    from bot.store import Store

    url = f"sqlite:///{tmp_path}/runnerops.db"
    async with make_sandbox(database_url=url) as sb:
        sb.services.shutdown_grace = 0.1
        # GitHub takes the request and is slow to answer: it may have issued the token.
        arrived = asyncio.Event()
        sb.github.add_fault(
            "POST",
            "/orgs/acme/actions/runners/registration-token",
            delay=3.0,
            side_effect=arrived.set,
        )
        sent = await sb.send("token acme")
        await asyncio.wait_for(arrived.wait(), 10)
    assert "restarting" in reply_text(sb.slack.replies(sent.response_url).get_nowait())
    store = Store.open(url)
    try:
        (entry,) = await store.audit.recent()
    finally:
        await store.close()
    assert entry.outcome == "unknown" and "interrupted" in entry.detail
