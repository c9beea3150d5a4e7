"""Setup mode: the web process a fresh deployment runs until its apps are registered.

Routes: ``GET /setup`` (the steps), ``POST /setup/github`` (starts GitHub's manifest flow),
``GET /setup/github/callback`` (GitHub's way back, with a one-hour code), ``GET /healthz``
and ``GET /readyz`` (``{"status": "setup"}``), and ``/slack/events`` and ``/github/webhooks``
answering 503 with the reason. None of them exists once the apps are configured
(``app.create_app`` serves).

The page is public until setup is done, so nothing a visitor sends chooses where this
process connects: GitHub is the deployment's (``GITHUB_URL`` / ``GITHUB_API_URL``), and
the one request made to it per registration (the manifest code's conversion) follows no
redirect, reads at most 1 MiB and has a deadline.

The manifest flow's ``state`` is made when the form is posted, signed with a key made up
per process and bound to the browser that posted it (a random HttpOnly cookie, set by the
page): making one keeps nothing in memory, so no number of other visitors can push the
operator's out. A state is spent by its first callback, whatever the outcome; the spent
ones are remembered until they expire (see :class:`States`). Setup mode is one process
(the deploy's single web dyno) and a state lost to a restart only means "start again".
The binding matters because without it someone could start a flow, create an App on their
own account, and send the operator a callback link that configures *their* App here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shlex
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
from bot.config import DEFAULT_API_URL, SetupSettings, is_ghes
from bot.setup import manifests, pages
from bot.setup.conversion import EXCHANGE_TIMEOUT, conversion_url, exchange
from bot.setup.states import MAX_SPENT, STATE_TTL, States

log = logging.getLogger("runnerops.setup")

FORM_CAP = 64 * 1024  # the manifest is about 1 KB
COOKIE = "runnerops_setup"
FORM_TOKEN = "form_token"
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::\d{1,5})?"
    r"|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?"
)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_STATE = re.compile(r"(\d{1,16})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})")
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
# One page for every way the code's exchange can fail: which one it was (GitHub refused,
# answered oddly, could not be reached) is for the operator's log, not for a visitor.
EXCHANGE_FAILED = (
    "The registration was not finished",
    "GitHub did not turn this return into an App: its code was already used or has expired,"
    " or GitHub could not be reached or gave no usable answer (the service's log says which)."
    " This return is spent: start again.",
    "If GitHub did create an App, its settings page on GitHub lists it, where it can be deleted.",
)


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


def paste_blocks(values: dict[str, str]) -> tuple[str, str]:
    """The values as a ``heroku config:set`` command and as ``.env`` lines, each value
    shell-quoted. In the ``.env`` form the PEM is on one line with ``\n`` escapes (kept as
    they are inside single quotes, read back as newlines by ``load_settings``), so the file
    loads with ``set -a; . ./github.env`` and with loaders that strip quotes."""
    heroku = "heroku config:set \\\n" + " \\\n".join(
        f"  {name}={shlex.quote(value)}" for name, value in values.items()
    )
    dotenv = "\n".join(
        f"{name}={shlex.quote(value.strip().replace(chr(10), chr(92) + 'n'))}"
        for name, value in values.items()
    )
    return heroku, dotenv


def listening_addresses() -> list[tuple[str, int]]:
    """The TCP addresses this process listens on (uvicorn's, however it was told its port),
    found among its open file descriptors; empty where that cannot be seen."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 256))
    found: list[tuple[str, int]] = []
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:
                if sock.family not in {socket.AF_INET, socket.AF_INET6}:
                    continue
                if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    continue
                host, port = sock.getsockname()[:2]
        except OSError:
            continue
        if (host, port) not in found:
            found.append((host, port))
    return found


def local_url(host: str, port: int) -> str:
    """How to open an address from the machine itself (a wildcard one as localhost)."""
    if host in {"0.0.0.0", "::", ""}:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class SetupMode:
    """What setup mode's endpoints share, as ``request.app.state.setup``: the settings, the
    flow's states, and whether the page's address has been announced in the log."""

    def __init__(self, setup: SetupSettings, states: States, exchange_timeout: float) -> None:
        self.setup = setup
        self.states = states
        self.exchange_timeout = exchange_timeout
        self.github_pending = "github" in setup.pending
        self.slack_pending = "slack" in setup.pending
        self.missing = " and ".join(
            {"github": "the GitHub App", "slack": "the Slack app"}[step] for step in setup.pending
        )
        self.api = setup.github_api_url.rstrip("/")
        self.web = setup.github_url.rstrip("/")
        self.announced = False

    def view(self, base: str, form_token: str, **fields: Any) -> pages.SetupView:
        slug = self.setup.github_app_slug
        web, api = self.web, self.api
        return pages.SetupView(
            base_url=base,
            github_url=web,
            github_api_url=api,
            github_configured=self.setup.github_configured,
            github_pending=self.github_pending,
            slack_pending=self.slack_pending,
            manifest=manifests.github_manifest(base),
            form_token=form_token,
            slack_create_url=manifests.slack_create_url(base),
            slack_manifest=manifests.slack_manifest(base),
            slack_socket_create_url=manifests.slack_create_url(base, socket_mode=True),
            github_app_id=self.setup.github_app_id,
            install_url=manifests.install_url(web, slug, ghes=is_ghes(api)) if slug else None,
            **fields,
        )

    def announce(self, where: str) -> None:
        self.announced = True
        hint = (
            ""
            if self.setup.public_url
            else " (on a PaaS: this app's https address; RUNNEROPS_PUBLIC_URL names it here)"
        )
        log.warning(
            "runnerops is in setup mode (%s to configure): finish it at %s/setup%s",
            self.missing,
            where,
            hint,
        )


def _mode(request: Request) -> SetupMode:
    mode: SetupMode = request.app.state.setup
    return mode


def _bad_host() -> HTMLResponse:
    return _refuse(
        400,
        "Unknown address",
        "This request's Host header is not a host name, so the apps' URLs cannot be"
        " filled in. Open this page at the service's address, or set RUNNEROPS_PUBLIC_URL.",
        start_again=False,
    )


def _already_registered() -> HTMLResponse:
    return _refuse(404, "Already registered", "The GitHub App is configured.")


async def setup_page(request: Request) -> Response:
    mode = _mode(request)
    if not mode.announced:  # the address was not found at start-up: the one serving this
        server = request.scope.get("server")
        if server and server[1]:
            mode.announce(local_url(str(server[0]), int(server[1])))
    base = base_url(request, mode.setup.public_url)
    if base is None:
        return _bad_host()
    if not mode.github_pending:
        return _page(pages.setup_page(mode.view(base, "")))
    # No state yet (one is made when the form is posted): the cookie and a form token
    # derived from it, which cost nothing to keep.
    browser = browser_of(request) or secrets.token_urlsafe(32)
    response = _page(pages.setup_page(mode.view(base, mode.states.form_token(browser))))
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


def _form_problem(organization: str, accounts: str) -> str | None:
    """What is wrong with the setup form's choices, in the visitor's terms."""
    if organization and not manifests.is_login(organization):
        return (
            f"{organization!r} is not an organization name: letters, digits and single"
            " hyphens, at most 39. Leave it empty to register the App on your own account."
        )
    if accounts not in {"one", "several"}:
        return "Choose whether the App serves one account or several organizations."
    return None


async def start_github(request: Request) -> Response:
    """Check the form, make the flow's state, and send the browser on to GitHub.

    A 307 keeps the method and body: the browser posts the same form (``manifest``) to
    GitHub's new-App page with the state in its address (as GitHub documents it), whose
    path depends on the organization typed in, so the page works without JavaScript."""
    mode = _mode(request)
    if not mode.github_pending:
        return _already_registered()
    base = base_url(request, mode.setup.public_url)
    if base is None:
        return _bad_host()
    form = await _read_form(request)
    if form is None:
        return _refuse(413, "Form too large", "That is not the setup page's form.")
    browser = browser_of(request)
    token = form.get(FORM_TOKEN, "")
    if not mode.states.form_ok(token, browser):
        return _refuse(
            400,
            "This setup page has expired",
            "Its form works in the browser it was shown in, for an hour, and only on the"
            " process that showed it (a restart forgets it). Nothing was sent to GitHub.",
        )
    organization = form.get("organization", "").strip()
    accounts = form.get("accounts", "one")
    several = accounts == "several"
    if (problem := _form_problem(organization, accounts)) is not None:
        shown = mode.view(base, token, organization=organization, several=several, problem=problem)
        return _page(pages.setup_page(shown), 400)
    state = mode.states.new(browser, several=several)  # kept nowhere: it comes back signed
    if several:
        # Not a 307: that would re-post the one-account (private) manifest. The browser
        # is shown what public means and posts the public manifest itself.
        return _page(
            pages.public_app_page(
                manifest=manifests.github_manifest(base, public=True),
                action=manifests.new_app_url(mode.web, organization or None, state),
                state=state,
                organization=organization,
            )
        )
    return RedirectResponse(
        manifests.new_app_url(mode.web, organization or None, state),
        status_code=307,
        headers=SECURITY_HEADERS,
    )


async def github_callback(request: Request) -> Response:
    mode = _mode(request)
    if not mode.github_pending:
        return _already_registered()
    state = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    if not mode.states.spend(state, browser_of(request)):
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
    # The state is spent now, whatever follows: one request to GitHub per state.
    if not _CODE.fullmatch(code):
        return _refuse(400, "No code from GitHub", "GitHub's answer carries no usable code.")
    host = urlsplit(mode.api).netloc
    log.info("Exchanging a manifest code with %s", host)
    app, why = await exchange(conversion_url(mode.api, code), mode.exchange_timeout)
    if app is None:
        log.warning("GitHub's manifest conversion at %s failed: %s", host, why)
        return _refuse(502, *EXCHANGE_FAILED)
    registered = _registered(mode, app, several=States.several(state))
    log.info(
        "GitHub App %s (%s) registered on %s; its values were shown once",
        app["id"],
        app["slug"],
        host,
    )
    return _page(pages.callback_page(registered))


def _registered(mode: SetupMode, app: dict[str, Any], *, several: bool) -> pages.Registered:
    """The new App as the callback page shows it, its secrets first kept out of the logs."""
    api, web = mode.api, mode.web
    # GitHub's answer, not the visitor's: kept for two hours at most, like minted tokens.
    for secret in (app["webhook_secret"], app.get("client_secret"), *app["pem"].splitlines()):
        if isinstance(secret, str) and "-----" not in secret:
            redaction.redact.add(secret.strip())
    values = {
        "GITHUB_APP_ID": str(app["id"]),
        "GITHUB_APP_SLUG": app["slug"],
        "GITHUB_WEBHOOK_SECRET": app["webhook_secret"],
        "GITHUB_PRIVATE_KEY": app["pem"].strip(),
    }
    if api != DEFAULT_API_URL:  # the .env file is complete on its own
        values["GITHUB_API_URL"] = api
        values["GITHUB_URL"] = web
    heroku, dotenv = paste_blocks(values)
    owner: dict[str, Any] = app["owner"] if isinstance(app.get("owner"), dict) else {}
    return pages.Registered(
        app_id=str(app["id"]),
        slug=app["slug"],
        name=str(app.get("name") or app["slug"]),
        owner=str(owner.get("login") or "your account"),
        html_url=str(app.get("html_url") or f"{web}/apps/{app['slug']}"),
        install_url=manifests.install_url(web, app["slug"], ghes=is_ghes(api)),
        heroku=heroku,
        dotenv=dotenv,
        several=several,
    )


def _not_yet(request: Request, what: str) -> Response:
    base = base_url(request, _mode(request).setup.public_url) or ""
    return PlainTextResponse(
        f"runnerops is in setup mode ({_mode(request).missing} to configure), so {what} are"
        f" not handled: finish it at {base}/setup\n",
        status_code=503,
        headers={"retry-after": "3600"},
    )


async def slack_events(request: Request) -> Response:
    return _not_yet(request, "Slack commands")


async def github_webhooks(request: Request) -> Response:
    return _not_yet(request, "GitHub webhooks")


async def status(request: Request) -> Response:
    # Ready too: a readiness probe must not hide the setup page.
    return JSONResponse({"status": "setup"})


async def root(request: Request) -> Response:
    return RedirectResponse("/setup", status_code=307)


async def crash(request: Request, exc: Exception) -> Response:
    log.error("setup page failed: %s", type(exc).__name__, exc_info=exc)
    return _refuse(500, "Something went wrong", "Nothing was registered. Start again.")


async def find_address(mode: SetupMode) -> None:
    """uvicorn binds its socket after the lifespan's start: look for it then."""
    for _ in range(100):
        await asyncio.sleep(0.05)
        if found := listening_addresses():
            mode.announce(" or ".join(local_url(host, port) for host, port in found))
            return
    # Not seen (no /proc, a Unix socket): the first page served names its address.


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    mode: SetupMode = app.state.setup
    finder = None
    if mode.setup.public_url:
        mode.announce(mode.setup.public_url)
    else:
        finder = asyncio.create_task(find_address(mode))
    try:
        yield
    finally:
        if finder is not None:
            finder.cancel()


ROUTES = [
    Route("/", root, methods=["GET"]),
    Route("/setup", setup_page, methods=["GET"]),
    Route("/setup/github", start_github, methods=["POST"]),
    Route("/setup/github/callback", github_callback, methods=["GET"]),
    Route("/healthz", status, methods=["GET"]),
    Route("/readyz", status, methods=["GET"]),
    Route("/slack/events", slack_events, methods=["POST"]),
    Route("/github/webhooks", github_webhooks, methods=["POST"]),
]


def create_setup_app(
    setup: SetupSettings,
    *,
    clock: Callable[[], float] = time.time,
    exchange_timeout: float = EXCHANGE_TIMEOUT,
    max_spent: int = MAX_SPENT,
) -> Starlette:
    """The setup-mode web app for a deployment whose ``setup.pending`` steps are not done."""
    redaction.install()
    app = Starlette(routes=ROUTES, exception_handlers={Exception: crash}, lifespan=lifespan)
    app.state.setup = SetupMode(setup, States(clock, max_spent=max_spent), exchange_timeout)
    return app
