"""Signed slash commands sent all at once, from a process of its own.

``python -m tests.benchmarks.load URL N`` (with ``SLACK_SIGNING_SECRET`` and
``RESPONSE_URL_BASE`` in the environment) sends the N commands of
:func:`tests.benchmarks.burst.command_for` to ``URL/slack/events`` in one
``asyncio.gather``, each signed as Slack signs it and with its own ``response_url`` under
``RESPONSE_URL_BASE``, then prints one JSON line: each command's status, seconds from send
to ack, and response_url. Generating the load here rather than in the service's event
loop keeps the ack times the service's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

import aiohttp

from bot.sandbox.harness import command_body, slack_signature
from tests.benchmarks.burst import allow_open_files, command_for


async def send_all(url: str, n: int, secret: str, response_base: str) -> dict[str, Any]:
    commands = [command_for(i)[0] for i in range(n)]
    urls = [f"{response_base}/{uuid.uuid4().hex}" for _ in range(n)]
    bodies = [command_body(text, url) for text, url in zip(commands, urls, strict=True)]

    async def send(session: aiohttp.ClientSession, body: bytes) -> tuple[int, float]:
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(secret, stamp, body),
        }
        sent = time.monotonic()
        async with session.post(url + "/slack/events", data=body, headers=headers) as resp:
            await resp.read()
            return resp.status, time.monotonic() - sent

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        acks = await asyncio.gather(*(send(session, body) for body in bodies))
    return {
        "statuses": [status for status, _ in acks],
        "ack_seconds": [seconds for _, seconds in acks],
        "response_urls": urls,
    }


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    allow_open_files(n)
    secret = os.environ["SLACK_SIGNING_SECRET"]
    result = asyncio.run(send_all(url, n, secret, os.environ["RESPONSE_URL_BASE"]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
