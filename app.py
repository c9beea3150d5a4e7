"""The runnerops web service: ``uvicorn app:app``.

Routes: ``POST /slack/events`` (slash commands and buttons; absent in Socket Mode, where
runnerops connects to Slack itself: SLACK_APP_TOKEN), ``POST /github/webhooks``,
``GET /healthz``, ``GET /readyz``, ``GET /charts/{kind}.png`` and ``GET /metrics`` (with
METRICS_TOKEN). Configuration comes from the environment (see README); without the
GitHub App's or the Slack app's variables the process serves setup mode (``bot.setup``).

This module wires routes only: the guards each route runs before its endpoint are in
``bot.web.guards``, the endpoints in ``bot.web``, start and stop in ``bot.web.lifespan``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

import handlers
from bot.config import (
    ConfigError,
    Settings,
    ephemeral_disk_warning,
    load_settings,
    load_setup_settings,
)
from bot.observe.logs import configure as configure_logs
from bot.observe.metrics import Metrics
from bot.policy.rules import Policy, PolicyError
from bot.services import Services
from bot.slack import charts
from bot.slackapp.bolt import build_slack_app
from bot.store import DatabaseConfigError
from bot.web import chart_images, probes, slack, webhooks
from bot.web.guards import (
    GITHUB_BODY_CAP,
    SLACK_BODY_CAP,
    ByteBudget,
    bearer_guards,
    chart_guards,
    slack_guards,
    webhook_guards,
)
from bot.web.lifespan import PING_INTERVAL, lifespan
from bot.web.wiring import Sleep, Wiring
from handlers import home

__all__ = ["GITHUB_BODY_CAP", "SLACK_BODY_CAP", "create_app", "startup_message"]

log = logging.getLogger("runnerops")


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
    wiring = Wiring.build(
        settings,
        services,
        bolt,
        maintenance_sleep=maintenance_sleep,
        socket_ping_interval=socket_ping_interval,
    )
    unverified = ByteBudget(settings.webhook_unverified_bytes)
    # Slack's own budget: a flood of one kind cannot turn the other away.
    unverified_slack = ByteBudget(settings.slack_unverified_bytes)
    app = Starlette(
        routes=routes(settings, services.metrics, unverified, unverified_slack),
        lifespan=lifespan,
    )
    app.state.wiring = wiring
    app.state.services = services
    app.state.sweeper = wiring.sweeper
    app.state.ingest = wiring.ingest
    app.state.unverified = unverified
    app.state.unverified_slack = unverified_slack
    return app


def routes(
    settings: Settings, metrics: Metrics, unverified: ByteBudget, unverified_slack: ByteBudget
) -> list[Route]:
    """The service's routes, each with its guards (outermost first)."""
    github_webhooks = Route(
        "/github/webhooks",
        webhooks.github_webhooks,
        methods=["POST"],
        middleware=[
            Middleware(webhooks.CountDeliveries, metrics=metrics),
            *webhook_guards(settings.github_webhook_secret, unverified),
        ],
    )
    return [
        # In Socket Mode Slack sends nothing here: the route does not exist (404).
        *([] if settings.socket_mode else [slack_route(settings, metrics, unverified_slack)]),
        github_webhooks,
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route(
            "/charts/{kind}.png",
            chart_images.chart,
            methods=["GET"],
            middleware=chart_guards(charts.chart_key(settings.chart_secret), home.CHART_KINDS),
        ),
        # Without METRICS_TOKEN the route does not exist: metrics are not public data.
        *([metrics_route(settings.metrics_token)] if settings.metrics_token else []),
    ]


def metrics_route(token: str) -> Route:
    return Route("/metrics", probes.metrics, methods=["GET"], middleware=bearer_guards(token))


def slack_route(settings: Settings, metrics: Metrics, unverified_slack: ByteBudget) -> Route:
    """/slack/events, HTTP mode only (Socket Mode may have no signing secret at all)."""
    return Route(
        "/slack/events",
        slack.slack_events,
        methods=["POST"],
        middleware=[
            Middleware(slack.CountAcks, metrics=metrics),
            *slack_guards(settings.slack_signing_secret, unverified_slack),
        ],
    )


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
