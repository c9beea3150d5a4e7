"""Socket Mode (SLACK_APP_TOKEN): Slack's requests arrive as envelopes over runnerops' own
WebSocket, to the Socket Mode double, and go through the same bolt app, policy, audit and
once-records as over HTTP. What users see is asserted: replies on response_url, Home
views published, audit entries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest

from app import create_app
from bot.sandbox.harness import SOCKET_PING_INTERVAL, Sandbox, find_button, reply_text
from bot.sandbox.serve import serve
from bot.sandbox.socket_double import SocketDouble
from bot.services import Services
from bot.slack.views.delete import DELETE_ACTION


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.slackapp.socket_mode")


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any]) -> AsyncIterator[Sandbox]:
    async with make_sandbox(socket_mode=True) as sandbox:
        yield sandbox


def double(sb: Sandbox) -> SocketDouble:
    assert sb.socket is not None
    return sb.socket


def command(sb: Sandbox, text: str, **kwargs: Any) -> tuple[dict[str, Any], str]:
    """A slash command's payload as Socket Mode carries it (the form as a dict)."""
    body, response_url = sb.command_body(text, **kwargs)
    return dict(parse_qsl(body.decode())), response_url


async def test_commands_buttons_and_the_home_tab_work_over_the_socket(sb: Sandbox) -> None:
    assert sb.settings.slack_signing_secret == ""  # not needed in Socket Mode
    listing = await sb.run("list acme")
    assert "linux-idle" in reply_text(listing)

    # A button: delete asks, the click confirms, the audit records it.
    ask = await sb.run("delete acme linux-idle")
    find_button(ask, DELETE_ACTION)
    done = await sb.click(ask, DELETE_ACTION)
    assert "was deleted" in reply_text(done)
    assert not any(r["name"] == "linux-idle" for r in sb.github.runners("/orgs/acme"))
    (entry,) = await sb.services.store.audit.recent()  # type: ignore[union-attr]
    assert entry.outcome == "deleted" and entry.user_id == "U0ALICE"

    # The Home tab (an events_api envelope), published through views.publish; without a
    # public address Slack could not fetch a chart, so the charts are uploaded files.
    assert "Watching" in reply_text(await sb.run("watch acme"))
    view = await sb.open_home("U0ALICE")
    assert "*acme*" in json.dumps(view["blocks"])
    images = [b for b in view["blocks"] if b["type"] == "image"]
    assert [b["slack_file"]["id"] for b in images] == list(sb.slack.files.completed)
    assert len(images) == 2 and not any("image_url" in b for b in images)

    # Every envelope was acknowledged, each once, on the first attempt.
    acks = double(sb).acks
    assert len(acks) == 5 and all(a.attempts == 1 for a in acks)
    assert len({a.envelope_id for a in acks}) == 5 == len(double(sb).sent)


async def test_the_http_route_is_gone_and_webhooks_still_come(sb: Sandbox) -> None:
    body, _ = sb.command_body("help")
    async with sb.session.post(sb.url + "/slack/events", data=body) as resp:
        assert resp.status == 404
    status, _ = await sb.deliver("ping", {"zen": "hi", "hook_id": 1})
    assert status == 200


async def test_a_policy_refusal_is_answered_and_audited(sb: Sandbox) -> None:
    reply = await sb.run("token acme", user_id="U0BOB", user_name="bob")
    assert "not allowed" in reply_text(reply).lower() or "may not" in reply_text(reply).lower()
    (entry,) = await sb.services.store.audit.recent()  # type: ignore[union-attr]
    assert entry.outcome == "refused" and entry.user_id == "U0BOB"


async def test_the_ack_does_not_wait_for_github(sb: Sandbox) -> None:
    """GitHub holds its answer until the test lets it go: the envelope is acknowledged
    meanwhile (Slack's 3 s whatever GitHub does), and the reply comes once GitHub answers."""
    release = asyncio.Event()
    sb.github.add_fault("GET", r"/orgs/acme/actions/runners", hold=release, times=None)
    payload, response_url = command(sb, "list acme")
    ack = await double(sb).deliver("slash_commands", payload)
    assert ack.attempts == 1
    assert sb.slack.replies(response_url).empty()  # GitHub has not answered yet
    release.set()
    assert "linux-idle" in reply_text(await sb.slack.next_reply(response_url))


async def test_a_refresh_and_a_dropped_connection_are_reconnected(sb: Sandbox) -> None:
    socket = double(sb)
    (first,) = await socket.wait_connections(1)
    await socket.disconnect(first, "refresh_requested")
    await socket.wait_opened(2)  # the client opened another on its own
    await socket.drop(first)
    assert "linux-idle" in reply_text(await sb.run("list acme"))

    (second,) = await socket.wait_connections(1)
    await socket.drop(second)  # closed by Slack without notice
    await socket.wait_opened(3)
    assert "linux-idle" in reply_text(await sb.run("list acme"))

    (third,) = await socket.wait_connections(1)
    await socket.drop(third, abrupt=True)  # cut: no close frame, noticed by the pings
    await socket.wait_opened(4)
    assert "linux-idle" in reply_text(await sb.run("list acme"))
    assert sb.slack.calls.count("apps.connections.open") == 4


def repeats(caplog: pytest.LogCaptureFixture) -> int:
    """How many envelopes runnerops recognized as re-sent (acknowledged, not handled)."""
    return sum("already handled" in r.getMessage() for r in caplog.records)


async def test_an_envelope_whose_ack_was_lost_is_handled_once(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The acknowledgement is lost with its connection: Slack re-sends the envelope (same
    id, on the new connection); runnerops acknowledges it and does nothing again."""
    socket = double(sb)
    (connection,) = await socket.wait_connections(1)
    connection.lose_acks = 1
    payload, response_url = command(sb, "token acme")
    ack = await socket.deliver("slash_commands", payload, attempts=3)
    assert ack.attempts == 2  # the first ack was lost; the re-send's arrived
    assert repeats(caplog) == 1  # the re-send was known by its envelope id
    reply = await sb.slack.next_reply(response_url)
    assert "config.sh" in reply_text(reply)
    entries = await sb.services.store.audit.recent()  # type: ignore[union-attr]
    assert [e.action for e in entries] == ["token"]  # one token issued, one entry
    assert sb.github.count("POST", "/orgs/acme/actions/runners/registration-token") == 1
    # Nothing more comes: a second reply would be the re-sent envelope handled again.
    assert sb.slack.replies(response_url).empty()


@pytest.mark.parametrize("kind", ["interactive", "events_api"])
async def test_a_resent_envelope_is_handled_once(
    sb: Sandbox, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The same envelope id sent twice (a button; the Home tab) runs once, acked twice."""
    socket = double(sb)
    if kind == "interactive":
        ask = await sb.run("delete acme linux-idle")
        body, response_url = sb.click_body(ask, action_id=DELETE_ACTION)
        payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    else:
        payload = {
            "type": "event_callback",
            "team_id": sb.slack.team_id,
            "api_app_id": "A0RUNNEROPS",
            "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"},
            "event_id": "Ev0SOCKET",
            "event_time": 1,
        }
    first = await socket.deliver(kind, payload)
    again = await socket.deliver(kind, payload, envelope_id=first.envelope_id)
    assert again.envelope_id == first.envelope_id
    assert repeats(caplog) == 1
    if kind == "interactive":
        assert "was deleted" in reply_text(await sb.slack.next_reply(response_url))
        assert sb.github.count("DELETE", r"/orgs/acme/actions/runners/\d+") == 1
        entries = await sb.services.store.audit.recent()  # type: ignore[union-attr]
        assert [e.outcome for e in entries] == ["deleted"]
        assert sb.slack.replies(response_url).empty()
    else:
        await sb.slack.next_publish()
        # A third envelope (new id) publishes again: so one publish for two sends is the
        # once-record at work, not a publish that never came.
        await socket.deliver(kind, {**payload, "event_id": "Ev0OTHER"})
        await sb.slack.next_publish()
        assert len(sb.slack.published) == 2


async def test_a_slack_outage_at_start_does_not_stop_webhooks(
    make_sandbox: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Slack refuses apps.connections.open at start-up: the process serves GitHub's
    webhooks meanwhile, says why it is not connected (never the token), and connects once
    Slack answers again."""
    async with make_sandbox(socket_mode=True, slack_reachable=False) as sb:
        status, _ = await sb.deliver("ping", {"zen": "hi", "hook_id": 1})
        assert status == 200
        async with sb.session.get(sb.url + "/healthz") as resp:
            assert resp.status == 200
        assert double(sb).opened == 0
        sb.slack.socket_url = double(sb).url  # Slack is back
        await double(sb).wait_connections(1)
        assert "linux-idle" in reply_text(await sb.run("list acme"))
        failures = [r for r in caplog.records if r.getMessage().startswith("Failed to connect")]
        assert failures and all(r.exc_info is None for r in failures)  # one line each
        assert "socket_mode_not_enabled" in failures[0].getMessage()
        assert any("Socket Mode: connected" in r.getMessage() for r in caplog.records)
        token = sb.settings.slack_app_token
        assert token and not any(token in r.getMessage() for r in caplog.records)


async def test_each_envelope_is_handled_once_across_processes(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A second process on the same database holds its own connection; the same envelope
    reaching both at once (Slack's re-send landing elsewhere) is handled by one of them."""
    socket = double(sb)
    other = Services.build(sb.settings)
    app = create_app(sb.settings, other, socket_ping_interval=SOCKET_PING_INTERVAL)
    async with serve(app):
        first, second = await socket.wait_connections(2)
        urls = []
        for _ in range(3):
            payload, response_url = command(sb, "token acme")
            envelope = f"env-{len(urls)}"
            acks = await asyncio.gather(
                socket.deliver("slash_commands", payload, envelope_id=envelope, connection=first),
                socket.deliver("slash_commands", payload, envelope_id=envelope, connection=second),
            )
            assert {a.connection for a in acks} == {first.number, second.number}
            urls.append(response_url)
        for url in urls:
            assert "config.sh" in reply_text(await sb.slack.next_reply(url))
        assert repeats(caplog) == 3  # one of each pair knew it for a repeat
        entries = await sb.services.store.audit.recent()  # type: ignore[union-attr]
        assert [e.action for e in entries] == ["token"] * 3
        assert sb.github.count("POST", "/orgs/acme/actions/runners/registration-token") == 3
