"""Slack over Socket Mode: runnerops connects out to Slack, for networks Slack cannot reach.

slack-bolt's own async handler carries each envelope into the same bolt app that answers
``/slack/events`` (bot.slackapp.bolt), so commands, buttons and the Home tab go through the
same dispatcher, policy, audit and once-records. What is added here:

- each envelope is handled once, whichever connection or process it reaches and however
  often Slack re-sends it (a lost acknowledgement, a dropped connection): the first one
  claims ``envelope:ENVELOPE_ID`` in the shared once-records; a repeat is acknowledged and
  nothing else;
- the connection is made in the background, so a Slack outage at start-up never keeps the
  web process (GitHub's webhooks) from serving; its state is logged, never the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.store.once import Once

log = logging.getLogger(__name__)

# How long the once-check may hold an envelope's acknowledgement (Slack allows 3 s); past
# it the envelope counts as new, as Once.first does with the database down.
ONCE_DEADLINE = 1.5
CONNECT_TIMEOUT = 15.0  # seconds to open the WebSocket (apps.connections.open has its own)
PING_INTERVAL = 10.0  # slack-bolt's default; a connection silent for 4 of them is replaced


def envelope_key(request: SocketModeRequest) -> str:
    return f"envelope:{request.envelope_id}"


class _OneLineFailures(logging.Filter):
    """slack_sdk logs each failed connection attempt with its traceback, every ping
    interval while Slack is unreachable: keep the line (it has the reason), drop the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Failed to connect"):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


log.addFilter(_OneLineFailures())


class _OnceHandler(AsyncSocketModeHandler):
    """slack-bolt's handler, first asking the once-records whether the envelope is new."""

    def __init__(self, app: AsyncApp, app_token: str, once: Once, ping_interval: float) -> None:
        super().__init__(app, app_token, logger=log, ping_interval=ping_interval)
        self.once = once

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        try:
            first = await asyncio.wait_for(self.once.first(envelope_key(req)), ONCE_DEADLINE)
        except TimeoutError:
            log.warning("envelope once-check past its deadline; treating the envelope as new")
            first = True
        if not first:
            log.info("acknowledging a re-sent Slack envelope (%s) already handled", req.type)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        started = time.time()
        response = await run_async_bolt_app(self.app, req)
        if response.status != 200:  # an envelope no listener takes: Slack would re-send it
            log.info("acknowledging a Slack envelope (%s) nothing handles", req.type)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await send_async_response(client, req, response, started)


class SocketMode:
    """One process's Socket Mode connection: :meth:`start` in the lifespan, :meth:`close`
    at its end. slack-bolt's client reconnects on its own (``disconnect`` messages, closed
    or silent connections)."""

    def __init__(
        self, app: AsyncApp, app_token: str, once: Once, *, ping_interval: float = PING_INTERVAL
    ) -> None:
        self.handler = _OnceHandler(app, app_token, once, ping_interval)
        client = self.handler.client
        # A deadline on opening the socket (aiohttp's default waits 5 minutes).
        self._unused_session = client.aiohttp_client_session
        client.aiohttp_client_session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT)
        )
        client.message_listeners.append(self._on_message)
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connect in the background: start-up does not wait for Slack."""
        log.info("Slack Socket Mode: connecting")
        self._task = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        # slack_sdk retries a failed connect on its own, logging each failure's reason.
        await self.handler.connect_async()  # type: ignore[no-untyped-call]  # slack-bolt's
        if not self.handler.client.closed:
            log.info("Slack Socket Mode: connected")

    async def _on_message(
        self, client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None
    ) -> None:
        kind = message.get("type")
        if kind == "hello":
            self.connected.set()
            log.info(
                "Slack Socket Mode: hello (this app holds %s connection(s))",
                message.get("num_connections", "?"),
            )
        elif kind == "disconnect":
            log.info("Slack Socket Mode: disconnect (%s); reconnecting", message.get("reason"))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.handler.close_async()  # type: ignore[no-untyped-call]  # slack-bolt's
        await self._unused_session.close()
        log.info("Slack Socket Mode: closed")
