"""The renderer keeps every reply inside Slack's Block Kit limits, whatever GitHub returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.commands import parse
from bot.github.models import Download, Label, Runner, RunnerList, RunnerToken
from bot.slack import render
from bot.targets import parse_target

TARGET = parse_target("acme")


def _runner(i: int, *, name_len: int = 10, labels: int = 3) -> Runner:
    return Runner(
        id=i,
        name=(f"r{i}-" + "x" * name_len)[:name_len],
        os="Linux",
        status="online" if i % 3 else "offline",
        busy=i % 2 == 0,
        labels=tuple(Label(j, f"label-{j}-" + "&<>" * 15, "custom") for j in range(labels)),
    )


def _check_limits(reply: render.Reply) -> dict:
    payload = reply.payload()  # slack_sdk validates per-element limits here
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    assert len(json.dumps(payload["blocks"])) < 13_000 * 2  # far from msg_blocks_too_long
    return payload


def test_huge_fleet_with_long_names_and_many_labels() -> None:
    runners = [_runner(i, name_len=300, labels=100) for i in range(2000)]
    payload = _check_limits(
        render.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    )
    text = " ".join(b.get("text", {}).get("text", "") for b in payload["blocks"]) + str(payload)
    assert (
        "2000 runners" in text
        and "more not shown" in text
        and " more" in text.split("more not shown")[0]
    )


def test_detail_and_delete_confirm_with_extreme_runner() -> None:
    runner = _runner(7, name_len=5000, labels=100)
    _check_limits(render.runner_detail(TARGET, runner, parse("get acme 7")))
    payload = _check_limits(render.delete_confirm(TARGET, runner))
    confirm = payload["blocks"][-1]["elements"][0]["confirm"]
    assert len(confirm["text"]["text"]) <= 300
    assert len(payload["blocks"][-1]["elements"][0]["value"]) <= 2000


def test_user_and_github_text_is_escaped() -> None:
    runner = Runner(
        1, "<!channel> <@U123>", "Linux", "online", False, (Label(1, "<!here>", "custom"),)
    )
    payload = render.runner_list(
        TARGET, RunnerList([runner]), [runner], parse("list acme")
    ).payload()
    dumped = json.dumps(payload)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt;" in dumped


def test_token_reply_is_ephemeral_with_expiry() -> None:
    token = RunnerToken("TOKEN123456", datetime(2026, 1, 1, 13, 0, tzinfo=UTC))
    now = datetime(2026, 1, 1, 12, 15, tzinfo=UTC).timestamp()
    reply = render.token_reply(
        parse_target("enterprise:octo"),
        token,
        kind="registration",
        github_url="https://ghe.example.com",
        now=now,
    )
    payload = _check_limits(reply)
    assert payload["response_type"] == "ephemeral"
    assert (
        "./config.sh --url https://ghe.example.com/enterprises/octo --token TOKEN123456"
        in json.dumps(payload)
    )
    assert "expires in 45 min" in payload["text"]


def test_downloads_filtered() -> None:
    downloads = [
        Download(os, arch, f"https://example.com/{os}-{arch}.tgz", f"{os}-{arch}.tgz")
        for os in ("linux", "osx", "win")
        for arch in ("x64", "arm64")
    ]
    payload = _check_limits(
        render.downloads_reply(TARGET, downloads, parse("downloads acme --os osx"))
    )
    assert payload["text"].startswith("2 runner downloads")
