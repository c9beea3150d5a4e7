"""The runnerops web service: ``uvicorn app:app``.

Routes: ``POST /slack/events`` (slash commands and buttons), ``POST /github/webhooks``,
``GET /healthz``. Configuration comes from the environment (see README).
"""

from __future__ import annotations

import asyncio
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
from bot.config import ConfigError, Settings, ephemeral_disk_warning, load_settings
from bot.policy.rules import PolicyError
from bot.services import Services
from bot.slack.bolt import build_slack_app
from bot.store import DatabaseConfigError, Store
from bot.store.database import StoreUnavailable
from bot.watch.sweep import Sweeper

log = logging.getLogger("runnerops")
MAINTENANCE_SECONDS = 3600.0


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or load_settings()
    services = services or Services.build(settings)
    slack = AsyncSlackRequestHandler(build_slack_app(services, handlers.commands))
    sweeper = Sweeper(services)

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
        try:
            event = sansio.Event.from_http(
                request.headers, body, secret=settings.github_webhook_secret
            )
        except ValidationFailure:
            return PlainTextResponse("invalid signature", status_code=401)
        except (KeyError, BadRequest, ValueError):
            return PlainTextResponse("not a GitHub webhook delivery", status_code=400)
        if event.event == "ping":
            return JSONResponse({"msg": "pong"})
        delivery = request.headers.get("x-github-delivery")
        key = f"delivery:{delivery}"
        once = services.store.once
        try:
            if delivery and not await once.begin(key):
                return JSONResponse({"msg": "already processed", "delivery": delivery})
        except StoreUnavailable:
            return PlainTextResponse("database unavailable; redeliver later", status_code=503)
        try:
            await handlers.webhooks.dispatch(event, services)
        except Exception:
            # Not marked done: GitHub's manual redelivery (same X-GitHub-Delivery) runs again.
            log.exception("a %s webhook handler failed", event.event)
            if delivery:
                with contextlib.suppress(StoreUnavailable):
                    await once.forget(key)
            return PlainTextResponse("the delivery could not be processed", status_code=500)
        if delivery:
            with contextlib.suppress(StoreUnavailable):
                await once.done(key)
        return JSONResponse({"msg": "accepted", "event": event.event})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        maintenance = asyncio.create_task(maintain(services.store))
        tasks = [maintenance]
        if settings.sweep_seconds > 0:  # the watch: alerts on stuck jobs, offline runners
            tasks.append(asyncio.create_task(sweeper.run_forever(settings.sweep_seconds)))
        yield
        for task in tasks:
            task.cancel()
        await sweeper.close()
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
    app.state.sweeper = sweeper
    return app


async def maintain(store: Store, every: float = MAINTENANCE_SECONDS) -> None:
    """Retention in the background, never on a request's path: old audit entries
    (AUDIT_RETENTION_DAYS) and expired once-records go, shortly after start and hourly."""
    await asyncio.sleep(min(60.0, every))
    while True:
        try:
            audit, once = await store.maintain()
            if audit or once:
                log.info("retention: %d audit entries and %d once-records removed", audit, once)
        except StoreUnavailable:
            pass  # logged by the store; the next round tries again
        except Exception:
            log.exception("retention failed")
        await asyncio.sleep(every)


def _from_environment() -> Starlette:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if warning := ephemeral_disk_warning():
        log.warning(warning)
    try:
        return create_app()
    except (ConfigError, PolicyError, DatabaseConfigError) as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None


def __getattr__(name: str) -> Starlette:
    """``app`` is built from the environment on first access (``uvicorn app:app``), so
    importing :func:`create_app` elsewhere reads no environment."""
    if name == "app":
        globals()["app"] = built = _from_environment()
        return built
    raise AttributeError(name)
