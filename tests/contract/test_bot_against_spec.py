"""runnerops end to end against GitHub's published descriptions, served by Prism.

Each of the 18 runner operations (six verbs at enterprise, organization and repository
scope) is driven from a signed slash command, as Slack sends it, with runnerops' GitHub
being Prism on the published spec: api.github.com for organizations and repositories and
GitHub Enterprise Cloud for enterprises (``cloud``), then GitHub Enterprise Server under
``/api/v3`` for all three (``ghes``). A recording proxy in between keeps every request.

What holds for every operation:

- Prism found nothing wrong with any request runnerops made (no ``sl-violations`` on the
  request side), and each request is an operation of the spec, with the right method,
  path (GHES: under ``/api/v3``), API version header and credential (app JWT for the
  installation lookup and token mint, the installation token for organization and
  repository calls, the classic PAT for enterprise calls);
- the reply is rendered from the spec's example responses, never an error reply, and
  nothing is logged at ERROR.

Prism quirks met on the way, each handled by design: no authentication is checked (the
credential checks above are ours), the ``name=`` filter is ignored (runnerops filters
again), the list's ``Link`` header points at api.github.com (runnerops does not follow a
link off its API host, and says so in its log), and the example installation token
expired in 2016 (runnerops uses it once and mints a fresh one for the next command).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from bot.sandbox.harness import Keys, find_button, reply_text
from bot.slack.views.delete import DELETE_ACTION
from tests.conftest import Clock

from .bench import (
    ACCESS_TOKENS,
    FLAVOURS,
    INSTALLATION,
    OPERATION,
    OPERATIONS,
    PRISM_FIXTURES,
    SCOPE_TEMPLATES,
    Bench,
    Flavour,
    Operation,
    Where,
    example,
    fetched_runner,
    is_error_reply,
    listed_runner,
    open_bench,
    prism_servers,
    template_of,
    where,
)
from .proxy import Exchange

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCOPES = ("enterprise", "org", "repo")
API_VERSION = "2022-11-28"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=sorted(FLAVOURS))
async def bench(request: pytest.FixtureRequest, keys: Keys) -> AsyncIterator[Bench]:
    async with open_bench(request.param, prism_servers(request, request.param), keys) as bench:
        yield bench


def _template(bench: Bench, exchange: Exchange) -> str:
    template = template_of(exchange.spec, exchange.path, bench.prefix)
    assert template is not None, f"{exchange}: not an operation of {exchange.spec}"
    return template


def _check_requests(bench: Bench, op: Operation, at: Where, exchanges: list[Exchange]) -> None:
    allowed = {(op.method, op.template(at.scope))}
    if op.verb == "delete":  # found by name in the list, fetched again on the click
        allowed.add(("GET", OPERATION["list"].template(at.scope)))
        allowed.add(("GET", OPERATION["get"].template(at.scope)))
    _check_exchanges(bench, at, exchanges, allowed)
    calls = [(e.method, e.path) for e in exchanges]
    assert (op.method, bench.op_path(op, at)) in calls, calls


def _check_exchanges(
    bench: Bench, at: Where, exchanges: list[Exchange], allowed: set[tuple[str, str]]
) -> None:
    """Each request: no violation, an operation of the spec among ``allowed`` (plus the
    installation lookup and token mint), sent with the right headers and credential."""
    assert exchanges, "runnerops made no request"
    spec = bench.spec_for(at.scope)
    allowed = set(allowed)
    if at.scope != "enterprise":
        allowed |= {("GET", INSTALLATION[at.scope]), ("POST", ACCESS_TOKENS)}
    installation_token = example(spec, "POST", ACCESS_TOKENS, 201)["token"]
    pat = bench.sb.settings.github_enterprise_token
    for exchange in exchanges:
        assert exchange.request_violations == [], f"{exchange}: {exchange.request_violations}"
        assert exchange.status < 400, f"{exchange}: {exchange.body[:300]!r}"
        assert exchange.path.startswith(bench.prefix + "/"), str(exchange)
        template = _template(bench, exchange)
        assert (exchange.method, template) in allowed, f"{exchange}: not expected here"
        headers = exchange.headers
        assert headers.get("x-github-api-version") == API_VERSION, str(exchange)
        assert "application/json" in headers.get("accept", ""), str(exchange)
        assert headers.get("user-agent"), str(exchange)
        auth = headers.get("authorization", "")
        if template in (*INSTALLATION.values(), ACCESS_TOKENS):
            assert auth.lower().startswith("bearer ey"), f"{exchange}: no app JWT"
        elif at.scope == "enterprise":
            assert auth == f"token {pat}", f"{exchange}: not the enterprise PAT"
        else:
            assert auth == f"token {installation_token}", f"{exchange}: no installation token"


def _check_labels(runner: dict[str, Any], text: str) -> None:
    for label in runner["labels"]:
        if label["type"] == "custom":
            assert f"`{label['name']}`" in text, f"custom label {label['name']} not in code"
        else:
            assert label["name"] in text, label
            assert f"`{label['name']}`" not in text, f"{label['name']} shown as custom"


def _check_replies(bench: Bench, op: Operation, at: Where, replies: list[dict[str, Any]]) -> None:
    for reply in replies:
        assert not is_error_reply(reply), reply_text(reply)
    spec = bench.spec_for(at.scope)
    text = reply_text(replies[0])
    template = op.template(at.scope)
    if op.verb == "list":
        runners = example(spec, "GET", template, 200)["runners"]
        assert f"{len(runners)} runners" in text
        for runner in runners:
            line = next((ln for ln in text.splitlines() if f"*{runner['name']}*" in ln), "")
            assert line, f"{runner['name']} not listed:\n{text}"
            assert f"id {runner['id']}" in line and runner["status"] in line
            _check_labels(runner, line)
    elif op.verb == "downloads":
        for download in example(spec, "GET", template, 200):
            assert download["filename"] in text and download["download_url"] in text
    elif op.verb == "token":
        token = example(spec, "POST", template, 201)["token"]
        url = f"{bench.flavour.github_url}/{at.web_path}"
        assert f"./config.sh --url {url} --token {token}" in text
    elif op.verb == "remove-token":
        token = example(spec, "POST", template, 201)["token"]
        assert f"./config.sh remove --token {token}" in text
    elif op.verb == "get":
        runner = fetched_runner(spec, at.scope)
        assert f"Runner {runner['name']}" in text
        assert f"*Id*\n{runner['id']}" in text and f"*OS*\n{runner['os']}" in text
        _check_labels(runner, text)
    elif op.verb == "delete":
        assert len(replies) == 2, "no Delete button to click"
        asked = listed_runner(spec, at.scope)
        assert f"Delete runner *{asked['name']}*" in text
        assert find_button(replies[0], DELETE_ACTION)["style"] == "danger"
        assert f"Runner *{asked['name']}* was deleted" in reply_text(replies[1])
    else:
        raise AssertionError(f"no reply check for {op.verb}")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.verb)
async def test_operation(
    bench: Bench,
    op: Operation,
    scope: str,
    logged_errors: Callable[[], list[logging.LogRecord]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = where(scope)
    start = len(bench.proxy.exchanges)
    replies = await bench.drive(op, at)
    exchanges = bench.proxy.exchanges[start:]

    _check_requests(bench, op, at, exchanges)
    _check_replies(bench, op, at, replies)
    assert logged_errors() == []
    if scope != "enterprise":
        # The example token expired long ago, so it is never reused: each runner call
        # gets a freshly minted one.
        templates = [_template(bench, e) for e in exchanges]
        runner_calls = [t for t in templates if "/actions/runners" in t]
        assert templates.count(ACCESS_TOKENS) == len(runner_calls)
    if op.verb in ("list", "delete"):
        # The example's Link points at api.github.com; runnerops plans pages from the first
        # page's total_count instead of following links, so it asks for no second page.
        assert not [e for e in exchanges if re.search(r"(?:^|&)page=", e.query)]
        assert "api.github.com" not in " ".join(e.path for e in exchanges)


# -- the fleet commands: labels, label, groups, list --group, jit --------------------------

RUNNER = "/actions/runners/{runner_id}"
LABELS = RUNNER + "/labels"
GROUPS = "/actions/runner-groups"
GROUP_RUNNERS = GROUPS + "/{runner_group_id}/runners"
JIT = "/actions/runners/generate-jitconfig"


@dataclass(frozen=True)
class FleetStep:
    """One fleet command, the calls it must make (method, path after the scope's prefix)
    and those it may make besides."""

    name: str
    command: str  # ``{target}`` and ``{runner_id}`` are filled in
    calls: tuple[tuple[str, str], ...]
    scopes: tuple[str, ...] = SCOPES
    also: tuple[tuple[str, str], ...] = ()
    shows: tuple[str, ...] = ()  # text the reply must hold (from the spec's examples)


FLEET_STEPS = (
    FleetStep(
        "labels",
        "labels {target} id:{runner_id}",
        (("GET", LABELS),),
        also=(("GET", RUNNER),),
        shows=("*Custom labels* (1): `no-gpu`", "self-hosted X64 macOS"),
    ),
    FleetStep(
        "label-add",
        "label {target} id:{runner_id} add gpu accelerated",
        (("POST", LABELS),),
        also=(("GET", RUNNER),),
        shows=("`no-gpu`",),
    ),
    FleetStep(
        "label-remove",
        "label {target} id:{runner_id} remove no-gpu",
        (("DELETE", LABELS + "/{name}"),),
        also=(("GET", RUNNER),),
        shows=("`no-gpu`",),
    ),
    FleetStep(
        "label-set",
        "label {target} id:{runner_id} set gpu",
        (("PUT", LABELS),),
        also=(("GET", RUNNER),),
        shows=("read-only labels always stay",),
    ),
    FleetStep(
        "groups",
        "groups {target}",
        (("GET", GROUPS), ("GET", GROUP_RUNNERS)),
        scopes=("enterprise", "org"),
        shows=("*Default* _(default)_ · id 1 · 2 runners", "octo-runner-group", "only workflows"),
    ),
    FleetStep(
        "list-group",
        "list {target} --group octo-runner-group",
        (("GET", GROUPS), ("GET", GROUP_RUNNERS)),
        scopes=("enterprise", "org"),
        shows=("group *octo-runner-group* (id 2)", "linux_runner"),
    ),
    FleetStep(
        "jit",
        "jit {target} new-runner --label gpu --work-folder _w",
        (("POST", JIT),),
        also=(("GET", GROUPS),),
        shows=("./run.sh --jitconfig ",),
    ),
)
FLEET_CASES = [(step, scope) for step in FLEET_STEPS for scope in step.scopes]


@pytest.mark.parametrize(
    ("step", "scope"), FLEET_CASES, ids=[f"{st.name}-{sc}" for st, sc in FLEET_CASES]
)
async def test_fleet_command(
    bench: Bench,
    step: FleetStep,
    scope: str,
    logged_errors: Callable[[], list[logging.LogRecord]],
) -> None:
    at = where(scope)
    spec = bench.spec_for(scope)
    runner_id = fetched_runner(spec, scope)["id"]
    start = len(bench.proxy.exchanges)
    reply = await bench.sb.run(step.command.format(target=at.text, runner_id=runner_id))
    exchanges = bench.proxy.exchanges[start:]
    prefix = SCOPE_TEMPLATES[scope]
    wanted = {(m, prefix + p) for m, p in step.calls}
    _check_exchanges(bench, at, exchanges, wanted | {(m, prefix + p) for m, p in step.also})
    seen = {(e.method, _template(bench, e)) for e in exchanges}
    assert wanted <= seen, sorted(wanted - seen)
    text = reply_text(reply)
    assert not is_error_reply(reply), text
    for shown in step.shows:
        assert shown in text, f"{shown!r} not in:\n{text}"
    if step.name == "jit":
        config = example(spec, "POST", prefix + JIT, 201)["encoded_jit_config"]
        assert f"./run.sh --jitconfig {config}" in text
        assert reply["response_type"] == "ephemeral"
    assert logged_errors() == []


async def test_every_request_matched_the_spec(bench: Bench) -> None:
    """Over the whole run: every request was an operation of the spec, sent as it says."""
    exchanges = bench.proxy.exchanges
    assert len(exchanges) >= 18
    bad = [f"{e}: {e.request_violations}" for e in exchanges if e.request_violations]
    assert bad == []
    assert all(e.path.startswith(bench.prefix + "/") for e in exchanges)
    seen = {(e.method, _template(bench, e)) for e in exchanges}
    wanted = {(op.method, op.template(scope)) for op in OPERATIONS for scope in SCOPES}
    wanted |= {
        (method, SCOPE_TEMPLATES[scope] + path)
        for step in FLEET_STEPS
        for scope in step.scopes
        for method, path in step.calls
    }
    assert wanted <= seen, sorted(wanted - seen)


# -- versions: runners per version, and end-of-life dates (github.com and GHEC only) --------

DOWNLOADS = "/actions/runners/downloads"
DEPRECATIONS = "/actions/runners/deprecations/{version}"
OFFERED = "2.330.0"  # newer than the examples' runners (2.323.0): theirs is older
# In the pinned descriptions the end-of-life endpoint is in GitHub Enterprise Cloud's alone
# (at the three scopes), so github.com is held to that one here; GHES has no such endpoint.
VERSION_FLAVOURS = {
    "ghec": Flavour("ghec", "", dict.fromkeys(SCOPES, "ghec"), "https://github.com"),
    "ghes": FLAVOURS["ghes"],
}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=sorted(VERSION_FLAVOURS))
async def versions_bench(request: pytest.FixtureRequest, keys: Keys) -> AsyncIterator[Bench]:
    flavour = VERSION_FLAVOURS[request.param]
    servers = {
        spec: request.getfixturevalue(PRISM_FIXTURES[spec])
        for spec in sorted(set(flavour.specs.values()))
    }
    # Injected time, moved a day per command, so each asks for the dates again.
    async with open_bench(flavour, servers, keys, clock=Clock()) as bench:
        yield bench


@pytest.mark.parametrize("scope", SCOPES)
async def test_versions(
    versions_bench: Bench,
    scope: str,
    logged_errors: Callable[[], list[logging.LogRecord]],
) -> None:
    bench, at = versions_bench, where(scope)
    spec, prefix = bench.spec_for(scope), SCOPE_TEMPLATES[scope]
    clock = bench.sb.services.clock if bench.sb.services else None
    assert isinstance(clock, Clock)
    clock.advance(86_400)
    downloads = example(spec, "GET", prefix + DOWNLOADS, 200)
    offered = json.loads(re.sub(r"\d+\.\d+\.\d+", OFFERED, json.dumps(downloads)))
    bench.proxy.rewrite("GET", bench.path(at.api_path + DOWNLOADS), offered)
    start = len(bench.proxy.exchanges)
    reply = await bench.sb.run(f"versions {at.text}")
    exchanges = bench.proxy.exchanges[start:]

    ghes = bench.prefix != ""
    wanted = {("GET", prefix + "/actions/runners"), ("GET", prefix + DOWNLOADS)}
    if not ghes:
        wanted.add(("GET", prefix + DEPRECATIONS))
    _check_exchanges(bench, at, exchanges, wanted)
    assert {(e.method, _template(bench, e)) for e in exchanges} >= wanted
    asked = [e.path for e in exchanges if "/deprecations/" in e.path]
    one = bench.path(at.api_path + "/actions/runners/deprecations/2.323.0")
    assert asked == ([] if ghes else [one])

    text = reply_text(reply)
    assert not is_error_reply(reply), text
    runners = example(spec, "GET", prefix + "/actions/runners", 200)["runners"]
    assert {r["version"] for r in runners} == {"2.323.0"}
    online = sum(r["status"] == "online" for r in runners)
    assert f"newest offered: `{OFFERED}`" in text
    line = f"`2.323.0` · {len(runners)} runners · {online} online · {len(runners) - online} offline"
    assert line in text
    if ghes:
        assert "older than this server offers" in text
    else:
        dates = example(spec, "GET", prefix + DEPRECATIONS, 200)
        assert dates["runtime_deprecates_at"].startswith("2026-09-01")  # the example's
        now = datetime.fromtimestamp(clock(), UTC)
        since = (now - datetime(2026, 9, 1, tzinfo=UTC)).days
        assert f"stops receiving jobs: 1 Sep 2026, since {since} days" in text
        assert "stops registering: no date published" in text  # absent from the example
    assert logged_errors() == []
