"""``POST /slack/events``: slash commands and buttons, handed to the Slack (bolt) app once
the guards (bot.web.guards) have read and verified the body. Absent in Socket Mode."""

from __future__ import annotations

import time

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.observe.logs import new_request_id
from bot.observe.metrics import Metrics
from bot.web.wiring import wiring_of


async def slack_events(request: Request) -> Response:
    body: bytes = request.state.verified  # signed (or Slack's ssl_check probe)
    bolt = wiring_of(request).bolt
    try:
        # The body already read is handed over (the stream cannot be read twice).
        return to_starlette_response(
            await bolt.async_dispatch(to_async_bolt_request(request, body))
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        # slack-bolt cannot parse this signed body.
        return PlainTextResponse("malformed Slack request", status_code=400)


class CountAcks:
    """ASGI middleware, outermost on /slack/events: a request id that follows the command
    into its lazy listener and its reply, and every answer counted by status with its
    time (the guards' refusals too)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        new_request_id()
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":  # counted before Slack sees it
                self.metrics.slack_acks.labels(str(message["status"])).inc()
                self.metrics.slack_ack_seconds.observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, sending)
