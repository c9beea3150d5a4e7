"""``GET /charts/{kind}.png``: the Home tab's chart images, behind signed, expiring links
(checked by their guard, bot.web.guards.SignedChartLink)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.store.database import StoreUnavailable
from bot.targets import TargetError
from bot.web.wiring import wiring_of
from handlers import home


async def chart(request: Request) -> Response:
    """A Home-tab chart, drawn from the store for the link's target."""
    kind, target = request.path_params["kind"], request.query_params.get("target", "")
    try:
        png = await home.chart_png(wiring_of(request).services, kind, target)
    except TargetError:
        return PlainTextResponse("not a target", status_code=400)
    except StoreUnavailable:
        return PlainTextResponse("database unavailable", status_code=503)
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=300"})
