"""The service's start and stop: its background loops (retention, the audit channel's
flush, the watch's sweep), Socket Mode's connection, and closing all of it in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from bot.slackapp.socket_mode import PING_INTERVAL, SocketMode
from bot.store import Store
from bot.store.database import StoreUnavailable
from bot.web.wiring import Sleep, Wiring

__all__ = ["MAINTENANCE_SECONDS", "PING_INTERVAL", "lifespan", "maintain"]

log = logging.getLogger("runnerops")
MAINTENANCE_SECONDS = 3600.0


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    wiring: Wiring = app.state.wiring
    tasks = start_background(wiring)
    app.state.socket = socket = start_socket_mode(wiring)
    yield
    if socket is not None:
        await socket.close()
    for task in tasks:
        task.cancel()
    await wiring.sweeper.close()
    await wiring.ingest.close()  # what was received is written before the database closes
    await wiring.services.close()


def start_background(wiring: Wiring) -> list[asyncio.Task[None]]:
    """Retention, the audit channel's counts of refusal bursts that ended in silence, and
    the watch (alerts on stuck jobs, offline runners) unless RUNNEROPS_SWEEP_SECONDS is 0."""
    services, seconds = wiring.services, wiring.settings.sweep_seconds
    tasks = [
        asyncio.create_task(maintain(services.store, sleep=wiring.maintenance_sleep)),
        asyncio.create_task(services.audit_channel.flush_forever()),
    ]
    if seconds > 0:
        tasks.append(asyncio.create_task(wiring.sweeper.run_forever(seconds)))
    return tasks


def start_socket_mode(wiring: Wiring) -> SocketMode | None:
    """Slack over runnerops' own connection (SLACK_APP_TOKEN), not /slack/events; started
    in the background: webhooks are served whatever Slack does."""
    token = wiring.settings.slack_app_token
    if not token:
        return None
    socket = SocketMode(
        wiring.bolt,
        token,
        wiring.services.store.once,
        ping_interval=wiring.socket_ping_interval,
    )
    socket.start()
    return socket


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
