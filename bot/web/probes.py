"""``GET /healthz`` (the process answers), ``GET /readyz`` (its dependencies do) and
``GET /metrics`` (Prometheus, behind METRICS_TOKEN: bot.web.guards)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.observe.readiness import sweep_readiness
from bot.store.database import StoreUnavailable
from bot.store.health import SweepState
from bot.web.wiring import wiring_of

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


async def healthz(request: Request) -> Response:
    """Cheap: the process answers. Dependencies are /readyz's business."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when every check passes; the failing ones are named. Each check has its
    own deadline, so the answer comes within READY_DEADLINE whatever hangs."""
    wiring = wiring_of(request)
    services = wiring.services
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
        enabled = wiring.settings.sweep_seconds > 0
        results["sweep"], body["sweep"] = sweep_readiness(found[0], now, enabled=enabled)
    ready = all(result == "ok" for result in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "unready", "checks": results, **body},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    """The metrics (the route exists only with METRICS_TOKEN; its guard asks for it)."""
    wiring = wiring_of(request)
    served = wiring.services.metrics
    try:
        await served.serve(wiring.services.store, leader=wiring.sweeper.leader.held)
    except StoreUnavailable:
        pass  # the process's own counters still answer; /readyz names the database
    return Response(served.render(), media_type=CONTENT_TYPE_LATEST)
