"""A flood of unsigned requests, from a process of its own.

``python -m tests.benchmarks.flood URL [CONCURRENCY] [BODY_BYTES]`` keeps CONCURRENCY
unsigned POSTs of BODY_BYTES (50 of 60 KB by default: under Slack's body cap, so each is
read whole) in flight against ``URL`` until its stdin closes, then prints one JSON line:
how many requests were answered, with which statuses. It runs in its own process so that
its work does not share the service's interpreter: what slows the service down is then
what the service itself does with the flood.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import urllib.parse

import aiohttp


def forged_body(size: int, i: int) -> bytes:
    """A form body with newline-forged log lines, about ``size`` bytes long."""
    line = f"\nINFO runnerops forged line {i} FLOOD-MARKER"
    text = (line * (size // len(line) + 1))[:size]
    return urllib.parse.urlencode({"command": "/runners", "text": text}).encode()[:size]


async def flood(url: str, concurrency: int, size: int) -> dict[str, object]:
    statuses: collections.Counter[int] = collections.Counter()
    errors = 0
    stop = asyncio.Event()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal errors
        body = forged_body(size, n)
        while not stop.is_set():
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
            except aiohttp.ClientError:
                errors += 1

    async def until_stdin_closes() -> None:
        await asyncio.to_thread(sys.stdin.read)
        stop.set()

    async with aiohttp.ClientSession(connector=connector) as session:
        print("flooding", flush=True)
        await asyncio.gather(
            until_stdin_closes(), *(worker(session, n) for n in range(concurrency))
        )
    return {"statuses": {str(k): v for k, v in statuses.items()}, "errors": errors}


def main() -> None:
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 60_000
    print(json.dumps(asyncio.run(flood(url, concurrency, size))), flush=True)


if __name__ == "__main__":
    main()
