"""HTTP to GitHub: gidgethub's aiohttp client with runnerops' transport rules (same
origin only, deadlines, GET retries, short rate-limit waits), and the ETag store that
makes repeated GETs 304s. It knows nothing of targets or credentials' origin: the client
(bot/github/client.py) hands it a token per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import cachetools
import gidgethub
import gidgethub.aiohttp
import yarl

from bot.observe.logs import github_request_made

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.github+json, application/json"
API_VERSION = "2022-11-28"
REQUESTER = "runnerops"
# GitHub's secondary limits allow at most 100 concurrent requests per client.
MAX_CONCURRENT = 100
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

# (method, status, headers, credential): every answer GitHub gives, for the metrics.
Observer = Callable[[str, int, Mapping[str, str], str], None]
# Which credential the current request runs with ("installation 42", "enterprise token").
credential: contextvars.ContextVar[str] = contextvars.ContextVar("credential", default="app")
# Who pays for the answers to the current task's requests, told each answer's status: the
# watch's poll budget sets it around its polling, so that what GitHub charges to the
# installation's (or enterprise token's) limit, every answer but a 304, counts against its
# share. Tasks started meanwhile (the pages of a
# listing, a shared GET) inherit it.
charged_to: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "charged_to", default=None
)


@contextmanager
def charging(payer: Callable[[int], None]) -> Iterator[None]:
    """The status of each GitHub answer to the requests made inside (and in the tasks
    they start) is told to ``payer``: how the watch's poll budget counts its polling."""
    token = charged_to.set(payer)
    try:
        yield
    finally:
        charged_to.reset(token)


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
            self._observe(method, answer[0], answer[1], credential.get())
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
