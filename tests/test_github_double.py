"""The GitHub double over real HTTP: it must refuse what GitHub refuses, and page like it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub.apps import get_jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.sandbox.fleet import seed_demo
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.serve import serve

APP_ID = "4242"
PAT = "ghp_enterprise_sandbox"
NOW = 1_800_000_000.0
RUNNERS = "/orgs/acme/actions/runners"
DOCS = "https://docs.github.com/rest"

# One server for the module (a uvicorn shutdown costs 0.1-0.2 s); each test plugs in its double.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Keys:
    private_key: rsa.RSAPrivateKey  # loaded once: parsing a PEM costs tens of milliseconds
    public_pem: bytes
    app_jwt: str  # gidgethub's JWT, good for nine minutes: made once per module
    wrong_key_jwt: str


def _jwt_for(key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return get_jwt(app_id=APP_ID, private_key=pem)


@pytest.fixture(scope="module")
def keys() -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(key, public, _jwt_for(key), _jwt_for(other))


def sign(keys: Keys, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 540, "iss": APP_ID, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, keys.private_key, algorithm="RS256")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


@dataclass
class Client:
    base: str
    session: aiohttp.ClientSession
    double: GitHubDouble
    keys: Keys

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Reply:
        headers = dict(kw.get("headers") or {})
        if token is not None:
            headers["Authorization"] = f"{kw.get('scheme', 'token')} {token}"
        url = path if path.startswith("http") else self.base + path
        async with self.session.request(method, url, headers=headers, json=kw.get("json")) as r:
            raw = await r.read()
            return Reply(r.status, r.headers, await r.json() if raw else None)

    async def status(self, method: str, path: str, token: str | None = None) -> int:
        return (await self.call(method, path, token)).status

    def jwt(self) -> str:
        return self.keys.app_jwt

    async def mint(self, installation_id: int) -> str:
        path = f"/app/installations/{installation_id}/access_tokens"
        reply = await self.call("POST", path, self.jwt(), scheme="Bearer")
        assert reply.status == 201, reply.body
        return str(reply.body["token"])


class Switch:
    """The served app: hands each request to the current test's double."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None
        await self.target(scope, receive, send)


@dataclass
class Server:
    switch: Switch
    base: str
    session: aiohttp.ClientSession

    def client(self, double: GitHubDouble, keys: Keys, prefix: str = "") -> Client:
        self.switch.target = double.app
        return Client(self.base + prefix, self.session, double, keys)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Server]:
    switch = Switch()
    # A fresh connection per request: on a kept-alive loopback connection uvicorn's separate
    # header and body writes wait out the client's delayed ACK (about 40 ms a request).
    connector = aiohttp.TCPConnector(force_close=True)
    async with serve(switch) as base, aiohttp.ClientSession(connector=connector) as session:
        yield Server(switch, base, session)


def make_double(keys: Keys, clock: Clock, **kwargs: Any) -> GitHubDouble:
    double = GitHubDouble(
        app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token=PAT, clock=clock, **kwargs
    )
    double.add_repo("acme", "api")
    double.add_repo("acme", "web")
    double.add_installation("acme", installation_id=11)
    double.add_runner("/orgs/acme", "idle-1", labels=["gpu"])
    double.add_runner("/orgs/acme", "busy-1", busy=True)
    double.add_runner("/repos/acme/api", "api-1")
    double.add_runner("/enterprises/octo-ent", "ent-1")
    return double


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(server: Server, keys: Keys, clock: Clock) -> Client:
    double = make_double(keys, clock)
    double.add_installation("initech", installation_id=22, repositories=["tps"])
    return server.client(double, keys)


async def test_app_jwt_is_verified(client: Client, keys: Keys) -> None:
    ok = await client.call("GET", "/app", client.jwt(), scheme="Bearer")
    assert ok.status == 200 and ok.body["id"] == int(APP_ID)
    now = int(time.time())
    refused = {
        "wrong key": keys.wrong_key_jwt,
        "expired": sign(keys, iat=now - 1200, exp=now - 600),
        "wrong iss": sign(keys, iss="999"),
        "no iss": sign(keys, iss=None),
        "too long": sign(keys, iat=now, exp=now + 3600),
        "iat in future": sign(keys, iat=now + 300, exp=now + 500),
        "not a jwt": "abc.def.ghi",
    }
    for why, token in refused.items():
        reply = await client.call("GET", "/app/installations", token, scheme="Bearer")
        assert reply.status == 401 and reply.body["status"] == "401", why
        assert reply.body["message"], why
    too_long = await client.call("GET", "/app", refused["too long"])
    assert "too far in the future" in too_long.body["message"]
    # Neither an installation token nor the PAT opens an app endpoint.
    for other in (await client.mint(11), PAT):
        reply = await client.call("GET", "/app", other)
        assert reply.status == 401
        assert reply.body["message"] == "A JSON web token could not be decoded"
    auths = [r.auth for r in client.double.requests]
    assert auths[:2] == ["jwt", "invalid"] and auths[-2:] == ["installation", "pat"]


async def test_installation_lookup(client: Client) -> None:
    token = client.jwt()
    reply = await client.call("GET", "/orgs/ACME/installation", token, scheme="Bearer")
    assert reply.status == 200
    assert reply.body["id"] == 11 and reply.body["account"]["login"] == "acme"
    assert reply.body["repository_selection"] == "all"
    assert reply.body["target_type"] == "Organization"
    assert await client.status("GET", "/repos/acme/api/installation", token) == 200
    client.double.add_org("globex")
    client.double.add_repo("initech", "secret")
    for where in ("orgs/globex", "orgs/nowhere", "repos/acme/missing", "repos/initech/secret"):
        assert await client.status("GET", f"/{where}/installation", token) == 404, where
    assert await client.status("GET", "/repos/initech/tps/installation", token) == 200
    listed = await client.call("GET", "/app/installations", token)
    assert [i["id"] for i in listed.body] == [11, 22]


async def test_token_minting_and_use(client: Client) -> None:
    reply = await client.call("POST", "/app/installations/11/access_tokens", client.jwt())
    assert reply.status == 201
    token = reply.body["token"]
    assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", token)
    expected = datetime.fromtimestamp(NOW + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert reply.body["expires_at"] == expected
    assert reply.body["permissions"]["organization_self_hosted_runners"] == "write"
    assert client.double.issued_installation_tokens == [token]
    listed = await client.call("GET", RUNNERS, token)
    assert listed.status == 200 and listed.body["total_count"] == 2
    assert await client.status("POST", "/app/installations/99/access_tokens", client.jwt()) == 404
    wider = {"permissions": {"administration": "admin"}}
    path = "/app/installations/11/access_tokens"
    assert (await client.call("POST", path, client.jwt(), json=wider)).status == 422


async def test_expired_tokens_get_401(client: Client, clock: Clock) -> None:
    token = await client.mint(11)
    client.double.expire_installation_tokens()
    reply = await client.call("GET", RUNNERS, token)
    assert reply.status == 401 and reply.body["message"] == "Bad credentials"
    assert client.double.requests[-1].auth == "installation"
    fresh = await client.mint(11)
    assert await client.status("GET", RUNNERS, fresh) == 200
    clock.now += 3600  # the hour is up
    assert await client.status("GET", RUNNERS, fresh) == 401
    assert await client.status("GET", RUNNERS) == 401
    assert await client.status("GET", RUNNERS, "ghs_unknown") == 401
    assert [r.auth for r in client.double.requests[-2:]] == ["none", "invalid"]


async def test_pagination(client: Client) -> None:
    for n in range(248):
        client.double.add_runner("/orgs/acme", f"bulk-{n:03d}")
    token = await client.mint(11)
    ids: list[int] = []
    links: list[str] = []
    url = RUNNERS + "?per_page=100"
    while url:
        reply = await client.call("GET", url, token)
        assert reply.status == 200 and reply.body["total_count"] == 250
        ids += [r["id"] for r in reply.body["runners"]]
        links.append(reply.headers.get("Link", ""))
        found = re.search(r'<([^>]+)>; rel="next"', links[-1])
        url = found.group(1) if found else ""
    assert len(links) == 3 and len(ids) == len(set(ids)) == 250
    assert {r["id"] for r in client.double.runners("/orgs/acme")} == set(ids)
    base = f"{client.base}{RUNNERS}?per_page=100"
    assert links[0] == f'<{base}&page=2>; rel="next", <{base}&page=3>; rel="last"'
    assert links[1] == (
        f'<{base}&page=1>; rel="prev", <{base}&page=3>; rel="next", '
        f'<{base}&page=3>; rel="last", <{base}&page=1>; rel="first"'
    )
    assert links[2] == f'<{base}&page=2>; rel="prev", <{base}&page=1>; rel="first"'
    capped = await client.call("GET", RUNNERS + "?per_page=500", token)
    assert len(capped.body["runners"]) == 100
    default = await client.call("GET", RUNNERS, token)
    assert len(default.body["runners"]) == 30 and "?page=2>" in default.headers["Link"]


async def test_name_filter_and_runner_shape(client: Client) -> None:
    token = await client.mint(11)
    reply = await client.call("GET", RUNNERS + "?name=idle-1", token)
    assert reply.body["total_count"] == 1 and "Link" not in reply.headers
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    runner = reply.body["runners"][0]
    keys = "id name os status busy ephemeral runner_group_id version labels"
    assert set(runner) == set(keys.split())
    labels = [f"{lab['name']}:{lab['type']}" for lab in runner["labels"]]
    assert labels == ["self-hosted:read-only", "Linux:read-only", "X64:read-only", "gpu:custom"]
    none = await client.call("GET", RUNNERS + "?name=IDLE-1", token)
    assert none.body == {"total_count": 0, "runners": []}


async def test_delete(client: Client) -> None:
    token = await client.mint(11)
    idle, busy = (r["id"] for r in client.double.runners("/orgs/acme"))
    path = f"{RUNNERS}/{idle}"
    assert (await client.call("GET", path, token)).body["name"] == "idle-1"
    deleted = await client.call("DELETE", path, token)
    assert deleted.status == 204 and deleted.body is None
    assert await client.status("GET", path, token) == 404
    assert await client.status("DELETE", path, token) == 404
    refused = await client.call("DELETE", f"{RUNNERS}/{busy}", token)
    assert refused.status == 422
    assert refused.body == {
        "message": 'Bad request - Runner "busy-1" is still running a job"',
        "documentation_url": f"{DOCS}/actions/self-hosted-runners"
        "#delete-a-self-hosted-runner-from-an-organization",
        "status": "422",
    }
    assert await client.status("GET", RUNNERS + "/abc", token) == 404
    assert [r["name"] for r in client.double.runners("/orgs/acme")] == ["busy-1"]
    assert client.double.count("DELETE", r"/orgs/acme/actions/runners/\d+") == 3


async def test_runner_tokens_and_downloads(client: Client) -> None:
    token = await client.mint(11)
    expires = datetime.fromtimestamp(NOW + 3600, UTC).isoformat(timespec="milliseconds")
    for kind in ("registration-token", "remove-token"):
        reply = await client.call("POST", f"/repos/acme/api/actions/runners/{kind}", token)
        assert reply.status == 201 and reply.body["expires_at"] == expires
        assert re.fullmatch(r"[A-Z0-9]{29}", reply.body["token"])
    assert len(client.double.issued_runner_tokens) == 2
    downloads = (await client.call("GET", RUNNERS + "/downloads", token)).body
    platforms = {(d["os"], d["architecture"]) for d in downloads}
    assert {("linux", "x64"), ("osx", "arm64"), ("win", "x64")} <= platforms
    releases = "https://github.com/actions/runner/releases/"
    assert all(d["download_url"].startswith(releases) for d in downloads)


async def test_enterprise_takes_only_the_pat(client: Client) -> None:
    path = "/enterprises/octo-ent/actions/runners"
    ok = await client.call("GET", path, PAT, scheme="Bearer")
    assert ok.status == 200 and ok.body["runners"][0]["name"] == "ent-1"
    assert client.double.requests[-1].auth == "pat"
    refused = await client.call("GET", path, await client.mint(11))
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    assert await client.status("GET", path) == 401
    assert await client.status("GET", path, "ghp_wrong") == 401
    assert await client.status("GET", "/enterprises/nope/actions/runners", PAT) == 404
    assert await client.status("GET", RUNNERS, PAT) == 403


async def test_scope_and_permission_checks(client: Client) -> None:
    other = await client.mint(22)  # initech's installation
    for path in (RUNNERS, "/repos/acme/api/actions/runners"):
        assert await client.status("GET", path, other) == 404, path
    token = await client.mint(11)
    assert await client.status("GET", "/orgs/nowhere/actions/runners", token) == 404
    assert await client.status("GET", "/repos/acme/nope/actions/runners", token) == 404
    read_only = {"organization_self_hosted_runners": "read", "metadata": "read"}
    installation = client.double.add_installation("ro-org", permissions=read_only)
    client.double.add_repo("ro-org", "svc")
    reader = await client.mint(installation)
    assert await client.status("GET", "/orgs/ro-org/actions/runners", reader) == 200
    refused = await client.call("POST", "/orgs/ro-org/actions/runners/remove-token", reader)
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    assert await client.status("GET", "/repos/ro-org/svc/actions/runners", reader) == 403


async def test_prefix_mode(server: Server, keys: Keys, clock: Clock) -> None:
    double = make_double(keys, clock, prefix="/api/v3")
    for n in range(3):
        double.add_runner("/orgs/acme", f"extra-{n}")
    client = server.client(double, keys, prefix="/api/v3")
    token = await client.mint(11)
    outside = await client.call("GET", server.base + RUNNERS, token)
    assert outside.status == 404 and outside.body["message"] == "Not Found"
    reply = await client.call("GET", RUNNERS + "?per_page=2", token)
    assert reply.status == 200
    assert f"<{server.base}/api/v3{RUNNERS}?per_page=2&page=2>" in reply.headers["Link"]
    assert double.count("GET", RUNNERS) == 2
    assert double.count("POST", r"/app/installations/\d+/access_tokens") == 1
    # GitHub Enterprise Server has no hosted runners, so its groups link to none.
    groups = (await client.call("GET", "/orgs/acme/actions/runner-groups", token)).body
    assert groups["runner_groups"][0]["runners_url"].startswith(f"{server.base}/api/v3/orgs/")
    assert "hosted_runners_url" not in groups["runner_groups"][0]


async def test_etag_and_rate_limit_headers(client: Client) -> None:
    token = await client.mint(11)
    first = await client.call("GET", RUNNERS, token)
    second = await client.call("GET", RUNNERS, token)
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert int(second.headers["x-ratelimit-remaining"]) == remaining - 1
    assert first.headers["x-ratelimit-resource"] == "core"
    assert int(first.headers["x-ratelimit-reset"]) == int(NOW + 3600)
    cached = await client.call("GET", RUNNERS, token, headers={"If-None-Match": etag})
    assert cached.status == 304 and cached.body is None
    assert int(cached.headers["x-ratelimit-remaining"]) == remaining - 1
    stranger = await client.call("GET", RUNNERS, "nope", headers={"If-None-Match": etag})
    assert stranger.status == 401 and "x-ratelimit-limit" in stranger.headers
    client.double.add_runner("/orgs/acme", "new")
    changed = await client.call("GET", RUNNERS, token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag


async def test_fault_injection(client: Client) -> None:
    token = await client.mint(11)
    double = client.double
    double.add_fault("GET", RUNNERS, status=503, times=2)
    slow_down = {"message": "slow down"}
    double.add_fault("GET", RUNNERS, status=403, body=slow_down, headers={"retry-after": "7"})
    assert [await client.status("GET", RUNNERS, token) for _ in range(2)] == [503, 503]
    limited = await client.call("GET", RUNNERS, token)
    assert limited.status == 403 and limited.headers["retry-after"] == "7"
    assert limited.body == slow_down
    assert await client.status("GET", RUNNERS, token) == 200
    double.add_fault("GET", r"/orgs/[^/]+/actions/runners", status=500, times=None)
    for _ in range(2):
        body = (await client.call("GET", RUNNERS, token)).body
        assert body == {"message": "Server Error", "documentation_url": DOCS, "status": "500"}
    double.clear_faults()
    double.add_fault("GET", RUNNERS, delay=0.05)
    started = asyncio.get_running_loop().time()
    assert await client.status("GET", RUNNERS, token) == 200
    assert asyncio.get_running_loop().time() - started >= 0.05
    seen = [r.status for r in double.requests if r.path == RUNNERS]
    assert seen == [503, 503, 403, 200, 500, 500, 200] and double.count("GET", RUNNERS) == 7


async def test_demo_fleet(server: Server, keys: Keys, clock: Clock) -> None:
    double = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem, clock=clock)
    seed_demo(double)
    org = double.runners("/orgs/acme")
    assert len(org) == 14 and {r["os"] for r in org} == {"Linux", "macOS", "Windows"}
    assert {r["status"] for r in org} == {"online", "offline"}
    assert any(r["busy"] for r in org) and not all(r["busy"] for r in org)
    api = double.runners("/repos/acme/api")
    assert len(api) == 3 and sum(r["busy"] for r in api) == 1
    assert double.runners("/repos/acme/web") == []
    assert len(double.runners("/enterprises/octo-ent")) == 4
    client = server.client(double, keys)
    assert await client.status("GET", "/orgs/globex/installation", client.jwt()) == 404
    assert await client.status("GET", "/orgs/acme/installation", client.jwt()) == 200
    again = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem, clock=clock)
    seed_demo(again)
    assert again.runners("/orgs/acme") == org


# --------------------------------------------------------------------- runner labels

SCOPES = {
    "enterprise": "/enterprises/octo-ent",
    "org": "/orgs/acme",
    "repo": "/repos/acme/api",
}


def label_names(body: dict[str, Any]) -> list[str]:
    return [f"{label['name']}:{label['type']}" for label in body["labels"]]


async def test_runner_labels_at_every_scope(client: Client) -> None:
    token = await client.mint(11)
    for scope, path in SCOPES.items():
        credential = PAT if scope == "enterprise" else token
        rid = client.double.add_runner(
            path, f"lab-{scope}", os="macOS", arch="ARM64", labels=["gpu"]
        )
        labels = f"{path}/actions/runners/{rid}/labels"
        listed = await client.call("GET", labels, credential)
        assert listed.status == 200, (scope, listed.body)
        assert listed.body["total_count"] == 4
        assert label_names(listed.body) == [
            "self-hosted:read-only",
            "macOS:read-only",
            "ARM64:read-only",
            "gpu:custom",
        ]
        added = await client.call("POST", labels, credential, json={"labels": ["fast", "GPU"]})
        assert added.status == 200 and [n["name"] for n in added.body["labels"]][3:] == [
            "gpu",
            "fast",
        ]  # names compare case-insensitively: GPU is already there
        replaced = await client.call("PUT", labels, credential, json={"labels": ["big", "macos"]})
        assert label_names(replaced.body)[3:] == ["big:custom"]
        runner = (await client.call("GET", f"{path}/actions/runners/{rid}", credential)).body
        assert runner["labels"] == replaced.body["labels"]
        refused = await client.call("DELETE", labels + "/self-hosted", credential)
        assert refused.status == 422 and "read-only" in refused.body["message"]
        assert refused.body["documentation_url"].endswith(
            "#remove-a-custom-label-from-a-self-hosted-runner-for-"
            + {"enterprise": "an-enterprise", "org": "an-organization", "repo": "a-repository"}[
                scope
            ]
        )
        assert await client.status("DELETE", labels + "/nope", credential) == 404
        removed = await client.call("DELETE", labels + "/BIG", credential)
        assert removed.status == 200 and removed.body["total_count"] == 3
        assert await client.status("DELETE", labels + "/big", credential) == 404
        await client.call("POST", labels, credential, json={"labels": ["a", "b"]})
        cleared = await client.call("DELETE", labels, credential)
        assert cleared.status == 200 and cleared.body["total_count"] == 3
        assert all(label["type"] == "read-only" for label in cleared.body["labels"])
        unknown = f"{path}/actions/runners/999999/labels"
        for method in ("GET", "DELETE"):
            assert await client.status(method, unknown, credential) == 404
        assert await client.status("DELETE", unknown + "/gpu", credential) == 404
    ids = {label["id"] for r in client.double.runners("/orgs/acme") for label in r["labels"]}
    assert {1, 3, 6} <= ids  # read-only label ids are GitHub-wide


async def test_label_requests_are_checked_and_change_nothing(client: Client) -> None:
    token = await client.mint(11)
    rid = client.double.runners("/orgs/acme")[0]["id"]
    labels = f"{RUNNERS}/{rid}/labels"
    before = (await client.call("GET", labels, token)).body
    invalid = "Invalid request.\n\n"
    cases: list[tuple[str, Any, str]] = [
        ("POST", {}, "Invalid input: object is missing required key: labels."),
        ("POST", {"labels": "gpu"}, "For 'properties/labels', \"gpu\" is not an array."),
        ("PUT", {"labels": None}, "For 'properties/labels', nil is not an array."),
        ("POST", {"labels": ["ok", 7]}, "For 'items', 7 is not a string."),
        ("POST", {"labels": []}, "1 item required; only 0 were supplied."),
        (
            "PUT",
            {"labels": [f"l{n}" for n in range(101)]},
            "No more than 100 items are allowed; 101 were supplied.",
        ),
    ]
    for method, body, why in cases:
        reply = await client.call(method, labels, token, json=body)
        assert reply.status == 422, (method, body)
        assert reply.body["message"] == invalid + why
        assert reply.body["documentation_url"].startswith(f"{DOCS}/actions/self-hosted-runners#")
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    async with client.session.post(client.base + labels, data=b"{", headers=headers) as r:
        assert r.status == 400 and (await r.json())["message"] == "Problems parsing JSON"
    assert (await client.call("GET", labels, token)).body == before
    hundred = [f"l{n}" for n in range(100)]
    full = await client.call("PUT", labels, token, json={"labels": hundred})
    assert full.status == 200 and full.body["total_count"] == 103
    emptied = await client.call("PUT", labels, token, json={"labels": []})
    assert emptied.status == 200 and emptied.body["total_count"] == 3


async def test_label_permissions(client: Client) -> None:
    readers = {"organization_self_hosted_runners": "read", "administration": "read"}
    installation = client.double.add_installation("ro-org", permissions=readers)
    org_runner = client.double.add_runner("/orgs/ro-org", "r1", labels=["gpu"])
    repo_runner = client.double.add_runner("/repos/ro-org/svc", "r2")
    reader = await client.mint(installation)
    for path in (
        f"/orgs/ro-org/actions/runners/{org_runner}/labels",
        f"/repos/ro-org/svc/actions/runners/{repo_runner}/labels",
    ):
        assert await client.status("GET", path, reader) == 200
        refused = await client.call("POST", path, reader, json={"labels": ["x"]})
        assert refused.status == 403
        assert refused.body["message"] == "Resource not accessible by integration"
        assert await client.status("DELETE", path, reader) == 403
        assert await client.status("DELETE", path + "/gpu", reader) == 403
    assert "gpu" in [label["name"] for label in client.double.runners("/orgs/ro-org")[0]["labels"]]
    ent = client.double.runners("/enterprises/octo-ent")[0]["id"]
    ent_labels = f"/enterprises/octo-ent/actions/runners/{ent}/labels"
    assert await client.status("GET", ent_labels, await client.mint(11)) == 403
    assert await client.status("GET", ent_labels) == 401
    assert await client.status("GET", f"{RUNNERS}/1/labels", PAT) == 403


# --------------------------------------------------------------------- runner groups


def seed_groups(double: GitHubDouble) -> dict[str, int]:
    """acme: api, web (private) and site (public); groups of every kind, two shared."""
    double.add_repo("acme", "site", private=False)
    double.add_enterprise("octo-ent", organizations=["acme"])
    double.add_org("initech")
    ids = {
        "gpu": double.add_runner_group(
            "/orgs/acme", "gpu", visibility="selected", selected_repositories=["api"]
        ),
        "private": double.add_runner_group("/orgs/acme", "private-only", visibility="private"),
        "public": double.add_runner_group(
            "/orgs/acme", "public-ok", allows_public_repositories=True
        ),
        "deploy": double.add_runner_group(
            "/orgs/acme",
            "deploy",
            restricted_to_workflows=True,
            selected_workflows=["acme/api/.github/workflows/deploy.yml@refs/heads/main"],
        ),
        "shared": double.add_runner_group(
            "/enterprises/octo-ent",
            "shared",
            visibility="selected",
            selected_organizations=["acme"],
            allows_public_repositories=True,
        ),
        "elsewhere": double.add_runner_group(
            "/enterprises/octo-ent",
            "elsewhere",
            visibility="selected",
            selected_organizations=["initech"],
        ),
    }
    ids["enterprise-default"] = double.runner_groups("/enterprises/octo-ent")[0]["id"]
    double.add_runner("/orgs/acme", "gpu-1", runner_group_id=ids["gpu"], labels=["gpu"])
    double.add_runner("/orgs/acme", "gpu-2", runner_group_id=ids["gpu"], labels=["gpu"])
    double.add_runner("/enterprises/octo-ent", "shared-1", runner_group_id=ids["shared"])
    return ids


def group_names(body: dict[str, Any]) -> list[str]:
    return [f"{g['name']}{'^' if g['inherited'] else ''}" for g in body["runner_groups"]]


async def test_runner_groups_of_an_organization(client: Client) -> None:
    ids = seed_groups(client.double)
    token = await client.mint(11)
    groups = "/orgs/acme/actions/runner-groups"
    listed = await client.call("GET", groups, token)
    assert listed.status == 200 and listed.body["total_count"] == 7
    assert group_names(listed.body) == [
        "Default",
        "Default^",  # the enterprise's Default group, shared with every organization
        "gpu",
        "private-only",
        "public-ok",
        "deploy",
        "shared^",
    ]
    by_name = {g["name"]: g for g in listed.body["runner_groups"] if not g["inherited"]}
    default = by_name["Default"]
    assert default["id"] == 1 and default["default"] is True
    assert default["allows_public_repositories"] is False  # only private repositories, by default
    gpu = by_name["gpu"]
    assert gpu["visibility"] == "selected"
    assert gpu["selected_repositories_url"] == f"{client.base}{groups}/{ids['gpu']}/repositories"
    assert gpu["runners_url"] == f"{client.base}{groups}/{ids['gpu']}/runners"
    assert "selected_repositories_url" not in default and "hosted_runners_url" in default
    deploy = by_name["deploy"]
    assert deploy["restricted_to_workflows"] is True
    assert deploy["selected_workflows"] == ["acme/api/.github/workflows/deploy.yml@refs/heads/main"]
    shared = next(g for g in listed.body["runner_groups"] if g["name"] == "shared")
    assert shared["inherited"] is True and shared["inherited_allows_public_repositories"] is True
    assert shared["default"] is False and shared["workflow_restrictions_read_only"] is True

    async def visible(repo: str) -> list[str]:
        reply = await client.call("GET", f"{groups}?visible_to_repository={repo}", token)
        assert reply.status == 200
        assert reply.body["total_count"] == len(reply.body["runner_groups"])
        return group_names(reply.body)

    every_private = ["Default", "Default^", "gpu", "private-only", "public-ok", "deploy", "shared^"]
    assert await visible("api") == every_private
    assert await visible("acme/api") == every_private
    assert await visible("web") == [n for n in every_private if n != "gpu"]
    assert await visible("site") == ["public-ok", "shared^"]  # public: only groups that allow it
    assert await visible("nope") == []
    assert await visible("initech/tps") == []

    page = await client.call("GET", f"{groups}?per_page=3&page=2", token)
    assert page.body["total_count"] == 7 and len(page.body["runner_groups"]) == 3
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]

    one = await client.call("GET", f"{groups}/{ids['gpu']}", token)
    assert one.status == 200 and one.body == gpu
    assert (await client.call("GET", f"{groups}/{ids['shared']}", token)).body == shared
    for missing in (999, ids["elsewhere"], "abc"):
        assert await client.status("GET", f"{groups}/{missing}", token) == 404

    runners = await client.call("GET", f"{groups}/{ids['gpu']}/runners?per_page=1", token)
    assert runners.body["total_count"] == 2 and [r["name"] for r in runners.body["runners"]] == [
        "gpu-1"
    ]
    assert "Link" in runners.headers
    inherited = await client.call("GET", f"{groups}/{ids['shared']}/runners", token)
    assert [r["name"] for r in inherited.body["runners"]] == ["shared-1"]
    in_default = await client.call("GET", f"{groups}/1/runners", token)
    assert [r["name"] for r in in_default.body["runners"]] == ["idle-1", "busy-1"]

    repos = await client.call("GET", f"{groups}/{ids['gpu']}/repositories", token)
    assert repos.status == 200 and repos.body["total_count"] == 1
    assert repos.body["repositories"][0]["full_name"] == "acme/api"
    assert repos.body["repositories"][0]["private"] is True
    none = await client.call("GET", f"{groups}/1/repositories", token)
    assert none.body == {"total_count": 0, "repositories": []}


async def test_runner_groups_of_an_enterprise(client: Client) -> None:
    ids = seed_groups(client.double)
    groups = "/enterprises/octo-ent/actions/runner-groups"
    listed = await client.call("GET", groups, PAT)
    assert listed.status == 200
    assert [g["name"] for g in listed.body["runner_groups"]] == ["Default", "shared", "elsewhere"]
    assert all("inherited" not in g for g in listed.body["runner_groups"])
    shared = listed.body["runner_groups"][1]
    assert shared["selected_organizations_url"] == (
        f"{client.base}{groups}/{ids['shared']}/organizations"
    )
    for org, names in (("acme", ["Default", "shared"]), ("initech", ["Default", "elsewhere"])):
        reply = await client.call("GET", f"{groups}?visible_to_organization={org}", PAT)
        assert [g["name"] for g in reply.body["runner_groups"]] == names
    default = await client.call("GET", f"{groups}/{ids['enterprise-default']}/runners", PAT)
    assert [r["name"] for r in default.body["runners"]] == ["ent-1"]
    assert await client.status("GET", f"{groups}/1", PAT) == 404
    # Enterprise groups take the classic PAT only; organization groups never take it.
    assert await client.status("GET", groups, await client.mint(11)) == 403
    assert await client.status("GET", "/orgs/acme/actions/runner-groups", PAT) == 403
    assert await client.status("GET", "/enterprises/nope/actions/runner-groups", PAT) == 404


async def test_runner_group_permissions(client: Client) -> None:
    seed_groups(client.double)
    no_runners = {"administration": "write", "actions": "read", "metadata": "read"}
    installation = client.double.add_installation("initech-2", permissions=no_runners)
    client.double.add_org("initech-2")
    refused = await client.call(
        "GET", "/orgs/initech-2/actions/runner-groups", await client.mint(installation)
    )
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    other = await client.mint(22)  # initech's installation cannot see acme's groups
    assert await client.status("GET", "/orgs/acme/actions/runner-groups", other) == 404
    assert await client.status("GET", "/orgs/acme/actions/runner-groups") == 401


async def test_runner_group_seeding_is_checked(keys: Keys, clock: Clock) -> None:
    double = make_double(keys, clock)
    gid = double.add_runner_group("/orgs/acme", "gpu")
    with pytest.raises(ValueError, match="already exists"):
        double.add_runner_group("/orgs/acme", "GPU")
    with pytest.raises(ValueError, match="visibility"):
        double.add_runner_group("/orgs/acme", "x", visibility="everyone")
    with pytest.raises(ValueError, match="visibility"):
        double.add_runner_group("/enterprises/octo-ent", "x", visibility="private")
    with pytest.raises(ValueError, match="organizations and enterprises"):
        double.add_runner_group("/repos/acme/api", "x")
    with pytest.raises(ValueError, match="no runner group"):
        double.add_runner("/orgs/acme", "lost", runner_group_id=999)
    with pytest.raises(ValueError, match="no runner group"):
        double.add_runner("/repos/acme/api", "lost", runner_group_id=gid)
    double.set_runner_group("/orgs/acme", "Default", allows_public_repositories=True)
    assert double.runner_groups("/orgs/acme")[0]["allows_public_repositories"] is True
    runner = double.add_runner("/orgs/acme", "in-gpu", runner_group_id=gid)
    assert (
        next(r for r in double.runners("/orgs/acme") if r["id"] == runner)["runner_group_id"] == gid
    )


# --------------------------------------------------------------------------- JIT runners

JIT = "/actions/runners/generate-jitconfig"


async def test_jit_config_creates_a_one_job_runner(client: Client) -> None:
    ids = seed_groups(client.double)
    token = await client.mint(11)
    body = {
        "name": "jit-1",
        "runner_group_id": ids["gpu"],
        "labels": ["self-hosted", "linux", "gpu", "GPU"],
        "work_folder": "_w",
    }
    made = await client.call("POST", "/orgs/acme" + JIT, token, json=body)
    assert made.status == 201
    runner = made.body["runner"]
    assert runner["name"] == "jit-1" and runner["status"] == "offline"
    assert runner["ephemeral"] is True and runner["busy"] is False
    assert runner["runner_group_id"] == ids["gpu"] and runner["version"] is None
    assert label_names(runner) == ["self-hosted:read-only", "Linux:read-only", "gpu:custom"]
    encoded = made.body["encoded_jit_config"]
    assert client.double.issued_jit_configs == [encoded]
    config = json.loads(base64.b64decode(encoded))
    assert set(config) == {".runner", ".credentials", ".credentials_rsaparams"}
    settings = json.loads(base64.b64decode(config[".runner"]))
    assert settings["AgentName"] == "jit-1" and settings["WorkFolder"] == "_w"
    assert settings["AgentId"] == str(runner["id"])
    again = await client.call("POST", "/orgs/acme" + JIT, token, json=body | {"name": "jit-2"})
    assert again.body["encoded_jit_config"] != encoded  # each carries its own secret
    listed = await client.call("GET", RUNNERS + "?name=jit-1", token)
    assert listed.body["runners"] == [runner]

    # The runner connects, takes one job and is gone.
    client.double.set_runner("/orgs/acme", "jit-1", status="online")
    job = client.double.add_job(
        "acme", "api", labels=["self-hosted", "gpu"], status="in_progress", runner="jit-1"
    )
    assert job["runner_group_name"] == "gpu" and job["runner_group_id"] == ids["gpu"]
    assert (await client.call("GET", f"{RUNNERS}/{runner['id']}", token)).body["busy"] is True
    client.double.set_job(job["id"], status="completed")
    assert await client.status("GET", f"{RUNNERS}/{runner['id']}", token) == 404


async def test_jit_config_errors(client: Client) -> None:
    ids = seed_groups(client.double)
    token = await client.mint(11)
    path = "/orgs/acme" + JIT
    good = {"name": "jit-x", "runner_group_id": 1, "labels": ["gpu"]}
    taken = await client.call("POST", path, token, json=good | {"name": "IDLE-1"})
    assert taken.status == 409
    assert taken.body["message"] == "Already exists - A runner with the name IDLE-1 already exists."
    invalid = "Invalid request.\n\n"
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"name": "jit-x", "labels": ["gpu"]},
            invalid + "Invalid input: object is missing required key: runner_group_id.",
        ),
        (
            {"runner_group_id": 1, "labels": ["gpu"]},
            invalid + "Invalid input: object is missing required key: name.",
        ),
        (
            good | {"runner_group_id": "1"},
            invalid + "For 'properties/runner_group_id', \"1\" is not an integer.",
        ),
        (good | {"labels": []}, invalid + "1 item required; only 0 were supplied."),
        (
            good | {"labels": [f"l{n}" for n in range(101)]},
            invalid + "No more than 100 items are allowed; 101 were supplied.",
        ),
        (good | {"runner_group_id": 999}, "No runner group found with identifier 999."),
        # An organization's runners cannot join a group its enterprise shares with it.
        (
            good | {"runner_group_id": ids["shared"]},
            f"No runner group found with identifier {ids['shared']}.",
        ),
    ]
    for body, message in cases:
        reply = await client.call("POST", path, token, json=body)
        assert (reply.status, reply.body["message"]) == (422, message), body
        assert reply.body["documentation_url"].endswith(
            "#create-configuration-for-a-just-in-time-runner-for-an-organization"
        )
    assert [r["name"] for r in client.double.runners("/orgs/acme")] == [
        "idle-1",
        "busy-1",
        "gpu-1",
        "gpu-2",
    ]
    assert client.double.issued_jit_configs == []
    # Repository runners have only the Default group; enterprise ones take the PAT.
    repo = await client.call("POST", "/repos/acme/api" + JIT, token, json=good)
    assert repo.status == 201 and repo.body["runner"]["runner_group_id"] == 1
    ent_body = good | {"runner_group_id": ids["shared"]}
    ent = await client.call("POST", "/enterprises/octo-ent" + JIT, PAT, json=ent_body)
    assert ent.status == 201 and ent.body["runner"]["runner_group_id"] == ids["shared"]
    assert await client.status("POST", "/enterprises/octo-ent" + JIT, token) == 403
    read_only = {"organization_self_hosted_runners": "read"}
    reader = await client.mint(client.double.add_installation("ro-org", permissions=read_only))
    assert (await client.call("POST", "/orgs/ro-org" + JIT, reader, json=good)).status == 403
    assert len(client.double.issued_jit_configs) == 2


# ------------------------------------------------------------------------- workflow jobs


def without_api_urls(job: dict[str, Any]) -> dict[str, Any]:
    """A job without the API links, which name the host that answered."""
    return {k: v for k, v in job.items() if k not in ("url", "run_url", "check_run_url")}


async def test_jobs_over_the_api(client: Client, clock: Clock) -> None:
    double = client.double
    double.add_repo("acme", "site", private=False)
    double.add_runner("/repos/acme/api", "api-gpu", labels=["gpu"])
    queued = double.add_job("acme", "api", labels=["self-hosted", "gpu"], workflow_name="GPU")
    token = await client.mint(11)
    path = f"/repos/acme/api/actions/jobs/{queued['id']}"
    reply = await client.call("GET", path, token)
    assert reply.status == 200 and without_api_urls(reply.body) == without_api_urls(queued)
    assert reply.body["url"] == f"{client.base}{path}"
    job = reply.body
    assert (job["status"], job["conclusion"], job["runner_id"]) == ("queued", None, None)
    assert job["labels"] == ["self-hosted", "gpu"] and job["workflow_name"] == "GPU"
    stamp = datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["created_at"] == job["started_at"] == stamp
    assert job["html_url"] == (
        f"https://github.com/acme/api/actions/runs/{job['run_id']}/job/{job['id']}"
    )

    clock.now += 420
    running = double.set_job(job["id"], status="in_progress", runner="api-gpu")
    assert running["runner_name"] == "api-gpu" and running["runner_group_name"] == "Default"
    assert running["started_at"] == datetime.fromtimestamp(NOW + 420, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert double.runners("/repos/acme/api")[1]["busy"] is True
    etag = (await client.call("GET", path, token)).headers["ETag"]
    cached = await client.call("GET", path, token, headers={"If-None-Match": etag})
    assert cached.status == 304
    done = double.set_job(job["id"], status="completed", conclusion="cancelled")
    assert done["conclusion"] == "cancelled" and done["completed_at"] is not None
    assert double.runners("/repos/acme/api")[1]["busy"] is False  # not ephemeral: stays
    changed = await client.call("GET", path, token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.body["status"] == "completed"

    assert await client.status("GET", "/repos/acme/api/actions/jobs/999", token) == 404
    assert await client.status("GET", f"/repos/acme/web/actions/jobs/{job['id']}", token) == 404
    assert await client.status("GET", path) == 404  # private: no credential, no job
    assert await client.status("GET", path, await client.mint(22)) == 404
    assert await client.status("GET", path, "ghs_unknown") == 401
    no_actions = {"administration": "write", "metadata": "read"}
    blind = double.add_installation("blind-org", permissions=no_actions)
    double.add_repo("blind-org", "app")
    hidden = double.add_job("blind-org", "app", labels=["x"])
    refused = await client.call(
        "GET", f"/repos/blind-org/app/actions/jobs/{hidden['id']}", await client.mint(blind)
    )
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"

    public = double.add_job("acme", "site", labels=["self-hosted"])
    anonymous = await client.call("GET", f"/repos/acme/site/actions/jobs/{public['id']}")
    assert anonymous.status == 200 and anonymous.headers["x-ratelimit-limit"] == "60"
    seen = [r for r in double.requests if r.path.startswith("/repos/acme/")]
    assert [r.status for r in seen] == [200, 200, 304, 200, 404, 404, 404, 404, 401, 200]
    assert double.count("GET", r"/repos/acme/[^/]+/actions/jobs/\d+") == 10
    assert seen[-1].auth == "none"


async def test_job_seeding_is_checked(keys: Keys, clock: Clock) -> None:
    double = make_double(keys, clock)
    with pytest.raises(ValueError, match="add_repo"):
        double.add_job("acme", "nope", labels=["x"])
    job = double.add_job("acme", "api", labels=["x"])
    with pytest.raises(ValueError, match="status"):
        double.set_job(job["id"], status="stuck")
    with pytest.raises(ValueError, match="conclusion"):
        double.set_job(job["id"], status="completed", conclusion="meh")
    with pytest.raises(ValueError, match="no runner named"):
        double.set_job(job["id"], status="in_progress", runner="ghost")
    # Runners are looked up in the repository, then its organization, then its enterprise.
    double.add_enterprise("octo-ent", organizations=["acme"])
    ent = double.set_job(job["id"], status="in_progress", runner="ent-1")
    assert ent["runner_group_id"] == double.runner_groups("/enterprises/octo-ent")[0]["id"]
    assert double.runners("/enterprises/octo-ent")[0]["busy"] is True


async def test_workflow_job_payloads(keys: Keys, clock: Clock) -> None:
    double = make_double(keys, clock)
    double.add_repo("acme", "site", private=False)
    double.add_installation("solo", account_type="User", repositories=["tool"])
    waiting = double.add_job("acme", "site", labels=["self-hosted"], status="waiting")
    payload = double.workflow_job_payload(waiting["id"])
    assert payload["action"] == "waiting" and payload["workflow_job"] == waiting
    assert payload["repository"]["private"] is False
    assert payload["repository"]["visibility"] == "public"
    assert payload["organization"]["login"] == "acme"
    assert payload["installation"]["id"] == 11
    # Out of order on purpose: a test may deliver any action for a job.
    assert double.workflow_job_payload(waiting["id"], "completed")["action"] == "completed"
    with pytest.raises(ValueError, match="action"):
        double.workflow_job_payload(waiting["id"], "requested")
    personal = double.add_job("solo", "tool", labels=["self-hosted"])
    mine = double.workflow_job_payload(personal["id"])
    assert "organization" not in mine and mine["repository"]["private"] is True
    assert mine["installation"]["id"] != 11
    double.add_repo("globex", "site")
    stranger = double.add_job("globex", "site", labels=["x"])
    assert "installation" not in double.workflow_job_payload(stranger["id"])


async def test_new_gets_are_conditional_and_counted(client: Client) -> None:
    seed_groups(client.double)
    token = await client.mint(11)
    rid = client.double.runners("/orgs/acme")[0]["id"]
    job = client.double.add_job("acme", "api", labels=["gpu"])
    for path in (
        "/orgs/acme/actions/runner-groups?visible_to_repository=api",
        "/orgs/acme/actions/runner-groups/1/runners",
        f"{RUNNERS}/{rid}/labels",
        f"/repos/acme/api/actions/jobs/{job['id']}",
    ):
        first = await client.call("GET", path, token)
        etag = first.headers["ETag"]
        remaining = int(first.headers["x-ratelimit-remaining"])
        cached = await client.call("GET", path, token, headers={"If-None-Match": etag})
        assert cached.status == 304, path
        assert int(cached.headers["x-ratelimit-remaining"]) == remaining  # a 304 is free
    client.double.add_runner("/orgs/acme", "late")  # joins the Default group
    path = "/orgs/acme/actions/runner-groups/1/runners"
    etag = (await client.call("GET", path, token)).headers["ETag"]
    client.double.add_runner("/orgs/acme", "later")
    assert (await client.call("GET", path, token, headers={"If-None-Match": etag})).status == 200
    assert client.double.count("GET", r"/orgs/acme/actions/runner-groups/1/runners") == 4
