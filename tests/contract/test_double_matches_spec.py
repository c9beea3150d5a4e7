"""Our GitHub double answers in the shapes GitHub's published description documents.

The sandbox, the demo and most of the test suite talk to
:class:`bot.sandbox.github_double.GitHubDouble` instead of GitHub. Here every endpoint it
serves for runnerops is called over real HTTP, with the credential GitHub would want
(app JWT, installation token, enterprise PAT), and each body is validated against the
spec's schema for that status: api.github.com for organization, repository and app paths,
GitHub Enterprise Cloud for enterprise paths, and GitHub Enterprise Server wherever it
documents the same operation and status. Error statuses are covered wherever the spec
documents them; the ones GitHub sends undocumented must at least be GitHub's basic error.
The ``workflow_job`` deliveries the double builds are held to the published webhook
schemas and to the members of GitHub's captured deliveries. So the double cannot drift
from GitHub without a test saying where.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from gidgethub.apps import get_jwt

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys
from bot.sandbox.serve import serve

from .bench import ACCESS_TOKENS, INSTALLATION, OPERATION, SCOPE_TEMPLATES
from .cut_spec import GHES_SPEC
from .spec import (
    documented_statuses,
    load_spec,
    schema_errors,
    validate_response,
    validate_schema,
    validate_webhook,
    validator_for,
)
from .webhooks import EVENTS, examples

APP_ID = "4242"
PAT = "ghp_contract_enterprise"
INSTALLATION_ID = 11
SCOPE_PATHS = {
    "enterprise": "/enterprises/octo-ent",
    "org": "/orgs/acme",
    "repo": "/repos/acme/api",
}
CREDENTIAL_OF_SCOPE = {"enterprise": "pat", "org": "token", "repo": "token"}
UNKNOWN_SCOPE_PATHS = {
    "enterprise": "/enterprises/nope",
    "org": "/orgs/nowhere",
    "repo": "/repos/acme/missing",
}
LABELS = "/actions/runners/{runner_id}/labels"
JIT = "/actions/runners/generate-jitconfig"
ORG_GROUPS = "/orgs/{org}/actions/runner-groups"
ENTERPRISE_GROUPS = "/enterprises/{enterprise}/actions/runner-groups"
JOB = "/repos/{owner}/{repo}/actions/jobs/{job_id}"
REPOSITORY = "/repos/{owner}/{repo}"
GROUP_REPOSITORY = ORG_GROUPS + "/{runner_group_id}/repositories/{repository_id}"
RUN = "/repos/{owner}/{repo}/actions/runs/{run_id}"
DEPRECATIONS = "/actions/runners/deprecations/{version}"
WORKFLOW = "acme/api/.github/workflows/gpu.yml@refs/heads/main"
# Documented responses the double never produces, and why.
NOT_PRODUCED = {
    ("GET", INSTALLATION["repo"], 301): "the double has no renamed or transferred repositories",
    ("GET", REPOSITORY, 301): "the double has no renamed or transferred repositories",
    ("GET", REPOSITORY, 403): (
        "GitHub's refusals of a repository it would show (SAML, IP allow lists) are not modelled"
    ),
    ("DELETE", SCOPE_TEMPLATES["enterprise"] + LABELS, 422): (
        "removing every custom label has nothing to validate; GitHub's reason is unknown"
    ),
}


@dataclass(frozen=True)
class Call:
    """One request to the double and the status it must answer."""

    name: str
    method: str
    path: str  # may hold {idle}, {busy}, {doomed}...: ids resolved once seeded (see ``ids``)
    template: str
    status: int
    auth: str  # "jwt", "token" (installation), "pat", "bad-jwt" or "none"
    scope: str = "org"
    body: Any = None  # or a function of the scope's ids
    fault: bool = False  # produced by the double's fault injection, not by its logic
    documented: bool = True  # False: GitHub sends it, the spec does not list it

    @property
    def spec(self) -> str:
        """Enterprise paths are only in the GitHub Enterprise Cloud description, and so
        (in the pinned descriptions) are runner versions' end-of-life dates."""
        cloud = self.template.startswith("/enterprises/") or DEPRECATIONS in self.template
        return "ghec" if cloud else "api.github.com"


def _runner_calls(scope: str) -> list[Call]:
    base = SCOPE_PATHS[scope]
    auth = CREDENTIAL_OF_SCOPE[scope]
    calls = []
    for verb, status, ref in (
        ("list", 200, ""),
        ("downloads", 200, ""),
        ("token", 201, ""),
        ("remove-token", 201, ""),
        ("get", 200, "{idle}"),
        ("delete", 204, "{doomed}"),
        ("delete", 422, "{busy}"),
    ):
        op = OPERATION[verb]
        path = base + op.path.replace("{runner_id}", ref)
        name = f"{verb}-{scope}" + ("-busy" if status == 422 else "")
        calls.append(Call(name, op.method, path, op.template(scope), status, auth, scope))
    return calls


def _fleet_calls(scope: str) -> list[Call]:
    """Labels and JIT configs at one scope: every status the spec documents."""
    base, template = SCOPE_PATHS[scope], SCOPE_TEMPLATES[scope]
    auth = CREDENTIAL_OF_SCOPE[scope]
    labelled = base + "/actions/runners/{labelled}/labels"
    unknown = base + "/actions/runners/999999/labels"
    named = template + LABELS + "/{name}"

    def jit(name: str, *, group: bool = True) -> Callable[[dict[str, int]], dict[str, Any]]:
        def body(ids: dict[str, int]) -> dict[str, Any]:
            wanted: dict[str, Any] = {"name": name, "labels": ["gpu"], "work_folder": "_work"}
            if group:
                wanted["runner_group_id"] = ids["default_group"]
            return wanted

        return body

    rows: list[tuple[str, str, str, str, int, Any]] = [
        ("labels", "GET", labelled, template + LABELS, 200, None),
        ("labels-unknown-runner", "GET", unknown, template + LABELS, 404, None),
        ("add-labels", "POST", labelled, template + LABELS, 200, {"labels": ["extra", "GPU"]}),
        ("add-labels-unknown-runner", "POST", unknown, template + LABELS, 404, {"labels": ["x"]}),
        ("add-no-labels", "POST", labelled, template + LABELS, 422, {"labels": []}),
        ("set-labels", "PUT", labelled, template + LABELS, 200, {"labels": ["gpu", "fast"]}),
        ("set-labels-unknown-runner", "PUT", unknown, template + LABELS, 404, {"labels": []}),
        (
            "set-too-many-labels",
            "PUT",
            labelled,
            template + LABELS,
            422,
            {"labels": [f"l{n}" for n in range(101)]},
        ),
        ("remove-label", "DELETE", labelled + "/fast", named, 200, None),
        ("remove-absent-label", "DELETE", labelled + "/nope", named, 404, None),
        ("remove-read-only-label", "DELETE", labelled + "/self-hosted", named, 422, None),
        ("remove-unknown-runner-label", "DELETE", unknown + "/gpu", named, 404, None),
        ("clear-labels", "DELETE", base + "/actions/runners/{stripped}/labels", template + LABELS,
         200, None),
        ("clear-labels-unknown-runner", "DELETE", unknown, template + LABELS, 404, None),
        ("jit", "POST", base + JIT, template + JIT, 201, jit(f"jit-{scope}")),
        ("jit-name-taken", "POST", base + JIT, template + JIT, 409, jit("idle")),
        ("jit-no-group", "POST", base + JIT, template + JIT, 422, jit("jit-x", group=False)),
        ("jit-unknown-scope", "POST", UNKNOWN_SCOPE_PATHS[scope] + JIT, template + JIT, 404,
         jit("jit-y")),
    ]  # fmt: skip
    return [
        Call(f"{name}-{scope}", method, path, tmpl, status, auth, scope, body)
        for name, method, path, tmpl, status, body in rows
    ]


def _version_calls(scope: str) -> list[Call]:
    """A version's end-of-life dates: published, published without dates, and unknown
    (GitHub's 404, which the spec does not list)."""
    base, template = SCOPE_PATHS[scope], SCOPE_TEMPLATES[scope] + DEPRECATIONS
    auth = CREDENTIAL_OF_SCOPE[scope]
    path = base + DEPRECATIONS
    return [
        Call(f"deprecation-{scope}", "GET", path.replace("{version}", "2.321.0"), template,
             200, auth, scope),
        Call(f"deprecation-no-dates-{scope}", "GET", path.replace("{version}", "2.329.0"),
             template, 200, auth, scope),
        Call(f"deprecation-unknown-{scope}", "GET", path.replace("{version}", "2.1.0"),
             template, 404, auth, scope, documented=False),
    ]  # fmt: skip


def _group_calls() -> list[Call]:
    """Runner groups of the organization (its own and the enterprise's) and enterprise."""
    org, ent = "/orgs/acme/actions/runner-groups", "/enterprises/octo-ent/actions/runner-groups"
    rows: list[tuple[str, str, str, str, str]] = [
        ("groups-org", org, ORG_GROUPS, "token", "org"),
        ("groups-org-visible", org + "?visible_to_repository=api", ORG_GROUPS, "token", "org"),
        ("group-org", org + "/{group}", ORG_GROUPS + "/{runner_group_id}", "token", "org"),
        ("group-org-inherited", org + "/{shared}", ORG_GROUPS + "/{runner_group_id}", "token",
         "org"),
        ("group-runners-org", org + "/{group}/runners", ORG_GROUPS + "/{runner_group_id}/runners",
         "token", "org"),
        ("group-runners-org-inherited", org + "/{shared}/runners",
         ORG_GROUPS + "/{runner_group_id}/runners", "token", "org"),
        ("group-repositories-org", org + "/{group}/repositories",
         ORG_GROUPS + "/{runner_group_id}/repositories", "token", "org"),
        ("groups-enterprise", ent, ENTERPRISE_GROUPS, "pat", "enterprise"),
        ("group-enterprise", ent + "/{group}", ENTERPRISE_GROUPS + "/{runner_group_id}", "pat",
         "enterprise"),
        ("group-runners-enterprise", ent + "/{group}/runners",
         ENTERPRISE_GROUPS + "/{runner_group_id}/runners", "pat", "enterprise"),
    ]  # fmt: skip
    return [
        Call(name, "GET", path, tmpl, 200, auth, scope) for name, path, tmpl, auth, scope in rows
    ]


def _group_fix_calls() -> list[Call]:
    """What an alert's group fix buttons call: the repository (for its id), a repository
    added to a group, and a group's settings changed (``name`` is required)."""
    org = "/orgs/acme/actions/runner-groups"
    allow = {"name": "gpu", "allows_public_repositories": True}
    group = ORG_GROUPS + "/{runner_group_id}"
    rows: list[tuple[str, str, str, str, int, str, str, Any, bool]] = [
        ("repository", "GET", "/repos/acme/api", REPOSITORY, 200, "token", "repo", None, True),
        ("repository-public-anonymous", "GET", "/repos/acme/site", REPOSITORY, 200, "none",
         "repo", None, True),
        ("repository-missing", "GET", "/repos/acme/missing", REPOSITORY, 404, "token", "repo",
         None, True),
        ("group-add-repository", "PUT", org + "/{group}/repositories/{site}", GROUP_REPOSITORY,
         204, "token", "org", None, True),
        ("group-update", "PATCH", org + "/{group}", group, 200, "token", "org", allow, True),
        # GitHub sends these too, though the spec lists no error status for the operations.
        ("group-add-repository-unknown-group", "PUT", org + "/999999/repositories/{site}",
         GROUP_REPOSITORY, 404, "token", "org", None, False),
        ("group-add-repository-unknown-repository", "PUT", org + "/{group}/repositories/999999",
         GROUP_REPOSITORY, 404, "token", "org", None, False),
        ("group-add-repository-not-selected", "PUT", org + "/{default_group}/repositories/{site}",
         GROUP_REPOSITORY, 422, "token", "org", None, False),
        ("group-add-repository-with-pat", "PUT", org + "/{group}/repositories/{site}",
         GROUP_REPOSITORY, 403, "pat", "org", None, False),
        ("group-update-unknown", "PATCH", org + "/999999", group, 404, "token", "org", allow,
         False),
        ("group-update-inherited", "PATCH", org + "/{shared}", group, 404, "token", "org",
         allow, False),
        ("group-update-no-name", "PATCH", org + "/{group}", group, 422, "token", "org",
         {"allows_public_repositories": True}, False),
        ("group-update-with-pat", "PATCH", org + "/{group}", group, 403, "pat", "org", allow,
         False),
    ]  # fmt: skip
    return [
        Call(name, method, path, tmpl, status, auth, scope, body, documented=documented)
        for name, method, path, tmpl, status, auth, scope, body, documented in rows
    ]


TOKENS = ACCESS_TOKENS.replace("{installation_id}", str(INSTALLATION_ID))
CALLS = [
    *(c for scope in SCOPE_PATHS for c in _runner_calls(scope)),
    *(c for scope in SCOPE_PATHS for c in _fleet_calls(scope)),
    *(c for scope in SCOPE_PATHS for c in _version_calls(scope)),
    *_group_calls(),
    *_group_fix_calls(),
    Call("job", "GET", "/repos/acme/api/actions/jobs/{job}", JOB, 200, "token", "repo"),
    Call("job-finished", "GET", "/repos/acme/api/actions/jobs/{done}", JOB, 200, "token", "repo"),
    Call("run", "GET", "/repos/acme/api/actions/runs/{run}", RUN, 200, "token", "repo"),
    Call("run-done", "GET", "/repos/acme/api/actions/runs/{done_run}", RUN, 200, "token", "repo"),
    Call(
        "job-public-anonymous",
        "GET",
        "/repos/acme/site/actions/jobs/{public_job}",
        JOB,
        200,
        "none",
        "repo",
    ),
    Call("org-installation", "GET", "/orgs/acme/installation", INSTALLATION["org"], 200, "jwt"),
    Call(
        "repo-installation",
        "GET",
        "/repos/acme/api/installation",
        INSTALLATION["repo"],
        200,
        "jwt",
        "repo",
    ),
    Call(
        "repo-installation-missing",
        "GET",
        "/repos/acme/missing/installation",
        INSTALLATION["repo"],
        404,
        "jwt",
        "repo",
    ),
    Call("access-token", "POST", TOKENS, ACCESS_TOKENS, 201, "jwt"),
    Call(
        "access-token-narrowed",
        "POST",
        TOKENS,
        ACCESS_TOKENS,
        201,
        "jwt",
        body={"repositories": ["api"]},
    ),
    Call("access-token-bad-jwt", "POST", TOKENS, ACCESS_TOKENS, 401, "bad-jwt"),
    Call("access-token-forbidden", "POST", TOKENS, ACCESS_TOKENS, 403, "jwt", fault=True),
    Call(
        "access-token-unknown-installation",
        "POST",
        "/app/installations/99/access_tokens",
        ACCESS_TOKENS,
        404,
        "jwt",
    ),
    Call(
        "access-token-wider-permissions",
        "POST",
        TOKENS,
        ACCESS_TOKENS,
        422,
        "jwt",
        body={"permissions": {"administration": "admin"}},
    ),
    # GitHub sends these too, though the spec lists no such status for the operation.
    *(
        Call(name, method, path, template, status, auth, scope, documented=False)
        for name, method, path, template, status, auth, scope in (
            ("org-installation-missing", "GET", "/orgs/nowhere/installation",
             INSTALLATION["org"], 404, "jwt", "org"),
            ("list-org-no-credential", "GET", "/orgs/acme/actions/runners",
             OPERATION["list"].template("org"), 401, "none", "org"),
            ("list-org-with-pat", "GET", "/orgs/acme/actions/runners",
             OPERATION["list"].template("org"), 403, "pat", "org"),
            ("list-enterprise-with-token", "GET", "/enterprises/octo-ent/actions/runners",
             OPERATION["list"].template("enterprise"), 403, "token", "enterprise"),
            ("list-unknown-org", "GET", "/orgs/nowhere/actions/runners",
             OPERATION["list"].template("org"), 404, "token", "org"),
            ("get-unknown-runner", "GET", "/orgs/acme/actions/runners/999999",
             OPERATION["get"].template("org"), 404, "token", "org"),
            ("delete-unknown-runner", "DELETE", "/repos/acme/api/actions/runners/999999",
             OPERATION["delete"].template("repo"), 404, "token", "repo"),
            ("group-unknown-org", "GET", "/orgs/acme/actions/runner-groups/999999",
             ORG_GROUPS + "/{runner_group_id}", 404, "token", "org"),
            ("groups-enterprise-with-token", "GET", "/enterprises/octo-ent/actions/runner-groups",
             ENTERPRISE_GROUPS, 403, "token", "enterprise"),
            ("labels-enterprise-with-token", "GET",
             "/enterprises/octo-ent/actions/runners/{labelled}/labels",
             SCOPE_TEMPLATES["enterprise"] + LABELS, 403, "token", "enterprise"),
            ("job-unknown", "GET", "/repos/acme/api/actions/jobs/999999", JOB, 404, "token",
             "repo"),
            ("job-private-anonymous", "GET", "/repos/acme/api/actions/jobs/{job}", JOB, 404,
             "none", "repo"),
            ("run-unknown", "GET", "/repos/acme/api/actions/runs/999999", RUN, 404, "token",
             "repo"),
        )
    ),
]  # fmt: skip


@dataclass
class Double:
    double: GitHubDouble
    base: str
    session: aiohttp.ClientSession
    jwt: str
    token: str
    ids: dict[str, dict[str, int]] = field(default_factory=dict)  # scope -> name -> id

    def credential(self, auth: str) -> str | None:
        return {
            "jwt": self.jwt,
            "token": self.token,
            "pat": PAT,
            "bad-jwt": "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl",
            "none": None,
        }[auth]

    async def call(self, call: Call) -> tuple[int, dict[str, str], Any]:
        headers = {"Accept": "application/vnd.github+json"}
        credential = self.credential(call.auth)
        if credential is not None:
            headers["Authorization"] = f"Bearer {credential}"
        ids = self.ids[call.scope]
        path = call.path.format(**ids)
        body = call.body(ids) if callable(call.body) else call.body
        async with self.session.request(
            call.method, self.base + path, headers=headers, json=body
        ) as resp:
            raw = await resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def double(keys: Keys) -> AsyncIterator[Double]:
    gh = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token=PAT)
    gh.add_repo("acme", "api")
    gh.add_repo("acme", "site", private=False)
    gh.add_installation("acme", installation_id=INSTALLATION_ID)
    gh.add_enterprise("octo-ent", organizations=["acme"])
    gh.deprecate_version(
        "2.321.0", registration="2027-01-10T00:00:00Z", runtime="2027-02-01T00:00:00Z"
    )
    gh.deprecate_version("2.329.0")
    groups = {
        "org": gh.add_runner_group(
            "/orgs/acme",
            "gpu",
            visibility="selected",
            selected_repositories=["api"],
            restricted_to_workflows=True,
            selected_workflows=[WORKFLOW],
        ),
        "enterprise": gh.add_runner_group(
            "/enterprises/octo-ent",
            "shared",
            visibility="selected",
            selected_organizations=["acme"],
            allows_public_repositories=True,
        ),
        "repo": 1,
    }
    ids: dict[str, dict[str, int]] = {}
    for scope, path in SCOPE_PATHS.items():
        ids[scope] = {
            "idle": gh.add_runner(path, "idle", labels=["gpu"]),
            "busy": gh.add_runner(path, "busy", busy=True, os="macOS"),
            "doomed": gh.add_runner(path, "doomed", status="offline"),
            "labelled": gh.add_runner(path, "labelled", labels=["gpu", "fast"], arch="ARM64"),
            "stripped": gh.add_runner(path, "stripped", labels=["gpu"]),
            "group": groups[scope],
            "default_group": gh.runner_groups(path)[0]["id"] if scope != "repo" else 1,
        }
        if scope != "repo":
            gh.add_runner(path, "grouped", runner_group_id=groups[scope], labels=["gpu"])
    job = gh.add_job("acme", "api", labels=["self-hosted", "gpu"])["id"]
    done = gh.add_job("acme", "api", labels=["gpu"], status="in_progress", runner="idle")["id"]
    gh.set_job(done, status="completed", conclusion="failure")
    public_job = gh.add_job("acme", "site", labels=["self-hosted"], status="waiting")["id"]
    for scope_ids in ids.values():
        scope_ids |= {
            "site": gh.workflow_job_payload(public_job)["repository"]["id"],
            "shared": groups["enterprise"],
            "job": job,
            "done": done,
            "public_job": public_job,
            "run": gh.job(job)["run_id"],
            "done_run": gh.job(done)["run_id"],
        }
    app_jwt = get_jwt(app_id=APP_ID, private_key=keys.private_pem)
    connector = aiohttp.TCPConnector(force_close=True)  # see tests/test_github_double.py
    async with serve(gh.app) as base, aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {app_jwt}"}
        async with session.post(base + TOKENS, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["token"]
        yield Double(gh, base, session, app_jwt, token, ids)


def _ghes_documents(call: Call) -> bool:
    """Whether GitHub Enterprise Server documents the call's operation and status too."""
    try:
        statuses = documented_statuses(load_spec(GHES_SPEC), call.method, call.template)
    except LookupError:
        return False
    return str(call.status) in statuses


def _explain(spec: str, body: Any) -> str:
    """For an installation, which members of ``account`` GitHub's user schema wants."""
    if not (isinstance(body, dict) and isinstance(body.get("account"), dict)):
        return ""
    errors = schema_errors(validator_for(spec, "/components/schemas/simple-user"), body["account"])
    if not errors:
        return ""
    return "\n  body['account'] against simple-user: " + "; ".join(e.message for e in errors)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.name}-{c.status}")
async def test_double_answers_as_documented(double: Double, call: Call) -> None:
    if call.fault:
        double.double.add_fault(call.method, call.path, status=call.status)
    status, headers, body = await double.call(call)
    assert status == call.status, f"{call.method} {call.path}: {status} {body}"
    if call.documented:
        for spec in (call.spec, GHES_SPEC) if _ghes_documents(call) else (call.spec,):
            try:
                validate_response(spec, call.method, call.template, status, body)
            except AssertionError as exc:
                raise AssertionError(f"{exc}{_explain(spec, body)}") from None
    else:
        assert isinstance(body, dict) and body.get("message") and body.get("documentation_url")
        validate_schema(call.spec, "basic-error", body)
    if body is not None:
        assert headers.get("Content-Type", "").startswith("application/json")


def test_every_documented_status_is_exercised() -> None:
    """A status the spec documents for these paths is called above, or said not produced."""
    exercised = {(c.method, c.template, c.status) for c in CALLS if c.documented}
    missing = []
    for (method, template), spec_name in sorted(
        {(c.method, c.template): c.spec for c in CALLS}.items()
    ):
        for key in documented_statuses(load_spec(spec_name), method, template):
            wanted = (method, template, int(key))
            if wanted not in exercised and wanted not in NOT_PRODUCED:
                missing.append(f"{spec_name}: {method} {template} -> {key}")
    assert missing == []
    covered = {(c.method, c.template) for c in CALLS}
    for scope in SCOPE_TEMPLATES:
        for verb in ("list", "downloads", "token", "remove-token", "get", "delete"):
            op = OPERATION[verb]
            assert (op.method, op.template(scope)) in covered
        template = SCOPE_TEMPLATES[scope]
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert (method, template + LABELS) in covered
        assert ("DELETE", template + LABELS + "/{name}") in covered
        assert ("POST", template + JIT) in covered
        assert ("GET", template + DEPRECATIONS) in covered
    for groups in (ORG_GROUPS, ENTERPRISE_GROUPS):
        for tail in ("", "/{runner_group_id}", "/{runner_group_id}/runners"):
            assert ("GET", groups + tail) in covered
    assert ("GET", ORG_GROUPS + "/{runner_group_id}/repositories") in covered
    assert {("PUT", GROUP_REPOSITORY), ("PATCH", ORG_GROUPS + "/{runner_group_id}")} <= covered
    assert ("GET", REPOSITORY) in covered
    assert ("GET", JOB) in covered
    assert any(c.status != 200 for c in CALLS if c.template == JOB)


@pytest.mark.parametrize("spec_name", ["api.github.com", GHES_SPEC])
@pytest.mark.parametrize("action", EVENTS["workflow_job"])
def test_workflow_job_payloads_match_github(keys: Keys, spec_name: str, action: str) -> None:
    """The double's ``workflow_job`` deliveries: the published schema, and every member
    GitHub's captured deliveries of that action carry (but a deployment's)."""
    gh = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem)
    gh.add_repo("acme", "api")
    gh.add_repo("acme", "site", private=False)
    gh.add_installation("acme")
    gh.add_runner("/orgs/acme", "gpu-1", labels=["gpu"])
    for repo in ("api", "site"):
        job = gh.add_job("acme", repo, labels=["self-hosted", "gpu"])["id"]
        if action == "waiting":
            gh.set_job(job, status="waiting")
        if action in ("in_progress", "completed"):
            gh.set_job(job, status="in_progress", runner="gpu-1")
        if action == "completed":
            gh.set_job(job, status="completed", conclusion="cancelled")
        payload = gh.workflow_job_payload(job)
        assert payload["action"] == action == payload["workflow_job"]["status"]
        assert payload["repository"]["private"] is (repo == "api")
        validate_webhook(spec_name, "workflow_job", payload)
        for published in examples("workflow_job", action):
            assert set(published) - {"deployment"} <= set(payload)
            assert set(published["workflow_job"]) <= set(payload["workflow_job"])
            assert set(published["repository"]) <= set(payload["repository"])
