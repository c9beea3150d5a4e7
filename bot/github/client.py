"""GitHub transport: credentials, caching, retries and error mapping.

Organization and repository calls run as the GitHub App: gidgethub signs the app JWT,
finds the installation and mints its access token, which is cached until shortly before
its ``expires_at``. Enterprise calls use the classic PAT, since GitHub refuses App tokens
on enterprise runner endpoints. Every failure leaves as a :mod:`bot.errors` exception that
names what the user can do, and never carries a credential.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import re
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
import cachetools
import gidgethub
import gidgethub.aiohttp
import yarl
from gidgethub import apps, sansio

from bot import errors
from bot.github.models import RunnerToken, Unreadable
from bot.observe.logs import github_request_made
from bot.redact import redact
from bot.targets import Scope, Target

log = logging.getLogger(__name__)
T = TypeVar("T")
# What a user's request may well meet (a typo, a busy runner): said at INFO, not WARNING.
_EXPECTED = (
    errors.NotFound,
    errors.NotInstalled,
    errors.RunnerNotFound,
    errors.RunnerBusy,
    errors.Unprocessable,
    errors.Conflict,
)

ACCEPT = "application/vnd.github+json, application/json"
API_VERSION = "2022-11-28"
REQUESTER = "runnerops"
# How long the App's owner (GET /app), the default account served, is trusted.
OWNER_TTL = 3600.0
# After GET /app failed, how long before it is asked again (each webhook would else wait).
OWNER_RETRY = 30.0
# Mint a new installation token this long before GitHub's expires_at.
TOKEN_MARGIN = 300.0
# GitHub's secondary limits allow at most 100 concurrent requests per client.
MAX_CONCURRENT = 100
# Pages of one listing fetched at once after the first. GitHub asks integrators to avoid
# bursts of concurrent requests (secondary limits: 100 concurrent, 900 points a minute per
# endpoint): ten keeps a 100-page fleet well inside both, and with a 50 ms GitHub the
# 99 remaining pages take ~0.5 s instead of ~5 s.
PAGE_CONCURRENCY = 10
PER_PAGE = 100
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECTS = {301, 302, 307, 308}
MAX_REDIRECTS = 3
# The ETag store's bound, in compressed bytes: a runner costs ~40 there, so this holds the
# pages of a few fleets of 50,000.
ETAG_CACHE_BYTES = 32 * 1024 * 1024
# GETs that meet a 5xx are retried this many times in all, with exponential backoff.
GET_ATTEMPTS = 3
# A rate-limit wait shorter than this is waited out; a longer one becomes a reply.
MAX_RATE_LIMIT_WAIT = 10.0

PERMISSION_BY_SCOPE = {
    Scope.ORG: "organization permission “Self-hosted runners” (read and write)",
    Scope.REPO: "repository permission “Administration” (read and write)",
    Scope.ENTERPRISE: "the classic token scope `manage_runners:enterprise`",
}


# Reads a page's items into models: (the readable ones, how many could not be read).
Reader = Callable[[list[Any]], tuple[list[Any], int]]
# (method, status, headers, credential): every answer GitHub gives, for the metrics.
Observer = Callable[[str, int, Mapping[str, str], str], None]
# Which credential the current request runs with ("installation 42", "enterprise token").
_credential: contextvars.ContextVar[str] = contextvars.ContextVar("credential", default="app")
# Who pays for the answers to the current task's requests, told each answer's status: the
# watch's poll budget sets it around its polling, so that what GitHub charges to the
# installation's (or enterprise token's) limit, every answer but a 304, counts against its
# share. Tasks started meanwhile (the pages of a
# listing, a shared GET) inherit it.
charged_to: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "charged_to", default=None
)


class OffOrigin(Exception):
    """A URL outside the configured API base: credentials are never sent there."""


class CachedBody:
    """A GET answer kept for its ETag, as compressed JSON: about 40 bytes a runner instead of
    the ~2 KB its parsed dicts take, so the pages of a 50,000-runner fleet cost a few MB
    rather than a hundred. Decoded only when GitHub answers 304."""

    __slots__ = ("packed",)

    def __init__(self, data: Any) -> None:
        self.packed = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)

    def decode(self) -> Any:
        return json.loads(zlib.decompress(self.packed))


ETagEntry = tuple[str | None, str | None, Any, str | None]  # gidgethub's cache entry


class ETagCache(MutableMapping[str, ETagEntry]):
    """gidgethub's cache of GET answers (ETag, Last-Modified, body, next page), bounded by
    bytes, with each body kept as a :class:`CachedBody`. gidgethub reads an entry before
    every GET for its ETag but returns the body only on a 304, which
    :meth:`RunnerOpsAPI._make_request` decodes: a changed page is never decoded twice."""

    def __init__(self, max_bytes: int = ETAG_CACHE_BYTES) -> None:
        self._entries: cachetools.LRUCache[str, ETagEntry] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: len(entry[2].packed) + 200
        )

    def __getitem__(self, url: str) -> ETagEntry:
        return self._entries[url]

    def __setitem__(self, url: str, entry: ETagEntry) -> None:
        etag, last_modified, data, more = entry
        try:
            self._entries[url] = (etag, last_modified, CachedBody(data), more)
        except ValueError:  # one answer larger than the whole store: not kept
            self._entries.pop(url, None)

    def __delitem__(self, url: str) -> None:
        del self._entries[url]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class _Installation:
    __slots__ = ("expires_at", "token")

    def __init__(self, token: str, expires_at: float) -> None:
        self.token = token
        self.expires_at = expires_at


class RunnerOpsAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp client with our transport rules.

    - Every request stays on the API base URL: a ``Link`` header or any URL pointing
      elsewhere is refused before a credential leaves the process.
    - GETs answered 5xx are retried with backoff; POST and DELETE never are, since
      GitHub may have acted before failing.
    - Rate limits (403/429 with ``retry-after`` or ``x-ratelimit-remaining: 0``) are
      waited out when the wait is short, else left to become a reply.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        app_id: str,
        private_key: str,
        cache: MutableMapping[str, ETagEntry],
        backoff: float,
        deadline: float,
        max_rate_wait: float = MAX_RATE_LIMIT_WAIT,
        clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
    ) -> None:
        super().__init__(
            session,
            REQUESTER,
            app_id=app_id,
            private_key=private_key,
            cache=cache,
            base_url=base_url,
        )
        self._origin = origin_of(base_url)
        self._prefix = urlsplit(base_url).path.rstrip("/") + "/"
        self._deadline = deadline
        # The wait for one of the 100 slots is queueing, not GitHub's slowness: it is kept
        # out of the deadline, so a burst of commands waits its turn rather than failing.
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._backoff = backoff
        self._max_rate_wait = max_rate_wait
        self._clock = clock
        self._observe = observe

    async def _make_request(self, *args: Any, **kwargs: Any) -> tuple[Any, str | None, int]:
        data, more, status = await super()._make_request(*args, **kwargs)
        if isinstance(data, CachedBody):  # a 304: the body kept with the ETag
            data = data.decode()
        return data, more, status

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "accept": ACCEPT, "x-github-api-version": API_VERSION}
        github_request_made()  # counted for the command's log line, answered or not
        async with self._slots:
            # GITHUB_TIMEOUT bounds the whole exchange, body included: a body trickling in a
            # byte at a time must not hold a command (and every GET sharing it) for ever.
            async with asyncio.timeout(self._deadline):
                answer = await self._exchange(method, url, headers, body)
        if self._observe is not None:
            self._observe(method, answer[0], answer[1], _credential.get())
        payer = charged_to.get()
        if payer is not None and headers.get("authorization", "").startswith("token "):
            payer(answer[0])  # a token's limit; the app's JWT calls have their own
        return answer

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        # Redirects (a renamed repository answers 301) are followed here, not by aiohttp,
        # so that every hop passes the same-origin check.
        for _ in range(MAX_REDIRECTS + 1):
            self._check_origin(url)
            # As encoded: yarl would otherwise decode %2E and drop the dot segments.
            async with self._session.request(
                method,
                yarl.URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as response:
                location = response.headers.get("location")
                if response.status not in REDIRECTS or not location:
                    return response.status, response.headers, await response.read()
            url = urljoin(url, location)
        raise OffOrigin("too many redirects")

    def _check_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if origin_of(url) != self._origin or not (parts.path + "/").startswith(self._prefix):
            raise OffOrigin(f"{parts.scheme}://{parts.netloc}{parts.path}")

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: gidgethub.HTTPException, attempt: int
    ) -> bool:
        if isinstance(exception, gidgethub.GitHubBroken):
            if method == "GET" and attempt < GET_ATTEMPTS:
                await self.sleep(self._backoff * 2 ** (attempt - 1))
                return True
            return False
        wait = rate_limit_wait(exception, self._clock())
        if wait is None or attempt > 1 or wait > self._max_rate_wait:
            return False
        log.info("rate limited on %s %s; waiting %.1f s", method, urlsplit(url).path, wait)
        await self.sleep(wait)
        return True


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port as a browser compares origins: ``HTTPS://API.GitHub.com:443``
    and ``https://api.github.com`` are one origin."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a port at all: matches nothing
        return scheme, "", -1
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


@dataclass(frozen=True)
class Listing:
    """Every item of a paginated GitHub list, and whether the listing can be trusted whole.

    ``failed_pages`` could not be fetched; ``total_count`` is what the first page said,
    ``page_counts`` what each page fetched said, in page order. Items that moved between
    pages while they were fetched appear once (by ``id``); ``duplicates`` counts the
    repeats dropped."""

    items: list[Any]
    total_count: int | None = None
    pages: int = 1
    failed_pages: tuple[int, ...] = ()
    duplicates: int = 0
    skipped: int = 0  # items the ``read`` of :meth:`GitHubClient.listing` could not read
    page_counts: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed_pages

    @property
    def count_differs(self) -> bool:
        """GitHub's count and what was gathered disagree (the fleet changed meanwhile)."""
        return self.total_count is not None and self.total_count != len(self.items)

    @property
    def counts_changed(self) -> bool:
        """The pages disagree on ``total_count``: runners came or went between them."""
        return len(set(self.page_counts)) > 1


def _frozen(variables: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in variables.items()))


_SAFE_URL = re.compile(r"https?://[^\s<>|]{1,500}")
_SIMPLE_VAR = re.compile(r"\{([A-Za-z0-9_]+)\}")


def path_segment(value: object) -> str:
    """``value`` as one path segment: everything but letters, digits and ``-._~``
    percent-encoded (as a URI template's simple expansion does), and a value of dots
    alone (``.``, ``..``) encoded too, so that no client or server reads it as a step up."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text and not text.strip(".") else text


def fill_path(template: str, variables: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Fill the ``{name}`` path variables of ``template`` with :func:`path_segment`; the
    rest (a ``{?query}``) are returned for gidgethub's URI template expansion."""
    used: set[str] = set()

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            return match.group(0)
        used.add(name)
        return path_segment(variables[name])

    filled = _SIMPLE_VAR.sub(one, template)
    return filled, {k: v for k, v in variables.items() if k not in used}


def template_vars(template: str) -> list[str]:
    """The variable names of a simple URI template (``/orgs/{org}`` -> ``["org"]``)."""
    return [part.split("}", 1)[0] for part in template.split("{")[1:]]


def rate_limit_wait(exc: gidgethub.HTTPException, now: float) -> float | None:
    """Seconds GitHub asks us to wait, or None when ``exc`` is no rate limit.

    Per GitHub: honour ``retry-after``; else, with no requests remaining, wait until
    ``x-ratelimit-reset``; a secondary limit with neither means at least a minute.
    """
    if exc.status_code not in (403, 429):
        return None
    headers = exc.headers or {}
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(headers.get("x-ratelimit-reset", "")) - now)
        except ValueError:
            return 60.0
    message = str(exc.args[0] if exc.args else "").lower()
    if exc.status_code == 429 or "secondary rate limit" in message:
        return 60.0
    return None


class GitHubClient:
    """Authenticated calls on behalf of a :class:`~bot.targets.Target`.

    It knows credentials and HTTP, nothing of runners or Slack.
    """

    def __init__(
        self,
        *,
        api_url: str,
        app_id: str,
        private_key: str,
        enterprise_token: str | None = None,
        timeout: float = 10.0,
        backoff: float = 0.5,
        max_rate_wait: float = MAX_RATE_LIMIT_WAIT,
        page_concurrency: int = PAGE_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        observe: Observer | None = None,
        allowed_accounts: tuple[str, ...] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        # GITHUB_ALLOWED_ACCOUNTS (lower-case); empty: the App's owner, asked of GitHub;
        # None: every account (a client built for a tool or a test, not from settings).
        self.allowed_accounts = (
            None if allowed_accounts is None else tuple(a.lower() for a in allowed_accounts)
        )
        self._owner: tuple[str, float] | None = None  # (login, until when it is trusted)
        self._owner_retry = 0.0  # after a failed GET /app, not before this
        self._observe = observe
        self.page_concurrency = max(1, page_concurrency)
        self._app_id = app_id
        self._private_key = private_key
        self._enterprise_token = enterprise_token
        self._timeout = timeout
        self._backoff = backoff
        self._max_rate_wait = max_rate_wait
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._api: RunnerOpsAPI | None = None
        # ETag store for conditional GETs: a 304 does not count against the rate limit.
        self._etags = ETagCache()
        # account or repository -> installation id. Installation ids are stable; the
        # hour bounds how long an uninstall is missed if its webhook never arrives.
        self._installation_ids: cachetools.TTLCache[str, int] = cachetools.TTLCache(
            maxsize=4096, ttl=3600, timer=clock
        )
        self._tokens: cachetools.TLRUCache[int, _Installation] = cachetools.TLRUCache(
            maxsize=4096, ttu=lambda _k, v, _now: v.expires_at - TOKEN_MARGIN, timer=clock
        )
        # One lock per installation or target name being looked up; a lock lives only while
        # someone holds or waits on it, so names typed once do not accumulate.
        self._locks: weakref.WeakValueDictionary[int | str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    # -- lifecycle -------------------------------------------------------------------

    def _gh(self) -> RunnerOpsAPI:
        if self._api is None:
            # Concurrency is bounded by RunnerOpsAPI's slots (GitHub's 100), so the pool
            # itself never makes a request wait inside its deadline.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._timeout, sock_read=self._timeout
                ),
            )
            self._api = RunnerOpsAPI(
                self._session,
                base_url=self.api_url,
                app_id=self._app_id,
                private_key=self._private_key,
                cache=self._etags,
                backoff=self._backoff,
                deadline=self._timeout,
                max_rate_wait=self._max_rate_wait,
                clock=self._clock,
                observe=self._observe,
            )
        return self._api

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._api = None

    def rate_limit_seen(self) -> int | None:
        """``x-ratelimit-limit`` of the latest answer, if any (the watch's poll budget is a
        share of it)."""
        limit = getattr(self._api, "rate_limit", None) if self._api is not None else None
        value = getattr(limit, "limit", None)
        return value if isinstance(value, int) and value > 0 else None

    # -- installations ---------------------------------------------------------------

    def _lock(self, key: int | str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def forget_token(self, installation_id: int) -> None:
        """Drop one installation's token: the next call mints one with current permissions."""
        self._tokens.pop(installation_id, None)

    def forget_installation(
        self, account: str | None = None, installation_id: int | None = None
    ) -> None:
        """Drop cached installation ids (all, or one account's) and that installation's
        token: after an uninstall or a suspension, the next command asks GitHub again."""
        if installation_id is not None:
            self._tokens.pop(installation_id, None)
        if account is None:
            self._installation_ids.clear()
            return
        prefix = account.lower()
        for key in [k for k in self._installation_ids if k.split("/")[0] == prefix]:
            self._installation_ids.pop(key, None)

    async def _installation_id(self, target: Target) -> int:
        key = str(target).lower()
        cached = self._installation_ids.get(key)
        if cached is not None:
            return cached
        async with self._lock(key):  # one lookup at a time
            cached = self._installation_ids.get(key)
            if cached is not None:
                return cached
            template, url_vars = target.api_template
            try:
                data = await self._gh().getitem(*fill_path(f"{template}/installation", url_vars))
            except gidgethub.BadRequest as exc:
                if exc.status_code != 404:
                    raise
                if target.scope is Scope.REPO:
                    await self._account_installed(target)  # raises NoSuchRepository if so
                raise errors.NotInstalled(target) from None
            installation_id = int(data["id"])
            self._installation_ids[key] = installation_id
            return installation_id

    async def _account_installed(self, target: Target) -> None:
        """After a 404 on a repository's installation: GitHub answers the same whether the
        App is not installed on the account, the repository does not exist, or the
        installation does not include it. The account's own installation tells which:
        if there is one, raise :class:`errors.NoSuchRepository` with its settings page."""
        try:
            data = await self._gh().getitem(
                *fill_path("/users/{owner}/installation", {"owner": target.owner})
            )
        except gidgethub.BadRequest as exc:
            if exc.status_code == 404:
                return
            raise
        url = data.get("html_url") if isinstance(data, dict) else None
        safe = isinstance(url, str) and _SAFE_URL.fullmatch(url) is not None
        raise errors.NoSuchRepository(target, url if safe else None)

    async def _installation_token(self, target: Target) -> tuple[int, str, bool]:
        """The installation's token, and whether it was minted by this very call."""
        installation_id = await self._installation_id(target)
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return installation_id, cached.token, False
        # One mint per installation even when many commands arrive together.
        async with self._lock(installation_id):
            cached = self._tokens.get(installation_id)
            if cached is not None:
                return installation_id, cached.token, False
            try:
                data = await apps.get_installation_access_token(
                    self._gh(),
                    installation_id=str(installation_id),
                    app_id=self._app_id,
                    private_key=self._private_key,
                )
            except gidgethub.BadRequest as exc:
                if exc.status_code == 404:  # uninstalled since we cached its id
                    self.forget_installation(target.owner)
                    raise errors.NotInstalled(target) from None
                if exc.status_code == 403:  # GitHub refuses tokens of a suspended one
                    raise errors.Forbidden(
                        target, "an active installation (it may be suspended)"
                    ) from None
                raise
            try:
                minted = RunnerToken.from_api(data)
            except Unreadable:
                raise errors.GitHubUnavailable(target, "unreadable installation token") from None
            redact.add(minted.token)
            # An expiry GitHub did not say readably: assume half of the documented hour.
            expires = minted.expires_at.timestamp() if minted.expires_at else self._clock() + 1800
            self._tokens[installation_id] = _Installation(minted.token, expires)
            log.info("minted an installation token for installation %s", installation_id)
            return installation_id, minted.token, True

    async def _credential(self, target: Target) -> tuple[int | None, str, bool]:
        if target.scope is Scope.ENTERPRISE:
            if not self._enterprise_token:
                raise errors.EnterpriseTokenMissing(target)
            return None, self._enterprise_token, False
        await self.check_served(target)
        return await self._installation_token(target)

    # -- the accounts served ---------------------------------------------------------

    async def app_owner(self, target: Target) -> str:
        """The login (lower-case) of the account that owns the App: ``GET /app`` signed
        with the app JWT, asked at most once an hour (an App changes owner only when it
        is transferred). ``target`` is whom a failure is reported for."""
        cached = self._owner
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        async with self._lock("app:owner"):  # no target name has this form
            cached = self._owner
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            if self._clock() < self._owner_retry:  # failed just now: not asked again yet
                raise errors.GitHubUnavailable(target, "who owns the App is not known yet")
            try:
                data = await self._guard(target, self._gh().getitem("/app"), "GET")
                owner = data.get("owner") if isinstance(data, dict) else None
                login = owner.get("login") if isinstance(owner, dict) else None
                if not isinstance(login, str) or not login:
                    raise errors.GitHubUnavailable(target, "GET /app named no owner")
            except errors.RunnerOpsError as exc:
                self._owner_retry = self._clock() + OWNER_RETRY
                host = urlsplit(self.api_url).netloc
                log.warning("GitHub GET /app failed (host %s): %r", host, exc)
                raise
            self._owner = (login.lower(), self._clock() + OWNER_TTL)
            log.info("the GitHub App is owned by %s: the account served", login)
            return login.lower()

    async def served_accounts(self, target: Target) -> tuple[str, ...] | None:
        """``GITHUB_ALLOWED_ACCOUNTS``, or else the App's owner alone; None: every one."""
        if self.allowed_accounts is None:
            return None
        return self.allowed_accounts or (await self.app_owner(target),)

    async def serves(self, account: str) -> bool:
        """Whether installations on ``account`` (a login from GitHub) are served. Raises
        :class:`errors.GitHubUnavailable` when the App's owner is needed and unknown."""
        allowed = await self.served_accounts(Target(Scope.ORG, account))
        return allowed is None or account.lower() in allowed

    async def check_served(self, target: Target) -> None:
        """Raise :class:`errors.AccountNotServed` for a target on an account this deployment
        does not serve, before anything is asked of GitHub for it. Enterprise targets are
        not installations (a classic token reaches them) and are not checked."""
        if target.scope is Scope.ENTERPRISE:
            return
        allowed = await self.served_accounts(target)
        if allowed is not None and target.owner.lower() not in allowed:
            raise errors.AccountNotServed(target, allowed=allowed)

    # -- calls -----------------------------------------------------------------------

    async def call(
        self,
        target: Target,
        method: str,
        path: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        data: Any = b"",
    ) -> Any:
        """Call ``{target's api path}{path}`` once (GETs retried on 5xx).

        Identical GETs in flight at the same time share one request: a burst of
        ``get acme 7`` costs GitHub one call. A token GitHub refuses with 401, or a cached
        token refused with 403 (a permission granted since it was minted), is dropped and
        minted again, once.
        """
        template, variables = target.api_template
        variables = {**variables, **(url_vars or {})}
        url = template + path
        if method != "GET":
            return await self._call(target, method, url, variables, data)
        return await self._shared(
            ("GET", target.scope, url, _frozen(variables)),
            lambda: self._call(target, method, url, variables, data),
        )

    async def listing(
        self,
        target: Target,
        path: str,
        iterable_key: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        read: Reader | None = None,
    ) -> Listing:
        """Every page of a list: the first, then the rest ``page_concurrency`` at a time.

        The first page's ``total_count`` says how many pages there are. Pages come back in
        GitHub's order; a page that still fails after the GET retries is named in
        ``failed_pages`` rather than silently dropped. ``read`` turns each page's items into
        models as the page arrives (and says how many it could not read), so a fleet's raw
        JSON is never held whole beside its models. Shared like :meth:`call`.
        """
        template, names = target.api_template
        variables: dict[str, Any] = {**names, **(url_vars or {}), "per_page": PER_PAGE}
        query = sorted(({*variables} - {*template_vars(template + path)}) | {"page"})
        url = template + path + "{?" + ",".join(query) + "}"
        return await self._shared(
            ("LIST", target.scope, url, _frozen(variables), iterable_key, read),
            lambda: self._gather_pages(target, url, variables, iterable_key, read),
        )

    async def _shared(self, key: tuple[Any, ...], work: Callable[[], Awaitable[T]]) -> T:
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(work())
            self._inflight[key] = shared
            shared.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(shared)

    async def _gather_pages(
        self,
        target: Target,
        url: str,
        variables: Mapping[str, Any],
        key: str,
        read: Reader | None,
    ) -> Listing:
        skipped = 0
        counts: dict[int, int] = {}  # each page's total_count, to see the fleet change

        async def page(number: int) -> tuple[Any, list[Any], int]:
            """The page's body, its items (read, when ``read`` is given) and their count
            as GitHub sent them."""
            nonlocal skipped
            # Page 1 is asked for without ``page``, as GitHub's own first-page URLs are.
            paged = {**variables, "page": number} if number > 1 else variables
            data = await self._call(target, "GET", url, paged, b"")
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise errors.GitHubUnavailable(target, "an unreadable page")
            count = data.get("total_count")
            if isinstance(count, int | float) and not isinstance(count, bool) and count >= 0:
                counts[number] = int(count)
            items = data[key]
            sent = len(items)
            if read is not None:
                items, unread = read(items)
                skipped += unread
            return data, items, sent

        first, results_1, sent = await page(1)
        results: dict[int, list[Any]] = {1: results_1}
        failed: list[int] = []
        count = first.get("total_count")
        total = int(count) if isinstance(count, int | float) and count >= 0 else None
        del first  # with ``read``, the raw items go as soon as they are read
        if total is None:  # no count to plan with: one page after another, to a short one
            number = 1
            while sent >= PER_PAGE:
                number += 1
                _data, results[number], sent = await page(number)
            pages = number
        else:
            pages = max(1, math.ceil(total / PER_PAGE))
        slots = asyncio.Semaphore(self.page_concurrency)

        async def fetch(number: int) -> None:
            async with slots:
                try:
                    results[number] = (await page(number))[1]
                except errors.RunnerOpsError as exc:
                    log.warning("page %d of a listing failed: %s", number, type(exc).__name__)
                    failed.append(number)

        await asyncio.gather(*(fetch(n) for n in range(2, pages + 1)))
        items: list[Any] = []
        seen: set[Any] = set()
        duplicates = 0
        for number in sorted(results):
            for item in results[number]:
                ident = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
                if ident is not None and ident in seen:
                    duplicates += 1  # moved back a page while the pages were fetched
                    continue
                if ident is not None:
                    seen.add(ident)
                items.append(item)
        page_counts = tuple(counts[n] for n in sorted(counts))
        return Listing(items, total, pages, tuple(sorted(failed)), duplicates, skipped, page_counts)

    async def _call(
        self,
        target: Target,
        method: str,
        url: str,
        variables: Mapping[str, Any],
        data: Any,
    ) -> Any:
        try:
            return await self._call_once_more(target, method, url, variables, data)
        except errors.RunnerOpsError as exc:
            # The operation, the host and what GitHub (or the network) said; an error
            # never holds a credential, and the URL is the template, not the values.
            level = logging.INFO if isinstance(exc, _EXPECTED) else logging.WARNING
            host = urlsplit(self.api_url).netloc
            log.log(level, "GitHub %s %s failed (host %s): %r", method, url, host, exc)
            raise

    async def _call_once_more(
        self,
        target: Target,
        method: str,
        url: str,
        variables: Mapping[str, Any],
        data: Any,
    ) -> Any:
        """One attempt, and one more with a new installation token if GitHub refused it."""
        for attempt in (1, 2):
            installation_id, token, fresh = await self._guard(
                target, self._credential(target), "GET"
            )
            _credential.set(str(installation_id) if installation_id else "enterprise token")
            try:
                return await self._guard(
                    target, self._send(method, url, variables, data, token), method
                )
            except (errors.BadCredentials, errors.Forbidden) as exc:
                if attempt == 2 or installation_id is None:
                    raise
                if isinstance(exc, errors.Forbidden) and fresh:
                    raise  # minted just now: a new token would have the same permissions
                log.info("installation token refused (%s); minting again", type(exc).__name__)
                self._tokens.pop(installation_id, None)
        raise AssertionError("unreachable")

    async def _guard(self, target: Target, work: Awaitable[T], method: str) -> T:
        """Await ``work``, turning every GitHub or network failure into a reply-able error.

        A write (POST, DELETE...) that fails without a definite answer from GitHub (a 5xx,
        a timeout or a connection lost after sending, a body that cannot be read) may have
        been carried out: it becomes :class:`errors.OutcomeUnknown`, never "nothing changed".
        """
        write = method != "GET"
        try:
            return await work
        except errors.RunnerOpsError:
            raise
        except gidgethub.BadRequest as exc:
            raise self._translate(target, exc) from None
        except gidgethub.HTTPException as exc:
            detail = f"GitHub answered {exc.status_code}"
            if write:
                raise errors.OutcomeUnknown(target, detail) from None
            raise errors.GitHubUnavailable(target, detail) from None
        except (aiohttp.ClientConnectorError, OffOrigin) as exc:
            # Nothing reached GitHub (no connection; or a redirect we refused to follow).
            raise errors.GitHubUnavailable(target, type(exc).__name__) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            if write:
                raise errors.OutcomeUnknown(target, detail) from None
            raise errors.GitHubUnavailable(target, detail) from None
        except ValueError:  # gidgethub could not decode the body (truncated JSON...)
            if write:
                raise errors.OutcomeUnknown(target, "an unreadable answer") from None
            raise errors.GitHubUnavailable(target, "an unreadable answer") from None

    async def _send(
        self, method: str, url: str, variables: Mapping[str, Any], data: Any, token: str
    ) -> Any:
        gh = self._gh()
        url, variables = fill_path(url, variables)
        if method == "GET":
            return await gh.getitem(url, variables, oauth_token=token)
        if method == "POST":
            return await gh.post(url, variables, data=data, oauth_token=token)
        if method == "PUT":
            return await gh.put(url, variables, data=data, oauth_token=token)
        if method == "DELETE":
            # gidgethub's ``delete`` drops the body; removing a label answers with the
            # labels left, which saves a GET.
            body, _more, _status = await gh._make_request(
                "DELETE", url, variables, data, sansio.accept_format(), oauth_token=token
            )
            return body
        raise ValueError(f"unsupported method {method}")

    def _translate(self, target: Target, exc: gidgethub.BadRequest) -> errors.RunnerOpsError:
        status = exc.status_code
        message = str(exc.args[0]) if exc.args and exc.args[0] else ""
        if status == 404:
            return errors.NotFound(target)
        if status == 401:
            credential = (
                "GITHUB_ENTERPRISE_TOKEN"
                if target.scope is Scope.ENTERPRISE
                else "the GitHub App (GITHUB_APP_ID / GITHUB_PRIVATE_KEY)"
            )
            return errors.BadCredentials(target, credential)
        wait = rate_limit_wait(exc, self._clock())
        if wait is not None:
            return errors.RateLimited(target, self._clock() + wait)
        if status == 403:
            return errors.Forbidden(target, PERMISSION_BY_SCOPE[target.scope], message)
        if status == 422:
            return errors.Unprocessable(target, message)
        if status == 409:
            return errors.Conflict(target, message)
        return errors.GitHubUnavailable(target, f"GitHub answered {status}")
