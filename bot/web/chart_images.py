"""``GET /charts/{kind}.png``: the Home tab's chart images, behind signed, expiring links."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.slack import charts
from bot.store.database import StoreUnavailable
from bot.targets import TargetError
from bot.web.wiring import wiring_of
from handlers import home


async def chart(request: Request) -> Response:
    """A Home-tab chart: only with a signature runnerops gave, only for its life."""
    wiring = wiring_of(request)
    kind, query = request.path_params["kind"], request.query_params
    target = query.get("target", "")
    if kind not in home.CHART_KINDS or not charts.verify(
        f"/charts/{kind}.png",
        target,
        query.get("exp", ""),
        query.get("sig", ""),
        wiring.chart_key,
        time.time(),
    ):
        return PlainTextResponse("not a valid chart link (or it has expired)", status_code=403)
    try:
        png = await home.chart_png(wiring.services, kind, target)
    except TargetError:
        return PlainTextResponse("not a target", status_code=400)
    except StoreUnavailable:
        return PlainTextResponse("database unavailable", status_code=503)
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=300"})
