"""Calls to GitHub on behalf of a target: credentials, and the calls themselves.

HTTP rules and the ETag store are in transport.py, pages in pages.py, the mapping of
failures to :mod:`bot.errors` in translate.py.

Organization and repository calls run as the GitHub App: gidgethub signs the app JWT,
finds the installation and mints its access token, which is cached until shortly before
its ``expires_at``. Enterprise calls use the classic PAT, since GitHub refuses App tokens
on enterprise runner endpoints. Every failure leaves as a :mod:`bot.errors` exception that
names what the user can do, and never carries a credential.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import cachetools
import gidgethub
from gidgethub import sansio

from bot import errors
from bot.github import transport
from bot.github.app_auth import AppAuth
from bot.github.models import RunnerToken, Unreadable
from bot.github.pages import PAGE_CONCURRENCY, PER_PAGE, Listing, Reader, gather_pages
from bot.github.paths import SAFE_URL, fill_path, frozen, template_vars
from bot.github.translate import guard
from bot.github.transport import MAX_RATE_LIMIT_WAIT, ETagCache, Observer, RunnerOpsAPI
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
# How long the App's owner (GET /app), the default account served, is trusted.
OWNER_TTL = 3600.0
# After GET /app failed, how long before it is asked again (each webhook would else wait).
OWNER_RETRY = 30.0
# Mint a new installation token this long before GitHub's expires_at.
TOKEN_MARGIN = 300.0


class _Installation:
    __slots__ = ("expires_at", "token")

    def __init__(self, token: str, expires_at: float) -> None:
        self.token = token
        self.expires_at = expires_at


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
        self._auth = AppAuth(app_id, private_key)  # app requests pass its JWT explicitly
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
                data = await self._gh().getitem(
                    *fill_path(f"{template}/installation", url_vars), jwt=self._auth.jwt()
                )
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
                *fill_path("/users/{owner}/installation", {"owner": target.owner}),
                jwt=self._auth.jwt(),
            )
        except gidgethub.BadRequest as exc:
            if exc.status_code == 404:
                return
            raise
        url = data.get("html_url") if isinstance(data, dict) else None
        safe = isinstance(url, str) and SAFE_URL.fullmatch(url) is not None
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
                data = await self._gh().post(
                    f"/app/installations/{installation_id}/access_tokens",
                    data=b"",
                    jwt=self._auth.jwt(),
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
                data = await self._guard(
                    target, self._gh().getitem("/app", jwt=self._auth.jwt()), "GET"
                )
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
            ("GET", target.scope, url, frozen(variables)),
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
            ("LIST", target.scope, url, frozen(variables), iterable_key, read),
            lambda: gather_pages(
                lambda paged: self._call(target, "GET", url, paged, b""),
                target,
                variables,
                iterable_key,
                read,
                self.page_concurrency,
            ),
        )

    async def _shared(self, key: tuple[Any, ...], work: Callable[[], Awaitable[T]]) -> T:
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(work())
            self._inflight[key] = shared
            shared.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(shared)

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
            transport.credential.set(
                str(installation_id) if installation_id else "enterprise token"
            )
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
        return await guard(target, work, method, self._clock)

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
        if method == "PATCH":
            return await gh.patch(url, variables, data=data, oauth_token=token)
        if method == "DELETE":
            # gidgethub's ``delete`` drops the body; removing a label answers with the
            # labels left, which saves a GET.
            body, _more, _status = await gh._make_request(
                "DELETE", url, variables, data, sansio.accept_format(), oauth_token=token
            )
            return body
        raise ValueError(f"unsupported method {method}")
