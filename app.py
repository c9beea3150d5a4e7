"""The runnerops web service: ``uvicorn app:app``.

Routes: ``POST /slack/events`` (slash commands and buttons), ``POST /github/webhooks``,
``GET /healthz``. Configuration comes from the environment (see README).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from gidgethub import BadRequest, ValidationFailure, sansio
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import handlers
from bot.config import ConfigError, Settings, load_settings
from bot.policy.rules import PolicyError
from bot.services import Services
from bot.slack.bolt import build_slack_app
from bot.store.audit import AuditConfigError

log = logging.getLogger("runnerops")


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or load_settings()
    services = services or Services.build(settings)
    slack = AsyncSlackRequestHandler(build_slack_app(services, handlers.commands))

    verifier = SignatureVerifier(settings.slack_signing_secret)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("request body is not UTF-8", status_code=400)
        try:
            return await slack.handle(request)
        except (ValueError, KeyError, TypeError, AttributeError):
            # slack-bolt parses the body before it checks the signature; a body it cannot
            # parse is refused here, as unsigned (401) or as malformed (400).
            if not verifier.is_valid_request(body, dict(request.headers)):
                return PlainTextResponse("invalid request signature", status_code=401)
            return PlainTextResponse("malformed Slack request", status_code=400)

    async def github_webhooks(request: Request) -> Response:
        body = await request.body()
        # SHA-256 only: gidgethub falls back to the legacy SHA-1 ``X-Hub-Signature`` (and
        # accepts ``sha1=`` in either header), so it is shown neither.
        signature = request.headers.get("x-hub-signature-256", "")
        if not signature.startswith("sha256="):
            return PlainTextResponse("invalid signature", status_code=401)
        headers = {k: v for k, v in request.headers.items() if k != "x-hub-signature"}
        try:
            event = sansio.Event.from_http(headers, body, secret=settings.github_webhook_secret)
        except ValidationFailure:
            return PlainTextResponse("invalid signature", status_code=401)
        except (KeyError, BadRequest, ValueError):
            return PlainTextResponse("not a GitHub webhook delivery", status_code=400)
        if event.event == "ping":
            return JSONResponse({"msg": "pong"})
        # A delivery is marked done only once its handler succeeded, so that GitHub's
        # redelivery (same X-GitHub-Delivery) of a failed one is processed. Two copies
        # arriving at the same time may both run; the handlers are idempotent (they drop
        # cached installation data), so that is acceptable.
        key = ("delivery", event.delivery_id)  # from_http requires the header
        if services.once.is_done(key):
            return JSONResponse({"msg": "already processed", "delivery": event.delivery_id})
        try:
            await handlers.webhooks.dispatch(event, services)
        except Exception:
            log.exception("webhook %s (delivery %s) failed", event.event, event.delivery_id)
            return JSONResponse(
                {"msg": "failed; redeliver it from the GitHub App's settings"}, status_code=500
            )
        services.once.done(key)
        return JSONResponse({"msg": "accepted", "event": event.event})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await services.close()

    app = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/github/webhooks", github_webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def _from_environment() -> Starlette:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return create_app()
    except (ConfigError, PolicyError, AuditConfigError) as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None


def __getattr__(name: str) -> Starlette:
    """``app`` is built from the environment on first access (``uvicorn app:app``), so
    importing :func:`create_app` elsewhere reads no environment."""
    if name == "app":
        globals()["app"] = built = _from_environment()
        return built
    raise AttributeError(name)
