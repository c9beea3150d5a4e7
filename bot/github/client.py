"""GitHub transport: credentials, caching, retries and error mapping.

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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import cachetools
import gidgethub
import gidgethub.aiohttp
from gidgethub import apps

from bot import errors
from bot.github.models import parse_time
from bot.redact import redact
from bot.targets import Scope, Target

log = logging.getLogger(__name__)
T = TypeVar("T")

ACCEPT = "application/vnd.github+json, application/json"
API_VERSION = "2022-11-28"
REQUESTER = "runnerops"
# Mint a new installation token this long before GitHub's expires_at.
TOKEN_MARGIN = 300.0
MAX_CONCURRENT = 100
REDIRECTS = {301, 302, 307, 308}
MAX_REDIRECTS = 3
# GETs that meet a 5xx are retried this many times in all, with exponential backoff.
GET_ATTEMPTS = 3
# A rate-limit wait shorter than this is waited out; a longer one becomes a reply.
MAX_RATE_LIMIT_WAIT = 10.0

PERMISSION_BY_SCOPE = {
    Scope.ORG: "organization permission “Self-hosted runners” (read and write)",
    Scope.REPO: "repository permission “Administration” (read and write)",
    Scope.ENTERPRISE: "the classic token scope `manage_runners:enterprise`",
}


class OffOrigin(Exception):
    """A URL outside the configured API base: credentials are never sent there."""


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
        cache: cachetools.Cache[str, Any],
        backoff: float,
        max_rate_wait: float = MAX_RATE_LIMIT_WAIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            session,
            REQUESTER,
            app_id=app_id,
            private_key=private_key,
            cache=cache,
            base_url=base_url,
        )
        origin = urlsplit(base_url)
        self._origin = (origin.scheme, origin.netloc)
        self._prefix = origin.path.rstrip("/") + "/"
        self._backoff = backoff
        self._max_rate_wait = max_rate_wait
        self._clock = clock

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "accept": ACCEPT, "x-github-api-version": API_VERSION}
        # Redirects (a renamed repository answers 301) are followed here, not by aiohttp,
        # so that every hop passes the same-origin check.
        for _ in range(MAX_REDIRECTS + 1):
            self._check_origin(url)
            async with self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            ) as response:
                location = response.headers.get("location")
                if response.status not in REDIRECTS or not location:
                    return response.status, response.headers, await response.read()
            url = urljoin(url, location)
        raise OffOrigin("too many redirects")

    def _check_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin or not (parts.path + "/").startswith(
            self._prefix
        ):
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
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
        self._etags: cachetools.LRUCache[str, Any] = cachetools.LRUCache(maxsize=1024)
        # account or repository -> installation id. Installation ids are stable; the
        # hour bounds how long an uninstall is missed if its webhook never arrives.
        self._installation_ids: cachetools.TTLCache[str, int] = cachetools.TTLCache(
            maxsize=4096, ttl=3600, timer=clock
        )
        self._tokens: cachetools.TLRUCache[int, _Installation] = cachetools.TLRUCache(
            maxsize=4096, ttu=lambda _k, v, _now: v.expires_at - TOKEN_MARGIN, timer=clock
        )
        self._locks: dict[int | str, asyncio.Lock] = {}
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    # -- lifecycle -------------------------------------------------------------------

    def _gh(self) -> RunnerOpsAPI:
        if self._api is None:
            # GitHub allows at most 100 concurrent requests; more wait for a connection.
            # The timeout bounds connecting and each read, not the wait for a connection,
            # so a burst of commands queues rather than failing.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONCURRENT),
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
                max_rate_wait=self._max_rate_wait,
                clock=self._clock,
            )
        return self._api

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._api = None

    # -- installations ---------------------------------------------------------------

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
        async with self._locks.setdefault(key, asyncio.Lock()):  # one lookup at a time
            cached = self._installation_ids.get(key)
            if cached is not None:
                return cached
            template, url_vars = target.api_template
            try:
                data = await self._gh().getitem(f"{template}/installation", url_vars)
            except gidgethub.BadRequest as exc:
                if exc.status_code == 404:
                    raise errors.NotInstalled(target) from None
                raise
            installation_id = int(data["id"])
            self._installation_ids[key] = installation_id
            return installation_id

    async def _installation_token(self, target: Target) -> tuple[int, str]:
        installation_id = await self._installation_id(target)
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return installation_id, cached.token
        # One mint per installation even when many commands arrive together.
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is None:
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
                expires = parse_time(data["expires_at"]).timestamp()
                cached = _Installation(str(data["token"]), expires)
                redact.add(cached.token)
                self._tokens[installation_id] = cached
                log.info("minted an installation token for installation %s", installation_id)
        return installation_id, cached.token

    async def _credential(self, target: Target) -> tuple[int | None, str]:
        if target.scope is Scope.ENTERPRISE:
            if not self._enterprise_token:
                raise errors.EnterpriseTokenMissing(target)
            return None, self._enterprise_token
        return await self._installation_token(target)

    # -- calls -----------------------------------------------------------------------

    async def call(
        self,
        target: Target,
        method: str,
        path: str,
        url_vars: Mapping[str, Any] | None = None,
        *,
        data: Any = b"",
        iterable_key: str | None = None,
    ) -> Any:
        """Call ``{target's api path}{path}``; with ``iterable_key``, gather every page.

        Identical GETs in flight at the same time share one request: a burst of
        ``list acme`` costs GitHub one listing. A token GitHub refuses with 401 is
        dropped and minted again, once.
        """
        template, variables = target.api_template
        variables = {**variables, **(url_vars or {})}
        url = template + path
        if method != "GET":
            return await self._call(target, method, url, variables, data, iterable_key)
        key = (
            target.scope,
            url,
            tuple(sorted((k, str(v)) for k, v in variables.items())),
            iterable_key,
        )
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(
                self._call(target, method, url, variables, data, iterable_key)
            )
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
        iterable_key: str | None,
    ) -> Any:
        for attempt in (1, 2):
            installation_id, token = await self._guard(target, self._credential(target))
            try:
                return await self._guard(
                    target, self._send(method, url, variables, data, token, iterable_key)
                )
            except errors.BadCredentials:
                if attempt == 2 or installation_id is None:
                    raise
                log.info("installation token refused; minting a new one")
                self._tokens.pop(installation_id, None)
        raise AssertionError("unreachable")

    async def _guard(self, target: Target, work: Awaitable[T]) -> T:
        """Await ``work``, turning every GitHub or network failure into a reply-able error."""
        try:
            return await work
        except errors.RunnerOpsError:
            raise
        except gidgethub.BadRequest as exc:
            raise self._translate(target, exc) from None
        except gidgethub.HTTPException as exc:
            raise errors.GitHubUnavailable(target, f"GitHub answered {exc.status_code}") from None
        except (TimeoutError, aiohttp.ClientError, OffOrigin) as exc:
            detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise errors.GitHubUnavailable(target, detail) from None

    async def _send(
        self,
        method: str,
        url: str,
        variables: Mapping[str, Any],
        data: Any,
        token: str,
        iterable_key: str | None,
    ) -> Any:
        gh = self._gh()
        if iterable_key is not None:
            items: list[Any] = []
            try:
                async for item in gh.getiter(
                    url, variables, oauth_token=token, iterable_key=iterable_key
                ):
                    items.append(item)
            except OffOrigin as exc:
                log.warning("not following a pagination link off the API host: %s", exc)
            return items
        if method == "GET":
            return await gh.getitem(url, variables, oauth_token=token)
        if method == "POST":
            return await gh.post(url, variables, data=data, oauth_token=token)
        if method == "DELETE":
            return await gh.delete(url, variables, oauth_token=token)
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
        return errors.GitHubUnavailable(target, f"GitHub answered {status}")
