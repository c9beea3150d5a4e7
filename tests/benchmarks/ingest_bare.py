"""The baseline of the ingestion benchmark: a bare Starlette receiver of GitHub webhooks.

``uvicorn tests.benchmarks.ingest_bare:app`` (with ``GITHUB_WEBHOOK_SECRET`` set) answers
``POST /github/webhooks`` after only what any receiver must do: read the body, check its
HMAC-SHA256 signature, parse the JSON. It stores nothing; runnerops' rate is compared with
this one's, measured the same way in the same run (``tests/benchmarks/ingest.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SECRET = os.environ.get("GITHUB_WEBHOOK_SECRET", "").encode()


async def receive(request: Request) -> Response:
    body = await request.body()
    wanted = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), wanted):
        return PlainTextResponse("invalid signature", status_code=401)
    json.loads(body)  # a body that is not JSON fails here, as it would in any receiver
    return JSONResponse({"msg": "accepted", "event": request.headers.get("x-github-event")})


app = Starlette(routes=[Route("/github/webhooks", receive, methods=["POST"])])
