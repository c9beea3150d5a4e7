"""The GitHub double over real HTTP: it must refuse what GitHub refuses, and page like it."""

from __future__ import annotations

import asyncio
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
