"""Setup mode: the web process a fresh deployment runs until its apps are registered.

Routes: ``GET /setup`` (the steps), ``POST /setup/github`` (starts GitHub's manifest flow),
``GET /setup/github/callback`` (GitHub's way back, with a one-hour code), ``GET /healthz``
(``{"status": "setup"}``), and ``/slack/events`` and ``/github/webhooks`` answering 503 with
the reason. None of them exists once the apps are configured (``app.create_app`` serves).

The manifest flow's ``state`` is kept in this process's memory, with an expiry. Setup mode
is one process (the deploy's single web dyno), a state lost to a restart only means
"start again", and there is no configured secret yet to sign a cookie with: a key made up
per process would be no more durable than the memory itself. Each state is also bound to
the browser it was shown to (a random HttpOnly cookie): the setup page is public until
setup is done, and without the binding someone could start a flow, create an App on their
own account, and send the operator a callback link that configures *their* App here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import cachetools
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from bot import redact as redaction
from bot.config import SetupSettings, is_ghes
from bot.setup import manifests, pages

log = logging.getLogger("runnerops.setup")

STATE_TTL = 3600.0  # GitHub's code lives an hour; the state need not outlive it
MAX_STATES = 1000  # each GET /setup makes one: a bound on what a crawler can make us keep
FORM_CAP = 64 * 1024  # the manifest is about 1 KB
EXCHANGE_TIMEOUT = 20.0
COOKIE = "runnerops_setup"
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::\d{1,5})?"
    r"|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?"
)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")
SECURITY_HEADERS = {
    # Secrets are on these pages: never cached, never framed, no referrer to GitHub.
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass
class Flow:
    """One manifest flow under way: where it goes, known once its form is submitted."""

    expires: float
    browser: str  # the setup cookie of the browser the form was shown to
    organization: str | None = None
    github_url: str | None = None
    api_url: str | None = None


class States:
    """Random ``state`` values handed to GitHub, each good once and for an hour."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl: float = STATE_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._flows: cachetools.TTLCache[str, Flow] = cachetools.TTLCache(
            maxsize=MAX_STATES, ttl=ttl, timer=clock
        )

    def new(self, browser: str) -> str:
        state = secrets.token_urlsafe(24)
        self._flows[state] = Flow(expires=self.clock() + self.ttl, browser=browser)
        return state

    def get(self, state: str, browser: str) -> Flow | None:
        """The flow of ``state`` if it is current and was started by this ``browser``."""
        flow = self._flows.get(state) if state else None
        if flow is None or flow.expires <= self.clock():
            return None
        if not (browser and secrets.compare_digest(flow.browser, browser)):
            return None
        return flow

    def take(self, state: str) -> None:
        self._flows.pop(state, None)


def _page(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


def _refuse(status: int, title: str, *paragraphs: str, start_again: bool = True) -> HTMLResponse:
    return _page(pages.message_page(title, *paragraphs, start_again=start_again), status)


def browser_of(request: Request) -> str:
    """This browser's setup cookie, or "" when it has none (or a malformed one)."""
    value = request.cookies.get(COOKIE, "")
    return value if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value) else ""


def base_url(request: Request, public_url: str | None) -> str | None:
    """This deployment's public address: ``RUNNEROPS_PUBLIC_URL``, else the request's host
    with the scheme the PaaS router saw (``X-Forwarded-Proto``: the router ends TLS and
    talks plain HTTP to the process). None for a Host header that is no host name."""
    if public_url:
        return public_url
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        return None
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto not in {"http", "https"}:
        proto = request.url.scheme
    return f"{proto}://{host.lower()}"


async def _read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when it is over FORM_CAP (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_CAP:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_CAP:
            return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _github_web_url(text: str) -> str | None:
    """A GitHub Enterprise Server address typed on the page, as ``https://HOST``."""
    text = text.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
        return None
    if not _HOST.fullmatch(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


def paste_blocks(values: dict[str, str]) -> tuple[str, str]:
    """The values as a ``heroku config:set`` command (each shell-quoted: the PEM spans
    lines) and as ``.env`` lines (the PEM on one line with ``\\n`` escapes, which
    ``load_settings`` reads back as newlines)."""
    heroku = "heroku config:set \\\n" + " \\\n".join(
        f"  {name}={shlex.quote(value)}" for name, value in values.items()
    )
    dotenv = "\n".join(
        f"{name}={value.strip()}".replace("\n", "\\n") for name, value in values.items()
    )
    return heroku, dotenv


def create_setup_app(
    setup: SetupSettings,
    *,
    clock: Callable[[], float] = time.time,
    exchange_timeout: float = EXCHANGE_TIMEOUT,
) -> Starlette:
    """The setup-mode web app for a deployment whose ``setup.pending`` steps are not done."""
    redaction.install()
    states = States(clock)
    github_pending = "github" in setup.pending
    slack_pending = "slack" in setup.pending
    missing = " and ".join(
        {"github": "the GitHub App", "slack": "the Slack app"}[step] for step in setup.pending
    )

    def view(base: str, state: str, **fields: Any) -> pages.SetupView:
        slug = setup.github_app_slug
        return pages.SetupView(
            base_url=base,
            github_url=setup.github_url,
            github_configured=setup.github_configured,
            github_pending=github_pending,
            slack_pending=slack_pending,
            manifest=manifests.github_manifest(base),
            state=state,
            slack_create_url=manifests.slack_create_url(base),
            slack_manifest=manifests.slack_manifest(base),
            github_app_id=setup.github_app_id,
            install_url=manifests.install_url(
                setup.github_url, slug, ghes=is_ghes(setup.github_api_url)
            )
            if slug
            else None,
            **fields,
        )

    def bad_host() -> HTMLResponse:
        return _refuse(
            400,
            "Unknown address",
            "This request's Host header is not a host name, so the apps' URLs cannot be"
            " filled in. Open this page at the service's address, or set RUNNEROPS_PUBLIC_URL.",
            start_again=False,
        )

    async def setup_page(request: Request) -> Response:
        base = base_url(request, setup.public_url)
        if base is None:
            return bad_host()
        if not github_pending:
            return _page(pages.setup_page(view(base, "")))
        browser = browser_of(request) or secrets.token_urlsafe(32)
        response = _page(pages.setup_page(view(base, states.new(browser))))
        response.set_cookie(
            COOKIE,
            browser,
            max_age=int(STATE_TTL),
            path="/setup",
            secure=base.startswith("https://"),
            httponly=True,
            samesite="lax",  # sent on GitHub's top-level redirect back to the callback
        )
        return response

    async def start_github(request: Request) -> Response:
        """Check the form, remember where the flow goes, and send the browser on to GitHub.

        A 307 keeps the method and body: the browser posts the same form (``manifest`` and
        ``state``) to GitHub's new-App page, whose path depends on the organization typed in,
        so the page works without JavaScript."""
        if not github_pending:
            return _refuse(404, "Already registered", "The GitHub App is configured.")
        base = base_url(request, setup.public_url)
        if base is None:
            return bad_host()
        form = await _read_form(request)
        if form is None:
            return _refuse(413, "Form too large", "That is not the setup page's form.")
        state = form.get("state", "")
        flow = states.get(state, browser_of(request))
        if flow is None:
            return _refuse(
                400,
                "This setup page has expired",
                "Its form is good for an hour, once, in the browser it was shown in, and only"
                " on the process that showed it (a restart forgets it). Nothing was sent to"
                " GitHub.",
            )
        organization = form.get("organization", "").strip()
        typed_url = form.get("github_url", "").strip()

        def again(problem: str) -> HTMLResponse:
            shown = view(
                base, state, organization=organization, github_url_field=typed_url, problem=problem
            )
            return _page(pages.setup_page(shown), 400)

        if organization and not manifests.is_login(organization):
            return again(
                f"{organization!r} is not an organization name: letters, digits and single"
                " hyphens, at most 39. Leave it empty to register the App on your own account."
            )
        web, api = setup.github_url, setup.github_api_url
        if typed_url and not setup.github_configured:
            parsed = _github_web_url(typed_url)
            if parsed is None:
                return again(
                    f"{typed_url!r} is not a GitHub Enterprise Server address, like"
                    " https://github.example.com. Leave it empty for github.com."
                )
            if parsed != "https://github.com":
                web, api = parsed, parsed + "/api/v3"
        flow.organization = organization or None
        flow.github_url, flow.api_url = web, api
        return RedirectResponse(
            manifests.new_app_url(web, flow.organization, state),
            status_code=307,
            headers=SECURITY_HEADERS,
        )

    async def github_callback(request: Request) -> Response:
        if not github_pending:
            return _refuse(404, "Already registered", "The GitHub App is configured.")
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        flow = states.get(state, browser_of(request))
        if flow is None:
            return _refuse(
                400,
                "Refused: this is not the return of a registration started here",
                "The state GitHub sent back is missing, unknown, used, over an hour old or"
                " was started in another browser, so the code was not exchanged and nothing"
                " was registered by this page.",
                "If you did start it here (and the service restarted meanwhile), start again;"
                " an App GitHub created anyway is listed in your GitHub settings, where it can"
                " be deleted.",
            )
        if not _CODE.fullmatch(code):
            return _refuse(400, "No code from GitHub", "GitHub's answer carries no usable code.")
        redaction.redact.add(code)  # single use, but it reaches the access log's line
        api = (flow.api_url or setup.github_api_url).rstrip("/")
        url = f"{api}/app-manifests/{quote(code, safe='')}/conversions"
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=exchange_timeout)
                ) as session,
                session.post(
                    url,
                    headers={
                        "accept": "application/vnd.github+json",
                        "x-github-api-version": "2022-11-28",
                        "user-agent": "runnerops-setup",
                    },
                ) as resp,
            ):
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("GitHub's manifest conversion did not answer: %s", type(exc).__name__)
            return _refuse(
                502,
                "GitHub did not answer",
                f"{api} could not be reached to finish the registration. Reload this page to"
                " try again (the code is good for an hour).",
                start_again=False,
            )
        if status in {404, 422}:
            states.take(state)
            return _refuse(
                400,
                "This code was already used or has expired",
                "GitHub's code finishes one registration, within an hour. Start again; if"
                " GitHub did create an App with it, its settings page on GitHub shows it.",
            )
        app = _parse_app(raw) if status == 201 else None
        if app is None:
            log.warning("GitHub's manifest conversion answered %d", status)
            return _refuse(
                502,
                "GitHub's answer was not a new App",
                f"GitHub answered {status}. Reload this page to try again.",
                start_again=False,
            )
        states.take(state)
        for secret in (app["pem"], app["webhook_secret"], app.get("client_secret")):
            if isinstance(secret, str) and secret:
                redaction.redact.add(secret)
        redaction.redact.add_setting(app["pem"])  # and its lines, one by one
        web = (flow.github_url or setup.github_url).rstrip("/")
        values = {
            "GITHUB_APP_ID": str(app["id"]),
            "GITHUB_APP_SLUG": app["slug"],
            "GITHUB_WEBHOOK_SECRET": app["webhook_secret"],
            "GITHUB_PRIVATE_KEY": app["pem"].strip(),
        }
        if api != setup.github_api_url.rstrip("/"):  # a GitHub Enterprise Server typed in
            values["GITHUB_API_URL"] = api
            values["GITHUB_URL"] = web
        heroku, dotenv = paste_blocks(values)
        owner: dict[str, Any] = app["owner"] if isinstance(app.get("owner"), dict) else {}
        registered = pages.Registered(
            app_id=str(app["id"]),
            slug=app["slug"],
            name=str(app.get("name") or app["slug"]),
            owner=str(owner.get("login") or "your account"),
            html_url=str(app.get("html_url") or f"{web}/apps/{app['slug']}"),
            install_url=manifests.install_url(web, app["slug"], ghes=is_ghes(api)),
            heroku=heroku,
            dotenv=dotenv,
        )
        log.info(
            "GitHub App %s (%s) registered; its values were shown once", app["id"], app["slug"]
        )
        return _page(pages.callback_page(registered))

    def not_yet(what: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            base = base_url(request, setup.public_url) or ""
            return PlainTextResponse(
                f"runnerops is in setup mode ({missing} to configure), so {what} are not"
                f" handled: finish it at {base}/setup\n",
                status_code=503,
                headers={"retry-after": "3600"},
            )

        return answer

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "setup"})

    async def root(request: Request) -> Response:
        return RedirectResponse("/setup", status_code=307)

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("setup page failed: %s", type(exc).__name__, exc_info=exc)
        return _refuse(500, "Something went wrong", "Nothing was registered. Start again.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        where = setup.public_url or f"http://localhost:{setup.port}"
        hint = (
            ""
            if setup.public_url
            else (" (on a PaaS: this app's https address; RUNNEROPS_PUBLIC_URL names it here)")
        )
        log.warning(
            "runnerops is in setup mode (%s to configure): finish it at %s/setup%s",
            missing,
            where,
            hint,
        )
        yield

    return Starlette(
        routes=[
            Route("/", root, methods=["GET"]),
            Route("/setup", setup_page, methods=["GET"]),
            Route("/setup/github", start_github, methods=["POST"]),
            Route("/setup/github/callback", github_callback, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/slack/events", not_yet("Slack commands"), methods=["POST"]),
            Route("/github/webhooks", not_yet("GitHub webhooks"), methods=["POST"]),
        ],
        exception_handlers={Exception: crash},
        lifespan=lifespan,
    )


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
