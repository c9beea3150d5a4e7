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
import base64
import hashlib
import json
import math
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
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
_ARCH_NAMES = ("X64", "ARM64", "ARM", "X86")
_READ_ONLY_LABEL_IDS = {
    "self-hosted": 1,
    "Linux": 2,
    "macOS": 3,
    "Windows": 4,
    "X64": 5,
    "ARM64": 6,
    "ARM": 7,
    "X86": 8,
}
# The names GitHub itself gives runners (lower-case -> as GitHub spells them): read-only labels.
_SYSTEM_LABELS = {name.lower(): name for name in _READ_ONLY_LABEL_IDS}
MAX_LABELS = 100
DEFAULT_GROUP = "Default"
_ORG_VISIBILITIES = ("all", "selected", "private")
_ENTERPRISE_VISIBILITIES = ("all", "selected")
_JOB_STATUSES = ("queued", "waiting", "in_progress", "completed")
_JOB_CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
)
# GitHub's request-schema failures read "Invalid request.\n\n<why>". The missing-key wording is
# the one GitHub gave for this endpoint family; the item-count wording is the one GitHub uses
# for ``maxItems`` elsewhere (e.g. check-run annotations).
_INVALID = "Invalid request.\n\n"
_MISSING_KEY = _INVALID + "Invalid input: object is missing required key: {key}."
_TOO_MANY = _INVALID + "No more than {limit} items are allowed; {count} were supplied."
_TOO_FEW = _INVALID + "{minimum} item required; only {count} were supplied."
_WRONG_TYPE = _INVALID + "For 'properties/{key}', {value} is not {kind}."
_WRONG_ITEM = _INVALID + "For 'items', {value} is not a string."
# GitHub documents a 422 for this; the wording is ours (not seen from GitHub).
_READ_ONLY_LABEL = "Label {name} is read-only and cannot be removed from the runner."
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
# The manifest flow's web form, on GitHub's web host (not under a GHES API prefix).
_NEW_APP_FORM = re.compile(r"/(?:organizations/(?P<org>[^/]+)/)?settings/apps/new")
MANIFEST_CODE_TTL = 3600.0  # GitHub: "You must complete this step within one hour"
_MANIFEST_REQUIRED = ("url", "hook_attributes", "redirect_url")
_RUNNER_TOKEN_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class RecordedRequest:
    """One request as the double saw it; ``status`` stays 0 while it is still in flight."""

    method: str
    path: str
    query: dict[str, str]
    auth: str  # "jwt" | "installation" | "pat" | "none" | "invalid"
    status: int = 0
    installation: int | None = None  # whose installation token it carried, if one


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
    private: bool = True

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
            "private": self.private,
            "visibility": "private" if self.private else "public",
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
            "has_discussions": False,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "custom_properties": {},
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


class RunnerSpec(NamedTuple):
    """A runner to seed: :meth:`GitHubDouble.add_runner`'s arguments as one value."""

    name: str
    os: str = "Linux"
    arch: str = "X64"
    status: str = "online"
    busy: bool = False
    labels: tuple[str, ...] = ()  # custom labels
    ephemeral: bool = False


@dataclass
class _Runner:
    id: int
    name: str
    os: str
    status: str
    busy: bool
    labels: list[str]  # custom labels
    runner_group_id: int
    ephemeral: bool
    version: str | None
    read_only: list[str] = field(default_factory=list)  # as GitHub spells them


@dataclass
class _Group:
    """A runner group of an organization or an enterprise (``owner`` is its scope key)."""

    id: int
    owner: tuple[str, ...]
    name: str
    visibility: str  # all | selected | private (organizations only)
    default: bool = False
    allows_public_repositories: bool = False
    restricted_to_workflows: bool = False
    selected_workflows: list[str] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)  # lower-case repo names or org logins


@dataclass
class _Job:
    id: int
    run_id: int
    run_attempt: int
    repo: _Repo
    name: str
    workflow_name: str
    labels: list[str]
    status: str
    created_at: float
    head_branch: str
    head_sha: str
    conclusion: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    runner_group_id: int | None = None
    runner_group_name: str | None = None
    workflow_path: str = ".github/workflows/ci.yml"


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
    # Only requests whose query has these values (None: the parameter is absent).
    query: dict[str, str | None] | None = None
    side_effect: Callable[[], None] | None = None  # run when the fault strikes
    after: Callable[[], None] | None = None  # run once the answer is made, before it is sent
    hold: asyncio.Event | None = None  # the answer waits until this is set


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


def _ruby(value: object) -> str:
    """A JSON value as GitHub's (Ruby) validator quotes it in messages."""
    return "nil" if value is None else json.dumps(value)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


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


def _web_page(status: int, title: str, body: str) -> HTMLResponse:
    """One of the double's few web pages (GitHub's are larger; the title is what matters)."""
    return HTMLResponse(
        f"<!doctype html><html><head><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _manifest_problems(manifest: object) -> list[str]:
    """Why GitHub would refuse this manifest, for the fields runnerops' flow relies on."""
    if not isinstance(manifest, dict):
        return ["manifest is not a JSON object"]
    problems = [f"{key} is missing" for key in _MANIFEST_REQUIRED if not manifest.get(key)]
    hook = manifest.get("hook_attributes")
    if hook is not None and not (isinstance(hook, dict) and isinstance(hook.get("url"), str)):
        problems.append("hook_attributes.url is missing")
    for key in ("url", "redirect_url"):
        value = manifest.get(key)
        if value and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
            problems.append(f"{key} is not a URL")
    return problems


def _organization_json(account: _Account) -> dict[str, Any]:
    """GitHub's ``organization-simple`` shape, as webhook payloads carry it."""
    url = f"{API}/orgs/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": base64.b64encode(f"Organization{account.id}".encode()).decode(),
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
        "description": None,
    }


@dataclass
class _ManifestCode:
    manifest: dict[str, Any]
    owner: _Account
    expires: float


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
        web_url: str = "https://github.com",
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
        self.web_url = web_url.rstrip("/")
        # The runner release the downloads offer, and each version's end-of-life dates
        # (``GET …/actions/runners/deprecations/{version}``, github.com only: absent with
        # a GHES ``prefix``); a version not in it answers 404, as GitHub does.
        self.runner_version = RUNNER_VERSION
        self.runner_deprecations: dict[str, dict[str, str | None]] = {}

        self.requests: list[RecordedRequest] = []
        self.issued_runner_tokens: list[str] = []
        self.issued_installation_tokens: list[str] = []
        self.issued_jit_configs: list[str] = []

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
        self._groups: dict[tuple[str, ...], list[_Group]] = {}
        self._enterprise_of: dict[str, str] = {}  # org login -> enterprise slug (lower-case)
        self._jobs: dict[int, _Job] = {}
        self._next_group_id = 2  # 1 is every organization's Default group
        self._next_job_id = 4_000_000_001
        self._next_run_id = 9_000_000_001
        # The manifest flow: codes waiting for their conversion, and the Apps it created.
        self.manifest_user = "octocat"  # who is signed in on the double's web pages
        # The account that owns the App (GET /app's ``owner``), as GitHub answers it.
        self.app_owner = "octocat"
        self._manifest_codes: dict[str, _ManifestCode] = {}
        self.manifest_apps: list[dict[str, Any]] = []
        # Whether each App so created is public (app id -> manifest's ``public``): GitHub's
        # App object does not say, its settings page does.
        self.manifest_public: dict[int, bool] = {}
        self._next_manifest_app_id = 900_001

        scope = (
            r"/(?:enterprises/(?P<ent>[^/]+)|orgs/(?P<org>[^/]+)"
            r"|repos/(?P<owner>[^/]+)/(?P<repo>[^/]+))/actions/runners"
        )
        groups = r"/(?:enterprises/(?P<ent>[^/]+)|orgs/(?P<org>[^/]+))/actions/runner-groups"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/app", self._get_app),
            ("POST", r"/app-manifests/(?P<code>[^/]+)/conversions", self._convert_manifest),
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
            *(
                [("GET", scope + r"/deprecations/(?P<version>[^/]+)", self._deprecation)]
                if not self.prefix  # GitHub Enterprise Server has no such endpoint
                else []
            ),
            ("POST", scope + r"/registration-token", self._registration_token),
            ("POST", scope + r"/remove-token", self._remove_token),
            ("GET", scope + r"/(?P<rid>[^/]+)", self._get_runner),
            ("DELETE", scope + r"/(?P<rid>[^/]+)", self._delete_runner),
            ("POST", scope + r"/generate-jitconfig", self._generate_jitconfig),
            ("GET", scope + r"/(?P<rid>[^/]+)/labels", self._list_labels),
            ("POST", scope + r"/(?P<rid>[^/]+)/labels", self._add_labels),
            ("PUT", scope + r"/(?P<rid>[^/]+)/labels", self._set_labels),
            ("DELETE", scope + r"/(?P<rid>[^/]+)/labels", self._clear_labels),
            ("DELETE", scope + r"/(?P<rid>[^/]+)/labels/(?P<label>[^/]+)", self._remove_label),
            ("GET", groups, self._list_groups),
            ("GET", groups + r"/(?P<gid>[^/]+)", self._get_group),
            ("GET", groups + r"/(?P<gid>[^/]+)/runners", self._group_runners),
            (
                "GET",
                r"/orgs/(?P<org>[^/]+)/actions/runner-groups/(?P<gid>[^/]+)/repositories",
                self._group_repositories,
            ),
            (
                "PUT",
                r"/orgs/(?P<org>[^/]+)/actions/runner-groups/(?P<gid>[^/]+)/repositories"
                r"/(?P<rid>[^/]+)",
                self._add_group_repository,
            ),
            (
                "PATCH",
                r"/orgs/(?P<org>[^/]+)/actions/runner-groups/(?P<gid>[^/]+)",
                self._update_group,
            ),
            ("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)", self._get_repo),
            (
                "GET",
                r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/jobs/(?P<jid>[^/]+)",
                self._get_job,
            ),
            (
                "GET",
                r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[^/]+)",
                self._get_run,
            ),
        ]
        self._routes = [(method, re.compile(rx), fn) for method, rx, fn in table]
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    # ------------------------------------------------------------------ seeding

    def deprecate_version(
        self, version: str, *, registration: str | None = None, runtime: str | None = None
    ) -> None:
        """Publish ``version``'s end-of-life dates (ISO 8601, or None: no date set)."""
        self.runner_deprecations[version] = {
            "registration_deprecates_at": registration,
            "runtime_deprecates_at": runtime,
        }

    def add_org(self, org: str) -> None:
        account = self._account(org, "Organization")
        if account.type != "Organization":
            raise ValueError(f"{org} is a user account")

    def add_repo(self, owner: str, repo: str, *, private: bool | None = None) -> None:
        """Add a repository (private unless ``private=False``); an existing one keeps its
        visibility unless ``private`` is given."""
        account = self._account(owner, "Organization")
        key = (owner.lower(), repo.lower())
        if key not in self._repos:
            self._repos[key] = _Repo(account, repo, self._next_repo_id)
            self._next_repo_id += 1
        if private is not None:
            self._repos[key].private = private

    def add_enterprise(self, slug: str, *, organizations: list[str] | None = None) -> None:
        """Add an enterprise (with its Default runner group) owning ``organizations``."""
        key = slug.lower()
        if key not in self._enterprises:
            self._enterprises[key] = slug
            self._scope_groups(("enterprise", key))
        for org in organizations or []:
            self.add_org(org)
            owner = self._enterprise_of.setdefault(org.lower(), key)
            if owner != key:
                raise ValueError(f"{org} already belongs to enterprise {owner}")

    def add_runner_group(
        self,
        scope_path: str,
        name: str,
        *,
        visibility: str = "all",
        selected_repositories: list[str] | None = None,
        selected_organizations: list[str] | None = None,
        allows_public_repositories: bool = False,
        restricted_to_workflows: bool = False,
        selected_workflows: list[str] | None = None,
    ) -> int:
        """Add a runner group to ``/orgs/X`` or ``/enterprises/X``; return its id.

        ``visibility`` is ``all``, ``selected`` (``selected_repositories`` of the
        organization, or ``selected_organizations`` of the enterprise, which join it) or,
        for organizations, ``private`` (private repositories only). As on GitHub, public
        repositories may use the group only with ``allows_public_repositories=True``.
        """
        key = self._group_scope(scope_path)
        groups = self._scope_groups(key)
        if any(g.name.lower() == name.lower() for g in groups):
            raise ValueError(f"a runner group named {name} already exists in {scope_path}")
        group = _Group(self._next_group_id, key, name, "all")
        self._next_group_id += 1
        groups.append(group)
        self.set_runner_group(
            scope_path,
            name,
            visibility=visibility,
            selected_repositories=selected_repositories,
            selected_organizations=selected_organizations,
            allows_public_repositories=allows_public_repositories,
            restricted_to_workflows=restricted_to_workflows,
            selected_workflows=selected_workflows or [],
        )
        return group.id

    def set_runner_group(
        self,
        scope_path: str,
        name: str,
        *,
        visibility: str | None = None,
        selected_repositories: list[str] | None = None,
        selected_organizations: list[str] | None = None,
        allows_public_repositories: bool | None = None,
        restricted_to_workflows: bool | None = None,
        selected_workflows: list[str] | None = None,
    ) -> None:
        """Change a runner group's settings (the Default group's too); None keeps a setting."""
        key = self._group_scope(scope_path)
        group = next((g for g in self._scope_groups(key) if g.name.lower() == name.lower()), None)
        if group is None:
            raise ValueError(f"no runner group named {name} in {scope_path}")
        allowed = _ENTERPRISE_VISIBILITIES if key[0] == "enterprise" else _ORG_VISIBILITIES
        if visibility is not None:
            if visibility not in allowed:
                raise ValueError(f"visibility is one of {allowed}")
            group.visibility = visibility
        if key[0] == "org":
            if selected_organizations is not None:
                raise ValueError("an organization's group selects repositories")
            for repo in selected_repositories or []:
                self.add_repo(key[1], repo)
            if selected_repositories is not None:
                group.selected = [repo.lower() for repo in selected_repositories]
        else:
            if selected_repositories is not None:
                raise ValueError("an enterprise's group selects organizations")
            if selected_organizations is not None:
                self.add_enterprise(key[1], organizations=selected_organizations)
                group.selected = [org.lower() for org in selected_organizations]
        if allows_public_repositories is not None:
            group.allows_public_repositories = allows_public_repositories
        if restricted_to_workflows is not None:
            group.restricted_to_workflows = restricted_to_workflows
        if selected_workflows is not None:
            group.selected_workflows = list(selected_workflows)

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
        arch: str = "X64",
        status: str = "online",
        busy: bool = False,
        labels: list[str] | None = None,
        runner_group_id: int | None = None,
        ephemeral: bool = False,
        version: str | None = RUNNER_VERSION,
        position: int | None = None,
    ) -> int:
        """Register a runner under ``/orgs/X``, ``/repos/X/Y`` or ``/enterprises/X``.

        The scope is created if unknown, since a runner cannot exist without one. The runner
        joins the scope's Default group unless ``runner_group_id`` names one of its groups
        (a repository's runners have only the Default group, id 1). It is listed last
        unless ``position`` says where (0: first, moving every later runner one place on,
        so each page's last runner becomes the next page's first).
        """
        spec = RunnerSpec(name, os, arch, status, busy, tuple(labels or ()), ephemeral)
        runner_id = self.add_runners(
            scope_path, [spec], runner_group_id=runner_group_id, version=version
        )[0]
        if position is not None:
            listed = self._runners[self._scope_key(scope_path, create=False)]
            listed.insert(position, listed.pop())
        return runner_id

    def add_runners(
        self,
        scope_path: str,
        specs: Iterable[RunnerSpec],
        *,
        runner_group_id: int | None = None,
        version: str | None = RUNNER_VERSION,
    ) -> list[int]:
        """:meth:`add_runner` for many runners at once, in order; their ids.

        Names are checked against a set built once, so seeding a 50,000-runner fleet takes
        linear time rather than comparing every name with every earlier one."""
        key = self._scope_key(scope_path, create=True)
        group = self._runner_group_for(key, runner_group_id)
        if group is None:
            raise ValueError(f"no runner group {runner_group_id} in {scope_path}")
        taken = {r.name.lower() for r in self._runners.setdefault(key, [])}
        ids = []
        for spec in specs:
            if spec.os not in _OS_NAMES:
                raise ValueError(f"os is one of {_OS_NAMES}")
            if spec.arch not in _ARCH_NAMES:
                raise ValueError(f"arch is one of {_ARCH_NAMES}")
            if spec.name.lower() in taken:
                raise ValueError(f"a runner named {spec.name} already exists in {scope_path}")
            taken.add(spec.name.lower())
            runner = self._new_runner(
                key,
                spec.name,
                os=spec.os,
                status=spec.status,
                busy=spec.busy,
                read_only=["self-hosted", spec.os, spec.arch],
                custom=list(spec.labels),
                runner_group_id=group[0],
                ephemeral=spec.ephemeral,
                version=version,
            )
            ids.append(runner.id)
        return ids

    def set_permissions(self, account: str, permissions: dict[str, str]) -> None:
        """Change an installation's permissions, as when an admin accepts new ones. Tokens
        minted before keep the permissions they were minted with, as on GitHub."""
        holder = self._accounts[account.lower()]
        for inst in self._installations.values():
            if inst.account is holder:
                inst.permissions = dict(permissions)

    def set_runner(
        self,
        scope_path: str,
        name: str,
        *,
        busy: bool | None = None,
        status: str | None = None,
        version: str | None = None,
    ) -> None:
        """Change a runner's state, as a job finishing or a machine going away would."""
        key = self._scope_key(scope_path, create=False)
        runner = next(r for r in self._runners.get(key, []) if r.name == name)
        if busy is not None:
            runner.busy = busy
        if status is not None:
            runner.status = status
        if version is not None:
            runner.version = version

    def remove_runner(self, scope_path: str, name: str) -> None:
        """Forget a runner: deleted elsewhere, or an ephemeral one after its job."""
        key = self._scope_key(scope_path, create=False)
        runner = next(r for r in self._runners.get(key, []) if r.name == name)
        self._runners[key].remove(runner)

    def runners(self, scope_path: str) -> list[dict[str, Any]]:
        """The runners of a scope as GitHub would list them."""
        key = self._scope_key(scope_path, create=False)
        return [self._runner_json(r) for r in self._runners.get(key, [])]

    def runner_groups(self, scope_path: str) -> list[dict[str, Any]]:
        """The runner groups ``GET {scope}/actions/runner-groups`` would list (an
        organization's include those its enterprise shares with it)."""
        key = self._group_scope(scope_path)
        base = self.api_base or API
        return [self._group_json(g, key, base) for g in self._visible_groups(key)]

    def add_job(
        self,
        owner: str,
        repo: str,
        *,
        labels: list[str],
        status: str = "queued",
        name: str = "build",
        workflow_name: str = "CI",
        run_id: int | None = None,
        run_attempt: int = 1,
        head_branch: str = "main",
        head_sha: str | None = None,
        created_at: float | None = None,
        runner: str | None = None,
        runner_scope: str | None = None,
        conclusion: str | None = None,
        workflow_path: str = ".github/workflows/ci.yml",
    ) -> dict[str, Any]:
        """A workflow job of ``owner/repo`` asking for ``labels`` (its ``runs-on``), in the
        workflow file ``workflow_path`` (what its run's ``path`` says).

        Created ``queued`` at ``created_at`` (default: the clock), then moved to ``status``
        as :meth:`set_job` would. Returns the job as ``GET .../actions/jobs/{id}`` shows it.
        """
        found = self._repos.get((owner.lower(), repo.lower()))
        if found is None:
            raise ValueError(f"no repository {owner}/{repo}: add_repo first")
        if run_id is None:
            run_id = self._next_run_id
            self._next_run_id += 1
        job = _Job(
            id=self._next_job_id,
            run_id=run_id,
            run_attempt=run_attempt,
            repo=found,
            name=name,
            workflow_name=workflow_name,
            labels=list(labels),
            status="queued",
            created_at=self.clock() if created_at is None else created_at,
            head_branch=head_branch,
            head_sha=head_sha or hashlib.sha256(str(self._next_job_id).encode()).hexdigest()[:40],
            workflow_path=workflow_path,
        )
        self._next_job_id += 1
        self._jobs[job.id] = job
        return self.set_job(
            job.id,
            status=status,
            runner=runner,
            runner_scope=runner_scope,
            conclusion=conclusion,
        )

    def set_job(
        self,
        job_id: int,
        *,
        status: str | None = None,
        conclusion: str | None = None,
        runner: str | None = None,
        runner_scope: str | None = None,
    ) -> dict[str, Any]:
        """Move a job along as GitHub would, and return it.

        ``in_progress`` assigns ``runner`` (by name; found in the repository, then its
        organization, then the organization's enterprise, unless ``runner_scope`` says
        where) and marks it busy; ``completed`` (conclusion ``success`` unless given)
        frees the runner, and an ephemeral runner is then removed, its one job done.
        """
        job = self._jobs[job_id]
        now = self.clock()
        if status is not None and status not in _JOB_STATUSES:
            raise ValueError(f"status is one of {_JOB_STATUSES}")
        if conclusion is not None and conclusion not in _JOB_CONCLUSIONS:
            raise ValueError(f"conclusion is one of {_JOB_CONCLUSIONS}")
        if runner is not None:
            key, found = self._job_runner(job, runner, runner_scope)
            group = self._runner_group_for(key, found.runner_group_id)
            job.runner_id, job.runner_name = found.id, found.name
            job.runner_group_id = found.runner_group_id
            job.runner_group_name = group[1] if group else DEFAULT_GROUP
        if status == "in_progress":
            job.status, job.started_at = status, now
            self._set_job_runner_busy(job, True)
        elif status == "completed":
            job.status, job.completed_at = status, now
            job.conclusion = conclusion or "success"
            self._set_job_runner_busy(job, False)
        elif status is not None:
            job.status = status
        return self.job(job_id)

    def forget_job(self, job_id: int) -> None:
        """GitHub no longer knows the job (its run deleted, or kept past retention): its
        GET answers 404, as GitHub's does."""
        del self._jobs[job_id]

    def remove_repo(self, owner: str, repo: str) -> None:
        """The repository is deleted: its endpoints, installation lookup included, answer
        404 (its jobs with it), as GitHub's do."""
        found = self._repos.pop((owner.lower(), repo.lower()))
        for job_id in [i for i, j in self._jobs.items() if j.repo is found]:
            del self._jobs[job_id]

    def job(self, job_id: int) -> dict[str, Any]:
        """A job as ``GET /repos/{owner}/{repo}/actions/jobs/{job_id}`` returns it."""
        return self._job_json(self._jobs[job_id], self.api_base or API)

    def workflow_job_payload(
        self, job_id: int, action: str | None = None, *, sender: str = "octocat"
    ) -> dict[str, Any]:
        """The ``workflow_job`` webhook body GitHub would send for the job now.

        ``action`` defaults to the job's status. Shaped like GitHub's published deliveries:
        ``repository`` (with ``private`` and ``visibility``), ``organization`` for an
        organization's repository, ``installation`` when the app is installed on it.
        Sign it and post it with :meth:`bot.sandbox.harness.Sandbox.deliver`.
        """
        job = self._jobs[job_id]
        action = action or job.status
        if action not in _JOB_STATUSES:
            raise ValueError(f"action is one of {_JOB_STATUSES}")
        base = self.api_base or API
        payload: dict[str, Any] = {
            "action": action,
            "workflow_job": self._job_json(job, base),
            "repository": job.repo.to_json(),
        }
        owner = job.repo.owner
        if owner.type == "Organization":
            payload["organization"] = _organization_json(owner)
        for inst in self._installations.values():
            if inst.covers(job.repo):
                node = base64.b64encode(f"Installation{inst.id}".encode()).decode()
                payload["installation"] = {"id": inst.id, "node_id": node}
        payload["sender"] = _Account(sender, 583231, "User").to_json()
        return payload

    # ------------------------------------------------------------ observation

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        return sum(
            1
            for rec in self.requests
            if rec.method == method.upper() and pattern.fullmatch(rec.path)
        )

    def rate_limit_used(self) -> int:
        """Requests counted against the primary rate limits so far, all buckets together.

        A 304 to a conditional request is not counted, as on GitHub."""
        return sum(bucket.used for bucket in self._buckets.values())

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
        query: dict[str, str | None] | None = None,
        side_effect: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        hold: asyncio.Event | None = None,
    ) -> None:
        """Disturb the next ``times`` matching requests (None: all of them).

        ``delay`` holds the answer; ``status`` (with ``body``, or ``raw`` bytes of
        ``content_type``) replaces it. With ``act_first`` the request is carried out before
        the fault strikes, as when GitHub acts and then fails or times out. ``trickle``
        sends the answer a byte at a time, that many seconds apart. ``query`` narrows the
        match (``{"page": "2"}``; ``{"page": None}``: a first page, asked for without
        ``page``); ``side_effect`` runs as the request arrives, ``after`` once its answer is
        made and before it is sent (a runner registering between two pages of a listing: the
        pages asked for after this one see it). ``hold`` keeps the answer back until the
        event is set (another page's ``after`` can set it: pages answered out of order).
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
                after,
                hold,
            )
        )

    def account_logins(self) -> list[str]:
        """Every account (organization or user) the double knows, as GitHub spells it."""
        return [account.login for account in self._accounts.values()]

    def installations(self) -> list[dict[str, Any]]:
        """Every installation as ``GET /app/installations`` lists it (an ``installation``
        webhook carries the same object)."""
        base = self.api_base or API
        return [self._installation_json(i, base) for i in self._installations.values()]

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

    def _group_scope(self, scope_path: str) -> tuple[str, ...]:
        """The key of an organization or enterprise that may hold runner groups."""
        key = self._scope_key(scope_path, create=True)
        if key[0] == "repo":
            raise ValueError("runner groups belong to organizations and enterprises")
        return key

    def _scope_groups(self, key: tuple[str, ...]) -> list[_Group]:
        """The groups a scope owns, starting with its Default group (created on first use).

        Every organization's Default group has id 1 (GitHub's documented default); an
        enterprise's gets an id of its own so that it stays distinct where it is shared.
        """
        groups = self._groups.get(key)
        if groups is None:
            if key[0] == "org":
                group_id = 1
            else:
                group_id = self._next_group_id
                self._next_group_id += 1
            groups = self._groups[key] = [_Group(group_id, key, DEFAULT_GROUP, "all", True)]
        return groups

    def _shared_groups(self, org_key: tuple[str, ...]) -> list[_Group]:
        """The groups an organization inherits from its enterprise."""
        slug = self._enterprise_of.get(org_key[1])
        if slug is None:
            return []
        return [
            g
            for g in self._scope_groups(("enterprise", slug))
            if g.visibility == "all" or org_key[1] in g.selected
        ]

    def _visible_groups(self, key: tuple[str, ...]) -> list[_Group]:
        """What ``GET {scope}/actions/runner-groups`` lists, by id."""
        groups = list(self._scope_groups(key))
        if key[0] == "org":
            groups += self._shared_groups(key)
        return sorted(groups, key=lambda g: g.id)

    def _runner_group_for(
        self, key: tuple[str, ...], group_id: int | None
    ) -> tuple[int, str] | None:
        """(id, name) of the group a runner of ``key`` may join (None: the Default one)."""
        if key[0] == "repo":
            return (1, DEFAULT_GROUP) if group_id in (None, 1) else None
        for group in self._scope_groups(key):
            if group.id == group_id or (group_id is None and group.default):
                return group.id, group.name
        return None

    def _group_admits(self, group: _Group, org_key: tuple[str, ...], repo: _Repo) -> bool:
        """Whether a repository of the organization may use the group (GitHub's rules)."""
        if not repo.private and not group.allows_public_repositories:
            return False
        if group.owner != org_key:  # shared by the enterprise: every repository of the org
            return True
        if group.visibility == "selected":
            return repo.name.lower() in group.selected
        if group.visibility == "private":
            return repo.private
        return True

    def _new_runner(
        self,
        key: tuple[str, ...],
        name: str,
        *,
        os: str,
        status: str,
        busy: bool,
        read_only: list[str],
        custom: list[str],
        runner_group_id: int,
        ephemeral: bool,
        version: str | None,
    ) -> _Runner:
        runner = _Runner(
            id=self._next_runner_id,
            name=name,
            os=os,
            status=status,
            busy=busy,
            labels=[],
            runner_group_id=runner_group_id,
            ephemeral=ephemeral,
            version=version,
            read_only=read_only,
        )
        self._add_custom_labels(runner, custom)
        self._next_runner_id += 1
        self._runners.setdefault(key, []).append(runner)
        return runner

    def _add_custom_labels(self, runner: _Runner, names: list[str]) -> None:
        """Add labels the runner lacks (GitHub compares label names case-insensitively)."""
        for name in names:
            have = {n.lower() for n in runner.read_only + runner.labels}
            if name.lower() not in have:
                self._custom_label_ids.setdefault(name.lower(), 100 + len(self._custom_label_ids))
                runner.labels.append(name)

    def _runner_labels(self, runner: _Runner) -> list[dict[str, Any]]:
        labels = [
            {"id": _READ_ONLY_LABEL_IDS[name], "name": name, "type": "read-only"}
            for name in runner.read_only
        ]
        labels += [
            {"id": self._custom_label_ids[name.lower()], "name": name, "type": "custom"}
            for name in runner.labels
        ]
        return labels

    def _group_json(self, group: _Group, viewer: tuple[str, ...], base: str) -> dict[str, Any]:
        """A group as ``viewer`` (the organization or enterprise asking) is shown it."""
        path = f"/orgs/{viewer[1]}" if viewer[0] == "org" else f"/enterprises/{viewer[1]}"
        url = f"{base}{path}/actions/runner-groups/{group.id}"
        inherited = group.owner != viewer
        visibility = "all" if inherited else group.visibility
        data: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "visibility": visibility,
            "default": group.default and not inherited,
            "runners_url": f"{url}/runners",
        }
        if not self.prefix:  # GitHub Enterprise Server has no hosted runners
            data["hosted_runners_url"] = f"{url}/hosted-runners"
        if viewer[0] == "org":
            data["inherited"] = inherited
            if inherited:
                data["inherited_allows_public_repositories"] = group.allows_public_repositories
            if visibility == "selected":
                data["selected_repositories_url"] = f"{url}/repositories"
        elif visibility == "selected":
            data["selected_organizations_url"] = f"{url}/organizations"
        data |= {
            "allows_public_repositories": group.allows_public_repositories,
            "restricted_to_workflows": group.restricted_to_workflows,
            "selected_workflows": list(group.selected_workflows),
            "workflow_restrictions_read_only": inherited,
        }
        return data

    def _job_runner(
        self, job: _Job, name: str, scope_path: str | None
    ) -> tuple[tuple[str, ...], _Runner]:
        """The runner called ``name`` that could have taken the job, and its scope key."""
        if scope_path is not None:
            keys = [self._scope_key(scope_path, create=False)]
        else:
            org = job.repo.owner.login.lower()
            keys = [("repo", org, job.repo.name.lower()), ("org", org)]
            if org in self._enterprise_of:
                keys.append(("enterprise", self._enterprise_of[org]))
        for key in keys:
            for runner in self._runners.get(key, []):
                if runner.name == name:
                    return key, runner
        raise ValueError(f"no runner named {name} for {job.repo.owner.login}/{job.repo.name}")

    def _set_job_runner_busy(self, job: _Job, busy: bool) -> None:
        for runners in self._runners.values():
            for runner in list(runners):
                if runner.id == job.runner_id:
                    runner.busy = busy
                    if not busy and runner.ephemeral:
                        runners.remove(runner)
                    return

    def _job_json(self, job: _Job, base: str) -> dict[str, Any]:
        """GitHub's ``job`` shape (the REST answer and the webhook's ``workflow_job``)."""
        full = f"{job.repo.owner.login}/{job.repo.name}"
        api = f"{base}/repos/{full}"
        steps: list[dict[str, Any]] = []
        if job.started_at is not None:
            done = job.status == "completed"
            step_conclusion = (
                job.conclusion if job.conclusion in ("failure", "cancelled") else ("success")
            )
            steps.append(
                {
                    "name": "Set up job",
                    "status": "completed" if done else "in_progress",
                    "conclusion": step_conclusion if done else None,
                    "number": 1,
                    "started_at": _iso_z(job.started_at),
                    "completed_at": _iso_z(job.completed_at) if job.completed_at else None,
                }
            )
        node = base64.b64encode(f"CheckRun{job.id}".encode()).decode()
        return {
            "id": job.id,
            "run_id": job.run_id,
            "workflow_name": job.workflow_name,
            "head_branch": job.head_branch,
            "run_url": f"{api}/actions/runs/{job.run_id}",
            "run_attempt": job.run_attempt,
            "node_id": node,
            "head_sha": job.head_sha,
            "url": f"{api}/actions/jobs/{job.id}",
            "html_url": f"{self.web_url}/{full}/actions/runs/{job.run_id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": _iso_z(job.created_at),
            # GitHub fills started_at with created_at until a runner starts the job.
            "started_at": _iso_z(job.started_at or job.created_at),
            "completed_at": _iso_z(job.completed_at) if job.completed_at else None,
            "name": job.name,
            "steps": steps,
            "check_run_url": f"{api}/check-runs/{job.id}",
            "labels": list(job.labels),
            "runner_id": job.runner_id,
            "runner_name": job.runner_name,
            "runner_group_id": job.runner_group_id,
            "runner_group_name": job.runner_group_name,
        }

    def _runner_json(self, runner: _Runner) -> dict[str, Any]:
        labels = self._runner_labels(runner)
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
            # As GitHub links an installation's settings: an organization's under its own
            # settings, a user's under theirs.
            "html_url": (
                f"{self.web_url}/organizations/{inst.account.login}/settings/installations/{inst.id}"
                if inst.account.type == "Organization"
                else f"{self.web_url}/settings/installations/{inst.id}"
            ),
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
            if fault.hold is not None:
                await fault.hold.wait()
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
        form = _NEW_APP_FORM.fullmatch(raw_path)
        if form is not None and method == "POST":
            web = RecordedRequest(method, raw_path, query, "web")
            self.requests.append(web)
            answer = await self._new_app_form(request, form.group("org"))
            web.status = answer.status_code
            return answer
        auth = self._classify(request.headers.get("authorization"))
        inside = not self.prefix or raw_path.startswith(self.prefix + "/")
        path = raw_path[len(self.prefix) :] if inside else raw_path
        record = RecordedRequest(method, path, query, auth.kind)
        if auth.token is not None:
            record.installation = auth.token.installation.id
        self.requests.append(record)
        record.status = 500  # replaced below unless the handler crashes
        base = self.api_base or str(request.base_url).rstrip("/") + self.prefix
        kind, bucket = self._bucket(auth)
        late: list[_Fault] = []
        faults: list[_Fault] = []

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
        for fault in faults:
            if fault.after is not None:
                fault.after()

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

    # ------------------------------------------------------ the manifest flow

    async def _new_app_form(self, request: Request, org: str | None) -> Response:
        """GitHub's new-App page for a posted manifest: a confirmation with a "Create GitHub
        App" button, whose submission creates a one-hour code and sends the browser to the
        manifest's ``redirect_url`` with it and the ``state`` it was given."""
        body = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        if org is not None:
            owner = self._accounts.get(unquote(org).lower())
            if owner is None or owner.type != "Organization":
                return _web_page(404, "Not Found", "<p>This organization does not exist.</p>")
        else:
            owner = self._account(self.manifest_user, "User")
        try:
            manifest = json.loads(form.get("manifest", ""))
        except ValueError:
            manifest = None
        problems = _manifest_problems(manifest)
        if problems or not isinstance(manifest, dict):
            items = "".join(f"<li>{escape(p)}</li>" for p in problems)
            return _web_page(422, "Invalid GitHub App manifest", f"<ul>{items}</ul>")
        name = str(manifest.get("name") or "")
        if any(app["name"].lower() == name.lower() for app in self.manifest_apps) or any(
            c.manifest.get("name", "").lower() == name.lower()
            for c in self._manifest_codes.values()
        ):
            return _web_page(422, "Name has already been taken", f"<p>{escape(name)}</p>")
        # GitHub's docs put state in the form's action URL; a form field works as well.
        state = dict(parse_qsl(request.url.query)).get("state") or form.get("state", "")
        if form.get("confirm") != "1":
            hidden = "".join(
                f'<input type="hidden" name="{k}" value="{escape(v)}">'
                for k, v in (("manifest", form["manifest"]), ("state", state), ("confirm", "1"))
            )
            permissions = "".join(
                f"<li>{escape(k)}: {escape(str(v))}</li>"
                for k, v in (manifest.get("default_permissions") or {}).items()
            )
            return _web_page(
                200,
                f"Create GitHub App for {owner.login}",
                f"<p>GitHub App name: <strong id=app-name>{escape(name)}</strong></p>"
                "<p>Where can this GitHub App be installed? <strong id=app-public>"
                f"{'Any account' if manifest.get('public') is True else 'Only on this account'}"
                "</strong></p>"
                f"<p>Webhook: {escape(str(manifest['hook_attributes'].get('url')))}</p>"
                f"<ul>{permissions}</ul>"
                f'<form method="post">{hidden}<button type="submit">Create GitHub App</button>'
                "</form>",
            )
        code = secrets.token_hex(10)
        self._manifest_codes[code] = _ManifestCode(
            manifest, owner, self.clock() + MANIFEST_CODE_TTL
        )
        query = {"code": code, **({"state": state} if state else {})}
        redirect = str(manifest["redirect_url"])
        joiner = "&" if "?" in redirect else "?"
        return RedirectResponse(redirect + joiner + urlencode(query), status_code=302)

    async def _convert_manifest(self, ctx: _Ctx) -> _Result:
        """``POST /app-manifests/{code}/conversions``: the App, with the only copy of its
        private key and webhook secret. Unauthenticated; a code works once, for an hour."""
        pending = self._manifest_codes.pop(ctx.params["code"], None)
        if pending is None or pending.expires <= self.clock():
            raise _error(404)
        manifest = pending.manifest
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as GitHub hands App keys out
            serialization.NoEncryption(),
        ).decode()
        app_id = self._next_manifest_app_id
        self._next_manifest_app_id += 1
        name = str(manifest.get("name") or f"app-{app_id}")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or f"app-{app_id}"
        now = _iso_z(self.clock())
        app = {
            "id": app_id,
            "slug": slug,
            "node_id": f"MDM6QXBw{app_id}",
            "owner": pending.owner.to_json(),
            "name": name,
            "description": manifest.get("description") or "",
            "external_url": manifest["url"],
            "html_url": f"{self.web_url}/apps/{slug}",
            "created_at": now,
            "updated_at": now,
            "permissions": dict(manifest.get("default_permissions") or {}),
            "events": list(manifest.get("default_events") or []),
            "installations_count": 0,
            "client_id": "Iv1." + secrets.token_hex(8),
            "client_secret": secrets.token_hex(20),
            "webhook_secret": secrets.token_hex(20),
            "pem": pem,
        }
        self.manifest_apps.append(app)
        self.manifest_public[app_id] = manifest.get("public") is True
        return _Result(201, app)

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
                "owner": self._owner_json(),
            },
        )

    def _owner_json(self) -> dict[str, Any]:
        """The App's owner as GitHub shows it: an account already known keeps its type."""
        known = self._accounts.get(self.app_owner.lower())
        return (known or _Account(self.app_owner, 583231, "User")).to_json()

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
            filename = f"actions-runner-{os_name}-{arch}-{self.runner_version}.{ext}"
            items.append(
                {
                    "os": os_name,
                    "architecture": arch,
                    "download_url": "https://github.com/actions/runner/releases/download/"
                    f"v{self.runner_version}/{filename}",
                    "filename": filename,
                    "sha256_checksum": hashlib.sha256(filename.encode()).hexdigest(),
                }
            )
        return _Result(200, items)

    async def _deprecation(self, ctx: _Ctx) -> _Result:
        self._authorize_scope(ctx, write=False)
        version = ctx.params["version"]
        dates = self.runner_deprecations.get(version)
        if dates is None:
            raise _error(404)
        return _Result(200, {"runner_version": version, **dates})

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

    # ------------------------------------------------------------ runner labels

    @staticmethod
    async def _json_object(ctx: _Ctx) -> dict[str, Any]:
        raw = await ctx.request.body()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise _error(400, "Problems parsing JSON") from None
        if not isinstance(data, dict):
            raise _error(400, "Body should be a JSON object")
        return data

    @staticmethod
    def _label_names(body: dict[str, Any], *, minimum: int, documentation_url: str) -> list[str]:
        """``labels`` of a request body, checked as GitHub's request schema checks it."""
        if "labels" not in body:
            raise _error(422, _MISSING_KEY.format(key="labels"), documentation_url)
        names = body["labels"]
        if not isinstance(names, list):
            message = _WRONG_TYPE.format(key="labels", value=_ruby(names), kind="an array")
            raise _error(422, message, documentation_url)
        for name in names:
            if not isinstance(name, str):
                raise _error(422, _WRONG_ITEM.format(value=_ruby(name)), documentation_url)
        if len(names) > MAX_LABELS:
            message = _TOO_MANY.format(limit=MAX_LABELS, count=len(names))
            raise _error(422, message, documentation_url)
        if len(names) < minimum:
            message = _TOO_FEW.format(minimum=minimum, count=len(names))
            raise _error(422, message, documentation_url)
        return names

    def _labels_result(self, runner: _Runner, *, read_only_only: bool = False) -> _Result:
        labels = self._runner_labels(runner)
        if read_only_only:
            labels = [label for label in labels if label["type"] == "read-only"]
        return _Result(200, {"total_count": len(labels), "labels": labels})

    @staticmethod
    def _docs(operation: str, key: tuple[str, ...]) -> str:
        return f"{RUNNER_DOCS_URL}#{operation}-{_DELETE_ANCHORS[key[0]]}"

    async def _list_labels(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        return self._labels_result(self._find_runner(key, ctx.params["rid"]))

    async def _add_labels(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        runner = self._find_runner(key, ctx.params["rid"])
        docs = self._docs("add-custom-labels-to-a-self-hosted-runner-for", key)
        names = self._label_names(await self._json_object(ctx), minimum=1, documentation_url=docs)
        self._add_custom_labels(runner, names)
        return self._labels_result(runner)

    async def _set_labels(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        runner = self._find_runner(key, ctx.params["rid"])
        docs = self._docs("set-custom-labels-for-a-self-hosted-runner-for", key)
        names = self._label_names(await self._json_object(ctx), minimum=0, documentation_url=docs)
        runner.labels = []
        self._add_custom_labels(runner, names)
        return self._labels_result(runner)

    async def _clear_labels(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        runner = self._find_runner(key, ctx.params["rid"])
        runner.labels = []
        return self._labels_result(runner, read_only_only=True)

    async def _remove_label(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        runner = self._find_runner(key, ctx.params["rid"])
        name = ctx.params["label"]
        if name.lower() in {n.lower() for n in runner.read_only}:
            raise _error(
                422,
                _READ_ONLY_LABEL.format(name=name),
                self._docs("remove-a-custom-label-from-a-self-hosted-runner-for", key),
            )
        found = next((n for n in runner.labels if n.lower() == name.lower()), None)
        if found is None:
            raise _error(404)
        runner.labels.remove(found)
        return self._labels_result(runner)

    # ------------------------------------------------------------ JIT runners

    async def _generate_jitconfig(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=True)
        docs = self._docs("create-configuration-for-a-just-in-time-runner-for", key)
        body = await self._json_object(ctx)
        for required in ("name", "runner_group_id", "labels"):
            if required not in body:
                raise _error(422, _MISSING_KEY.format(key=required), docs)
        name, group_id = body["name"], body["runner_group_id"]
        work_folder = body.get("work_folder", "_work")
        for field_name, value, kind, ok in (
            ("name", name, "a string", isinstance(name, str)),
            ("runner_group_id", group_id, "an integer", _is_int(group_id)),
            ("work_folder", work_folder, "a string", isinstance(work_folder, str)),
        ):
            if not ok:
                message = _WRONG_TYPE.format(key=field_name, value=_ruby(value), kind=kind)
                raise _error(422, message, docs)
        names = self._label_names(body, minimum=1, documentation_url=docs)
        group = self._runner_group_for(key, group_id)
        if group is None:
            raise _error(422, f"No runner group found with identifier {group_id}.", docs)
        if any(r.name.lower() == name.lower() for r in self._runners.get(key, [])):
            raise _error(409, f"Already exists - A runner with the name {name} already exists.")
        read_only: list[str] = []
        custom: list[str] = []
        for label in names:  # the names GitHub gives runners stay read-only
            system = _SYSTEM_LABELS.get(label.lower())
            if system is None:
                custom.append(label)
            elif system not in read_only:
                read_only.append(system)
        runner = self._new_runner(
            key,
            name,
            os="unknown",
            status="offline",
            busy=False,
            read_only=read_only,
            custom=custom,
            runner_group_id=group[0],
            ephemeral=True,
            version=None,
        )
        encoded = self._encode_jit_config(key, runner, group, work_folder)
        self.issued_jit_configs.append(encoded)
        return _Result(201, {"runner": self._runner_json(runner), "encoded_jit_config": encoded})

    def _encode_jit_config(
        self, key: tuple[str, ...], runner: _Runner, group: tuple[int, str], work_folder: str
    ) -> str:
        """A config shaped like the runner's ``.runner``/``.credentials`` files, base64'd:
        it carries a fresh secret, so like GitHub's it is a credential."""

        def b64(data: dict[str, Any]) -> str:
            return base64.b64encode(json.dumps(data).encode()).decode()

        where = {"enterprise": "enterprises/" + key[1], "org": key[1]}.get(
            key[0], "/".join(key[1:])
        )
        config = {
            ".runner": b64(
                {
                    "AgentId": str(runner.id),
                    "AgentName": runner.name,
                    "PoolId": str(group[0]),
                    "PoolName": group[1],
                    "ServerUrl": "https://pipelines.actions.githubusercontent.com/"
                    + _random(_TOKEN_ALPHABET, 40),
                    "GitHubUrl": f"{self.web_url}/{where}",
                    "WorkFolder": work_folder,
                    "Ephemeral": "true",
                }
            ),
            ".credentials": b64(
                {
                    "Scheme": "OAuth",
                    "Data": {
                        "clientId": secrets.token_hex(16),
                        "authorizationUrl": "https://vstoken.actions.githubusercontent.com/"
                        "_apis/oauth2/token/" + secrets.token_hex(16),
                    },
                }
            ),
            ".credentials_rsaparams": b64({"d": secrets.token_urlsafe(96)}),
        }
        return b64(config)

    # ------------------------------------------------------------ runner groups

    def _group_by_id(self, key: tuple[str, ...], raw_id: str) -> _Group:
        if raw_id.isdigit():
            for group in self._visible_groups(key):
                if group.id == int(raw_id):
                    return group
        raise _error(404)

    async def _list_groups(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        groups = self._visible_groups(key)
        if key[0] == "org" and "visible_to_repository" in ctx.query:
            name = ctx.query["visible_to_repository"]
            owner, _, name = name.rpartition("/")
            repo = self._repos.get((key[1], name.lower()))
            if repo is None or (owner and owner.lower() != key[1]):
                groups = []
            else:
                groups = [g for g in groups if self._group_admits(g, key, repo)]
        if key[0] == "enterprise" and "visible_to_organization" in ctx.query:
            org = ctx.query["visible_to_organization"].lower()
            groups = [
                g
                for g in groups
                if self._enterprise_of.get(org) == key[1]
                and (g.visibility == "all" or org in g.selected)
            ]
        page, headers = self._paginate(ctx, groups)
        body = {
            "total_count": len(groups),
            "runner_groups": [self._group_json(g, key, ctx.base) for g in page],
        }
        return _Result(200, body, headers)

    async def _get_group(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        group = self._group_by_id(key, ctx.params["gid"])
        return _Result(200, self._group_json(group, key, ctx.base))

    async def _group_runners(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        group = self._group_by_id(key, ctx.params["gid"])
        runners = [r for r in self._runners.get(group.owner, []) if r.runner_group_id == group.id]
        page, headers = self._paginate(ctx, runners)
        body = {"total_count": len(runners), "runners": [self._runner_json(r) for r in page]}
        return _Result(200, body, headers)

    async def _group_repositories(self, ctx: _Ctx) -> _Result:
        key = self._authorize_scope(ctx, write=False)
        group = self._group_by_id(key, ctx.params["gid"])
        repos: list[_Repo] = []
        if group.owner == key and group.visibility == "selected":
            found = (self._repos.get((key[1], name)) for name in group.selected)
            repos = [r for r in found if r is not None]
        page, headers = self._paginate(ctx, repos)
        body = {"total_count": len(repos), "repositories": [r.to_json() for r in page]}
        return _Result(200, body, headers)

    def _own_group(self, key: tuple[str, ...], raw_id: str) -> _Group:
        """A group the organization owns (one its enterprise shares is changed there)."""
        group = self._group_by_id(key, raw_id)
        if group.owner != key:
            raise _error(404)
        return group

    async def _add_group_repository(self, ctx: _Ctx) -> _Result:
        """``PUT .../runner-groups/{id}/repositories/{repository_id}``: 204, also for a
        repository in already; the group must admit ``selected`` repositories."""
        key = self._authorize_scope(ctx, write=True)
        group = self._own_group(key, ctx.params["gid"])
        raw = ctx.params["rid"]
        repo = next(
            (
                r
                for (owner, _), r in self._repos.items()
                if owner == key[1] and raw.isdigit() and r.id == int(raw)
            ),
            None,
        )
        if repo is None:
            raise _error(404)
        if group.visibility != "selected":
            docs = f"{DOCS_URL}/actions/self-hosted-runner-groups"
            raise _error(422, "The runner group's visibility must be set to selected.", docs)
        if repo.name.lower() not in group.selected:
            group.selected.append(repo.name.lower())
        return _Result(204)

    async def _update_group(self, ctx: _Ctx) -> _Result:
        """``PATCH .../runner-groups/{id}``: ``name`` required (the spec's schema); the
        other settings given are changed; 200 with the group."""
        key = self._authorize_scope(ctx, write=True)
        group = self._own_group(key, ctx.params["gid"])
        body = await self._json_object(ctx)
        docs = f"{DOCS_URL}/actions/self-hosted-runner-groups"
        if "name" not in body:
            raise _error(422, _MISSING_KEY.format(key="name"), docs)
        kinds = {
            "name": (str, "a string"),
            "visibility": (str, "a string"),
            "allows_public_repositories": (bool, "a boolean"),
            "restricted_to_workflows": (bool, "a boolean"),
            "selected_workflows": (list, "an array"),
        }
        for name, (kind, said) in kinds.items():
            if name in body and not isinstance(body[name], kind):
                message = _WRONG_TYPE.format(key=name, value=_ruby(body[name]), kind=said)
                raise _error(422, message, docs)
        if body.get("visibility", group.visibility) not in _ORG_VISIBILITIES:
            raise _error(422, f"Invalid visibility: {body['visibility']}", docs)
        group.name = body["name"]
        group.visibility = body.get("visibility", group.visibility)
        group.allows_public_repositories = body.get(
            "allows_public_repositories", group.allows_public_repositories
        )
        group.restricted_to_workflows = body.get(
            "restricted_to_workflows", group.restricted_to_workflows
        )
        if "selected_workflows" in body:
            group.selected_workflows = [str(w) for w in body["selected_workflows"]]
        return _Result(200, self._group_json(group, key, ctx.base))

    async def _get_repo(self, ctx: _Ctx) -> _Result:
        """``GET /repos/{owner}/{repo}``: a public repository to anyone, a private one to
        an installation that covers it; 404 otherwise, as GitHub hides what it will not show."""
        repo = self._repos.get((ctx.params["owner"].lower(), ctx.params["repo"].lower()))
        auth = ctx.auth
        if auth.kind == "installation" and not self._token_valid(auth.token):
            raise _error(401)
        covered = auth.token is not None and auth.token.covers(repo) if repo else False
        if repo is None or (repo.private and not covered):
            raise _error(404)
        # The full repository adds its network's counts to the short shape.
        return _Result(200, repo.to_json() | {"network_count": 0, "subscribers_count": 0})

    # ------------------------------------------------------------ workflow jobs

    async def _get_job(self, ctx: _Ctx) -> _Result:
        repo = self._authorize_job_read(ctx)
        raw = ctx.params["jid"]
        job = self._jobs.get(int(raw)) if raw.isdigit() else None
        if job is None or job.repo is not repo:
            raise _error(404)
        return _Result(200, self._job_json(job, ctx.base))

    async def _get_run(self, ctx: _Ctx) -> _Result:
        repo = self._authorize_job_read(ctx)
        raw = ctx.params["run"]
        run_id = int(raw) if raw.isdigit() else None
        jobs = [j for j in self._jobs.values() if j.run_id == run_id and j.repo is repo]
        if not jobs:
            raise _error(404)
        return _Result(200, self._run_json(jobs, ctx.base))

    def _run_json(self, jobs: list[_Job], base: str) -> dict[str, Any]:
        """GitHub's ``workflow-run`` shape for the run holding ``jobs``."""
        first = min(jobs, key=lambda j: j.created_at)
        full = f"{first.repo.owner.login}/{first.repo.name}"
        api = f"{base}/repos/{full}"
        url = f"{api}/actions/runs/{first.run_id}"
        statuses = {j.status for j in jobs}
        if statuses == {"completed"}:
            status = "completed"
            failed = any(j.conclusion not in ("success", "skipped", "neutral") for j in jobs)
            conclusion: str | None = "failure" if failed else "success"
        else:
            status = "in_progress" if "in_progress" in statuses else first.status
            conclusion = None
        workflow_id = int(hashlib.sha256(first.workflow_path.encode()).hexdigest()[:7], 16)
        created = _iso_z(first.created_at)
        updated = _iso_z(max(j.completed_at or j.started_at or j.created_at for j in jobs))
        author = {"name": "Monalisa Octocat", "email": "octocat@github.com"}
        repository = first.repo.to_json()
        return {
            "id": first.run_id,
            "name": first.workflow_name,
            "node_id": base64.b64encode(f"WorkflowRun{first.run_id}".encode()).decode(),
            "check_suite_id": first.run_id,
            "head_branch": first.head_branch,
            "head_sha": first.head_sha,
            "path": first.workflow_path,
            "display_title": first.workflow_name,
            "run_number": first.run_id % 100_000,
            "run_attempt": first.run_attempt,
            "event": "push",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": workflow_id,
            "url": url,
            "html_url": f"{self.web_url}/{full}/actions/runs/{first.run_id}",
            "pull_requests": [],
            "created_at": created,
            "updated_at": updated,
            "run_started_at": created,
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{api}/check-suites/{first.run_id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "workflow_url": f"{api}/actions/workflows/{workflow_id}",
            "head_commit": {
                "id": first.head_sha,
                "tree_id": hashlib.sha256(first.head_sha.encode()).hexdigest()[:40],
                "message": "Update the workflow",
                "timestamp": created,
                "author": author,
                "committer": author,
            },
            "repository": repository,
            "head_repository": repository,
        }

    def _authorize_job_read(self, ctx: _Ctx) -> _Repo:
        """Anyone may read a public repository's jobs; a private one's need an installation
        token that covers it with the "Actions" (read) permission."""
        auth = ctx.auth
        token_ok = auth.kind == "installation" and self._token_valid(auth.token)
        if auth.kind in ("invalid", "jwt") or (auth.kind == "installation" and not token_ok):
            raise _error(401)
        repo = self._repos.get((ctx.params["owner"].lower(), ctx.params["repo"].lower()))
        if repo is None:
            raise _error(404)
        if not repo.private:
            return repo
        if not token_ok or auth.token is None or not auth.token.covers(repo):
            raise _error(404)
        if _LEVELS.get(auth.token.permissions.get("actions", ""), 0) < _LEVELS["read"]:
            raise _error(403, _NOT_ACCESSIBLE)
        return repo
