"""What the endpoints and the lifespan share, kept on the app as ``app.state.wiring``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from starlette.requests import Request

from bot.config import Settings
from bot.services import Services

# The watch's I/O, imported here alone (the other modules of bot.web take it from here).
from bot.sweep.ingest import DUPLICATE, Ingest, Rejected
from bot.sweep.loop import Sweeper
from handlers.installations import NotServed

__all__ = ["DUPLICATE", "Ingest", "Rejected", "Sleep", "Sweeper", "Wiring", "wiring_of"]

Sleep = Callable[[float], Awaitable[None]]  # how the background loops wait


@dataclass(frozen=True)
class Wiring:
    """One app's parts: its settings and services, the Slack (bolt) app, the watch's
    sweeper, the webhook ingest (workflow_job deliveries, written in batches), and how
    its background loops are paced (tests pass their own)."""

    settings: Settings
    services: Services
    bolt: AsyncApp
    sweeper: Sweeper
    ingest: Ingest
    refusals: NotServed  # deliveries from accounts not served, logged
    maintenance_sleep: Sleep
    socket_ping_interval: float

    @classmethod
    def build(
        cls,
        settings: Settings,
        services: Services,
        bolt: AsyncApp,
        *,
        maintenance_sleep: Sleep,
        socket_ping_interval: float,
    ) -> Wiring:
        return cls(
            settings,
            services,
            bolt,
            Sweeper(services),
            Ingest.for_store(services.store),
            NotServed(),
            maintenance_sleep,
            socket_ping_interval,
        )


def wiring_of(request: Request) -> Wiring:
    wiring: Wiring = request.app.state.wiring
    return wiring
