"""The runnerops web service: ``uvicorn app:app``.

Routes: ``POST /slack/events`` (slash commands and buttons; absent in Socket Mode, where
runnerops connects to Slack itself: SLACK_APP_TOKEN), ``POST /github/webhooks``,
``GET /healthz``. Configuration comes from the environment (see README); without the
GitHub App's or the Slack app's variables the process serves setup mode (``bot.setup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import cast

from gidgethub import BadRequest, ValidationFailure, sansio
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import handlers
from bot.config import (
    ConfigError,
    Settings,
    ephemeral_disk_warning,
    load_settings,
    load_setup_settings,
)
from bot.errors import RunnerOpsError
from bot.observe.logs import configure as configure_logs
from bot.observe.logs import new_request_id
from bot.observe.readiness import sweep_readiness
from bot.policy.rules import Policy, PolicyError
from bot.services import Services
from bot.slack import charts
from bot.slackapp.bolt import build_slack_app
from bot.slackapp.socket_mode import PING_INTERVAL, SocketMode
from bot.store import DatabaseConfigError, Store
from bot.store.database import StoreUnavailable
from bot.store.health import SweepState
from bot.sweep.ingest import DUPLICATE, Ingest, Rejected
from bot.sweep.loop import Sweeper
from bot.targets import Scope, Target, TargetError
from handlers import home, installations, jobs

log = logging.getLogger("runnerops")
MAINTENANCE_SECONDS = 3600.0
Sleep = Callable[[float], Awaitable[None]]  # how the background loops wait
ALREADY = "already processed"
FAILED = "failed; redeliver it from the GitHub App's settings"

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


# /readyz answers within READY_DEADLINE: its checks run side by side, each within its own
# deadline (an orchestrator's probe commonly gives up after a few seconds).
READY_DEADLINE = 2.0
DATABASE_CHECK_SECONDS = 1.5
Check = tuple[Callable[[], Awaitable[None]], float]  # what to await, and its deadline
_abandoned_checks: set[asyncio.Task[None]] = set()


async def run_check(check: Callable[[], Awaitable[None]], deadline: float) -> str:
    """``ok``, or ``unreachable (why)``: the error's class, or its deadline passing.

    A check past its deadline is cancelled and left to unwind on its own (a driver waiting
    on a silent server may take its time to let go): the probe does not wait for it."""

    async def call() -> None:
        await check()

    task = asyncio.ensure_future(call())
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        _abandoned_checks.add(task)
        task.add_done_callback(_reap_check)
        return f"unreachable (no answer within {deadline:g} s)"
    error = task.exception()
    if error is None:
        return "ok"
    if isinstance(error, StoreUnavailable) and error.reason:
        return f"unreachable ({error.reason})"
    return f"unreachable ({type(error).__name__})"


def _reap_check(task: asyncio.Task[None]) -> None:
    _abandoned_checks.discard(task)
    if not task.cancelled():
        task.exception()


async def run_checks(checks: dict[str, Check]) -> dict[str, str]:
    """Every check's result by name, the checks run side by side."""
    results = await asyncio.gather(*(run_check(c, d) for c, d in checks.values()))
    return dict(zip(checks, results, strict=True))


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


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    maintenance_sleep: Sleep = asyncio.sleep,
    socket_ping_interval: float = PING_INTERVAL,
) -> Starlette:
    """``maintenance_sleep`` paces the background retention; tests pass one they release.
    ``socket_ping_interval`` paces Socket Mode's liveness checks (tests shorten it)."""
    settings = settings or load_settings()
    services = services or Services.build(settings)
    bolt = build_slack_app(services, handlers.commands, home=home.publish)
    chart_signing = charts.chart_key(settings.chart_secret)
    metrics = services.metrics
    sweeper = Sweeper(services)
    ingest = Ingest.for_store(services.store)  # workflow_job deliveries, written in batches

    # Only HTTP mode has signed requests (Socket Mode may have no signing secret at all).
    verifier = None if settings.socket_mode else SignatureVerifier(settings.slack_signing_secret)
    unverified = ByteBudget(settings.webhook_unverified_bytes)
    refusals = installations.NotServed()
    # Slack's own budget: a flood of one kind cannot turn the other away.
    unverified_slack = ByteBudget(settings.slack_unverified_bytes)

    async def slack_events(request: Request) -> Response:
        new_request_id()  # follows the command into its lazy listener and its reply
        started = time.perf_counter()
        response = await _slack_events(request)
        metrics.slack_acks.labels(str(response.status_code)).inc()
        metrics.slack_ack_seconds.observe(time.perf_counter() - started)
        return response

    async def _slack_events(request: Request) -> Response:
        # The body's bytes count against Slack's budget until its signature is checked.
        with unverified_slack.hold() as held:
            try:
                body = await read_capped(request, SLACK_BODY_CAP, held)
            except BudgetFull:
                return busy()
            if body is None:
                return too_large(SLACK_BODY_CAP)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return PlainTextResponse("request body is not UTF-8", status_code=400)
            # The signature is checked here, before slack-bolt parses the body or logs it
            # (bolt logs a failed check at INFO with the whole body): an unsigned body
            # costs one HMAC and is neither parsed nor logged. Bolt checks it again.
            # slack_sdk's verifier int()s the timestamp and raises on anything else.
            timestamp = request.headers.get("x-slack-request-timestamp")
            readable = timestamp is None or slack_timestamp_ok(timestamp)
            assert verifier is not None  # the route exists only in HTTP mode
            signed = readable and verifier.is_valid_request(text, request.headers)
            if not signed and not is_ssl_check(body, request.headers.get("content-type")):
                if not readable:
                    log.info("refused a Slack request whose timestamp is not a whole number")
                return PlainTextResponse("invalid request signature", status_code=401)
        try:
            # The body already read is handed over (the stream cannot be read twice).
            return to_starlette_response(
                await bolt.async_dispatch(to_async_bolt_request(request, as_bytes(body)))
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            # slack-bolt cannot parse this signed body.
            return PlainTextResponse("malformed Slack request", status_code=400)

    async def github_webhooks(request: Request) -> Response:
        delivery = request.headers.get("x-github-delivery", "")
        new_request_id(delivery if DELIVERY_ID.fullmatch(delivery) else None)
        response, outcome = await _github_webhooks(request)
        event = request.headers.get("x-github-event", "")[:40] or "(none)"
        if response.status_code == 401:
            event = "(unsigned)"  # an unauthenticated caller chooses no label values
        outcome = outcome or str(response.status_code)  # a refusal counts as its status
        metrics.webhook_deliveries.labels(metrics.events(event), outcome).inc()
        return response

    async def _github_webhooks(request: Request) -> tuple[Response, str | None]:
        """The answer, and the outcome the deliveries metric counts when it is not a
        refusal (accepted, duplicate, failed)."""
        # SHA-256 only: gidgethub falls back to the legacy SHA-1 ``X-Hub-Signature`` (and
        # accepts ``sha1=`` in either header), so it is shown neither.
        signature = request.headers.get("x-hub-signature-256", "")
        if not signature.startswith("sha256="):
            return PlainTextResponse("invalid signature", status_code=401), None
        headers = {k: v for k, v in request.headers.items() if k != "x-hub-signature"}
        # The body's bytes count against the shared budget until its signature is
        # checked (whatever the outcome); a verified body is no longer the budget's.
        with unverified.hold() as held:
            try:
                body = await read_capped(request, GITHUB_BODY_CAP, held)
            except BudgetFull:
                return busy(), None
            if body is None:
                return too_large(GITHUB_BODY_CAP), None
            try:
                event = sansio.Event.from_http(
                    headers, as_bytes(body), secret=settings.github_webhook_secret
                )
            except ValidationFailure:
                return PlainTextResponse("invalid signature", status_code=401), None
            except (KeyError, BadRequest, ValueError):
                return PlainTextResponse("not a GitHub webhook delivery", status_code=400), None
            del body  # the parsed event is what stays
        # The delivery id keys the once-record (an index), and no signature covers it: a
        # GUID from GitHub, so anything long or odd is refused before it is stored or logged.
        if not DELIVERY_ID.fullmatch(request.headers.get("x-github-delivery", "")):
            return PlainTextResponse(
                "not a GitHub webhook delivery (X-GitHub-Delivery)", status_code=400
            ), None
        if event.event == "ping":
            return JSONResponse({"msg": "pong"}), None
        refused = await not_served(event)
        if refused is not None:
            return refused
        # A delivery is marked done only once its handler succeeded, so that GitHub's
        # redelivery (same X-GitHub-Delivery) of a failed one is processed; the database
        # decides which process runs it when copies reach several at once.
        delivery = event.delivery_id  # from_http requires the header
        if event.event == jobs.EVENT:
            return await workflow_job(event)
        key = f"delivery:{delivery}"
        once = services.store.once
        try:
            if not await once.begin(key):
                return JSONResponse({"msg": ALREADY, "delivery": delivery}), "duplicate"
        except StoreUnavailable:
            return PlainTextResponse("database unavailable; redeliver later", status_code=503), None
        try:
            await handlers.webhooks.dispatch(event, services)
        except Exception:
            log.exception("webhook %s (delivery %s) failed", event.event, delivery)
            with contextlib.suppress(StoreUnavailable):
                await once.forget(key)
            return JSONResponse({"msg": FAILED}, status_code=500), "failed"
        with contextlib.suppress(StoreUnavailable):
            await once.done(key)
        return JSONResponse({"msg": "accepted", "event": event.event}), "accepted"

    async def not_served(event: sansio.Event) -> tuple[Response, str | None] | None:
        """A delivery from an account this deployment does not serve: answered 200 (GitHub
        would not retry anyway; a 2xx keeps the App's delivery log free of false alarms)
        with a "not served" message, logged (see NotServed), and nothing stored.

        With GITHUB_ALLOWED_ACCOUNTS empty the App's owner is asked of GitHub; while
        GitHub does not say, deliveries are taken as before (GitHub never redelivers, and
        a private App, setup's default, can be installed on its owner alone)."""
        account = installations.account_of(event.data)
        if account is None:
            return None
        try:
            if await services.github.serves(account):
                return None
            allowed = await services.github.served_accounts(Target(Scope.ORG, account))
        except RunnerOpsError:
            return None  # GET /app failed and was logged; asked again after OWNER_RETRY
        refusals.refused(event, account, allowed or ())
        return JSONResponse(
            {"msg": "not served: the account is not in GITHUB_ALLOWED_ACCOUNTS", "account": account}
        ), "not_served"

    async def workflow_job(event: sansio.Event) -> tuple[Response, str | None]:
        """Stored with the deliveries that arrive alongside, in one transaction, and
        answered once that has committed. Its once-record is written in the same
        transaction, so a failed delivery is not marked done and its redelivery runs."""
        try:
            outcome = await jobs.receive(event, services, ingest)
        except StoreUnavailable:
            return PlainTextResponse("database unavailable; redeliver later", status_code=503), None
        except Rejected as error:
            log.warning(
                "webhook %s (delivery %s) failed: %s", event.event, event.delivery_id, error
            )
            return JSONResponse({"msg": FAILED}, status_code=500), "failed"
        if outcome == DUPLICATE:
            return JSONResponse({"msg": ALREADY, "delivery": event.delivery_id}), "duplicate"
        return JSONResponse({"msg": "accepted", "event": event.event}), "accepted"

    async def healthz(request: Request) -> Response:
        """Cheap: the process answers. Dependencies are /readyz's business."""
        return JSONResponse({"status": "ok"})

    async def chart(request: Request) -> Response:
        """A Home-tab chart: only with a signature runnerops gave, only for its life."""
        kind, query = request.path_params["kind"], request.query_params
        target = query.get("target", "")
        if kind not in home.CHART_KINDS or not charts.verify(
            f"/charts/{kind}.png",
            target,
            query.get("exp", ""),
            query.get("sig", ""),
            chart_signing,
            time.time(),
        ):
            return PlainTextResponse("not a valid chart link (or it has expired)", status_code=403)
        try:
            png = await home.chart_png(services, kind, target)
        except TargetError:
            return PlainTextResponse("not a target", status_code=400)
        except StoreUnavailable:
            return PlainTextResponse("database unavailable", status_code=503)
        return Response(
            png, media_type="image/png", headers={"cache-control": "private, max-age=300"}
        )

    async def readyz(request: Request) -> Response:
        """Ready when every check passes; the failing ones are named. Each check has its
        own deadline, so the answer comes within READY_DEADLINE whatever hangs."""
        found: list[SweepState] = []

        async def sweep_state() -> None:
            found.append(await services.store.health.sweep_state())

        checks: dict[str, Check] = {
            "database": (services.store.db.ping, DATABASE_CHECK_SECONDS),
            "sweep": (sweep_state, DATABASE_CHECK_SECONDS),
        }
        results = await run_checks(checks)
        body: dict[str, object] = {}
        if found:
            now = datetime.fromtimestamp(services.clock(), UTC)
            enabled = settings.sweep_seconds > 0
            results["sweep"], body["sweep"] = sweep_readiness(found[0], now, enabled=enabled)
        ready = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unready", "checks": results, **body},
            status_code=200 if ready else 503,
        )

    async def metrics_endpoint(request: Request) -> Response:
        token = settings.metrics_token or ""
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse(
                "a bearer token (METRICS_TOKEN) is required",
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        try:
            await metrics.serve(services.store, leader=sweeper.leader.held)
        except StoreUnavailable:
            pass  # the process's own counters still answer; /readyz names the database
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        maintenance = asyncio.create_task(maintain(services.store, sleep=maintenance_sleep))
        # The audit channel's counts of refusal bursts that ended in silence.
        tasks = [maintenance, asyncio.create_task(services.audit_channel.flush_forever())]
        if settings.sweep_seconds > 0:  # the watch: alerts on stuck jobs, offline runners
            tasks.append(asyncio.create_task(sweeper.run_forever(settings.sweep_seconds)))
        socket = None
        if settings.slack_app_token:  # Slack over runnerops' own connection, not /slack/events
            socket = SocketMode(
                bolt,
                settings.slack_app_token,
                services.store.once,
                ping_interval=socket_ping_interval,
            )
            socket.start()  # in the background: webhooks are served whatever Slack does
        app.state.socket = socket
        yield
        if socket is not None:
            await socket.close()
        for task in tasks:
            task.cancel()
        await sweeper.close()
        await ingest.close()  # what was received is written before the database closes
        await services.close()

    app = Starlette(
        routes=[
            # In Socket Mode Slack sends nothing here: the route does not exist (404).
            *(
                []
                if settings.socket_mode
                else [Route("/slack/events", slack_events, methods=["POST"])]
            ),
            Route("/github/webhooks", github_webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/charts/{kind}.png", chart, methods=["GET"]),
            # Without METRICS_TOKEN the route does not exist: metrics are not public data.
            *(
                [Route("/metrics", metrics_endpoint, methods=["GET"])]
                if settings.metrics_token
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.sweeper = sweeper
    app.state.ingest = ingest
    app.state.unverified = unverified
    app.state.unverified_slack = unverified_slack
    return app


async def maintain(
    store: Store, every: float = MAINTENANCE_SECONDS, *, sleep: Sleep = asyncio.sleep
) -> None:
    """Retention in the background, never on a request's path: old audit entries
    (AUDIT_RETENTION_DAYS) and expired once-records go, shortly after start and hourly."""
    await sleep(min(60.0, every))
    while True:
        try:
            audit, once = await store.maintain()
            if audit or once:
                log.info("retention: %d audit entries and %d once-records removed", audit, once)
        except StoreUnavailable:
            pass  # logged by the store; the next round tries again
        except Exception:
            log.exception("retention failed")
        await sleep(every)


def _from_environment() -> Starlette:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    configure_logs(os.environ.get("LOG_FORMAT", "text").strip().lower())
    if warning := ephemeral_disk_warning():
        log.warning(warning)
    try:
        # Without the GitHub App's (or the Slack app's) variables a fresh deploy opens on its
        # setup page rather than exit; any other configuration error still stops it here.
        if (setup := load_setup_settings()) is not None:
            from bot.setup import create_setup_app

            Policy.from_setting(setup.policy)  # a policy that will not parse is named now
            return create_setup_app(setup)
        return create_app()
    except (ConfigError, PolicyError, DatabaseConfigError) as exc:
        print(startup_message(exc), file=sys.stderr)
        raise SystemExit(1) from None


def startup_message(exc: Exception) -> str:
    """What stops start-up, each line saying so as the settings' own messages do."""
    prefix = "runnerops cannot start: "
    return "\n".join(
        line if line.startswith(prefix) else prefix + line for line in str(exc).splitlines()
    )


def __getattr__(name: str) -> Starlette:
    """``app`` is built from the environment on first access (``uvicorn app:app``), so
    importing :func:`create_app` elsewhere reads no environment."""
    if name == "app":
        globals()["app"] = built = _from_environment()
        return built
    raise AttributeError(name)
