"""A recording HTTP proxy on loopback between runnerops and Prism.

runnerops is pointed at the proxy (``GITHUB_API_URL``); the proxy forwards every request
to the Prism serving the path (the GitHub Enterprise Cloud Prism for ``/enterprises/...``,
the api.github.com one for the rest, or a single GHES Prism) and records what was sent:
method, raw path, query, headers, and Prism's ``sl-violations`` verdict on the request.

Rules pick a response for one ``METHOD path``:

- ``prefer(...)`` forwards with ``Prefer: code=NNN``, so Prism answers with the status
  and body the spec documents (only for documented statuses: for any other, Prism makes
  up a ``problem+json`` 404);
- ``answer(...)`` makes the proxy answer by itself with GitHub's error body, for the
  statuses GitHub sends although its description does not list them (401, 403, 404, 5xx
  on the runner endpoints);
- ``rewrite(...)`` forwards as usual (so Prism still checks the request) and replaces a
  200 answer's body with the one given: an example body the test needs to differ (the
  downloads offering a newer runner than the runners listed).

With ``etags`` on, GET 200 answers carry an ``ETag`` (GitHub sends one on every GET) and
a GET whose ``If-None-Match`` names the current ETag of a path with a 304 rule is
answered ``304 Not Modified`` with no body, as GitHub does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from yarl import URL

from bot.sandbox.serve import serve

from .prism import request_violations, violations

# Not forwarded either way: the transport sets them for each hop.
HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "accept-encoding",
        "te",
        "trailer",
        "upgrade",
        "date",
        "server",
    }
)
GITHUB_DOCS = "https://docs.github.com/rest"
# What GitHub itself answers for the statuses the proxy stands in for.
GITHUB_MESSAGES = {
    401: "Bad credentials",
    403: "Resource not accessible by integration",
    404: "Not Found",
    429: "You have exceeded a secondary rate limit.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}

Mode = Literal["prefer", "answer", "rewrite"]


@dataclass(frozen=True)
class Upstream:
    """A Prism to forward to; ``paths`` picks the raw paths it serves (None: the rest)."""

    base_url: str
    spec: str
    paths: re.Pattern[str] | None = None


@dataclass
class Rule:
    method: str
    path: str  # raw path, query excluded
    status: int
    mode: Mode
    headers: dict[str, str] = field(default_factory=dict)  # added to the response
    body: bytes | None = None  # ``rewrite``: the 200 body sent instead of Prism's


@dataclass
class Exchange:
    """One request runnerops made, and what it got back."""

    method: str
    path: str  # raw path as sent (GHES: with ``/api/v3``), query excluded
    query: str
    headers: dict[str, str]  # request headers, lower-case names
    spec: str  # the spec whose Prism the request was meant for
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    answered_by: str = "prism"  # "prism" | "proxy"
    prefer: str | None = None

    @property
    def request_violations(self) -> list[dict[str, Any]]:
        """Prism's complaints about the request (empty when it matched the spec)."""
        return request_violations(self.response_headers)

    @property
    def violations(self) -> list[dict[str, Any]]:
        return violations(self.response_headers)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.method} {self.path}{query} -> {self.status} ({self.answered_by})"


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()}"'


class RecordingProxy:
    """Serve with ``async with proxy.running() as url``; inspect ``exchanges``."""

    def __init__(self, upstreams: Sequence[Upstream]) -> None:
        if not upstreams or upstreams[-1].paths is not None:
            raise ValueError("the last upstream must take every remaining path (paths=None)")
        self.upstreams = list(upstreams)
        self.exchanges: list[Exchange] = []
        self.rules: list[Rule] = []
        self.etags = False
        self._session: aiohttp.ClientSession | None = None

    # -- rules -----------------------------------------------------------------------

    def prefer(self, method: str, path: str, status: int, **headers: str) -> None:
        """Ask Prism for the documented ``status`` on ``METHOD path`` (every time)."""
        self.rules.append(Rule(method.upper(), path, status, "prefer", dict(headers)))

    def answer(self, method: str, path: str, status: int, **headers: str) -> None:
        """Answer ``METHOD path`` with ``status`` and GitHub's error body (every time)."""
        self.rules.append(Rule(method.upper(), path, status, "answer", dict(headers)))

    def rewrite(self, method: str, path: str, body: Any) -> None:
        """Forward ``METHOD path`` to Prism, then answer its 200 with ``body`` (as JSON)."""
        payload = json.dumps(body).encode()
        self.rules.append(Rule(method.upper(), path, 200, "rewrite", body=payload))

    def reset(self) -> None:
        """Drop every rule and stop sending ETags; the record is kept."""
        self.rules.clear()
        self.etags = False

    def rule_for(self, method: str, path: str) -> Rule | None:
        return next((r for r in self.rules if r.method == method and r.path == path), None)

    def upstream_for(self, path: str) -> Upstream:
        return next(u for u in self.upstreams if u.paths is None or u.paths.search(path))

    # -- observation -----------------------------------------------------------------

    def calls(self, since: int = 0) -> list[tuple[str, str]]:
        """(METHOD, raw path) of every exchange from index ``since`` on."""
        return [(e.method, e.path) for e in self.exchanges[since:]]

    # -- serving ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yield the base URL."""
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=True) as session:
            self._session = session
            try:
                async with serve(self) as url:
                    yield url
            finally:
                self._session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app (the object itself, so that uvicorn sees an ASGI 3 callable)."""
        response = await self._handle(Request(scope, receive))
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        query = request.scope.get("query_string", b"").decode("latin-1")
        method = request.method.upper()
        headers = {k.lower(): v for k, v in request.headers.items()}
        upstream = self.upstream_for(path)
        exchange = Exchange(method, path, query, headers, upstream.spec)
        self.exchanges.append(exchange)
        rule = self.rule_for(method, path)
        body = await request.body()

        if rule is not None and rule.mode == "answer" and rule.status != 304:
            payload = {
                "message": GITHUB_MESSAGES.get(rule.status, "Error"),
                "documentation_url": GITHUB_DOCS,
                "status": str(rule.status),
            }
            exchange.answered_by = "proxy"
            out_headers = {"content-type": "application/json; charset=utf-8", **rule.headers}
            return self._finish(exchange, rule.status, out_headers, json.dumps(payload).encode())

        forward = {k: v for k, v in headers.items() if k not in HOP_HEADERS}
        if rule is not None and rule.mode == "prefer":
            forward["prefer"] = exchange.prefer = f"code={rule.status}"
        assert self._session is not None, "serve the proxy with running()"
        url = URL(upstream.base_url + path + (f"?{query}" if query else ""), encoded=True)
        async with self._session.request(
            method, url, headers=forward, data=body or None, allow_redirects=False
        ) as resp:
            content = await resp.read()
            status = resp.status
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
        if rule is not None:
            out_headers.update(rule.headers)
            if rule.mode == "rewrite" and status == 200 and rule.body is not None:
                content, exchange.answered_by = rule.body, "proxy"
        if self.etags and method == "GET" and status == 200:
            etag = etag_of(content)
            out_headers["etag"] = etag
            if rule is not None and rule.status == 304 and etag in headers.get("if-none-match", ""):
                exchange.answered_by = "proxy"
                out_headers.pop("content-type", None)
                out_headers.pop("Content-Type", None)
                return self._finish(exchange, 304, out_headers, b"", sent=content)
        return self._finish(exchange, status, out_headers, content)

    @staticmethod
    def _finish(
        exchange: Exchange,
        status: int,
        headers: dict[str, str],
        body: bytes,
        *,
        sent: bytes | None = None,
    ) -> Response:
        exchange.status = status
        exchange.response_headers = dict(headers)
        exchange.body = body if sent is None else sent
        return Response(body, status_code=status, headers=headers)
