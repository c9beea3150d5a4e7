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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub.apps import get_jwt

from bot.sandbox.fleet import seed_demo
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.serve import serve

APP_ID = "4242"
PAT = "ghp_enterprise_sandbox"
NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Keys:
    private_key: rsa.RSAPrivateKey  # loaded once: parsing a PEM costs tens of milliseconds
    public_pem: bytes
    app_jwt: str  # gidgethub's JWT, good for nine minutes: made once per module
    wrong_key_jwt: str


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def keys() -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(
        key,
        public,
        get_jwt(app_id=APP_ID, private_key=_private_pem(key)),
        get_jwt(app_id=APP_ID, private_key=_private_pem(other)),
    )


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

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        scheme: str = "token",
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"{scheme} {token}"
        url = path if path.startswith("http") else self.base + path
        async with self.session.request(method, url, headers=sent, json=json) as resp:
            raw = await resp.read()
            body = await resp.json() if raw else None
            return Reply(resp.status, resp.headers, body)

    def jwt(self) -> str:
        return self.keys.app_jwt

    async def mint(self, installation_id: int, **body: Any) -> str:
        reply = await self.call(
            "POST",
            f"/app/installations/{installation_id}/access_tokens",
            self.jwt(),
            scheme="Bearer",
            json=body or None,
        )
        assert reply.status == 201, reply.body
        return str(reply.body["token"])


def session_for_tests() -> aiohttp.ClientSession:
    # A fresh connection per request: on a kept-alive loopback connection uvicorn's separate
    # header and body writes wait out the client's delayed ACK (about 40 ms a request).
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


def make_double(keys: Keys, clock: Clock, **kwargs: Any) -> GitHubDouble:
    double = GitHubDouble(
        app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token=PAT, clock=clock, **kwargs
    )
    double.add_repo("acme", "api")
    double.add_repo("acme", "web")
    double.add_runner("/orgs/acme", "idle-1", labels=["gpu"])
    double.add_runner("/orgs/acme", "busy-1", busy=True)
    double.add_runner("/repos/acme/api", "api-1")
    double.add_runner("/enterprises/octo-ent", "ent-1")
    return double


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(keys: Keys, clock: Clock) -> AsyncIterator[Client]:
    double = make_double(keys, clock)
    double.add_installation("acme", installation_id=11)
    double.add_installation("initech", installation_id=22, repositories=["tps"])
    async with serve(double.app) as base, session_for_tests() as session:
        yield Client(base, session, double, keys)


def sign(keys: Keys, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 540, "iss": APP_ID, **claims}
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, keys.private_key, algorithm="RS256"
    )


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
        assert reply.status == 401, why
        assert reply.body["status"] == "401" and reply.body["message"], why
    assert (
        "too far in the future"
        in (await client.call("GET", "/app", refused["too long"], scheme="Bearer")).body["message"]
    )
    # Neither an installation token nor the PAT opens an app endpoint.
    token = await client.mint(11)
    for other in (token, PAT):
        reply = await client.call("GET", "/app", other)
        assert reply.status == 401
        assert reply.body["message"] == "A JSON web token could not be decoded"
    auths = [r.auth for r in client.double.requests]
    assert auths[0] == "jwt" and auths[1] == "invalid" and "installation" in auths


async def test_installation_lookup(client: Client) -> None:
    token = client.jwt()
    reply = await client.call("GET", "/orgs/ACME/installation", token, scheme="Bearer")
    assert reply.status == 200
    assert reply.body["id"] == 11 and reply.body["account"]["login"] == "acme"
    assert reply.body["repository_selection"] == "all"
    assert reply.body["target_type"] == "Organization"
    assert (await client.call("GET", "/repos/acme/api/installation", token)).status == 200
    client.double.add_org("globex")
    client.double.add_repo("initech", "tps")
    client.double.add_repo("initech", "secret")
    for path in (
        "/orgs/globex/installation",
        "/orgs/nowhere/installation",
        "/repos/acme/missing/installation",
        "/repos/initech/secret/installation",
    ):
        assert (await client.call("GET", path, token)).status == 404, path
    assert (await client.call("GET", "/repos/initech/tps/installation", token)).status == 200
    listed = await client.call("GET", "/app/installations", token)
    assert [i["id"] for i in listed.body] == [11, 22]


async def test_token_minting_and_use(client: Client, clock: Clock) -> None:
    reply = await client.call("POST", "/app/installations/11/access_tokens", client.jwt())
    assert reply.status == 201
    token = reply.body["token"]
    assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", token)
    assert reply.body["expires_at"] == datetime.fromtimestamp(NOW + 3600, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert reply.body["permissions"]["organization_self_hosted_runners"] == "write"
    assert client.double.issued_installation_tokens == [token]
    listed = await client.call("GET", "/orgs/acme/actions/runners", token)
    assert listed.status == 200 and listed.body["total_count"] == 2
    assert (
        await client.call("POST", "/app/installations/99/access_tokens", client.jwt())
    ).status == 404
    narrowed = await client.call(
        "POST",
        "/app/installations/11/access_tokens",
        client.jwt(),
        json={"permissions": {"administration": "admin"}},
    )
    assert narrowed.status == 422


async def test_expired_tokens_get_401(client: Client, clock: Clock) -> None:
    token = await client.mint(11)
    client.double.expire_installation_tokens()
    reply = await client.call("GET", "/orgs/acme/actions/runners", token)
    assert reply.status == 401 and reply.body["message"] == "Bad credentials"
    assert client.double.requests[-1].auth == "installation"
    fresh = await client.mint(11)
    assert (await client.call("GET", "/orgs/acme/actions/runners", fresh)).status == 200
    clock.now += 3600
    assert (await client.call("GET", "/orgs/acme/actions/runners", fresh)).status == 401
    for bad in (None, "ghs_unknown"):
        assert (await client.call("GET", "/orgs/acme/actions/runners", bad)).status == 401


async def test_pagination(client: Client) -> None:
    for n in range(248):
        client.double.add_runner("/orgs/acme", f"bulk-{n:03d}")
    token = await client.mint(11)
    ids: list[int] = []
    url = "/orgs/acme/actions/runners?per_page=100"
    pages = []
    while url:
        reply = await client.call("GET", url, token)
        assert reply.status == 200 and reply.body["total_count"] == 250
        ids += [r["id"] for r in reply.body["runners"]]
        pages.append(reply.headers.get("Link", ""))
        found = re.search(r'<([^>]+)>; rel="next"', pages[-1])
        url = found.group(1) if found else ""
    assert len(pages) == 3 and len(ids) == len(set(ids)) == 250
    assert {r["id"] for r in client.double.runners("/orgs/acme")} == set(ids)
    base = f"{client.base}/orgs/acme/actions/runners?per_page=100"
    assert pages[0] == f'<{base}&page=2>; rel="next", <{base}&page=3>; rel="last"'
    assert pages[1] == (
        f'<{base}&page=1>; rel="prev", <{base}&page=3>; rel="next", '
        f'<{base}&page=3>; rel="last", <{base}&page=1>; rel="first"'
    )
    assert pages[2] == f'<{base}&page=2>; rel="prev", <{base}&page=1>; rel="first"'
    capped = await client.call("GET", "/orgs/acme/actions/runners?per_page=500", token)
    assert len(capped.body["runners"]) == 100
    default = await client.call("GET", "/orgs/acme/actions/runners", token)
    assert len(default.body["runners"]) == 30
    assert "?page=2>" in default.headers["Link"]


async def test_name_filter_and_runner_shape(client: Client) -> None:
    token = await client.mint(11)
    reply = await client.call("GET", "/orgs/acme/actions/runners?name=idle-1", token)
    assert reply.body["total_count"] == 1 and "Link" not in reply.headers
    runner = reply.body["runners"][0]
    assert set(runner) == {
        "id",
        "name",
        "os",
        "status",
        "busy",
        "ephemeral",
        "runner_group_id",
        "version",
        "labels",
    }
    assert [(lab["name"], lab["type"]) for lab in runner["labels"]] == [
        ("self-hosted", "read-only"),
        ("Linux", "read-only"),
        ("X64", "read-only"),
        ("gpu", "custom"),
    ]
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    none = await client.call("GET", "/orgs/acme/actions/runners?name=IDLE-1", token)
    assert none.body == {"total_count": 0, "runners": []}


async def test_delete(client: Client) -> None:
    token = await client.mint(11)
    idle, busy = (r["id"] for r in client.double.runners("/orgs/acme"))
    path = f"/orgs/acme/actions/runners/{idle}"
    assert (await client.call("GET", path, token)).body["name"] == "idle-1"
    deleted = await client.call("DELETE", path, token)
    assert deleted.status == 204 and deleted.body is None
    assert (await client.call("GET", path, token)).status == 404
    assert (await client.call("DELETE", path, token)).status == 404
    refused = await client.call("DELETE", f"/orgs/acme/actions/runners/{busy}", token)
    assert refused.status == 422
    assert refused.body == {
        "message": 'Bad request - Runner "busy-1" is still running a job"',
        "documentation_url": "https://docs.github.com/rest/actions/self-hosted-runners"
        "#delete-a-self-hosted-runner-from-an-organization",
        "status": "422",
    }
    assert (await client.call("GET", "/orgs/acme/actions/runners/abc", token)).status == 404
    assert [r["name"] for r in client.double.runners("/orgs/acme")] == ["busy-1"]
    assert client.double.count("DELETE", r"/orgs/acme/actions/runners/\d+") == 3


async def test_runner_tokens_and_downloads(client: Client) -> None:
    token = await client.mint(11)
    for kind in ("registration-token", "remove-token"):
        reply = await client.call("POST", f"/repos/acme/api/actions/runners/{kind}", token)
        assert reply.status == 201
        assert re.fullmatch(r"[A-Z0-9]{29}", reply.body["token"])
        assert reply.body["expires_at"] == datetime.fromtimestamp(NOW + 3600, UTC).isoformat(
            timespec="milliseconds"
        )
    assert len(client.double.issued_runner_tokens) == 2
    downloads = await client.call("GET", "/orgs/acme/actions/runners/downloads", token)
    platforms = {(d["os"], d["architecture"]) for d in downloads.body}
    assert {("linux", "x64"), ("osx", "arm64"), ("win", "x64")} <= platforms
    assert all(
        d["download_url"].startswith("https://github.com/actions/runner/releases/")
        for d in downloads.body
    )


async def test_enterprise_takes_only_the_pat(client: Client) -> None:
    path = "/enterprises/octo-ent/actions/runners"
    ok = await client.call("GET", path, PAT, scheme="Bearer")
    assert ok.status == 200 and ok.body["runners"][0]["name"] == "ent-1"
    assert client.double.requests[-1].auth == "pat"
    token = await client.mint(11)
    refused = await client.call("GET", path, token)
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    assert (await client.call("GET", path)).status == 401
    assert (await client.call("GET", path, "ghp_wrong")).status == 401
    assert (await client.call("GET", "/enterprises/nope/actions/runners", PAT)).status == 404
    assert (await client.call("GET", "/orgs/acme/actions/runners", PAT)).status == 403


async def test_scope_and_permission_checks(client: Client) -> None:
    other = await client.mint(22)  # initech's installation
    for path in ("/orgs/acme/actions/runners", "/repos/acme/api/actions/runners"):
        assert (await client.call("GET", path, other)).status == 404, path
    token = await client.mint(11)
    assert (await client.call("GET", "/orgs/nowhere/actions/runners", token)).status == 404
    assert (await client.call("GET", "/repos/acme/nope/actions/runners", token)).status == 404
    installation = client.double.add_installation(
        "readonly-org", permissions={"organization_self_hosted_runners": "read", "metadata": "read"}
    )
    client.double.add_repo("readonly-org", "svc")
    readonly = await client.mint(installation)
    assert (await client.call("GET", "/orgs/readonly-org/actions/runners", readonly)).status == 200
    refused = await client.call(
        "POST", "/orgs/readonly-org/actions/runners/registration-token", readonly
    )
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    no_admin = await client.call("GET", "/repos/readonly-org/svc/actions/runners", readonly)
    assert no_admin.status == 403


async def test_prefix_mode(keys: Keys, clock: Clock) -> None:
    double = make_double(keys, clock, prefix="/api/v3")
    double.add_installation("acme", installation_id=11)
    for n in range(3):
        double.add_runner("/orgs/acme", f"extra-{n}")
    async with serve(double.app) as base, session_for_tests() as session:
        client = Client(base + "/api/v3", session, double, keys)
        token = await client.mint(11)
        outside = await client.call("GET", base + "/orgs/acme/actions/runners", token)
        assert outside.status == 404 and outside.body["message"] == "Not Found"
        reply = await client.call("GET", "/orgs/acme/actions/runners?per_page=2", token)
        assert reply.status == 200
        assert (
            f"<{base}/api/v3/orgs/acme/actions/runners?per_page=2&page=2>"
            in (reply.headers["Link"])
        )
    assert double.count("GET", "/orgs/acme/actions/runners") == 2


async def test_etag_and_rate_limit_headers(client: Client) -> None:
    token = await client.mint(11)
    path = "/orgs/acme/actions/runners"
    first = await client.call("GET", path, token)
    second = await client.call("GET", path, token)
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"]
    assert (
        int(second.headers["x-ratelimit-remaining"])
        == int(first.headers["x-ratelimit-remaining"]) - 1
    )
    assert first.headers["x-ratelimit-resource"] == "core"
    assert int(first.headers["x-ratelimit-reset"]) == int(NOW + 3600)
    cached = await client.call("GET", path, token, headers={"If-None-Match": etag})
    assert cached.status == 304 and cached.body is None
    assert cached.headers["x-ratelimit-remaining"] == second.headers["x-ratelimit-remaining"]
    unauthorised = await client.call("GET", path, "nope", headers={"If-None-Match": etag})
    assert unauthorised.status == 401 and "x-ratelimit-limit" in unauthorised.headers
    client.double.add_runner("/orgs/acme", "new")
    changed = await client.call("GET", path, token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag


async def test_fault_injection(client: Client) -> None:
    token = await client.mint(11)
    path = "/orgs/acme/actions/runners"
    client.double.add_fault("GET", path, status=503, times=2)
    client.double.add_fault(
        "GET",
        path,
        status=403,
        times=1,
        body={"message": "slow down"},
        headers={"retry-after": "7"},
    )
    statuses = [(await client.call("GET", path, token)).status for _ in range(2)]
    assert statuses == [503, 503]
    limited = await client.call("GET", path, token)
    assert limited.status == 403 and limited.headers["retry-after"] == "7"
    assert limited.body == {"message": "slow down"}
    assert (await client.call("GET", path, token)).status == 200
    client.double.add_fault("GET", path, status=500, times=None)
    server_error = await client.call("GET", path, token)
    assert server_error.body == {
        "message": "Server Error",
        "documentation_url": "https://docs.github.com/rest",
        "status": "500",
    }
    client.double.clear_faults()
    client.double.add_fault("GET", path, delay=0.05)
    started = asyncio.get_running_loop().time()
    assert (await client.call("GET", path, token)).status == 200
    assert asyncio.get_running_loop().time() - started >= 0.05
    seen = [r.status for r in client.double.requests if r.path == path]
    assert seen == [503, 503, 403, 200, 500, 200] and client.double.count("GET", path) == 6


async def test_demo_fleet(keys: Keys, clock: Clock) -> None:
    double = GitHubDouble(
        app_id=APP_ID, public_key_pem=keys.public_pem, enterprise_token=PAT, clock=clock
    )
    seed_demo(double)
    org = double.runners("/orgs/acme")
    assert len(org) == 14 and {r["os"] for r in org} == {"Linux", "macOS", "Windows"}
    assert {r["status"] for r in org} == {"online", "offline"}
    assert any(r["busy"] for r in org) and not all(r["busy"] for r in org)
    api = double.runners("/repos/acme/api")
    assert len(api) == 3 and sum(r["busy"] for r in api) == 1
    assert double.runners("/repos/acme/web") == []
    assert len(double.runners("/enterprises/octo-ent")) == 4
    async with serve(double.app) as base, session_for_tests() as session:
        client = Client(base, session, double, keys)
        assert (await client.call("GET", "/orgs/globex/installation", client.jwt())).status == 404
        again = GitHubDouble(app_id=APP_ID, public_key_pem=keys.public_pem, clock=clock)
        seed_demo(again)
        assert again.runners("/orgs/acme") == org
