"""The Slack wiring: replies go only to Slack's own response_url hosts."""

from __future__ import annotations

import logging

import pytest

from bot.config import DEFAULT_RESPONSE_URL_PREFIXES, ConfigError, load_settings
from bot.sandbox.harness import Keys, Sandbox
from bot.slack.views.delete import DELETE_ACTION
from bot.slackapp.bolt import response_url_allowed


async def test_a_signed_command_with_a_foreign_response_url_runs_nothing(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # A request signed with a leaked secret, asking for the reply (a live registration
    # token) to go to a loopback service: here, the GitHub double, which records requests.
    leak = sandbox.settings.github_api_url + "/internal/leak?x=1"
    with caplog.at_level(logging.DEBUG):
        sent = await sandbox.send("token acme", response_url=leak)
        assert sent.status == 200  # acknowledged: Slack retries anything else
        await sandbox.run("help")  # a later command is answered: the first had its turn
    assert not any(r.path.startswith("/internal") for r in sandbox.github.requests)
    assert sandbox.github.issued_runner_tokens == []  # nothing ran for it
    assert await sandbox.services.store.audit.recent() == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not Slack's (host 127.0.0.1)" in logged and "/internal/leak" not in logged


async def test_a_click_with_a_foreign_response_url_deletes_nothing(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme linux-idle")
    body, _ = sandbox.click_body(
        ask, action_id=DELETE_ACTION, response_url="http://127.0.0.1:9/elsewhere"
    )
    sent = await sandbox.post_slack(body, sandbox.signed_headers(body))
    assert sent.status == 200
    await sandbox.run("help")
    assert sandbox.github.count("DELETE", "/orgs/acme/actions/runners/.*") == 0


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("https://hooks.slack-gov.com/actions/T1/2/abc", True),
        ("https://hooks.slack.com.evil.test/commands/T1", False),
        ("https://hooks.slack.com@evil.test/commands/T1", False),
        ("http://hooks.slack.com/commands/T1", False),
        ("http://127.0.0.1:8080/x", False),
        ("", False),
        (None, False),
    ],
)
def test_default_prefixes(url: str | None, allowed: bool) -> None:
    assert response_url_allowed(url, DEFAULT_RESPONSE_URL_PREFIXES) is allowed


def _env(keys: Keys, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": "whsec",
        "SLACK_SIGNING_SECRET": "slsec",
        "SLACK_BOT_TOKEN": "xoxb-test",
        **extra,
    }


def test_prefixes_setting(keys: Keys) -> None:
    assert load_settings(_env(keys)).slack_response_url_prefixes == DEFAULT_RESPONSE_URL_PREFIXES
    settings = load_settings(
        _env(keys, SLACK_RESPONSE_URL_PREFIXES=" http://127.0.0.1:3000/response/ ,https://a.b/")
    )
    assert settings.slack_response_url_prefixes == (
        "http://127.0.0.1:3000/response/",
        "https://a.b/",
    )
    with pytest.raises(ConfigError, match="SLACK_RESPONSE_URL_PREFIXES"):
        load_settings(_env(keys, SLACK_RESPONSE_URL_PREFIXES="hooks.slack.com"))
