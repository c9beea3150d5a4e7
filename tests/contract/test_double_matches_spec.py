"""Our GitHub double answers in the shapes GitHub's published description documents.

The sandbox, the demo and most of the test suite talk to
:class:`bot.sandbox.github_double.GitHubDouble` instead of GitHub. Here every endpoint it
serves for runnerops is called over real HTTP, with the credential GitHub would want
(app JWT, installation token, enterprise PAT), and each body is validated against the
spec's schema for that status: api.github.com for organization, repository and app paths,
GitHub Enterprise Cloud for enterprise paths. Error statuses are covered wherever the spec
documents them; the ones GitHub sends undocumented must at least be GitHub's basic error.
So the double cannot drift from GitHub without a test saying where.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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
from .spec import (
    documented_statuses,
    load_spec,
    schema_errors,
    validate_response,
    validate_schema,
    validator_for,
)

APP_ID = "4242"
PAT = "ghp_contract_enterprise"
INSTALLATION_ID = 11
SCOPE_PATHS = {
    "enterprise": "/enterprises/octo-ent",
    "org": "/orgs/acme",
    "repo": "/repos/acme/api",
}
CREDENTIAL_OF_SCOPE = {"enterprise": "pat", "org": "token", "repo": "token"}
# Documented responses the double never produces, and why.
NOT_PRODUCED = {
    ("GET", INSTALLATION["repo"], 301): "the double has no renamed or transferred repositories",
}


@dataclass(frozen=True)
class Call:
    """One request to the double and the status it must answer."""

    name: str
    method: str
    path: str  # may hold {idle}, {busy}, {doomed}: runner ids, resolved once seeded
    template: str
    status: int
    auth: str  # "jwt", "token" (installation), "pat", "bad-jwt" or "none"
    scope: str = "org"
    body: Any = None
    fault: bool = False  # produced by the double's fault injection, not by its logic
    documented: bool = True  # False: GitHub sends it, the spec does not list it

    @property
    def spec(self) -> str:
        """Enterprise paths are only in the GitHub Enterprise Cloud description."""
        return "ghec" if self.template.startswith("/enterprises/") else "api.github.com"


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


TOKENS = ACCESS_TOKENS.replace("{installation_id}", str(INSTALLATION_ID))
CALLS = [
    *(c for scope in SCOPE_PATHS for c in _runner_calls(scope)),
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
    runner_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # scope -> name -> id

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
        path = call.path.format(**self.runner_ids[call.scope])
        async with self.session.request(
            call.method, self.base + path, headers=headers, json=call.body
        ) as resp:
            raw = await resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def double(keys: Keys) -> AsyncIterator[Double]:
    gh = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token=PAT)
    gh.add_repo("acme", "api")
    gh.add_installation("acme", installation_id=INSTALLATION_ID)
    runner_ids = {
        scope: {
            "idle": gh.add_runner(path, "idle", labels=["gpu"]),
            "busy": gh.add_runner(path, "busy", busy=True, os="macOS"),
            "doomed": gh.add_runner(path, "doomed", status="offline"),
        }
        for scope, path in SCOPE_PATHS.items()
    }
    app_jwt = get_jwt(app_id=APP_ID, private_key=keys.private_pem)
    connector = aiohttp.TCPConnector(force_close=True)  # see tests/test_github_double.py
    async with serve(gh.app) as base, aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {app_jwt}"}
        async with session.post(base + TOKENS, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["token"]
        yield Double(gh, base, session, app_jwt, token, runner_ids)


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
        try:
            validate_response(call.spec, call.method, call.template, status, body)
        except AssertionError as exc:
            raise AssertionError(f"{exc}{_explain(call.spec, body)}") from None
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
