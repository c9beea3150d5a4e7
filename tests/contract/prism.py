"""Run Stoplight Prism as a GitHub REST API double built from GitHub's published spec.

Prism is started on a cut of the description (see ``cut_spec``), on 127.0.0.1 and a free
port, and serves every path from the root: for GitHub Enterprise Server cut with
``prefix="/api/v3"`` so that it answers on ``/api/v3/...`` like a real GHES host.

Prism is run WITHOUT ``--errors``. Invalid requests (bad path or query parameter types,
bodies that break the schema, missing required bodies) are answered with 422 either way:
with the operation's own 422 response and an ``sl-violations`` header when the operation
documents one, otherwise with an ``application/problem+json`` 422 whose ``validation``
member lists the violations. ``--errors`` only adds one thing: a 500 whenever the
*response* Prism would send breaks the schema, which GitHub's own examples do for
``GET /app/installations`` (``account`` lacks required members) - the flag would make that
endpoint unusable. Without it such response violations are only reported in
``sl-violations`` (``location[0] == "response"``); ``request_violations`` keeps the
request-side ones.

Other behaviour to expect: no authentication is checked (GitHub's descriptions declare no
security schemes), the ``name`` filter of ``GET .../actions/runners`` is ignored, ``Link``
headers are the examples' and point at api.github.com, an ``Accept`` header without
``application/json`` (e.g. only ``application/vnd.github+json``) gets 406, ``Prefer:
code=NNN`` selects a documented status (Prism invents a problem+json body for an
undocumented one), ``Prefer: example=NAME`` or ``Prefer: dynamic=true`` pick other bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cut_spec import CACHE_DIR, HERE, NODE_MODULES, SPEC_DIR, SPEC_NAMES, cached_cut_spec

PRISM_BIN = NODE_MODULES / ".bin" / "prism"
WEBHOOK_EXAMPLES = NODE_MODULES / "@octokit" / "webhooks-examples" / "api.github.com" / "index.json"
HOST = "127.0.0.1"
# What GitHub's clients send; Prism needs the ``application/json`` part.
ACCEPT = "application/vnd.github+json, application/json"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.05
START_ATTEMPTS = 3  # a port picked as free can be taken before Prism binds it


class PrismStartError(RuntimeError):
    """Prism exited or did not answer before the deadline."""


def packages_available() -> str | None:
    """Return why the pinned npm packages cannot be used, or None when they are installed."""
    needed = [SPEC_DIR / f"{name}.json" for name in SPEC_NAMES] + [WEBHOOK_EXAMPLES]
    missing = [path for path in needed if not path.is_file()]
    if missing:
        shown = ", ".join(str(path.relative_to(HERE)) for path in missing[:3])
        return f"contract packages missing ({shown}): run `npm ci` in {HERE}"
    return None


def node_available() -> str | None:
    """Return why Prism cannot run here (no Node, no ``node_modules``), or None when it can."""
    if shutil.which("node") is None:
        return "Node.js is not on PATH: install Node 20+ and run `npm ci` in tests/contract"
    if not PRISM_BIN.exists():
        return f"{PRISM_BIN.relative_to(HERE)} is missing: run `npm ci` in {HERE}"
    return packages_available()


def free_port(host: str = HOST) -> int:
    """Ask the kernel for a port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def prism_command(spec_file: Path, port: int, host: str = HOST) -> list[str]:
    """The command line that serves ``spec_file`` (no ``--errors``: see the module doc)."""
    return [str(PRISM_BIN), "mock", str(spec_file), "-h", host, "-p", str(port)]


def violations(headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """The violations Prism reported in the ``sl-violations`` header (empty when none)."""
    raw = next((v for k, v in headers.items() if k.lower() == "sl-violations"), None)
    if not raw:
        return []
    parsed = json.loads(raw)
    return parsed if isinstance(parsed, list) else [parsed]


def request_violations(headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Only the violations about the request (path, query, headers, body) that was sent."""
    return [v for v in violations(headers) if v.get("location", [None])[0] == "request"]


def _log_path(spec: str, port: int) -> Path:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR / f"prism-{spec}-{port}-{os.getpid()}.log"


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


def _port_taken(log_tail: str) -> bool:
    """Whether Prism failed because another process bound the port first (worth a retry)."""
    return "EADDRINUSE" in log_tail


def _answers_http(host: str, port: int) -> bool:
    """True once something speaks HTTP on the port (any status: Prism says 404 on ``/``)."""
    conn = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        conn.request("GET", "/", headers={"Accept": ACCEPT})
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True


async def _answers_http_async(host: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {ACCEPT}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 1.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status_line.startswith(b"HTTP/")


@dataclass
class PrismServer:
    """A running Prism process started by ``start_prism``; ``stop()`` ends it."""

    spec: str
    prefix: str
    spec_file: Path
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_in: float = field(default=0.0)

    @property
    def api_url(self) -> str:
        """The REST API base a client should use: ``base_url`` plus the prefix (GHES)."""
        return self.base_url + self.prefix

    def rss_kib(self) -> int | None:
        """Resident memory of the Prism process in KiB (Linux only), None if unknown."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def stop(self) -> None:
        """Terminate Prism (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``) and drop its log."""
        _terminate(self.process)
        self.log_path.unlink(missing_ok=True)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_prism(
    spec: str, prefix: str = "", *, start_timeout: float = START_TIMEOUT
) -> PrismServer:
    """Cut ``spec`` (cached), start Prism on it and return once it answers HTTP.

    Blocking; for synchronous (e.g. session-scoped) fixtures. Call ``stop()`` afterwards.
    """
    reason = node_available()
    if reason:
        raise PrismStartError(reason)
    started = time.monotonic()
    deadline = started + start_timeout
    spec_file = cached_cut_spec(spec, prefix)
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = free_port()
        log_path = _log_path(spec, port)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                prism_command(spec_file, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=HERE,
            )
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_http(HOST, port):
                return PrismServer(
                    spec=spec,
                    prefix=prefix,
                    spec_file=spec_file,
                    base_url=f"http://{HOST}:{port}",
                    process=process,
                    log_path=log_path,
                    started_in=time.monotonic() - started,
                )
            time.sleep(POLL_INTERVAL)
        _terminate(process)
        tail = _log_tail(log_path)
        failures.append(f"port {port}, exit {process.returncode}:\n{tail}")
        log_path.unlink(missing_ok=True)
        if time.monotonic() >= deadline or not _port_taken(tail):
            break
    raise PrismStartError(
        f"Prism for {spec!r} did not answer within {start_timeout}s: " + "\n".join(failures)
    )


@contextlib.asynccontextmanager
async def prism(
    spec: str, prefix: str = "", *, start_timeout: float = START_TIMEOUT
) -> AsyncIterator[str]:
    """Serve ``spec`` ("api.github.com", "ghec" or the GHES one) with Prism for the block.

    Yields the base URL ``http://127.0.0.1:PORT``; with ``prefix`` (``"/api/v3"`` for
    GHES) the paths themselves carry it. Prism is terminated when the block exits.
    """
    reason = node_available()
    if reason:
        raise PrismStartError(reason)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_timeout
    spec_file = await asyncio.to_thread(cached_cut_spec, spec, prefix)
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = free_port()
        log_path = _log_path(spec, port)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            process = await asyncio.create_subprocess_exec(
                *prism_command(spec_file, port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT,
                cwd=HERE,
            )
        finally:
            os.close(log_fd)
        try:
            ready = False
            while process.returncode is None and loop.time() < deadline:
                if await _answers_http_async(HOST, port):
                    ready = True
                    break
                await asyncio.sleep(POLL_INTERVAL)
            if ready:
                yield f"http://{HOST}:{port}"
                return
            tail = await asyncio.to_thread(_log_tail, log_path)
            failures.append(f"port {port}, exit {process.returncode}:\n{tail}")
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            log_path.unlink(missing_ok=True)
        if loop.time() >= deadline or not _port_taken(tail):
            break
    raise PrismStartError(
        f"Prism for {spec!r} did not answer within {start_timeout}s: " + "\n".join(failures)
    )
