"""The contract-test infrastructure itself: pinned specs, cuts, validators, Prism, webhooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from .cut_spec import (
    APP_PATHS,
    GHES_PREFIX,
    GHES_SPEC,
    GHES_VERSION,
    JOB_PATHS,
    REPOSITORY_PATHS,
    SPEC_DIR,
    SPEC_NAMES,
    cached_cut_spec,
    cut_spec,
    iter_refs,
    resolve_pointer,
    spec_source,
)
from .prism import (
    ACCEPT,
    PrismServer,
    free_port,
    prism,
    request_violations,
    violations,
)
from .spec import (
    documented_statuses,
    load_spec,
    operations,
    response_schema,
    unresolved_refs,
    validate_response,
    validate_schema,
    validate_webhook,
    webhook_errors,
)
from .webhooks import EVENT_ACTIONS, EVENTS, example, examples, present_pairs, published_actions

SCOPES = {
    "enterprise": "/enterprises/{enterprise}",
    "org": "/orgs/{org}",
    "repo": "/repos/{owner}/{repo}",
}
# The six runner operations runnerops relies on, relative to a scope.
CORE_OPERATIONS = [
    ("GET", "/actions/runners"),
    ("GET", "/actions/runners/downloads"),
    ("POST", "/actions/runners/registration-token"),
    ("POST", "/actions/runners/remove-token"),
    ("GET", "/actions/runners/{runner_id}"),
    ("DELETE", "/actions/runners/{runner_id}"),
]
HEADERS = {"Accept": ACCEPT, "Authorization": "Bearer ghs_contract", "User-Agent": "runnerops"}


def core_operations(spec_name: str) -> set[tuple[str, str]]:
    scopes = [s for s in SCOPES if spec_name != "api.github.com" or s != "enterprise"]
    return {(m, SCOPES[s] + p) for s in scopes for m, p in CORE_OPERATIONS}


async def fetch(
    method: str, url: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, CIMultiDict[str], Any]:
    """One request; returns status, headers (case-insensitive) and the JSON body or None."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers or HEADERS, json=body) as resp,
    ):
        raw = await resp.read()
        return resp.status, CIMultiDict(resp.headers), json.loads(raw) if raw else None


# --- pinned packages and cuts ------------------------------------------------------------


def test_pinned_specs_present() -> None:
    for name in SPEC_NAMES:
        assert spec_source(name).is_file(), name
    assert GHES_SPEC == f"ghes-{GHES_VERSION}"
    assert (SPEC_DIR / f"{GHES_SPEC}.json").is_file()


@pytest.mark.parametrize("spec_name", SPEC_NAMES)
def test_cut_has_the_runner_operations(spec_name: str) -> None:
    spec = load_spec(spec_name)
    found = set(operations(spec))
    wanted = core_operations(spec_name)
    assert wanted <= found, sorted(wanted - found)
    assert len(wanted) == (12 if spec_name == "api.github.com" else 18)
    enterprise = {op for op in found if op[1].startswith("/enterprises/")}
    assert bool(enterprise) == (spec_name != "api.github.com")
    assert APP_PATHS <= set(spec["paths"])
    assert JOB_PATHS <= set(spec["paths"])
    fleet = {
        path
        for path in spec["paths"]
        if "/labels" in path or "/runner-groups" in path or path.endswith("/generate-jitconfig")
    }
    # Labels, JIT configs and runner groups (GHES has no hosted-runner group path).
    assert len(fleet) == {"api.github.com": 13, "ghec": 22, GHES_SPEC: 21}[spec_name]
    # Nothing unrelated slipped in.
    assert REPOSITORY_PATHS <= set(spec["paths"])  # a group fix reads the repository's id
    kept = APP_PATHS | JOB_PATHS | REPOSITORY_PATHS
    assert all("/actions/runner" in p or p in kept for p in spec["paths"])


@pytest.mark.parametrize(
    ("spec_name", "prefix"), [(n, "") for n in SPEC_NAMES] + [(GHES_SPEC, GHES_PREFIX)]
)
def test_cut_is_self_contained(spec_name: str, prefix: str) -> None:
    cut = json.loads(cached_cut_spec(spec_name, prefix).read_text())
    assert cut["openapi"].startswith("3.")
    assert cut["servers"] == [{"url": "/"}]
    assert unresolved_refs(cut) == []
    assert len(set(iter_refs(cut))) > 20  # the walk really followed references
    assert all(path.startswith(prefix + "/") for path in cut["paths"])
    assert {"schemas", "parameters", "responses", "examples", "headers"} <= set(cut["components"])


def test_cut_spec_function_prefixes_paths(tmp_path: Path) -> None:
    dest = cut_spec(spec_source(GHES_SPEC), tmp_path / "ghes.json", prefix=GHES_PREFIX)
    cut = json.loads(dest.read_text())
    assert f"{GHES_PREFIX}/orgs/{{org}}/actions/runners" in cut["paths"]
    assert f"{GHES_PREFIX}/app/installations/{{installation_id}}/access_tokens" in cut["paths"]
    assert not [p for p in cut["paths"] if not p.startswith(GHES_PREFIX + "/")]


def test_cut_is_cached() -> None:
    first = cached_cut_spec("api.github.com")
    mtime = first.stat().st_mtime_ns
    second = cached_cut_spec("api.github.com")
    assert second == first
    assert second.stat().st_mtime_ns == mtime  # not written again: served from the cache
    assert cached_cut_spec(GHES_SPEC, GHES_PREFIX) != cached_cut_spec(GHES_SPEC)


# --- validation --------------------------------------------------------------------------

RUNNER = {
    "id": 23,
    "name": "linux_runner",
    "os": "linux",
    "status": "online",
    "busy": False,
    "labels": [{"id": 5, "name": "self-hosted", "type": "read-only"}],
}


@pytest.mark.parametrize("spec_name", SPEC_NAMES)
def test_published_examples_validate(spec_name: str) -> None:
    """GitHub's own response examples for the runner operations pass ``validate_response``."""
    spec = load_spec(spec_name)
    checked = 0
    for method, path in operations(spec):
        if "hosted-runners" in path:  # GitHub-hosted runners: example lacks image_details
            continue
        for status in documented_statuses(spec, method, path):
            response = spec["paths"][path][method.lower()]["responses"][status]
            for content in response.get("content", {}).values():
                for named in content.get("examples", {}).values():
                    if "$ref" in named:
                        named = resolve_pointer(spec, named["$ref"])
                    validate_response(spec_name, method, path, int(status), named["value"])
                    checked += 1
    assert checked >= 12  # list, downloads, tokens, get, labels... at org and repo scope


def test_validate_response_accepts_and_rejects() -> None:
    path = "/orgs/{org}/actions/runners"
    validate_response("api.github.com", "GET", path, 200, {"total_count": 1, "runners": [RUNNER]})
    # ``version`` is nullable (OpenAPI 3.0 ``nullable: true``).
    validate_schema("api.github.com", "runner", {**RUNNER, "version": None})
    validate_response("api.github.com", "DELETE", path + "/{runner_id}", 204, None)
    assert response_schema(load_spec("ghec"), "DELETE", path + "/{runner_id}", 204) is None

    broken = {k: v for k, v in RUNNER.items() if k != "busy"} | {"id": "23"}
    with pytest.raises(AssertionError) as excinfo:
        validate_response("ghec", "GET", path, 200, {"total_count": 1, "runners": [broken]})
    message = str(excinfo.value)
    assert "'busy' is a required property" in message
    assert "['runners'][0]['id']" in message
    with pytest.raises(AssertionError, match="status 404 is not documented"):
        validate_response("ghec", "GET", path, 404, {"message": "Not Found"})
    with pytest.raises(AssertionError, match="no JSON body"):
        validate_response("ghec", "DELETE", path + "/{runner_id}", 204, {"x": 1})
    with pytest.raises(AssertionError, match="not in the spec"):
        validate_response("ghec", "GET", "/orgs/{org}/actions/secrets", 200, {})
    # GHES-prefixed templates are accepted as they appear on the wire.
    validate_response(GHES_SPEC, "GET", GHES_PREFIX + path, 200, {"total_count": 0, "runners": []})


# --- Prism -------------------------------------------------------------------------------


async def test_prism_lists_org_runners(prism_github: PrismServer) -> None:
    status, headers, body = await fetch("GET", prism_github.api_url + "/orgs/acme/actions/runners")
    assert status == 200
    assert {"linux_runner", "mac_runner"} <= {r["name"] for r in body["runners"]}
    validate_response("api.github.com", "GET", "/orgs/{org}/actions/runners", 200, body)
    assert request_violations(headers) == []
    # Quirk: the Link header is the spec's example and points at api.github.com.
    assert "https://api.github.com/" in headers["Link"]


async def test_prism_answers_every_core_operation(prism_ghec: PrismServer) -> None:
    values = {"{enterprise}": "big", "{org}": "acme", "{owner}": "acme", "{repo}": "app"}
    values["{runner_id}"] = "23"
    for method, template in sorted(core_operations("ghec")):
        url = template
        for key, value in values.items():
            url = url.replace(key, value)
        status, headers, body = await fetch(method, prism_ghec.api_url + url)
        assert status in (200, 201, 204), (method, template, status, body)
        assert request_violations(headers) == [], (method, template)
        validate_response("ghec", method, template, status, body)


async def test_prism_reports_request_violations(prism_github: PrismServer) -> None:
    base = prism_github.api_url + "/orgs/acme/actions/runners"
    # A query parameter of the wrong type: Prism answers 422 problem+json listing it.
    status, headers, body = await fetch("GET", base + "?per_page=many")
    assert status == 422
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["validation"][0]["location"] == ["query", "per_page"]
    # The wrong method on registration-token matches ``{runner_id}`` and fails its type.
    status, _, body = await fetch("GET", base + "/registration-token")
    assert status == 422
    assert body["validation"][0]["location"] == ["path", "runner_id"]
    # A bad body on an operation that documents 422: its response plus ``sl-violations``.
    status, headers, _ = await fetch("POST", base + "/23/labels", body={"labels": []})
    assert status == 422
    assert request_violations(headers)[0]["location"] == ["request", "body", "labels"]


async def test_prism_quirks(prism_github: PrismServer) -> None:
    base = prism_github.api_url
    # No authentication is checked: GitHub's descriptions declare no security schemes.
    status, _, _ = await fetch(
        "GET", base + "/orgs/acme/actions/runners", headers={"Accept": ACCEPT}
    )
    assert status == 200
    # An Accept header without application/json gets 406.
    only_github = {"Accept": "application/vnd.github+json"}
    status, _, _ = await fetch("GET", base + "/orgs/acme/actions/runners", headers=only_github)
    assert status == 406
    # The ``name`` filter is ignored: every example runner comes back.
    _, _, body = await fetch("GET", base + "/orgs/acme/actions/runners?name=nope")
    assert len(body["runners"]) == 2
    # Response-side violations (GitHub's own example breaks its schema) are only reported.
    status, headers, _ = await fetch("GET", base + "/app/installations")
    assert status == 200
    reported = violations(headers)
    assert reported and {v["location"][0] for v in reported} == {"response"}
    assert request_violations(headers) == []


async def test_prism_prefer_code_selects_response(prism_github: PrismServer) -> None:
    prefer_404 = {**HEADERS, "Prefer": "code=404"}
    status, _, body = await fetch(
        "GET", prism_github.api_url + "/repos/acme/app/installation", prefer_404
    )
    assert status == 404
    validate_response("api.github.com", "GET", "/repos/{owner}/{repo}/installation", 404, body)
    # GET runner documents no 404: Prism then invents a problem+json 404 of its own.
    url = prism_github.api_url + "/orgs/acme/actions/runners/23"
    status, headers, _ = await fetch("GET", url, prefer_404)
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json")
    prefer_422 = {**HEADERS, "Prefer": "code=422"}
    status, _, body = await fetch("DELETE", url, prefer_422)
    assert status == 422
    validate_response(
        "api.github.com", "DELETE", "/orgs/{org}/actions/runners/{runner_id}", 422, body
    )


async def test_prism_ghes_serves_under_api_v3(prism_ghes: PrismServer) -> None:
    assert prism_ghes.api_url == prism_ghes.base_url + "/api/v3"
    status, _, body = await fetch("GET", prism_ghes.api_url + "/orgs/acme/actions/runners")
    assert status == 200
    validate_response(GHES_SPEC, "GET", "/api/v3/orgs/{org}/actions/runners", 200, body)
    status, _, body = await fetch("GET", prism_ghes.api_url + "/enterprises/big/actions/runners")
    assert status == 200
    status, _, _ = await fetch("GET", prism_ghes.base_url + "/orgs/acme/actions/runners")
    assert status == 404  # nothing is served outside the prefix


@pytest.mark.usefixtures("require_node")
async def test_prism_context_manager() -> None:
    async with prism("api.github.com") as base_url:
        status, _, body = await fetch(
            "POST", base_url + "/orgs/acme/actions/runners/registration-token"
        )
        assert status == 201
        assert set(body) >= {"token", "expires_at"}
    port = int(base_url.rsplit(":", 1)[1])
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch("GET", f"http://127.0.0.1:{port}/app")
    assert free_port() > 0


# --- webhooks ----------------------------------------------------------------------------


def test_webhook_pairs_present() -> None:
    assert present_pairs() == sorted(EVENT_ACTIONS)
    for event, actions in EVENTS.items():
        assert set(actions) <= set(published_actions(event))
    validate_webhook("api.github.com", "workflow_job", example("workflow_job", "queued"))
    with pytest.raises(AssertionError, match="no published schema"):
        validate_webhook("api.github.com", "workflow_job", {"action": "exploded"})


@pytest.mark.parametrize(("event", "action"), EVENT_ACTIONS)
def test_webhook_examples_load(event: str, action: str) -> None:
    payloads = examples(event, action)
    assert payloads
    for payload in payloads:
        assert payload["action"] == action
        assert "sender" in payload
        if event == "workflow_job":
            job = payload["workflow_job"]
            assert isinstance(job["labels"], list)
            # Present but nullable. Not always null while queued: one published ``queued``
            # delivery already names a (GitHub-hosted) runner, another has status "waiting".
            assert {"runner_id", "runner_name", "runner_group_id", "status"} <= set(job)
        else:
            assert isinstance(payload["installation"]["id"], int)
    assert example(event, action) == payloads[0]
    payloads[0]["action"] = "changed"  # copies: the cached examples stay untouched
    assert examples(event, action)[0]["action"] == action


# Where the captured examples and the published webhook schemas disagree (pinned versions):
# ``installation.created_at``/``updated_at`` arrive as epoch integers, and older captures
# lack ``app_slug``, ``suspended_*``, ``requester`` and some ``workflow_job`` members.
KNOWN_DIVERGENCES: dict[tuple[str, ...], set[str]] = {
    (): {"requester"},
    ("installation",): {"app_slug", "suspended_by", "suspended_at"},
    ("installation", "created_at"): {"type"},
    ("installation", "updated_at"): {"type"},
    ("workflow_job",): {"run_attempt", "workflow_name", "head_branch", "created_at"},
}


@pytest.mark.parametrize(("event", "action"), EVENT_ACTIONS)
def test_webhook_examples_against_published_schema(event: str, action: str) -> None:
    """Each example matches GitHub's webhook schema, but for the divergences listed above."""
    for payload in examples(event, action):
        for error in webhook_errors("api.github.com", event, payload):
            where = tuple(str(p) for p in error.absolute_path)
            if error.validator == "required":
                found = {k for k in error.validator_value if k not in error.instance}
            else:
                found = {str(error.validator)}
            unexpected = found - KNOWN_DIVERGENCES.get(where, set())
            assert not unexpected, f"{event}.{action} at {where}: {error.message}"
