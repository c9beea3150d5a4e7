"""``POST /github/webhooks``: GitHub App deliveries, once the guards (bot.web.guards) have
checked the signature and the delivery id. Each delivery is handled once across processes
(a once-record in the database); workflow_job deliveries are stored in batches."""

from __future__ import annotations

import contextlib
import logging

from gidgethub import sansio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import handlers
from bot.errors import RunnerOpsError
from bot.observe.logs import new_request_id
from bot.observe.metrics import Metrics
from bot.store.database import StoreUnavailable
from bot.targets import Scope as TargetScope
from bot.targets import Target
from bot.web.guards import DELIVERY_ID
from bot.web.wiring import DUPLICATE, Rejected, Wiring, wiring_of
from handlers import installations, jobs

log = logging.getLogger("runnerops")
ALREADY = "already processed"
FAILED = "failed; redeliver it from the GitHub App's settings"
Answer = tuple[Response, str | None]  # the response, and the outcome counted (None: its status)


async def github_webhooks(request: Request) -> Response:
    event: sansio.Event = request.state.verified  # signed, its delivery id checked
    response, outcome = await answer(event, wiring_of(request))
    if outcome is not None:
        request.state.outcome = outcome  # for CountDeliveries
    return response


async def answer(event: sansio.Event, wiring: Wiring) -> Answer:
    """The answer, and the outcome the deliveries metric counts when it is not a refusal
    (accepted, duplicate, failed, not_served)."""
    if event.event == "ping":
        return JSONResponse({"msg": "pong"}), None
    refused = await not_served(event, wiring)
    if refused is not None:
        return refused
    if event.event == jobs.EVENT:
        return await workflow_job(event, wiring)
    return await once(event, wiring)


async def once(event: sansio.Event, wiring: Wiring) -> Answer:
    """A delivery is marked done only once its handler succeeded, so that GitHub's
    redelivery (same X-GitHub-Delivery) of a failed one is processed; the database
    decides which process runs it when copies reach several at once."""
    delivery = event.delivery_id  # from_http requires the header
    key = f"delivery:{delivery}"
    records = wiring.services.store.once
    try:
        if not await records.begin(key):
            return JSONResponse({"msg": ALREADY, "delivery": delivery}), "duplicate"
    except StoreUnavailable:
        return PlainTextResponse("database unavailable; redeliver later", status_code=503), None
    try:
        await handlers.webhooks.dispatch(event, wiring.services)
    except Exception:
        log.exception("webhook %s (delivery %s) failed", event.event, delivery)
        with contextlib.suppress(StoreUnavailable):
            await records.forget(key)
        return JSONResponse({"msg": FAILED}, status_code=500), "failed"
    with contextlib.suppress(StoreUnavailable):
        await records.done(key)
    return JSONResponse({"msg": "accepted", "event": event.event}), "accepted"


async def not_served(event: sansio.Event, wiring: Wiring) -> Answer | None:
    """A delivery from an account this deployment does not serve: answered 200 (GitHub
    would not retry anyway; a 2xx keeps the App's delivery log free of false alarms)
    with a "not served" message, logged (see NotServed), and nothing stored.

    With GITHUB_ALLOWED_ACCOUNTS empty the App's owner is asked of GitHub; while
    GitHub does not say, deliveries are taken as before (GitHub never redelivers, and
    a private App, setup's default, can be installed on its owner alone)."""
    account = installations.account_of(event.data)
    if account is None:
        return None
    github = wiring.services.github
    try:
        if await github.serves(account):
            return None
        allowed = await github.served_accounts(Target(TargetScope.ORG, account))
    except RunnerOpsError:
        return None  # GET /app failed and was logged; asked again after OWNER_RETRY
    wiring.refusals.refused(event, account, allowed or ())
    return JSONResponse(
        {"msg": "not served: the account is not in GITHUB_ALLOWED_ACCOUNTS", "account": account}
    ), "not_served"


async def workflow_job(event: sansio.Event, wiring: Wiring) -> Answer:
    """Stored with the deliveries that arrive alongside, in one transaction, and
    answered once that has committed. Its once-record is written in the same
    transaction, so a failed delivery is not marked done and its redelivery runs."""
    try:
        outcome = await jobs.receive(event, wiring.services, wiring.ingest)
    except StoreUnavailable:
        return PlainTextResponse("database unavailable; redeliver later", status_code=503), None
    except Rejected as error:
        log.warning("webhook %s (delivery %s) failed: %s", event.event, event.delivery_id, error)
        return JSONResponse({"msg": FAILED}, status_code=500), "failed"
    if outcome == DUPLICATE:
        return JSONResponse({"msg": ALREADY, "delivery": event.delivery_id}), "duplicate"
    return JSONResponse({"msg": "accepted", "event": event.event}), "accepted"


class CountDeliveries:
    """ASGI middleware, outermost on /github/webhooks: the delivery's id as the request
    id (when it looks like one), and every delivery counted by event and outcome (a
    refusal by its status, an unsigned one under ``(unsigned)``: an unauthenticated
    caller chooses no label values)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        delivery = headers.get("x-github-delivery", "")
        new_request_id(delivery if DELIVERY_ID.fullmatch(delivery) else None)
        state = scope.setdefault("state", {})

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":  # counted before GitHub sees it
                status = message["status"]
                event = headers.get("x-github-event", "")[:40] or "(none)"
                if status == 401:
                    event = "(unsigned)"
                outcome = state.get("outcome") or str(status)
                self.metrics.webhook_deliveries.labels(self.metrics.events(event), outcome).inc()
            await send(message)

        await self.app(scope, receive, sending)
