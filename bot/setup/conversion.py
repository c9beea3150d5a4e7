"""The one request setup mode makes: GitHub's conversion of a manifest code into an App.

It goes to the deployment's own GitHub (never a host a visitor names), follows no
redirect, reads at most MAX_ANSWER bytes and has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote

import aiohttp

EXCHANGE_TIMEOUT = 20.0
MAX_ANSWER = 1024 * 1024  # GitHub's new App (its key included) is a few KB


def conversion_url(api_url: str, code: str) -> str:
    """Where GitHub turns a manifest code into an App: under the API root (``/api/v3`` on
    GitHub Enterprise Server, the root on github.com and GHE.com)."""
    return f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"


async def exchange(url: str, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """POST the conversion once: no redirect followed, at most MAX_ANSWER bytes read, all
    within ``timeout``. The App, or None and why (for the log)."""
    try:
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), auto_decompress=False
            ) as session,
            session.post(
                url,
                allow_redirects=False,
                headers={
                    "accept": "application/vnd.github+json",
                    "accept-encoding": "identity",
                    "x-github-api-version": "2022-11-28",
                    "user-agent": "runnerops-setup",
                },
            ) as resp,
        ):
            if resp.status != 201:
                return None, f"it answered {resp.status}"
            if (resp.content_length or 0) > MAX_ANSWER:
                resp.close()
                return None, f"its answer was over {MAX_ANSWER} bytes"
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER:
                    resp.close()
                    return None, f"its answer was over {MAX_ANSWER} bytes"
    except TimeoutError:
        return None, f"it did not answer within {timeout:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return None, f"it could not be reached ({type(exc).__name__})"
    app = _parse_app(bytes(body))
    return (app, "") if app is not None else (None, "its 201 was not a new App")


def _parse_app(raw: bytes) -> dict[str, Any] | None:
    """The App from a 201, or None when it lacks what runnerops needs."""
    try:
        app = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(app, dict):
        return None
    slug, pem, secret = app.get("slug"), app.get("pem"), app.get("webhook_secret")
    if not (isinstance(app.get("id"), int | str) and isinstance(slug, str) and slug):
        return None
    if not (isinstance(pem, str) and "PRIVATE KEY-----" in pem):
        return None
    if not (isinstance(secret, str) and secret):
        return None
    if not re.fullmatch(r"[A-Za-z0-9._-]+", slug):  # it goes into URLs and commands
        return None
    return app
