"""A strict stand-in for GitHub's REST API, limited to what runnerops calls.

It speaks real HTTP (serve ``GitHubDouble.app`` with :func:`bot.sandbox.serve.serve`) and
refuses what GitHub refuses: app JWTs are verified against the app's public key, installation
tokens expire and only reach the accounts and permissions their installation has, enterprise
endpoints take only a classic PAT, lists paginate with GitHub's ``Link`` header, and GETs carry
ETags and rate-limit headers. The tests and the credential-free demo both depend on that
strictness: a client that works against the double should work against GitHub.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

DOCS_URL = "https://docs.github.com/rest"
RUNNER_DOCS_URL = "https://docs.github.com/rest/actions/self-hosted-runners"
RATE_LIMIT_DOCS_URL = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
RUNNER_VERSION = "2.321.0"
DEFAULT_PERMISSIONS = {
    "organization_self_hosted_runners": "write",
    "administration": "write",
    "actions": "read",
    "metadata": "read",
}
JWT_MAX_LIFETIME = 600  # GitHub refuses app JWTs valid for more than ten minutes
JWT_SLACK = 30  # common clients back-date iat by 30 s and still ask for the full ten minutes
JWT_MAX_IAT_SKEW = 60
RUNNER_TOKEN_TTL = 3600.0
RATE_WINDOW = 3600.0
RATE_LIMITS = {"installation": 5000, "pat": 5000, "jwt": 5000, "anonymous": 60}
CREATED_AT = "2024-01-02T03:04:05Z"

_JSON = "application/json; charset=utf-8"
_NO_JWT = "A JSON web token could not be decoded"
_EXP_INVALID = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)
_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
_IAT_INVALID = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
_NOT_ACCESSIBLE = "Resource not accessible by integration"
_MESSAGES = {
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    422: "Validation Failed",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: (
        "We couldn't respond to your request in time. Sorry about that. Please try "
        "resubmitting your request and contact us if the problem persists."
    ),
}
_OS_NAMES = ("Linux", "macOS", "Windows")
_READ_ONLY_LABEL_IDS = {"self-hosted": 1, "Linux": 2, "macOS": 3, "Windows": 4, "X64": 5}
_DOWNLOAD_PLATFORMS = (
    ("osx", "x64"),
    ("osx", "arm64"),
    ("linux", "x64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("win", "x64"),
    ("win", "arm64"),
)
_DELETE_ANCHORS = {"enterprise": "an-enterprise", "org": "an-organization", "repo": "a-repository"}
_LEVELS = {"read": 1, "write": 2, "admin": 3}
_SEG = r"([^/]+)"
_SCOPE_PATH = re.compile(rf"/enterprises/{_SEG}|/orgs/{_SEG}|/repos/{_SEG}/{_SEG}")
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_RUNNER_TOKEN_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class RecordedRequest:
    """One request as the double saw it; ``status`` stays 0 while it is still in flight."""

    method: str
    path: str
    query: dict[str, str]
    auth: str  # "jwt" | "installation" | "pat" | "none" | "invalid"
    status: int = 0


API = "https://api.github.com"
# Hypermedia links of a repository, as GitHub lists them (``{/number}``-style templates kept
# out: the spec only asks for strings).
_REPO_LINKS = (
    "archive assignees blobs branches collaborators comments commits compare contents "
    "contributors deployments downloads events forks git_commits git_refs git_tags hooks "
    "issue_comment issue_events issues keys labels languages merges milestones notifications "
    "pulls releases stargazers statuses subscribers subscription tags teams trees"
).split()


@dataclass
class _Account:
    login: str
    id: int
    type: str  # "Organization" | "User"

    def to_json(self) -> dict[str, Any]:
        """GitHub's ``simple-user`` shape, links and all."""
        user = f"{API}/users/{self.login}"
        return {
            "login": self.login,
            "id": self.id,
            "node_id": f"MDQ6VXNlcj{self.id}",
            "type": self.type,
            "site_admin": False,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4",
            "gravatar_id": "",
            "url": user,
            "html_url": f"https://github.com/{self.login}",
            "events_url": f"{user}/events{{/privacy}}",
            "followers_url": f"{user}/followers",
            "following_url": f"{user}/following{{/other_user}}",
            "gists_url": f"{user}/gists{{/gist_id}}",
            "organizations_url": f"{user}/orgs",
            "received_events_url": f"{user}/received_events",
            "repos_url": f"{user}/repos",
            "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{user}/subscriptions",
        }


@dataclass
class _Repo:
    owner: _Account
    name: str
    id: int

    def to_json(self) -> dict[str, Any]:
        """GitHub's ``repository`` shape, as in an installation token's repository list."""
        full = f"{self.owner.login}/{self.name}"
        url = f"{API}/repos/{full}"
        data: dict[str, Any] = {f"{link}_url": f"{url}/{link}" for link in _REPO_LINKS}
        data |= {
            "id": self.id,
            "node_id": f"MDEwOlJlcG9zaXRvcnk{self.id}",
            "name": self.name,
            "full_name": full,
            "owner": self.owner.to_json(),
            "private": True,
            "fork": False,
            "description": None,
            "url": url,
            "html_url": f"https://github.com/{full}",
            "clone_url": f"https://github.com/{full}.git",
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "svn_url": f"https://github.com/{full}",
            "homepage": None,
            "mirror_url": None,
            "language": None,
            "license": None,
            "default_branch": "main",
            "size": 0,
            "forks": 0,
            "forks_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "stargazers_count": 0,
            "has_downloads": True,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "archived": False,
            "disabled": False,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "pushed_at": "2024-01-01T00:00:00Z",
        }
        return data


@dataclass
class _Installation:
    id: int
    account: _Account
    repositories: list[str] | None  # lower-case names; None = every repository
    permissions: dict[str, str]

    def covers(self, repo: _Repo) -> bool:
        if repo.owner is not self.account:
            return False
        return self.repositories is None or repo.name.lower() in self.repositories


@dataclass
class _InstallationToken:
    installation: _Installation
    expires_at: float
    permissions: dict[str, str]
    repositories: list[str] | None  # narrowed at minting; None = the installation's own
    revoked: bool = False

    def covers(self, repo: _Repo) -> bool:
        if not self.installation.covers(repo):
            return False
        return self.repositories is None or repo.name.lower() in self.repositories


@dataclass
class _Runner:
    id: int
    name: str
    os: str
    status: str
    busy: bool
    labels: list[str]
    runner_group_id: int
    ephemeral: bool
    version: str | None


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None
    delay: float
    headers: dict[str, str]
    body: dict[str, Any] | None
    times: int | None
    raw: bytes | None = None  # a body sent as is (an HTML page, truncated JSON)
    content_type: str = "text/html; charset=utf-8"
    act_first: bool = False  # the request takes effect, then the fault replaces its answer
    trickle: float = 0.0  # seconds between the answer's bytes
    query: dict[str, str] | None = None  # only requests whose query has these values
    side_effect: Callable[[], None] | None = None  # run when the fault strikes


@dataclass
class _Bucket:
    limit: int
    reset: float
    used: int = 0


@dataclass
class _Auth:
    kind: str
    token: _InstallationToken | None = None
    jwt_error: str | None = None


@dataclass
class _Result:
    status: int
    body: Any = None  # None: no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent instead of ``body``, as is
    trickle: float = 0.0


class _Stop(Exception):
    """Ends a request early with a ready answer (errors, faults)."""

    def __init__(self, result: _Result) -> None:
        super().__init__(result.status)
        self.result = result


@dataclass
class _Ctx:
    request: Request
    method: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    auth: _Auth
    base: str


_Handler = Callable[[_Ctx], Awaitable[_Result]]


def _error(status: int, message: str | None = None, documentation_url: str = DOCS_URL) -> _Stop:
    return _Stop(_Result(status, _error_body(status, message, documentation_url)))


def _error_body(
    status: int, message: str | None = None, documentation_url: str = DOCS_URL
) -> dict[str, Any]:
    if message is None:
        message = _MESSAGES.get(status) or HTTPStatus(status).phrase
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def _iso_z(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_param(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number >= 1 else default


async def _trickle(body: bytes, pause: float) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        await asyncio.sleep(pause)
        yield body[index : index + 1]


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class GitHubDouble:
    """GitHub's self-hosted-runner API and the App endpoints that lead to it, in memory."""

    def __init__(
        self,
        *,
        app_id: str,
        public_key_pem: bytes | str,
        enterprise_token: str | None = None,
        prefix: str = "",
        token_ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
        api_base: str | None = None,
    ) -> None:
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        key = load_pem_public_key(pem)  # fails fast on a bad key
        if not isinstance(key, RSAPublicKey):
            raise ValueError("GitHub Apps sign with RS256: an RSA public key is needed")
        self._public_key = key
        self.app_id = str(app_id)
        self.enterprise_token = enterprise_token
        self.prefix = prefix.rstrip("/")
        if self.prefix and not self.prefix.startswith("/"):
            raise ValueError("prefix must start with '/'")
        self.token_ttl = token_ttl
        self.clock = clock
        self.api_base = api_base.rstrip("/") if api_base else None

        self.requests: list[RecordedRequest] = []
        self.issued_runner_tokens: list[str] = []
        self.issued_installation_tokens: list[str] = []

        self._accounts: dict[str, _Account] = {}
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._enterprises: dict[str, str] = {}
        self._installations: dict[int, _Installation] = {}
        self._tokens: dict[str, _InstallationToken] = {}
        self._runners: dict[tuple[str, ...], list[_Runner]] = {}
        self._custom_label_ids: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._buckets: dict[str, _Bucket] = {}
        self._next_account_id = 5_000_001
        self._next_repo_id = 7_000_001
        self._next_installation_id = 1_000_001
        self._next_runner_id = 1
        self._request_seq = 0

        scope = (
            r"/(?:enterprises/(?P<ent>[^/]+)|orgs/(?P<org>[^/]+)"
            r"|repos/(?P<owner>[^/]+)/(?P<repo>[^/]+))/actions/runners"
        )
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/app", self._get_app),
            ("GET", r"/app/installations", self._list_installations),
            ("GET", r"/app/installations/(?P<iid>[^/]+)", self._get_installation),
            ("POST", r"/app/installations/(?P<iid>[^/]+)/access_tokens", self._create_token),
            ("GET", r"/orgs/(?P<org>[^/]+)/installation", self._org_installation),
            ("GET", r"/users/(?P<user>[^/]+)/installation", self._user_installation),
            (
                "GET",
                r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation",
                self._repo_installation,
            ),
            ("GET", scope, self._list_runners),
            ("GET", scope + r"/downloads", self._downloads),
            ("POST", scope + r"/registration-token", self._registration_token),
            ("POST", scope + r"/remove-token", self._remove_token),
            ("GET", scope + r"/(?P<rid>[^/]+)", self._get_runner),
            ("DELETE", scope + r"/(?P<rid>[^/]+)", self._delete_runner),
        ]
        self._routes = [(method, re.compile(rx), fn) for method, rx, fn in table]
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    # ------------------------------------------------------------------ seeding

    def add_org(self, org: str) -> None:
        account = self._account(org, "Organization")
        if account.type != "Organization":
            raise ValueError(f"{org} is a user account")

    def add_repo(self, owner: str, repo: str) -> None:
        account = self._account(owner, "Organization")
        key = (owner.lower(), repo.lower())
        if key not in self._repos:
            self._repos[key] = _Repo(account, repo, self._next_repo_id)
            self._next_repo_id += 1

    def add_enterprise(self, slug: str) -> None:
        self._enterprises.setdefault(slug.lower(), slug)

    def add_installation(
        self,
        account: str,
        *,
        installation_id: int | None = None,
        account_type: str = "Organization",
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> int:
        """Install the app on ``account``; ``repositories=None`` means all of its repositories."""
        if account_type not in ("Organization", "User"):
            raise ValueError("account_type is 'Organization' or 'User'")
        holder = self._account(account, account_type)
        if any(inst.account is holder for inst in self._installations.values()):
            raise ValueError(f"the app is already installed on {account}")
        names: list[str] | None = None
        if repositories is not None:
            names = []
            for name in repositories:
                owner, _, repo = name.rpartition("/")
                if owner and owner.lower() != account.lower():
                    raise ValueError(f"{name} is not a repository of {account}")
                self.add_repo(holder.login, repo)
                names.append(repo.lower())
        if installation_id is None:
            installation_id = self._next_installation_id
            self._next_installation_id += 1
        if installation_id in self._installations:
            raise ValueError(f"installation {installation_id} exists")
        perms = dict(DEFAULT_PERMISSIONS if permissions is None else permissions)
        self._installations[installation_id] = _Installation(installation_id, holder, names, perms)
        return installation_id

    def add_runner(
        self,
        scope_path: str,
        name: str,
        *,
        os: str = "Linux",
        status: str = "online",
        busy: bool = False,
        labels: list[str] | None = None,
        runner_group_id: int = 1,
        ephemeral: bool = False,
        version: str | None = RUNNER_VERSION,
    ) -> int:
        """Register a runner under ``/orgs/X``, ``/repos/X/Y`` or ``/enterprises/X``.

        The scope is created if unknown, since a runner cannot exist without one.
        """
        if os not in _OS_NAMES:
            raise ValueError(f"os is one of {_OS_NAMES}")
        key = self._scope_key(scope_path, create=True)
        runners = self._runners.setdefault(key, [])
        if any(r.name.lower() == name.lower() for r in runners):
            raise ValueError(f"a runner named {name} already exists in {scope_path}")
        for label in labels or []:
            self._custom_label_ids.setdefault(label.lower(), 100 + len(self._custom_label_ids))
        runner = _Runner(
            self._next_runner_id,
            name,
            os,
            status,
            busy,
            list(labels or []),
            runner_group_id,
            ephemeral,
            version,
        )
        self._next_runner_id += 1
        runners.append(runner)
        return runner.id

    def set_permissions(self, account: str, permissions: dict[str, str]) -> None:
        """Change an installation's permissions, as when an admin accepts new ones. Tokens
        minted before keep the permissions they were minted with, as on GitHub."""
        holder = self._accounts[account.lower()]
        for inst in self._installations.values():
            if inst.account is holder:
                inst.permissions = dict(permissions)

    def remove_runner(self, scope_path: str, name: str) -> None:
        """A runner goes away (deleted elsewhere, or an ephemeral one finished)."""
        key = self._scope_key(scope_path, create=False)
        self._runners[key] = [r for r in self._runners.get(key, []) if r.name != name]

    def set_runner(
        self, scope_path: str, name: str, *, busy: bool | None = None, status: str | None = None
    ) -> None:
        """Change a runner's state, as a job finishing or a machine going away would."""
        key = self._scope_key(scope_path, create=False)
        runner = next(r for r in self._runners.get(key, []) if r.name == name)
        if busy is not None:
            runner.busy = busy
        if status is not None:
            runner.status = status

    def runners(self, scope_path: str) -> list[dict[str, Any]]:
        """The runners of a scope as GitHub would list them."""
        key = self._scope_key(scope_path, create=False)
        return [self._runner_json(r) for r in self._runners.get(key, [])]

    # ------------------------------------------------------------ observation

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        return sum(
            1
            for rec in self.requests
            if rec.method == method.upper() and pattern.fullmatch(rec.path)
        )

    # --------------------------------------------------------- time and faults

    def expire_installation_tokens(self) -> None:
        """Every installation token issued so far now gets 401, as after the hour or a revoke."""
        for token in self._tokens.values():
            token.revoked = True

    def add_fault(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        times: int | None = 1,
        raw: bytes | None = None,
        content_type: str = "text/html; charset=utf-8",
        act_first: bool = False,
        trickle: float = 0.0,
        query: dict[str, str] | None = None,
        side_effect: Callable[[], None] | None = None,
    ) -> None:
        """Disturb the next ``times`` matching requests (None: all of them).

        ``delay`` holds the answer; ``status`` (with ``body``, or ``raw`` bytes of
        ``content_type``) replaces it. With ``act_first`` the request is carried out before
        the fault strikes, as when GitHub acts and then fails or times out. ``trickle``
        sends the answer a byte at a time, that many seconds apart. ``query`` narrows the
        match (``{"page": "2"}``); ``side_effect`` runs as the request arrives (a runner
        registering between two pages of a listing).
        """
        if times is not None and times < 1:
            raise ValueError("times is at least 1 (or None for always)")
        self._faults.append(
            _Fault(
                method.upper(),
                re.compile(path_regex),
                status,
                delay,
                dict(headers or {}),
                body,
                times,
                raw,
                content_type,
                act_first,
                trickle,
                query,
                side_effect,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    # ----------------------------------------------------------------- helpers

    def _account(self, login: str, account_type: str) -> _Account:
        account = self._accounts.get(login.lower())
        if account is None:
            account = _Account(login, self._next_account_id, account_type)
            self._next_account_id += 1
            self._accounts[login.lower()] = account
        return account

    def _scope_key(self, scope_path: str, *, create: bool) -> tuple[str, ...]:
        match = _SCOPE_PATH.fullmatch(scope_path)
        if not match:
            raise ValueError(f"not a scope path: {scope_path!r}")
        ent, org, owner, repo = match.groups()
        if ent is not None:
            if create:
                self.add_enterprise(ent)
            return ("enterprise", ent.lower())
        if org is not None:
            if create:
                self.add_org(org)
            return ("org", org.lower())
        if create:
            self.add_repo(owner, repo)
        return ("repo", owner.lower(), repo.lower())

    def _runner_json(self, runner: _Runner) -> dict[str, Any]:
        labels = [
            {"id": _READ_ONLY_LABEL_IDS[name], "name": name, "type": "read-only"}
            for name in ("self-hosted", runner.os, "X64")
        ]
        labels += [
            {"id": self._custom_label_ids[name.lower()], "name": name, "type": "custom"}
            for name in runner.labels
        ]
        return {
            "id": runner.id,
            "name": runner.name,
            "os": runner.os,
            "status": runner.status,
            "busy": runner.busy,
            "ephemeral": runner.ephemeral,
            "runner_group_id": runner.runner_group_id,
            "version": runner.version,
            "labels": labels,
        }

    def _installation_json(self, inst: _Installation, base: str) -> dict[str, Any]:
        return {
            "id": inst.id,
            "account": inst.account.to_json(),
            "app_id": int(self.app_id) if self.app_id.isdigit() else self.app_id,
            "app_slug": "runnerops",
            "target_id": inst.account.id,
            "target_type": inst.account.type,
            "permissions": dict(inst.permissions),
            "repository_selection": "all" if inst.repositories is None else "selected",
            "events": ["workflow_job"],
            "access_tokens_url": f"{base}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{base}/installation/repositories",
            "html_url": f"https://github.com/settings/installations/{inst.id}",
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    def _token_valid(self, token: _InstallationToken | None) -> bool:
        return token is not None and not token.revoked and self.clock() < token.expires_at

    def _check_jwt(self, token: str) -> str | None:
        """Why GitHub would refuse this app JWT, or None when it is good."""
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError:
            return _NO_JWT
        # Clients sign with the wall clock, so JWTs are judged by it, not by ``clock``.
        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not _is_number(iat) or iat > now + JWT_MAX_IAT_SKEW:
            return _IAT_INVALID
        if not _is_number(exp) or exp <= now:
            return _EXP_INVALID
        if exp - iat > JWT_MAX_LIFETIME + JWT_SLACK or exp > now + JWT_MAX_LIFETIME + JWT_SLACK:
            return _EXP_TOO_FAR
        if iss is None:
            return "Missing 'issuer' claim ('iss') in assertion"
        if isinstance(iss, bool) or not isinstance(iss, int | str):
            return "'Issuer' claim ('iss') must be an Integer"
        if str(iss) != self.app_id:
            return (
                "Integration not found"
                if str(iss).isdigit()
                else ("'Issuer' claim ('iss') must be an Integer")
            )
        return None

    def _classify(self, header: str | None) -> _Auth:
        if header is None:
            return _Auth("none")
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() not in ("bearer", "token") or not credential:
            return _Auth("invalid")
        if self.enterprise_token and secrets.compare_digest(
            credential.encode(), self.enterprise_token.encode()
        ):
            return _Auth("pat")
        token = self._tokens.get(credential)
        if token is not None:
            return _Auth("installation", token=token)
        if credential.count(".") == 2:
            problem = self._check_jwt(credential)
            return _Auth("jwt") if problem is None else _Auth("invalid", jwt_error=problem)
        return _Auth("invalid")

    def _bucket(self, auth: _Auth) -> tuple[str, _Bucket]:
        if auth.kind == "installation" and self._token_valid(auth.token):
            assert auth.token is not None
            key, kind = f"installation:{auth.token.installation.id}", "installation"
        elif auth.kind in ("pat", "jwt"):
            key, kind = auth.kind, auth.kind
        else:
            key, kind = "anonymous", "anonymous"
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset:
            bucket = self._buckets[key] = _Bucket(RATE_LIMITS[kind], now + RATE_WINDOW)
        return kind, bucket

    @staticmethod
    def _rate_headers(bucket: _Bucket) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(bucket.limit),
            "x-ratelimit-remaining": str(max(0, bucket.limit - bucket.used)),
            "x-ratelimit-used": str(bucket.used),
            "x-ratelimit-reset": str(int(bucket.reset)),
            "x-ratelimit-resource": "core",
        }

    def _take_faults(self, method: str, path: str, query: dict[str, str]) -> list[_Fault]:
        taken = []
        for fault in list(self._faults):
            if fault.method != method or not fault.pattern.fullmatch(path):
                continue
            if fault.query and any(query.get(k) != v for k, v in fault.query.items()):
                continue
            if fault.side_effect is not None:
                fault.side_effect()
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
            taken.append(fault)
            if fault.status is not None:  # it answers this request: later faults wait
                break
        return taken

    @staticmethod
    async def _strike(faults: list[_Fault], result: _Result | None = None) -> None:
        """Apply ``faults``: wait, then answer in their stead (raising :class:`_Stop`)."""
        for fault in faults:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.trickle and result is not None:
                result.trickle = fault.trickle
            if fault.status is not None:
                if fault.raw is not None:
                    headers = {"content-type": fault.content_type, **fault.headers}
                    raise _Stop(_Result(fault.status, None, headers, raw=fault.raw))
                if fault.body is not None:
                    body: Any = fault.body
                elif fault.status >= 400:
                    body = _error_body(fault.status)
                else:
                    body = None
                stop = _Result(fault.status, body, dict(fault.headers), trickle=fault.trickle)
                raise _Stop(stop)

    def _paginate(self, ctx: _Ctx, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        per_page = min(_int_param(ctx.query.get("per_page"), 30), 100)
        page = _int_param(ctx.query.get("page"), 1)
        last = max(1, math.ceil(len(items) / per_page))

        def link(number: int, rel: str) -> str:
            query = dict(ctx.query)
            query["page"] = str(number)
            return f'<{ctx.base}{ctx.path}?{urlencode(query)}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        headers = {"link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    # ---------------------------------------------------------------- serving

    async def _endpoint(self, request: Request) -> Response:
        raw_path = (
            (request.scope.get("raw_path") or request.scope["path"].encode())
            .decode("latin-1")
            .split("?", 1)[0]
        )
        method = request.method.upper()
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        auth = self._classify(request.headers.get("authorization"))
        inside = not self.prefix or raw_path.startswith(self.prefix + "/")
        path = raw_path[len(self.prefix) :] if inside else raw_path
        record = RecordedRequest(method, path, query, auth.kind)
        self.requests.append(record)
        record.status = 500  # replaced below unless the handler crashes
        base = self.api_base or str(request.base_url).rstrip("/") + self.prefix
        kind, bucket = self._bucket(auth)
        late: list[_Fault] = []

        try:
            if not inside:
                raise _error(404)
            faults = self._take_faults(method, path, query)
            # A fault that only slows the real answer strikes once that answer exists.
            late = [f for f in faults if f.act_first or (f.trickle and f.status is None)]
            await self._strike([f for f in faults if f not in late])
            if kind != "anonymous" and bucket.used >= bucket.limit:
                message = (
                    f"API rate limit exceeded for installation ID {auth.token.installation.id}."
                    if auth.token is not None
                    else "API rate limit exceeded."
                )
                raise _error(403, message, RATE_LIMIT_DOCS_URL)
            result = await self._dispatch(request, method, path, query, auth, base)
            await self._strike(late, result)
        except _Stop as stop:
            result = stop.result

        headers = {
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": f"D0B1E:{self._next_request_id():06X}",
        }
        body = b""
        if result.raw is not None:
            body = result.raw
        elif result.body is not None:
            body = json.dumps(result.body, separators=(",", ":")).encode()
            headers["content-type"] = _JSON
        status = result.status
        if method == "GET" and status == 200:
            etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
            headers["etag"] = etag
            wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
            if etag in wanted or etag.removeprefix("W/") in wanted:
                status, body = 304, b""
                headers.pop("content-type", None)
        if status != 304:
            bucket.used += 1
        headers.update(self._rate_headers(bucket))
        headers.update(result.headers)
        record.status = status
        if result.trickle:
            return StreamingResponse(
                _trickle(body, result.trickle), status_code=status, headers=headers
            )
        return Response(body, status_code=status, headers=headers)

    def _next_request_id(self) -> int:
        self._request_seq += 1
        return self._request_seq

    async def _dispatch(
        self,
        request: Request,
        method: str,
        path: str,
        query: dict[str, str],
        auth: _Auth,
        base: str,
    ) -> _Result:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                return await handler(_Ctx(request, method, path, query, params, auth, base))
        raise _error(404)

    # ----------------------------------------------------------- app endpoints

    @staticmethod
    def _require_jwt(ctx: _Ctx) -> None:
        if ctx.auth.kind != "jwt":
            raise _error(401, ctx.auth.jwt_error or _NO_JWT)

    async def _get_app(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        return _Result(
            200,
            {
                "id": int(self.app_id) if self.app_id.isdigit() else self.app_id,
                "slug": "runnerops",
                "name": "runnerops",
                "description": "Self-hosted runner fleet from Slack",
                "external_url": "https://runnerops.example",
                "html_url": "https://github.com/apps/runnerops",
                "created_at": CREATED_AT,
                "updated_at": CREATED_AT,
                "permissions": dict(DEFAULT_PERMISSIONS),
                "events": ["workflow_job"],
                "installations_count": len(self._installations),
            },
        )

    async def _list_installations(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        items = [self._installation_json(i, ctx.base) for i in self._installations.values()]
        page, headers = self._paginate(ctx, items)
        return _Result(200, page, headers)

    def _installation_by_id(self, raw: str) -> _Installation:
        inst = self._installations.get(int(raw)) if raw.isdigit() else None
        if inst is None:
            raise _error(404)
        return inst

    async def _get_installation(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        return _Result(
            200, self._installation_json(self._installation_by_id(ctx.params["iid"]), ctx.base)
        )

    async def _create_token(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        inst = self._installation_by_id(ctx.params["iid"])
        raw = await ctx.request.body()
        try:
            wanted = json.loads(raw) if raw.strip() else {}
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict):
            raise _error(400, "Problems parsing JSON")
        permissions = dict(inst.permissions)
        if wanted.get("permissions") is not None:
            asked = wanted["permissions"]
            if not isinstance(asked, dict) or any(
                _LEVELS.get(str(level), 99) > _LEVELS.get(inst.permissions.get(name, ""), 0)
                for name, level in asked.items()
            ):
                raise _error(422, "The permissions requested are not granted to this installation.")
            permissions = {str(k): str(v) for k, v in asked.items()}
        repos: list[_Repo] | None = None
        names, ids = wanted.get("repositories"), wanted.get("repository_ids")
        if names is not None or ids is not None:
            if not isinstance(names or [], list) or not isinstance(ids or [], list):
                raise _error(400, "Problems parsing JSON")
            by_id = {r.id: r for r in self._repos.values()}
            found = [
                self._repos.get((inst.account.login.lower(), str(name).lower()))
                for name in names or []
            ] + [by_id.get(i) if isinstance(i, int) else None for i in ids or []]
            repos = [r for r in found if r is not None and inst.covers(r)]
            if len(repos) != len(found):
                raise _error(
                    422,
                    "There is at least one repository that does not exist or is "
                    "not accessible to the parent installation.",
                )
        token = "ghs_" + _random(_TOKEN_ALPHABET, 36)
        expires_at = self.clock() + self.token_ttl
        self._tokens[token] = _InstallationToken(
            inst,
            expires_at,
            permissions,
            None if repos is None else [r.name.lower() for r in repos],
        )
        self.issued_installation_tokens.append(token)
        selected = repos is not None or inst.repositories is not None
        body: dict[str, Any] = {
            "token": token,
            "expires_at": _iso_z(expires_at),
            "permissions": permissions,
            "repository_selection": "selected" if selected else "all",
        }
        if repos is not None:
            body["repositories"] = [r.to_json() for r in repos]
        return _Result(201, body)

    def _installation_for(self, account: _Account | None) -> _Installation:
        for inst in self._installations.values():
            if inst.account is account:
                return inst
        raise _error(404)

    async def _org_installation(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        account = self._accounts.get(ctx.params["org"].lower())
        if account is None or account.type != "Organization":
            raise _error(404)
        return _Result(200, self._installation_json(self._installation_for(account), ctx.base))

    async def _user_installation(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        account = self._accounts.get(ctx.params["user"].lower())
        return _Result(200, self._installation_json(self._installation_for(account), ctx.base))

    async def _repo_installation(self, ctx: _Ctx) -> _Result:
        self._require_jwt(ctx)
        repo = self._repos.get((ctx.params["owner"].lower(), ctx.params["repo"].lower()))
        if repo is None:
            raise _error(404)
        inst = self._installation_for(repo.owner)
        if not inst.covers(repo):
            raise _error(404)
        return _Result(200, self._installation_json(inst, ctx.base))

    # -------------------------------------------------------- runner endpoints

    def _authorize_scope(self, ctx: _Ctx, *, write: bool) -> tuple[str, ...]:
        """Resolve the scope of a runner endpoint, answering as GitHub would to the caller."""
        params, auth = ctx.params, ctx.auth
        valid_installation = auth.kind == "installation" and self._token_valid(auth.token)
        if "ent" in params:
            if auth.kind == "pat":
                slug = params["ent"].lower()
                if slug not in self._enterprises:
                    raise _error(404)
                return ("enterprise", slug)
            if valid_installation:
                raise _error(403, _NOT_ACCESSIBLE)
            raise _error(401)
        if auth.kind == "pat":
            raise _error(403, "Resource not accessible by personal access token")
        if not valid_installation:
            raise _error(401)
        token = auth.token
        assert token is not None
        if "org" in params:
            account = self._accounts.get(params["org"].lower())
            if account is None or account.type != "Organization":
                raise _error(404)
            if token.installation.account is not account:
                raise _error(404)
            permission = "organization_self_hosted_runners"
            key: tuple[str, ...] = ("org", account.login.lower())
        else:
            repo = self._repos.get((params["owner"].lower(), params["repo"].lower()))
            if repo is None or not token.covers(repo):
                raise _error(404)
            permission = "administration"
            key = ("repo", repo.owner.login.lower(), repo.name.lower())
        level = _LEVELS.get(token.permissions.get(permission, ""), 0)
        if level < (_LEVELS["write"] if write else _LEVELS["read"]):
            raise _error(403, _NOT_ACCESSIBLE)
        return key

    def _find_runner(self, key: tuple[str, ...], raw_id: str) -> _Runner:
        if raw_id.isdigit():
            for runner in self._runners.get(key, []):
                if runner.id == int(raw_id):
                    return runner
        raise _error(404)

    async def _list_runners(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        runners = self._runners.get(key, [])
        if "name" in ctx.query:
            runners = [r for r in runners if r.name == ctx.query["name"]]
        page, headers = self._paginate(ctx, runners)
        body = {"total_count": len(runners), "runners": [self._runner_json(r) for r in page]}
        return _Result(200, body, headers)

    async def _downloads(self, ctx: _Ctx) -> _Result:
        self._authorize_scope(ctx, write=False)
        items = []
        for os_name, arch in _DOWNLOAD_PLATFORMS:
            ext = "zip" if os_name == "win" else "tar.gz"
            filename = f"actions-runner-{os_name}-{arch}-{RUNNER_VERSION}.{ext}"
            items.append(
                {
                    "os": os_name,
                    "architecture": arch,
                    "download_url": "https://github.com/actions/runner/releases/download/"
                    f"v{RUNNER_VERSION}/{filename}",
                    "filename": filename,
                    "sha256_checksum": hashlib.sha256(filename.encode()).hexdigest(),
                }
            )
        return _Result(200, items)

    def _runner_token(self) -> _Result:
        token = _random(_RUNNER_TOKEN_ALPHABET, 29)
        self.issued_runner_tokens.append(token)
        expires = datetime.fromtimestamp(self.clock() + RUNNER_TOKEN_TTL, UTC)
        body = {"token": token, "expires_at": expires.isoformat(timespec="milliseconds")}
        return _Result(201, body)

    async def _registration_token(self, ctx: _Ctx) -> _Result:
        self._authorize_scope(ctx, write=True)
        return self._runner_token()

    async def _remove_token(self, ctx: _Ctx) -> _Result:
        self._authorize_scope(ctx, write=True)
        return self._runner_token()

    async def _get_runner(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        return _Result(200, self._runner_json(self._find_runner(key, ctx.params["rid"])))

    async def _delete_runner(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        runner = self._find_runner(key, ctx.params["rid"])
        if runner.busy:
            raise _error(
                422,
                f'Bad request - Runner "{runner.name}" is still running a job"',
                f"{RUNNER_DOCS_URL}#delete-a-self-hosted-runner-from-{_DELETE_ANCHORS[key[0]]}",
            )
        self._runners[key].remove(runner)
        return _Result(204)
