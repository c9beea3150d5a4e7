"""The service's routes: Slack signatures, GitHub webhook signatures, health."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from bot.sandbox.harness import Sandbox, reply_text, slack_signature


async def test_healthz(sandbox: Sandbox) -> None:
    async with sandbox.session.get(sandbox.url + "/healthz") as resp:
        assert resp.status == 200 and (await resp.json()) == {"status": "ok"}


async def test_ack_is_immediate_and_empty(sandbox: Sandbox) -> None:
    sandbox.github.add_fault("GET", "/orgs/acme/actions/runners", delay=1.0)
    sent = await sandbox.send("list acme")
    assert sent.status == 200 and sent.body == ""
    # Acknowledged while GitHub was still answering: the runner list is not out yet.
    assert not any(r.status for r in sandbox.github.requests if r.path.endswith("/runners"))
    assert sandbox.slack.replies(sent.response_url).empty()
    reply = await sandbox.slack.next_reply(sent.response_url)
    assert "3 runners" in reply_text(reply)


def _tamper(sb: Sandbox, body: bytes, kind: str) -> tuple[bytes, dict[str, str]]:
    headers = sb.signed_headers(body)
    if kind == "wrong-signature":
        headers["x-slack-signature"] = "v0=" + "0" * 64
    elif kind == "no-signature":
        del headers["x-slack-signature"]
    elif kind == "no-timestamp":
        del headers["x-slack-request-timestamp"]
    elif kind == "stale":
        headers = sb.signed_headers(body, timestamp=time.time() - 301)
    elif kind == "altered-body":
        body = body.replace(b"acme", b"globex")
    elif kind == "other-secret":
        ts = headers["x-slack-request-timestamp"]
        from bot.sandbox.harness import slack_signature

        headers["x-slack-signature"] = slack_signature("not-the-secret", ts, body)
    return body, headers


@pytest.mark.parametrize(
    "kind",
    ["wrong-signature", "no-signature", "no-timestamp", "stale", "altered-body", "other-secret"],
)
async def test_bad_slack_signature_is_401_and_reaches_nothing(sandbox: Sandbox, kind: str) -> None:
    body, response_url = sandbox.command_body("token acme")
    body, headers = _tamper(sandbox, body, kind)
    sent = await sandbox.post_slack(body, headers, response_url)
    assert sent.status == 401
    # A well-signed command afterwards is answered; the forged one never was.
    assert "runners" in reply_text(await sandbox.run("list acme"))
    assert sandbox.slack.replies(response_url).empty()
    assert sandbox.github.issued_runner_tokens == []


@pytest.mark.parametrize("timestamp", ["abc", "", "1.5", "0x10"])
async def test_a_non_numeric_slack_timestamp_is_401_with_one_log_line(
    sandbox: Sandbox, timestamp: str, caplog: pytest.LogCaptureFixture
) -> None:
    """slack_sdk's verifier int()s the header: such a request was a 500 and a traceback."""
    body, response_url = sandbox.command_body("token acme")
    headers = sandbox.signed_headers(body)
    headers["x-slack-request-timestamp"] = timestamp
    headers["x-slack-signature"] = slack_signature(sandbox.signing_secret, timestamp, body)
    with caplog.at_level(logging.DEBUG):
        sent = await sandbox.post_slack(body, headers, response_url)
    assert sent.status == 401
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    said = [r.getMessage() for r in caplog.records if r.name.startswith(("runnerops", "bot"))]
    assert said == ["refused a Slack request whose timestamp is not a whole number"]
    assert sandbox.slack.replies(response_url).empty()
    assert sandbox.github.issued_runner_tokens == []


async def test_webhook_ping_and_other_events(sandbox: Sandbox) -> None:
    assert await sandbox.deliver("ping", {"zen": "Keep it logically awesome."}) == (
        200,
        '{"msg":"pong"}',
    )
    status, _ = await sandbox.deliver("workflow_job", {"action": "queued"})
    assert status == 200


async def test_webhook_bad_signature_is_401(sandbox: Sandbox) -> None:
    status, _ = await sandbox.deliver("ping", {"zen": "x"}, secret="wrong")
    assert status == 401
    async with sandbox.session.post(
        sandbox.url + "/github/webhooks",
        data=b"{}",
        headers={
            "x-github-event": "ping",
            "x-github-delivery": "1",
            "content-type": "application/json",
        },
    ) as resp:
        assert resp.status == 401  # unsigned


async def test_slack_redelivery_acts_once(sandbox: Sandbox) -> None:
    body, response_url = sandbox.command_body("token acme")
    first = await sandbox.post_slack(body, sandbox.signed_headers(body), response_url)
    retry_headers = sandbox.signed_headers(body) | {
        "x-slack-retry-num": "1",
        "x-slack-retry-reason": "http_timeout",
    }
    retry = await sandbox.post_slack(body, retry_headers, response_url)
    assert (first.status, retry.status) == (200, 200)
    reply = await sandbox.slack.next_reply(response_url)
    assert "./config.sh" in reply_text(reply)
    # The retry's trigger_id was seen: no second token, no second reply.
    await sandbox.run("help")  # a later command is answered, so the retry had its turn
    assert len(sandbox.github.issued_runner_tokens) == 1
    assert sandbox.slack.replies(response_url).empty()


async def test_webhook_redelivery_processed_once(sandbox: Sandbox) -> None:
    uninstall = {"action": "deleted", "installation": {"id": 1, "account": {"login": "acme"}}}
    await sandbox.run("list acme")
    assert (await sandbox.deliver("installation", uninstall, delivery="d-1"))[0] == 200
    await sandbox.run("list acme")  # looks the installation up again
    status, body = await sandbox.deliver("installation", uninstall, delivery="d-1")
    assert status == 200 and "already processed" in body
    await sandbox.run("list acme")  # the redelivery did not drop the cache again
    assert sandbox.github.count("GET", "/orgs/acme/installation") == 2


async def test_non_utf8_body_is_400(sandbox: Sandbox) -> None:
    body = b"text=\xff\xfe"
    sent = await sandbox.post_slack(body, sandbox.signed_headers(body))
    assert sent.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=notjson",
        b"payload=%7B%7D",
        b"command=%2Frunners",
        b"command=%2Frunners&text=list+acme",
        b"ssl_check=1&token=x",
    ],
)
async def test_odd_signed_bodies_never_500(sandbox: Sandbox, body: bytes) -> None:
    sent = await sandbox.post_slack(body, sandbox.signed_headers(body))
    assert sent.status < 500
    unsigned = await sandbox.post_slack(body, {"content-type": "application/x-www-form-urlencoded"})
    # slack-bolt answers Slack's ssl_check probe without a signature; it does nothing.
    assert unsigned.status == (200 if body.startswith(b"ssl_check") else 401)


async def test_shutdown_lets_acknowledged_commands_finish(make_sandbox) -> None:
    async with make_sandbox() as sb:
        sb.github.add_fault("GET", "/orgs/acme/actions/runners", delay=0.5)
        sent = await sb.send("list acme")
        assert sb.slack.replies(sent.response_url).empty()
    # runnerops has shut down (a deploy); the command it had acknowledged was answered.
    reply = sb.slack.replies(sent.response_url).get_nowait()
    assert "3 runners" in reply_text(reply)


def _webhook_headers(**signatures: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-github-event": "installation",
        "x-github-delivery": "d-sig",
        **{name.replace("_", "-"): value for name, value in signatures.items()},
    }


async def test_webhook_needs_sha256_signature(sandbox: Sandbox) -> None:
    """The legacy SHA-1 ``X-Hub-Signature``, right as it may be, is not enough."""
    body = json.dumps({"action": "created", "installation": {"id": 1}}).encode()
    key = sandbox.settings.github_webhook_secret.encode()
    sha1 = hmac.new(key, body, hashlib.sha1).hexdigest()
    sha256 = hmac.new(key, body, hashlib.sha256).hexdigest()
    cases = {
        "sha1 only": (401, {"x_hub_signature": "sha1=" + sha1}),
        "sha1 in the 256 header": (401, {"x_hub_signature_256": "sha1=" + sha1}),
        "right sha1, wrong sha256": (
            401,
            {"x_hub_signature": "sha1=" + sha1, "x_hub_signature_256": "sha256=" + "0" * 64},
        ),
        "both right": (
            200,
            {"x_hub_signature": "sha1=" + sha1, "x_hub_signature_256": "sha256=" + sha256},
        ),
    }
    for what, (expected, signatures) in cases.items():
        async with sandbox.session.post(
            sandbox.url + "/github/webhooks",
            data=body,
            headers=_webhook_headers(**signatures),
        ) as resp:
            assert resp.status == expected, what


async def test_webhook_failure_is_500_and_its_redelivery_is_processed(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninstall = {"action": "deleted", "installation": {"id": 1, "account": {"login": "acme"}}}
    calls: list[str] = []
    forget = sandbox.services.github.forget_installation

    def flaky(login: str, installation_id: int | None = None) -> None:
        calls.append(login)
        if len(calls) == 1:
            raise RuntimeError("store unavailable")
        forget(login, installation_id)

    monkeypatch.setattr(sandbox.services.github, "forget_installation", flaky)
    await sandbox.run("list acme")
    status, body = await sandbox.deliver("installation", uninstall, delivery="d-flaky")
    assert status == 500
    assert "Traceback" not in body and "store unavailable" not in body
    # GitHub's redelivery (same X-GitHub-Delivery) runs the handler again and succeeds.
    assert await sandbox.deliver("installation", uninstall, delivery="d-flaky") == (
        200,
        '{"msg":"accepted","event":"installation"}',
    )
    assert calls == ["acme", "acme"]
    await sandbox.run("list acme")  # the cache was dropped: the installation is looked up
    assert sandbox.github.count("GET", "/orgs/acme/installation") == 2
    # Once processed, a further redelivery is not.
    status, body = await sandbox.deliver("installation", uninstall, delivery="d-flaky")
    assert status == 200 and "already processed" in body and calls == ["acme", "acme"]
