"""The runner-group fix buttons of a stuck-job alert (issue 20 §1) against GitHub's
published descriptions, served by Prism: api.github.com (``cloud``) and GitHub Enterprise
Server under ``/api/v3`` (``ghes``).

An open ``group_not_allowed`` alert is stored and its fix button, drawn by runnerops'
own view from a diagnosis naming the spec's example group, is clicked as Slack sends it.
Each click re-reads the group (and, for a repository, the group's repositories and
``GET /repos/{owner}/{repo}`` for its id), then writes: ``PUT .../repositories/{id}``
(204) or ``PATCH`` of the group (200, with the ``name`` the spec requires). Every
request is an operation of the spec that Prism found nothing wrong with, sent with the
installation token, and the clicker reads what was done.

Then every status GitHub documents for those calls (read from the specs, so a new one
becomes a new case), and the errors GitHub sends undocumented for the two writes (404,
422, 403: answered by the proxy with GitHub's error body), each answered in words.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from slack_sdk.models.blocks import ActionsBlock

from bot.sandbox.harness import Keys, reply_text
from bot.slack.views.fix_groups import ALLOW_PUBLIC_ACTION, ALLOW_REPO_ACTION, group_fixes
from bot.watch.alerts import Alert, AlertKind, Member
from bot.watch.diagnosis import Diagnosis, Exclusion, GroupExclusion, Reason

from .bench import (
    ACCESS_TOKENS,
    FLAVOURS,
    INSTALLATION,
    Bench,
    example,
    open_bench,
    prism_servers,
    template_of,
)
from .prism import packages_available
from .spec import documented_statuses, load_spec

API_VERSION = "2022-11-28"
CHANNEL = "C0ALERTS"
GROUP = "/orgs/{org}/actions/runner-groups/{runner_group_id}"
GROUP_REPOSITORIES = GROUP + "/repositories"
GROUP_REPOSITORY = GROUP_REPOSITORIES + "/{repository_id}"
REPOSITORY = "/repos/{owner}/{repo}"
# Each fix: the calls it makes, in order (the last is its write).
CALLS = {
    ALLOW_REPO_ACTION: (
        ("GET", GROUP),
        ("GET", GROUP_REPOSITORIES),
        ("GET", REPOSITORY),
        ("PUT", GROUP_REPOSITORY),
    ),
    ALLOW_PUBLIC_ACTION: (("GET", GROUP), ("PATCH", GROUP)),
}
EXCLUSION = {
    ALLOW_REPO_ACTION: Exclusion.SELECTED_REPOSITORIES,
    ALLOW_PUBLIC_ACTION: Exclusion.PUBLIC_NOT_ALLOWED,
}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=sorted(FLAVOURS))
async def bench(request: pytest.FixtureRequest, keys: Keys) -> AsyncIterator[Bench]:
    async with open_bench(request.param, prism_servers(request, request.param), keys) as bench:
        yield bench


_names = itertools.count(1)


def _group_example(bench: Bench) -> dict[str, Any]:
    return dict(example(bench.spec_for("org"), "GET", GROUP, 200))


def _repository_id(bench: Bench) -> int:
    return int(example(bench.spec_for("repo"), "GET", REPOSITORY, 200)["id"])


async def _button(bench: Bench, action: str) -> tuple[dict[str, Any], str]:
    """A fresh organization's open alert, stored, and the message holding its ``action``
    button as runnerops draws it for the spec's example group; and the organization."""
    org = f"acme{next(_names)}"  # no cache (installation, ETag) carries over between cases
    now = datetime.now(UTC)
    labels = ("gpu", "self-hosted")
    alert = Alert(
        key=f"stuck|{org}|group_not_allowed|gpu,self-hosted",
        kind=AlertKind.STUCK,
        target=org,
        channel=CHANNEL,
        opened_at=now,
        reason=Reason.GROUP_NOT_ALLOWED.value,
        labels=labels,
        members=(Member(1, "build", now),),
    )
    await bench.sb.services.store.alerts.save(alert)
    group = _group_example(bench)
    excluded = GroupExclusion(group["id"], group["name"], (EXCLUSION[action],), ("gpu-1",))
    diagnosis = Diagnosis(
        Reason.GROUP_NOT_ALLOWED, labels, excluded_groups=(excluded,), repository=f"{org}/api"
    )
    buttons = [b for b in group_fixes(alert, diagnosis) if b.action_id == action]
    message = {
        "ts": "1700000000.000100",
        "blocks": [ActionsBlock(elements=buttons).to_dict()],
    }
    return message, org


def _path(bench: Bench, template: str, org: str) -> str:
    group = _group_example(bench)["id"]
    filled = (
        template.replace("{org}", org)
        .replace("{runner_group_id}", str(group))
        .replace("{repository_id}", str(_repository_id(bench)))
        .replace("{owner}", org)
        .replace("{repo}", "api")
    )
    return bench.path(filled)


async def _click(bench: Bench, action: str, message: dict[str, Any]) -> str:
    return reply_text(await bench.sb.click(message, action, channel_id=CHANNEL))


def _prepare(bench: Bench, action: str, org: str) -> None:
    """The spec's example group allows public repositories already: for the public fix,
    its GET is answered with the setting off (Prism still checks the request)."""
    if action == ALLOW_PUBLIC_ACTION:
        group = _group_example(bench) | {"allows_public_repositories": False}
        bench.proxy.rewrite("GET", _path(bench, GROUP, org), group)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("action", sorted(CALLS))
async def test_a_fix_makes_the_documented_calls(
    bench: Bench, action: str, logged_errors: Callable[[], list[logging.LogRecord]]
) -> None:
    message, org = await _button(bench, action)
    start = len(bench.proxy.exchanges)
    try:
        _prepare(bench, action, org)
        said = await _click(bench, action, message)
    finally:
        bench.proxy.reset()
    exchanges = bench.proxy.exchanges[start:]
    token = example(bench.spec_for("org"), "POST", ACCESS_TOKENS, 201)["token"]
    made = []
    for exchange in exchanges:
        assert exchange.request_violations == [], f"{exchange}: {exchange.request_violations}"
        assert exchange.status < 400, f"{exchange}: {exchange.body[:300]!r}"
        template = template_of(exchange.spec, exchange.path, bench.prefix)
        assert template is not None, f"{exchange}: not an operation of {exchange.spec}"
        assert exchange.headers.get("x-github-api-version") == API_VERSION, str(exchange)
        if template in (*INSTALLATION.values(), ACCESS_TOKENS):
            continue  # the installation lookups and the mint, checked elsewhere
        assert exchange.headers.get("authorization") == f"token {token}", str(exchange)
        made.append((exchange.method, template))
    assert made == list(CALLS[action]), made
    method, template = CALLS[action][-1]
    [write] = [e for e in exchanges if e.method == method]
    assert write.path == _path(bench, template, org)
    group = _group_example(bench)["name"]
    if action == ALLOW_REPO_ACTION:
        assert f"You allowed *{org}/api* in runner group *{group}*" in said, said
    else:
        assert f"You allowed public repositories in runner group *{group}*" in said, said
    assert logged_errors() == []


# -- error statuses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    action: str
    method: str
    template: str
    status: int
    flavour: str
    documented: bool

    def __str__(self) -> str:
        step = "repository" if self.template == REPOSITORY else self.method.lower()
        tail = "" if self.documented else "-undocumented"
        return f"{self.flavour}-{self.action}-{step}-{self.status}{tail}"


def documented_cases() -> list[Case]:
    """Every non-2xx status each flavour's spec documents for the fixes' calls."""
    cases = []
    for flavour in sorted(FLAVOURS):
        spec = load_spec(FLAVOURS[flavour].specs["org"])
        for action, calls in CALLS.items():
            for method, template in calls:
                if method == "GET" and template == GROUP and action == ALLOW_PUBLIC_ACTION:
                    continue  # one GET of the group is enough (the repository fix's)
                for key in documented_statuses(spec, method, template):
                    if key.isdigit() and not 200 <= int(key) < 300:
                        cases.append(Case(action, method, template, int(key), flavour, True))
    return cases


UNDOCUMENTED = [
    Case(action, method, template, status, flavour, False)
    for flavour in sorted(FLAVOURS)
    for action, (method, template) in (
        (ALLOW_REPO_ACTION, CALLS[ALLOW_REPO_ACTION][-1]),
        (ALLOW_PUBLIC_ACTION, CALLS[ALLOW_PUBLIC_ACTION][-1]),
    )
    for status in (403, 404, 422)
] + [Case(ALLOW_REPO_ACTION, "GET", GROUP, 404, "cloud", False)]


def expectation(case: Case, org: str, group: str) -> str:
    """The words the clicker must read; LookupError when none is defined."""
    if case.template == REPOSITORY:
        if case.status == 404:
            return f"GitHub has no repository *{org}/api* that runnerops can see"
        if case.status == 403:
            return f":lock: GitHub refused to show runnerops the repository *{org}/api*"
        if case.status == 301:  # renamed: followed on the same host, then allowed
            return f"You allowed *{org}/api* in runner group *{group}*"
    if case.status == 404:
        return f"GitHub has no runner group *{group}* in *{org}* any more"
    if case.status == 422:
        return f":warning: GitHub refused to change runner group *{group}*:"
    if case.status == 403:
        permission = "organization permission “Self-hosted runners” (read and write)"
        return f":lock: GitHub refused: runnerops lacks {permission} on *{org}*"
    raise LookupError(f"no reply defined for {case}: add the words runnerops owes the clicker")


def all_cases() -> list[Any]:
    if packages_available() is not None:  # the contract conftest skips (or fails) with why
        return [pytest.param(None, id="contract-packages-missing")]
    return [pytest.param(c.flavour, c, id=str(c)) for c in [*documented_cases(), *UNDOCUMENTED]]


def test_every_documented_status_has_expected_words() -> None:
    cases = documented_cases()
    assert {(c.template, c.status) for c in cases} >= {(REPOSITORY, 403), (REPOSITORY, 404)}
    missing = []
    for case in cases:
        try:
            expectation(case, "acme", "gpu")
        except LookupError as exc:
            missing.append(str(exc))
    assert missing == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("bench", "case"), all_cases(), indirect=["bench"], scope="module")
async def test_error_status(
    bench: Bench, case: Case, logged_errors: Callable[[], list[logging.LogRecord]]
) -> None:
    message, org = await _button(bench, case.action)
    group = _group_example(bench)["name"]
    path = _path(bench, case.template, org)
    extra: dict[str, str] = {}
    moved_to = ""
    if case.status == 301:  # GitHub names the new place; the spec leaves the header out
        moved_to = bench.path(f"/repos/{org}/api-renamed")
        extra["Location"] = bench.proxy_url + moved_to
    start = len(bench.proxy.exchanges)
    try:
        _prepare(bench, case.action, org)
        if case.documented:
            bench.proxy.prefer(case.method, path, case.status, **extra)
        else:
            bench.proxy.answer(case.method, path, case.status, **extra)
        said = await _click(bench, case.action, message)
    finally:
        bench.proxy.reset()
    exchanges = bench.proxy.exchanges[start:]
    hits = [e for e in exchanges if (e.method, e.path) == (case.method, path)]
    assert hits and all(h.status == case.status for h in hits), [str(e) for e in exchanges]
    assert [e for e in exchanges if e.request_violations] == []
    assert expectation(case, org, group) in said, said
    if case.status not in (301, 403):  # a 403 says what to grant (bot/slack/views/errors.py)
        assert "Nothing was changed" in said, said
    writes = [e for e in exchanges if e.method in ("PUT", "PATCH")]
    if case.template == REPOSITORY and case.status != 301:
        assert writes == []  # refused before any write
    if moved_to:
        assert any(e.path == moved_to and e.status == 200 for e in exchanges)
    assert logged_errors() == []
