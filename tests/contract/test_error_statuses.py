"""Every error status GitHub documents for runnerops' calls becomes the right Slack reply.

The (call, status) pairs come from the published descriptions themselves: for each of
the 18 runner operations, the fleet commands' calls (a runner's labels: GET, POST, PUT,
DELETE; generate-jitconfig; the runner-groups list at organization and enterprise scope),
the installation lookup (``GET /orgs/{org}/installation``,
``GET /repos/{owner}/{repo}/installation``) and the token mint
(``POST /app/installations/{installation_id}/access_tokens``), every non-2xx status the
spec lists is selected with ``Prefer: code=NNN`` through the recording proxy, so Prism
answers with the spec's own body. A status the spec adds later becomes a new test case;
if :func:`expectation` has no reply for it, the case fails and says what to add.

GitHub also sends statuses its description leaves out (401, 403, 404 and 5xx on the
runner endpoints, 304 on a conditional GET, 429). Prism cannot produce those (it answers
an undocumented ``Prefer`` with a made-up 404), so the proxy answers them itself with
GitHub's error body; those cases are marked ``undocumented`` in their ids.

Every case runs against its own target names, so runnerops' caches (installation ids,
ETags, confirmed deletes) never carry one case's answer into another.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bot.github.transport import GET_ATTEMPTS  # a GET meeting 5xx is retried; POST and DELETE never
from bot.sandbox.harness import Keys, reply_text

from .bench import (
    ACCESS_TOKENS,
    FLAVOURS,
    INSTALLATION,
    OPERATION,
    OPERATIONS,
    SCOPE_TEMPLATES,
    Bench,
    Where,
    fetched_runner,
    installation_id,
    is_error_reply,
    listed_runner,
    open_bench,
    prism_servers,
    where,
)
from .prism import packages_available
from .spec import documented_statuses, load_spec

SCOPES = ("enterprise", "org", "repo")
# What runnerops must name when GitHub refuses with 403 (see the README's permissions).
PERMISSION = {
    "org": "organization permission “Self-hosted runners” (read and write)",
    "repo": "repository permission “Administration” (read and write)",
    "enterprise": "the classic token scope `manage_runners:enterprise`",
}
CREDENTIAL = {
    "org": "the GitHub App (GITHUB_APP_ID / GITHUB_PRIVATE_KEY)",
    "repo": "the GitHub App (GITHUB_APP_ID / GITHUB_PRIVATE_KEY)",
    "enterprise": "GITHUB_ENTERPRISE_TOKEN",
}
NOTHING_CHANGED = "nothing was changed"
UNAVAILABLE = ":cloud: GitHub did not answer; nothing was changed. Try again shortly."


@dataclass(frozen=True)
class Case:
    """One call answered with one status."""

    step: str  # an operation verb, "installation" (lookup) or "access-token" (mint)
    scope: str
    method: str
    template: str  # the spec's path template, without the GHES prefix
    status: int
    flavour: str  # which bench: "cloud" or "ghes"
    spec: str | None  # the spec documenting the status; None when GitHub sends it undocumented

    @property
    def documented(self) -> bool:
        return self.spec is not None

    def __str__(self) -> str:
        where = "" if self.flavour == "cloud" else f"{self.flavour}-"
        tail = "" if self.documented else "-undocumented"
        return f"{where}{self.step}-{self.scope}-{self.status}{tail}"


LABELS = "/actions/runners/{runner_id}/labels"
# The fleet commands' calls: step -> (METHOD, path after the scope's, the Slack command).
FLEET = {
    "labels": ("GET", LABELS, "labels {target} id:{runner_id}"),
    "label-add": ("POST", LABELS, "label {target} id:{runner_id} add gpu"),
    "label-set": ("PUT", LABELS, "label {target} id:{runner_id} set gpu"),
    "label-remove": ("DELETE", LABELS + "/{name}", "label {target} id:{runner_id} remove no-gpu"),
    "jit": ("POST", "/actions/runners/generate-jitconfig", "jit {target} new-runner --label gpu"),
    "groups": ("GET", "/actions/runner-groups", "groups {target}"),
}
REMOVED_LABEL = "no-gpu"  # the custom label of the spec's runner example


def _steps(scope: str) -> list[tuple[str, str, str]]:
    """(step, METHOD, template) of every call runnerops makes for a target at ``scope``."""
    steps = [(op.verb, op.method, op.template(scope)) for op in OPERATIONS]
    for step, (method, path, _command) in FLEET.items():
        if step != "groups" or scope != "repo":  # a repository has no runner groups
            steps.append((step, method, SCOPE_TEMPLATES[scope] + path))
    if scope != "enterprise":  # enterprise calls use the PAT: no installation involved
        steps.append(("installation", "GET", INSTALLATION[scope]))
    if scope == "org":  # the mint does not depend on the target's scope
        steps.append(("access-token", "POST", ACCESS_TOKENS))
    return steps


def documented_cases() -> list[Case]:
    """Every non-2xx status the specs document for runnerops' calls, once each.

    A status is tested against the first flavour whose spec documents it (``cloud``:
    api.github.com for organizations and repositories, ghec for enterprises; then GHES);
    a fleet command's, against every flavour whose spec documents it.
    """
    found: dict[tuple[str, str, int, str], Case] = {}
    for flavour in FLAVOURS.values():
        for scope in SCOPES:
            spec_name = flavour.specs[scope]
            spec = load_spec(spec_name)
            for step, method, template in _steps(scope):
                for key in documented_statuses(spec, method, template):
                    status = int(key) if key.isdigit() else 0  # "default", "4XX": see below
                    if 200 <= status < 300:
                        continue
                    case = Case(step, scope, method, template, status, flavour.name, spec_name)
                    # The fleet commands' statuses are met on both spec sets (their GHES
                    # paths under /api/v3 are the newest runnerops calls there).
                    on = flavour.name if step in FLEET else ""
                    found.setdefault((step, scope, status, on), case)
    return sorted(found.values(), key=str)


def _undocumented(step: str, scope: str, status: int) -> Case:
    steps = {s: (m, t) for s, m, t in _steps(scope)}
    method, template = steps[step]
    return Case(step, scope, method, template, status, "cloud", None)


# Statuses GitHub sends although the descriptions do not list them, chosen so that each
# distinct reply (and retry rule) is met at least once per scope or per method.
UNDOCUMENTED = [
    *(_undocumented(op.verb, "org", 404) for op in OPERATIONS),
    _undocumented("list", "enterprise", 404),
    _undocumented("list", "repo", 404),
    _undocumented("installation", "org", 404),
    *(_undocumented("list", scope, 401) for scope in SCOPES),
    _undocumented("delete", "org", 401),
    _undocumented("installation", "repo", 401),
    *(_undocumented("list", scope, 403) for scope in SCOPES),
    _undocumented("token", "org", 403),
    _undocumented("delete", "enterprise", 403),
    *(_undocumented(op.verb, "org", 502) for op in OPERATIONS),
    _undocumented("list", "enterprise", 503),
    _undocumented("installation", "repo", 500),
    _undocumented("remove-token", "repo", 504),
    *(_undocumented(verb, "org", 304) for verb in ("list", "downloads", "get")),
    _undocumented("get", "enterprise", 304),
    _undocumented("list", "org", 429),
]


def all_cases() -> list[Any]:
    if packages_available() is not None:  # the autouse fixture skips (or fails) with why
        return [pytest.param(None, id="contract-packages-missing")]
    documented = documented_cases()
    keys = {(c.step, c.scope, c.status) for c in documented}
    extra = [c for c in UNDOCUMENTED if (c.step, c.scope, c.status) not in keys]
    return [pytest.param(c, id=str(c)) for c in [*documented, *extra]]


CASES = all_cases()


# -- what the user must read ---------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    phrases: tuple[str, ...] = ()  # all in the last reply; none means "not an error"
    attempts: int | None = None  # how many times the failing call is made

    @property
    def error(self) -> bool:
        return bool(self.phrases)


def _not_found(case: Case, at: Where, spec: str, install_url: str) -> Expect:
    """The reply owed for a 404 at ``case``'s step."""
    step, scope = case.step, case.scope
    if step in ("installation", "access-token"):
        return Expect(
            (f"The runnerops GitHub App is not installed on *{at.account}*", install_url),
            attempts=1,
        )
    if step == "get":
        runner = listed_runner(spec, scope)["id"]
        return Expect((f":mag: No runner `{runner}` in *{at.text}*",), attempts=1)
    if step == "delete":
        runner = listed_runner(spec, scope)["name"]  # the name the button carries
        return Expect((f":mag: No runner `{runner}` in *{at.text}*",), attempts=1)
    if step in ("labels", "label-add", "label-set", "label-remove"):
        runner = fetched_runner(spec, scope)["name"]  # as the GET by id named it
        return Expect((f":mag: No runner `{runner}` in *{at.text}*",), attempts=1)
    if step == "jit" and scope != "repo":  # the target's groups were just listed
        group = f":mag: No runner group `Default` (id 1) in *{at.text}*"
        return Expect((group, "nothing was registered"), attempts=1)
    return Expect((f":mag: GitHub knows no *{at.text}*",), attempts=1)


def expectation(case: Case, at: Where, spec: str, install_url: str) -> Expect:
    """The reply runnerops owes the user for ``case``; LookupError when none is defined.

    ``spec`` is the spec Prism serves for the target (its examples name the runner).
    """
    status, step, scope = case.status, case.step, case.scope
    if status == 304:  # a conditional GET: the cached answer stands
        return Expect()
    if status == 301 and step == "installation":  # renamed repository: GitHub redirects
        return Expect()
    if status == 404:
        return _not_found(case, at, spec, install_url)
    if status == 409 and step == "jit":  # a runner of that name exists
        return Expect((":warning: GitHub refused:", "Nothing was changed"), attempts=1)
    if status == 401:
        # An installation token refused is dropped and minted again, once.
        retried = scope != "enterprise" and step not in ("installation", "access-token")
        rejected = f":key: GitHub rejected runnerops' credentials ({CREDENTIAL[scope]})"
        return Expect((rejected, NOTHING_CHANGED), attempts=2 if retried else 1)
    if status == 403:
        if step == "access-token":  # the installation refuses tokens (e.g. suspended)
            return Expect((":lock: GitHub refused", f"*{at.text}*"), attempts=1)
        return Expect(
            (f":lock: GitHub refused: runnerops lacks {PERMISSION[scope]} on *{at.text}*",),
            attempts=1,
        )
    if status == 422:
        if step == "delete":
            runner = listed_runner(spec, scope)["name"]
            return Expect((f"Runner `{runner}` is running a job; not deleted",), attempts=1)
        if step in ("access-token", "jit", "label-add", "label-set", "label-remove"):
            return Expect(
                (":warning: GitHub refused the request:", "Nothing was changed"), attempts=1
            )
    if status == 429:
        return Expect((":turtle: GitHub's rate limit is reached; try again in 2 min",), 1)
    if 500 <= status < 600 and step in ("token", "remove-token"):
        # GitHub may have issued the token before failing: never "nothing was changed".
        kind = "registration" if step == "token" else "remove"
        return Expect((f":grey_question: GitHub did not confirm the {kind} token",), attempts=1)
    if 500 <= status < 600:
        # A delete that fails so is checked with a GET; Prism's runner is still there.
        return Expect((UNAVAILABLE,), attempts=GET_ATTEMPTS if case.method == "GET" else 1)
    raise LookupError(
        f"{case.spec or 'GitHub'} answers {status} to {case.method} {case.template}, and "
        f"{__name__}.expectation() defines no reply for it: add the reply runnerops owes "
        "the user (and make runnerops give it)"
    )


# -- driving -------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bench(request: pytest.FixtureRequest, keys: Keys) -> AsyncIterator[Bench]:
    """One bench per flavour (parametrized indirectly by the cases)."""
    flavour = request.param
    async with open_bench(flavour, prism_servers(request, flavour), keys) as bench:
        yield bench


_names = itertools.count(1)


def fresh_target(scope: str) -> Where:
    """A target no other case has used."""
    n = next(_names)
    return where(scope, owner=f"ent{n}" if scope == "enterprise" else f"acme{n}")


def call_path(bench: Bench, case: Case, at: Where) -> str:
    """The raw path of the call that is to fail."""
    if case.step == "installation":
        return bench.path(at.api_path + "/installation")
    if case.step == "access-token":
        iid = installation_id(bench.spec_for(case.scope))
        return bench.path(ACCESS_TOKENS.replace("{installation_id}", str(iid)))
    if case.step in FLEET:
        runner_id = fetched_runner(bench.spec_for(case.scope), case.scope)["id"]
        path = FLEET[case.step][1].replace("{runner_id}", str(runner_id))
        return bench.path(at.api_path + path.replace("{name}", REMOVED_LABEL))
    return bench.op_path(OPERATION[case.step], at)


async def drive(bench: Bench, case: Case, at: Where) -> list[dict[str, Any]]:
    if case.step in FLEET:
        runner_id = fetched_runner(bench.spec_for(case.scope), case.scope)["id"]
        command = FLEET[case.step][2].format(target=at.text, runner_id=runner_id)
        return [await bench.sb.run(command)]
    verb = case.step if case.step in OPERATION else "list"
    return await bench.drive(OPERATION[verb], at)


def _params(cases: list[Any]) -> list[Any]:
    out = []
    for param in cases:
        case = param.values[0]
        flavour = case.flavour if case is not None else "cloud"
        out.append(pytest.param(flavour, case, id=param.id))
    return out


def test_every_documented_status_has_an_expected_reply() -> None:
    """Fails at once, listing them, when the spec documents a status with no reply defined."""
    documented = documented_cases()
    assert documented, "the specs document no error status at all: the cut is broken"
    assert all(c.status for c in documented), [str(c) for c in documented if not c.status]
    steps = {(c.step, c.status) for c in documented}
    assert {("delete", 422), ("installation", 404), ("access-token", 401)} <= steps
    fleet = {("labels", 404), ("label-add", 422), ("label-set", 404), ("label-remove", 422)}
    assert fleet | {("jit", 404), ("jit", 409), ("jit", 422)} <= steps
    missing = []
    for case in documented:
        spec = FLAVOURS[case.flavour].specs[case.scope]
        try:
            expectation(case, where(case.scope), spec, "https://github.com/apps/x")
        except LookupError as exc:
            missing.append(str(exc))
    assert missing == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("bench", "case"), _params(CASES), indirect=["bench"], scope="module")
async def test_error_status(
    bench: Bench, case: Case, logged_errors: Callable[[], list[logging.LogRecord]]
) -> None:
    at = fresh_target(case.scope)
    path = call_path(bench, case, at)
    try:
        expect = expectation(case, at, bench.spec_for(case.scope), bench.sb.settings.install_url)
    except LookupError as exc:
        pytest.fail(str(exc))
    proxy = bench.proxy
    extra: dict[str, str] = {}
    moved_to = ""
    first: list[dict[str, Any]] = []
    if case.status == 301:  # GitHub names the new place; the spec leaves the header out
        moved_to = bench.path(at.api_path + "-renamed/installation")
        extra["Location"] = bench.proxy_url + moved_to
    if case.status == 429:
        extra["Retry-After"] = "120"
    try:
        if case.documented:
            proxy.prefer(case.method, path, case.status, **extra)
        else:
            proxy.answer(case.method, path, case.status, **extra)
        if case.status == 304:
            proxy.etags = True
            first = await drive(bench, case, at)  # 200 with an ETag, kept by runnerops
        start = len(proxy.exchanges)
        replies = await drive(bench, case, at)
    finally:
        proxy.reset()
    exchanges = proxy.exchanges[start:]
    hits = [e for e in exchanges if (e.method, e.path) == (case.method, path)]
    assert hits, f"runnerops never called {case.method} {path}: {[str(e) for e in exchanges]}"
    assert all(h.status == case.status for h in hits), [str(h) for h in hits]
    if case.documented:  # Prism answered with the spec's own response
        assert all(h.answered_by == "prism" and h.prefer for h in hits)
        assert all(
            not h.response_headers.get("content-type", "").startswith("application/problem")
            for h in hits
        ), "Prism did not know the status"
    bad = [f"{e}: {e.request_violations}" for e in exchanges if e.request_violations]
    assert bad == []

    text = reply_text(replies[-1])
    if expect.error:
        assert is_error_reply(replies[-1]), text
        for phrase in expect.phrases:
            assert phrase in text, f"{phrase!r} not in the reply:\n{text}"
    else:
        assert not is_error_reply(replies[-1]), text
    if expect.attempts is not None:
        assert len(hits) == expect.attempts, [str(h) for h in hits]
    if case.status == 304:
        assert all("if-none-match" in h.headers for h in hits)
        assert [reply_text(r) for r in replies] == [reply_text(r) for r in first]
    if moved_to:  # followed on the same host, with the same app JWT
        followed = [e for e in exchanges if (e.method, e.path) == ("GET", moved_to)]
        assert followed and followed[0].status == 200
        assert followed[0].headers.get("authorization", "").lower().startswith("bearer ey")
    assert logged_errors() == []
