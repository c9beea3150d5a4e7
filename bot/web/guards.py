"""Request guards: ASGI middleware that runs before an endpoint, on the routes that need it.

A signed request's body is read whole before its signature can be checked. So each signed
route caps its body (413 as soon as it is known to be over, before it is buffered or
hashed), holds the bytes not yet verified against a budget shared by that route's requests
(503 when full), and hands the endpoint only what passed the check (``request.state``).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator
from typing import cast

from gidgethub import BadRequest, ValidationFailure, sansio
from slack_sdk.signature import SignatureVerifier
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.slack import charts

log = logging.getLogger("runnerops")

# Body caps, per route; a body over its cap is refused with 413 as it streams in, before
# it is buffered or its signature checked (the signature covers the whole body).
# Slack: slash commands are a few KB (the text is short); the largest things Slack posts
# here are interactivity payloads, which carry the whole message the button sits in (up to
# 50 blocks of up to 3,000 characters of text or 10 fields each), JSON inside a form field.
# Our own messages stay well under 100 KB that way; 1 MiB leaves room for the largest
# message Slack allows while an unsigned caller can make us read and hash at most 1 MiB.
SLACK_BODY_CAP = 1024 * 1024
# GitHub caps webhook payloads at 25 MB and does not deliver larger ones.
GITHUB_BODY_CAP = 25 * 1024 * 1024
# Bodies are read whole before their signature can be checked; the bytes of those not yet
# checked share one budget across requests per route (Settings.webhook_unverified_bytes,
# Settings.slack_unverified_bytes), so that a crowd of fake-signed 25 MB webhook bodies, or
# of unsigned 1 MiB Slack bodies, gets 503 instead of a gigabyte of memory.
# GitHub's X-GitHub-Delivery is a GUID; a little room for other forms, none for abuse.
DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
BUSY_RETRY_AFTER = 10  # seconds; a refused delivery is redelivered from the App's settings
_SSL_CHECK_FIELDS = {"ssl_check", "token"}
_SSL_CHECK_MAX = 1024


class BudgetFull(Exception):
    """The bytes of unverified bodies held across requests would exceed their budget."""


class ByteBudget:
    """Bytes of request bodies read but not yet verified, summed across the requests in
    flight. A cap per body bounds one request; this bounds them all at once, so that many
    concurrent unsigned bodies, each under its cap, cannot grow memory without end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[Held]:
        """A request's share: whatever it took goes back when the block exits."""
        held = Held(self)
        try:
            yield held
        finally:
            self.used -= held.bytes
            held.bytes = 0


class Held:
    """One request's bytes of a :class:`ByteBudget`."""

    def __init__(self, budget: ByteBudget) -> None:
        self.budget = budget
        self.bytes = 0

    def take(self, n: int) -> None:
        """Raise :class:`BudgetFull` (taking nothing) unless ``n`` more bytes fit."""
        if self.budget.used + n > self.budget.total:
            raise BudgetFull
        self.budget.used += n
        self.bytes += n

    def up_to(self, n: int) -> None:
        """Hold ``n`` bytes in all (no more is taken if as many are held already)."""
        if n > self.bytes:
            self.take(n - self.bytes)


async def read_capped(request: Request, cap: int, held: Held | None = None) -> bytearray | None:
    """The request's body, or None as soon as it is known to exceed ``cap`` bytes: from
    its Content-Length before reading any of it, or while it streams in, chunk by chunk,
    so that an oversize body is never held in memory whole.

    With ``held``, the bytes come out of a budget shared across requests: a declared
    Content-Length is taken before a byte is read, a chunked body as it arrives; when
    the budget is spent :class:`BudgetFull` is raised (what was taken is the caller's
    to give back, by leaving :meth:`ByteBudget.hold`)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    if held is not None and declared.isdigit():
        held.up_to(int(declared))
    body = bytearray()  # grown in place: no list of chunks joined into a second copy
    async for chunk in request.stream():
        if len(body) + len(chunk) > cap:
            return None
        if held is not None:
            held.up_to(len(body) + len(chunk))
        body += chunk
    return body


def as_bytes(body: bytearray) -> bytes:
    """``body`` for an API typed for bytes that only hashes and decodes it (gidgethub's
    from_http, slack-bolt's request), without copying up to 25 MB."""
    return cast(bytes, body)


def busy() -> Response:
    """The answer when unverified bodies fill their budget: try again shortly."""
    return PlainTextResponse(
        "too many unverified request bodies in flight; retry shortly",
        status_code=503,
        headers={"retry-after": str(BUSY_RETRY_AFTER), "connection": "close"},
    )


def too_large(cap: int) -> Response:
    # Connection: close, so that uvicorn does not go on reading the rest of the body.
    return PlainTextResponse(
        f"request body over {cap} bytes", status_code=413, headers={"connection": "close"}
    )


def slack_timestamp_ok(value: str) -> bool:
    """Whether ``value`` can be Slack's request timestamp: whole seconds in ASCII digits
    (``1.5``, ``0x10``, ``1_0`` or an empty header cannot)."""
    return 0 < len(value) <= 12 and value.isascii() and value.isdigit()


def is_ssl_check(body: bytes | bytearray, content_type: str | None) -> bool:
    """Whether slack-bolt would take ``body`` for Slack's ``ssl_check`` probe, which it
    answers (200, nothing done) before checking a signature. The probe is a few dozen
    bytes; larger bodies are not parsed (parsing is the costly part of an unsigned one)."""
    if len(body) > _SSL_CHECK_MAX or b"ssl_check=1" not in body:
        return False
    text = body.decode("utf-8", "replace")
    if content_type == "application/json" or text.startswith("{") or "payload" in text:
        return False
    fields = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    return fields.get("ssl_check") == "1" and set(fields) <= _SSL_CHECK_FIELDS


class Refused(Exception):
    """A guard's answer instead of the endpoint's."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# Checks a body read within its cap: returns what the endpoint is handed (as
# ``request.state.verified``), or raises Refused.
Verify = Callable[[Request, bytearray], object]


class VerifiedBody:
    """ASGI middleware: the body read within ``cap``, its bytes held against ``budget``
    until ``verify`` has judged them; the endpoint runs only on what passed."""

    def __init__(self, app: ASGIApp, *, cap: int, budget: ByteBudget, verify: Verify) -> None:
        self.app, self.cap, self.budget, self.verify = app, cap, budget, verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            verified = await self._read(Request(scope, receive))
        except Refused as refused:
            await refused.response(scope, receive, send)
            return
        # The stream is spent: the endpoint reads what was verified, not the body again.
        scope.setdefault("state", {})["verified"] = verified
        del verified  # the endpoint's now: a 25 MB body is not held here meanwhile
        await self.app(scope, receive, send)

    async def _read(self, request: Request) -> object:
        # Whatever the outcome, the bytes go back to the budget once they are judged.
        with self.budget.hold() as held:
            try:
                body = await read_capped(request, self.cap, held)
            except BudgetFull:
                raise Refused(busy()) from None
            if body is None:
                raise Refused(too_large(self.cap))
            return self.verify(request, body)


class RequireHeader:
    """ASGI middleware: the endpoint runs only when ``accept`` takes the header's value
    (absent: ""); otherwise ``refusal`` answers, before a byte of the body is read."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str,
        accept: Callable[[str], bool],
        refusal: Callable[[], Response],
    ) -> None:
        self.app, self.header, self.accept, self.refusal = app, header, accept, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.accept(Headers(scope=scope).get(self.header, "")):
            await self.refusal()(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SlackSignature:
    """Verify for /slack/events: a UTF-8 body signed with the signing secret, or Slack's
    ``ssl_check`` probe; the endpoint gets the body's bytes.

    The signature is checked here, before slack-bolt parses the body or logs it (bolt logs
    a failed check at INFO with the whole body): an unsigned body costs one HMAC and is
    neither parsed nor logged. Bolt checks it again."""

    def __init__(self, signing_secret: str) -> None:
        self.verifier = SignatureVerifier(signing_secret)

    def __call__(self, request: Request, body: bytearray) -> bytes:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(PlainTextResponse("request body is not UTF-8", status_code=400)) from None
        # slack_sdk's verifier int()s the timestamp and raises on anything else.
        timestamp = request.headers.get("x-slack-request-timestamp")
        readable = timestamp is None or slack_timestamp_ok(timestamp)
        signed = readable and self.verifier.is_valid_request(text, request.headers)
        if not signed and not is_ssl_check(body, request.headers.get("content-type")):
            if not readable:
                log.info("refused a Slack request whose timestamp is not a whole number")
            raise Refused(PlainTextResponse("invalid request signature", status_code=401))
        return as_bytes(body)


class WebhookSignature:
    """Verify for /github/webhooks: gidgethub checks the SHA-256 signature and parses the
    delivery; the endpoint gets the event (the body is no longer kept)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: Request, body: bytearray) -> sansio.Event:
        # gidgethub falls back to the legacy SHA-1 ``X-Hub-Signature``: it is not shown.
        headers = {k: v for k, v in request.headers.items() if k != "x-hub-signature"}
        try:
            return sansio.Event.from_http(headers, as_bytes(body), secret=self.secret)
        except ValidationFailure:
            raise Refused(_unsigned()) from None
        except (KeyError, BadRequest, ValueError):
            raise Refused(
                PlainTextResponse("not a GitHub webhook delivery", status_code=400)
            ) from None


class SignedChartLink:
    """ASGI middleware for the Home tab's chart images: a known kind, with a signature
    runnerops gave (bot.slack.charts), only for its life; else 403."""

    def __init__(self, app: ASGIApp, *, key: bytes, kinds: Collection[str]) -> None:
        self.app, self.key, self.kinds = app, key, kinds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        kind, query = request.path_params["kind"], request.query_params
        if kind not in self.kinds or not charts.verify(
            f"/charts/{kind}.png",
            query.get("target", ""),
            query.get("exp", ""),
            query.get("sig", ""),
            self.key,
            time.time(),
        ):
            refusal = PlainTextResponse(
                "not a valid chart link (or it has expired)", status_code=403
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unsigned() -> Response:
    return PlainTextResponse("invalid signature", status_code=401)


def _not_a_delivery_id() -> Response:
    return PlainTextResponse("not a GitHub webhook delivery (X-GitHub-Delivery)", status_code=400)


def slack_guards(signing_secret: str, budget: ByteBudget) -> list[Middleware]:
    """/slack/events: within SLACK_BODY_CAP and Slack's budget, signed (or ssl_check)."""
    verify = SlackSignature(signing_secret)
    return [Middleware(VerifiedBody, cap=SLACK_BODY_CAP, budget=budget, verify=verify)]


def webhook_guards(secret: str, budget: ByteBudget) -> list[Middleware]:
    """/github/webhooks, in this order: a SHA-256 signature header (gidgethub would accept
    ``sha1=`` too), the body within GITHUB_BODY_CAP and the webhooks' budget and its
    signature checked, then the delivery id. The id keys the once-record (an index) and
    no signature covers it: a GUID from GitHub, so anything long or odd is refused before
    it is stored or logged."""
    return [
        Middleware(
            RequireHeader,
            header="x-hub-signature-256",
            accept=lambda value: value.startswith("sha256="),
            refusal=_unsigned,
        ),
        Middleware(
            VerifiedBody, cap=GITHUB_BODY_CAP, budget=budget, verify=WebhookSignature(secret)
        ),
        Middleware(
            RequireHeader,
            header="x-github-delivery",
            accept=lambda value: DELIVERY_ID.fullmatch(value) is not None,
            refusal=_not_a_delivery_id,
        ),
    ]


def bearer_guards(token: str) -> list[Middleware]:
    """/metrics: only with ``Authorization: Bearer METRICS_TOKEN`` (compared in constant
    time); metrics are not public data."""
    expected = f"Bearer {token}".encode()
    return [
        Middleware(
            RequireHeader,
            header="authorization",
            accept=lambda value: hmac.compare_digest(value.encode(), expected),
            refusal=_bearer_required,
        )
    ]


def _bearer_required() -> Response:
    return PlainTextResponse(
        "a bearer token (METRICS_TOKEN) is required",
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


def chart_guards(key: bytes, kinds: Collection[str]) -> list[Middleware]:
    """/charts/{kind}.png: a signed, unexpired link to a known kind of chart."""
    return [Middleware(SignedChartLink, key=key, kinds=kinds)]
