"""The renderer keeps every reply inside Slack's Block Kit limits, whatever GitHub returns."""

from __future__ import annotations

import collections
import json
from datetime import UTC, datetime

import pytest

from bot.github.models import Download, Label, Runner, RunnerList, RunnerToken
from bot.sandbox.fleet import generated_fleet
from bot.slack.blocks import Reply
from bot.slack.views import delete as delete_view
from bot.slack.views import fleet as fleet_view
from bot.slack.views import tokens as tokens_view
from bot.targets import parse_target
from handlers import parse

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


def _check_limits(reply: Reply) -> dict:
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
        fleet_view.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    )
    text = " ".join(b.get("text", {}).get("text", "") for b in payload["blocks"]) + str(payload)
    assert (
        "2,000 runners" in text
        and "more not shown" in text
        and " more" in text.split("more not shown")[0]
    )


def test_detail_and_delete_confirm_with_extreme_runner() -> None:
    runner = _runner(7, name_len=5000, labels=100)
    _check_limits(fleet_view.runner_detail(TARGET, runner, parse("get acme 7")))
    payload = _check_limits(delete_view.delete_confirm(TARGET, runner))
    confirm = payload["blocks"][-1]["elements"][0]["confirm"]
    assert len(confirm["text"]["text"]) <= 300
    assert len(payload["blocks"][-1]["elements"][0]["value"]) <= 2000


def test_user_and_github_text_is_escaped() -> None:
    runner = Runner(
        1, "<!channel> <@U123>", "Linux", "online", False, (Label(1, "<!here>", "custom"),)
    )
    payload = fleet_view.runner_list(
        TARGET, RunnerList([runner]), [runner], parse("list acme")
    ).payload()
    dumped = json.dumps(payload)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt;" in dumped


def test_token_reply_is_ephemeral_with_expiry() -> None:
    token = RunnerToken("TOKEN123456", datetime(2026, 1, 1, 13, 0, tzinfo=UTC))
    now = datetime(2026, 1, 1, 12, 15, tzinfo=UTC).timestamp()
    reply = tokens_view.token_reply(
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
    assert "expires at <!date^1767272400^{time}|13:00 UTC> (in 45 min)" in payload["text"]
    assert "attach a machine" in json.dumps(payload)
    remove = tokens_view.token_reply(
        parse_target("enterprise:octo"),
        token,
        kind="remove",
        github_url="https://ghe.example.com",
        now=now,
    )
    shown = json.dumps(_check_limits(remove))
    assert "remove a runner from this target" in shown and "attach" not in shown


def test_downloads_filtered() -> None:
    downloads = [
        Download(os, arch, f"https://example.com/{os}-{arch}.tgz", f"{os}-{arch}.tgz")
        for os in ("linux", "osx", "win")
        for arch in ("x64", "arm64")
    ]
    payload = _check_limits(
        fleet_view.downloads_reply(TARGET, downloads, parse("downloads acme --os osx"))
    )
    assert payload["text"].startswith("2 runner downloads")


# -- fleets of thousands -------------------------------------------------------------


def _generated(n: int) -> list[Runner]:
    """:func:`generated_fleet` as the models GitHub's JSON becomes (ids in list order)."""
    return [
        Runner(
            id=i + 1,
            name=spec.name,
            os=spec.os,
            status=spec.status,
            busy=spec.busy,
            labels=tuple(Label(None, n, "read-only") for n in ("self-hosted", spec.os, spec.arch))
            + tuple(Label(None, n, "custom") for n in spec.labels),
        )
        for i, spec in enumerate(generated_fleet(n))
    ]


def _texts(payload: dict) -> list[str]:
    """Every mrkdwn or plain text of the blocks, in order."""
    out = []
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e["text"] for e in block.get("elements", []) if "text" in e]
    return out


@pytest.mark.parametrize("n", [10_000, 50_000])
def test_a_fleet_of_thousands_fits_slack_with_its_counts_first(n: int) -> None:
    runners = _generated(n)
    payload = _check_limits(
        fleet_view.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    )
    texts = _texts(payload)
    assert sum(len(t) for t in texts) < 12_000  # Slack refuses long messages near 13k
    assert all(len(t) <= 3000 for t in texts)
    # Status counts, worked out from the specs rather than by the code under test.
    specs = generated_fleet(n)
    online = sum(s.status == "online" for s in specs)
    busy = sum(s.busy for s in specs)
    assert f"{n:,} runners · {online:,} online · {busy:,} busy · {n - online:,} offline" in texts[1]
    # Label sets, the largest first: each pool of the generator is one set.
    sets = texts[2]
    assert sets.startswith("*By label set*")
    per_set = collections.Counter(
        ",".join(sorted({s.os.lower(), s.arch.lower()}) + sorted(s.labels)) for s in specs
    )
    lines = sets.splitlines()[1:]
    assert len(lines) == len(per_set)
    for line, (labels, count) in zip(lines, per_set.most_common(), strict=True):
        assert line.startswith(f"{count:,} \u00d7 `{labels}` · "), line
    assert f"{per_set['linux,x64,gpu']:,} \u00d7 `linux,x64,gpu`" in sets
    # Then the runners that fit, in GitHub's order, then how to narrow.
    drawn = [line for t in texts[3:-1] for line in t.splitlines()]
    assert drawn and all(f"*{r.name}*" in line for r, line in zip(runners, drawn, strict=False))
    note = texts[-1]
    assert f"…and {n - len(drawn):,} more not shown" in note
    assert all(flag in note for flag in ("--label", "--status", "--name"))


def test_a_fleet_that_fits_is_shown_whole_without_label_sets() -> None:
    runners = _generated(20)
    payload = _check_limits(
        fleet_view.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    )
    text = "\n".join(_texts(payload))
    assert "By label set" not in text and "more not shown" not in text
    assert all(f"*{r.name}*" in text for r in runners)


def test_label_sets_escape_github_text_and_set_apart_runners_without_self_hosted() -> None:
    hostile = (Label(None, "<!channel>", "custom"), Label(None, "a`b&c", "custom"))
    runners = [
        Runner(
            i,
            f"r{i}",
            status="online",
            labels=(Label(None, "self-hosted"), Label(None, "Linux"), *hostile),
        )
        for i in range(300)
    ]
    runners += [Runner(1000 + i, f"jit{i}") for i in range(200)]  # a JIT runner: no labels
    runners += [Runner(2000, "lone", labels=(Label(None, "self-hosted"),))]
    reply = fleet_view.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    sets = _texts(_check_limits(reply))[2]
    assert "<!channel>" not in sets and "&lt;!channel&gt;" in sets
    assert "300 \u00d7 `linux,&lt;!channel&gt;,a\u02cbb&amp;c` · 300 online · 0 busy" in sets
    assert "200 \u00d7 _no labels_ _without self-hosted_ · 0 online" in sets
    assert "1 \u00d7 _no labels_ · 0 online" in sets


def test_many_label_sets_name_the_largest_and_count_the_rest() -> None:
    runners = [
        Runner(i, f"r{i}", status="online", labels=(Label(None, f"pool-{i % 40:02d}", "custom"),))
        for i in range(4000)
    ]
    reply = fleet_view.runner_list(TARGET, RunnerList(runners), runners, parse("list acme"))
    sets = _texts(_check_limits(reply))[2]
    assert sets.count(" \u00d7 ") == fleet_view.MAX_LABEL_SETS
    rest = 40 - fleet_view.MAX_LABEL_SETS
    assert sets.splitlines()[-1] == f"…and {rest * 100:,} runners in {rest} other label sets"


def test_stats_with_capacity_advice_for_many_long_label_sets_fits_slack() -> None:
    """Five label sets of thirty 100-character labels (with characters escaping grows),
    the busiest, and sixty short ones: the advice keeps to one section, names the
    busiest that fit, counts the rest, and the reply keeps every queue line it had."""
    from datetime import timedelta

    from bot.slack.views import stats as stats_view
    from bot.watch.capacity import MAX_REPLAYED, Advice, Capacity
    from bot.watch.stats import QueueStats

    long_sets = [tuple(f"{i}-{j}-" + "&<>" * 33 for j in range(30)) for i in range(5)]
    label_sets = long_sets + [(f"set-{i}", "self-hosted") for i in range(60)]
    minute = timedelta(minutes=1)
    queues = {ls: QueueStats(ls, 10, minute, minute, minute, 0, 0.0) for ls in label_sets}
    advice = {
        ls: Advice(ls, jobs=100 - i, peak=3, runners=4, saturation=0.5, suggested=5)
        for i, ls in enumerate(label_sets)
    }
    found = Capacity(advice, MAX_REPLAYED, datetime(2027, 1, 1, tzinfo=UTC))
    reply = stats_view.stats_reply("acme", timedelta(days=7), 5 * minute, queues, {}, found, 2.0)
    payload = _check_limits(reply)
    text = json.dumps(payload["blocks"])
    # The busiest two (long) lines fill the section's room (a line is cut to 1,000
    # characters): the other 63 label sets are counted.
    assert "*Capacity* (an estimate)" in text and "and 63 more label sets" in text
    assert f"Only the most recent {MAX_REPLAYED:,} jobs" in text
    assert text.count("suggested 5 runners") <= stats_view.MAX_ADVICE_LINES
    assert "`set-59` `self-hosted`: 10 jobs" in text  # the queue lines are all there
