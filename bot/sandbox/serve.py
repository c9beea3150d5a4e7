"""Serve an ASGI app on a free loopback port inside the running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

# How often a stopping server looks whether its connections and tasks are gone.
_SHUTDOWN_POLL = 0.005


class _Server(uvicorn.Server):
    """uvicorn's server, stopping as soon as it is asked to.

    uvicorn looks at its exit flag every 0.1 s and sleeps 0.1 s more while it shuts down,
    whatever is left to wait for: with three servers per sandbox that sleeping was most of
    a short test's time. Here the exit is an event, and the shutdown does what uvicorn's
    does (stop accepting, ask every connection to close, wait for connections and tasks up
    to ``timeout_graceful_shutdown``, cancel what is left, then the app's lifespan
    shutdown), waiting only while something is still open."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # on_tick(0) refreshes the Date header and answers whether to exit; once a second.
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                # uvicorn signals neither with an event: look, briefly and often.
                while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110
                    await asyncio.sleep(_SHUTDOWN_POLL)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn until the block exits; yield its base URL (``http://host:port``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it, delayed ACKs stall each kept-alive response by ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="auto",  # runs the app's lifespan if it has one (runnerops does)
        access_log=False,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():  # start-up failed: surface the error
                await task
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.stop()
        await task
        sock.close()
