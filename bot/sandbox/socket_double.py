"""A double of Slack's Socket Mode side: a WebSocket server on loopback.

The Slack double answers ``apps.connections.open`` with this server's URL. Each new
connection gets ``hello``; envelopes (``slash_commands``, ``interactive``,
``events_api``) go out on a connection, and their acknowledgements (``{"envelope_id": …}``)
are awaited with a deadline, as Slack does. What Slack does to a connection is done on
purpose: ``disconnect`` messages (``refresh_requested``, ``warning``), connections closed
or cut, acknowledgements lost on the way, and an unacknowledged envelope re-sent on
another connection with its ``retry_attempt`` counted up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

ACK_DEADLINE = 3.0  # Slack's: an envelope not acknowledged by then is re-sent


@dataclass(frozen=True)
class Ack:
    """One acknowledgement as received: on which connection, after how long, with what."""

    envelope_id: str
    connection: int
    elapsed: float
    payload: dict[str, Any] | None
    attempts: int  # how many times the envelope was sent before this ack came


class NotAcknowledged(AssertionError):
    """An envelope went unacknowledged past its deadline on every attempt."""


@dataclass
class Connection:
    number: int
    ws: web.WebSocketResponse
    request: web.Request
    lose_acks: int = 0  # how many next acknowledgements are lost (the connection then drops)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class SocketDouble:
    def __init__(self, app_id: str = "A0RUNNEROPS") -> None:
        self.app_id = app_id
        self.url = ""  # ws://127.0.0.1:PORT/link, once serving
        self.connections: list[Connection] = []  # open ones, oldest first
        self.opened = 0  # connections ever opened
        self.acks: list[Ack] = []  # every acknowledgement received, in order
        self.sent: list[dict[str, Any]] = []  # every envelope sent, re-sends included
        self._numbers = itertools.count(1)
        self._changed = asyncio.Condition()
        # Awaited acknowledgements by envelope id and connection (the one it was sent on).
        self._waiting: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, handle_signals=False)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"ws://127.0.0.1:{port}/link"
        try:
            yield self.url
        finally:
            for connection in list(self.connections):
                with contextlib.suppress(Exception):
                    await connection.ws.close()
            await self._runner.cleanup()

    # -- connections -----------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = Connection(next(self._numbers), ws, request)
        async with self._changed:
            self.connections.append(connection)
            self.opened += 1
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.connections),
                "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                envelope_id = data.get("envelope_id")
                if not isinstance(envelope_id, str):
                    continue
                if connection.lose_acks > 0:  # lost on the way: the connection goes too
                    connection.lose_acks -= 1
                    await ws.close()
                    break
                waiter = self._waiting.get((envelope_id, connection.number))
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)
        finally:
            async with self._changed:
                if connection in self.connections:
                    self.connections.remove(connection)
                self._changed.notify_all()
            connection.closed.set()
        return ws

    async def wait_connections(self, count: int = 1, timeout: float = 30.0) -> list[Connection]:
        """Until ``count`` connections are open; the open ones."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.connections) >= count)

        await asyncio.wait_for(enough(), timeout)
        return list(self.connections)

    async def wait_opened(self, total: int, timeout: float = 30.0) -> Connection:
        """Until ``total`` connections have ever been opened (a reconnection); the newest."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: self.opened >= total and bool(self.connections)
                )

        await asyncio.wait_for(enough(), timeout)
        return self.connections[-1]

    async def disconnect(self, connection: Connection, reason: str = "refresh_requested") -> None:
        """Slack's notice that this connection is going away: the client opens another.
        (Slack closes the old one some seconds later; see :meth:`drop`.)"""
        await connection.ws.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox"}}
        )

    async def drop(self, connection: Connection, *, abrupt: bool = False) -> None:
        """Close ``connection`` (a close frame), or with ``abrupt`` cut its TCP connection
        as a network failure would (no close frame: the client notices by its pings)."""
        if abrupt and connection.request.transport is not None:
            connection.request.transport.abort()
        else:
            await connection.ws.close()
        await connection.closed.wait()

    # -- envelopes -------------------------------------------------------------------

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        connection: Connection | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send one envelope (on ``connection``, else the newest open one) without waiting
        for its acknowledgement; its envelope id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        target = connection or (self.connections[-1] if self.connections else None)
        if target is None:
            raise NotAcknowledged("no connection is open to send an envelope on")
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind in {"slash_commands", "interactive"},
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self.sent.append(envelope)
        await target.ws.send_json(envelope)
        return envelope_id

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        connection: Connection | None = None,
        deadline: float = ACK_DEADLINE,
        attempts: int = 4,
        reconnect_timeout: float = 30.0,
    ) -> Ack:
        """Send an envelope and wait for its acknowledgement, as Slack does: one not
        acknowledged within ``deadline`` (or whose connection went) is sent again with the
        same envelope id on an open connection, up to ``attempts`` times in all."""
        envelope_id = envelope_id or str(uuid.uuid4())
        for attempt in range(attempts):
            waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            if attempt:  # a re-send goes on whichever connection is open (again)
                connection = None
            target = connection
            if target is None:
                target = (await self.wait_connections(1, reconnect_timeout))[-1]
            key = (envelope_id, target.number)
            self._waiting[key] = waiter
            try:
                started = time.perf_counter()
                await self.send(
                    kind,
                    payload,
                    envelope_id=envelope_id,
                    connection=target,
                    retry_attempt=attempt,
                    retry_reason="timeout" if attempt else "",
                )
                closed: asyncio.Future[Any] = asyncio.ensure_future(target.closed.wait())
                watched: set[asyncio.Future[Any]] = {waiter, closed}
                try:
                    done, _ = await asyncio.wait(
                        watched, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    closed.cancel()
                if waiter in done:
                    data = waiter.result()
                    ack = Ack(
                        envelope_id,
                        target.number,
                        time.perf_counter() - started,
                        data.get("payload"),
                        attempt + 1,
                    )
                    self.acks.append(ack)
                    return ack
            finally:
                self._waiting.pop(key, None)
        raise NotAcknowledged(f"envelope {envelope_id} ({kind}) was not acknowledged")

    def acks_of(self, envelope_id: str) -> list[Ack]:
        return [a for a in self.acks if a.envelope_id == envelope_id]
