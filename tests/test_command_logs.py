"""Logs an operator can follow: one structured line per command and per button (who,
which verb and target, how it ended, GitHub requests made, time), and GitHub failures
logged with the operation, the host and what GitHub said."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.observe.logs import JsonFormatter, RequestIdFilter
from bot.sandbox.harness import Sandbox, find_button
from bot.slack.views.delete import DELETE_ACTION


def handled(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Each command's or button's line, as the JSON log format writes it."""
    formatter = JsonFormatter()
    lines = []
    for record in caplog.records:
        if record.name == "bot.handled":
            RequestIdFilter().filter(record)
            lines.append(json.loads(formatter.format(record)))
    return lines


async def test_one_line_per_command_with_its_outcome_and_github_requests(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        before = len(sandbox.github.requests)
        await sandbox.run("list acme")
        made = len(sandbox.github.requests) - before
        await sandbox.run("token acme", user_id="U0BOB")  # no grant: refused
        await sandbox.run("lsit acme")
        await sandbox.run("list nosuch-org")  # not installed there
    lines = handled(caplog)
    assert [(line["verb"], line["outcome"]) for line in lines] == [
        ("list", "ok"),
        ("token", "refused"),
        ("lsit", "error usage"),
        ("list", "error not_installed"),
    ]
    listed, refused, _mistyped, failed = lines
    assert listed["kind"] == "command" and listed["user_id"] == "U0ALICE"
    assert listed["target"] == "acme" and refused["target"] == "acme"
    assert refused["user_id"] == "U0BOB" and refused["github_requests"] == 0
    assert made > 0 and listed["github_requests"] == made  # every request, JWT calls too
    assert failed["target"] == "nosuch-org" and failed["github_requests"] > 0
    assert all(isinstance(line["duration_ms"], int) for line in lines)
    # The request id that follows the command from its ack is on its line.
    assert all(line["request_id"] for line in lines)
    assert len({line["request_id"] for line in lines}) == 4
    text = next(r.getMessage() for r in caplog.records if r.name == "bot.handled")
    assert text.startswith("command list target=acme user=U0ALICE outcome=ok github_requests=")


async def test_one_line_per_button(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    ask = await sandbox.run("delete acme linux-idle")
    find_button(ask, DELETE_ACTION)
    with caplog.at_level(logging.INFO):
        await sandbox.click(ask, DELETE_ACTION)
    (line,) = handled(caplog)
    assert line["kind"] == "button" and line["verb"] == DELETE_ACTION
    assert line["target"] == "acme" and line["user_id"] == "U0ALICE"
    assert line["outcome"] == "ok" and line["github_requests"] >= 1  # the DELETE at least
    assert sandbox.github.count("DELETE", "/orgs/acme/actions/runners/.*") == 1


async def test_github_failures_name_the_operation_the_host_and_githubs_message(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.github.add_fault(
        "GET",
        "/orgs/acme/actions/runners",
        status=403,
        times=None,
        body={"message": "Resource not accessible by integration", "status": "403"},
    )
    with caplog.at_level(logging.INFO):
        await sandbox.run("list acme")
    host = sandbox.settings.github_api_url.split("://", 1)[1].rstrip("/")
    said = [
        r for r in caplog.records if r.name == "bot.github.client" and "failed" in r.getMessage()
    ]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    message = said[0].getMessage()
    assert message.startswith("GitHub GET /orgs/{org}/actions/runners")
    assert f"(host {host})" in message and "Resource not accessible" in message
    (line,) = handled(caplog)
    assert line["outcome"] == "error forbidden"
