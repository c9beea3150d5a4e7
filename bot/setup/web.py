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
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shlex
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
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

log = logging.getLogger("runnerops.setup")

STATE_TTL = 3600.0  # GitHub's code lives an hour; the state need not outlive it
# Spent states remembered at most (about 150 bytes each). Only a callback with a state this
# process signed for the caller's own browser adds one, and each costs a request to GitHub.
MAX_SPENT = 20_000
FORM_CAP = 64 * 1024  # the manifest is about 1 KB
EXCHANGE_TIMEOUT = 20.0
MAX_ANSWER = 1024 * 1024  # GitHub's new App (its key included) is a few KB
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


class States:
    """The ``state`` values handed to GitHub: signed, so that making one keeps nothing.

    A state is ``MILLISECONDS.NONCE.SIGNATURE``, the signature over the browser's setup
    cookie too: good for an hour, in that browser, once. Spent states are remembered until
    they expire; should more than ``max_spent`` be spent within the hour, the oldest spent
    record is dropped and every state issued before it stops working (its record might be
    the one dropped), so that no state ever works twice.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        ttl: float = STATE_TTL,
        max_spent: int = MAX_SPENT,
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_spent = max_spent
        self._key = secrets.token_bytes(32)
        self._spent: dict[str, int] = {}  # state -> when it was issued (ms), in spending order
        self._floor = -1  # states issued at or before this (ms) are refused

    def _sign(self, purpose: str, browser: str, text: str, length: int) -> str:
        mac = hmac.new(self._key, f"{purpose}\0{browser}\0{text}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode()[:length]

    def form_token(self, browser: str) -> str:
        """The token the page's form carries: proves a POST comes from the page this browser
        was shown (with its SameSite=Lax cookie, a cross-site form cannot start a flow)."""
        return self._sign("form", browser, "", 32)

    def form_ok(self, token: str, browser: str) -> bool:
        return bool(browser) and secrets.compare_digest(
            token.encode(), self.form_token(browser).encode()
        )

    def new(self, browser: str, *, several: bool = False) -> str:
        """A state; ``several`` (a public App, for several organizations) is carried in the
        nonce's first character, which the signature covers, so the callback knows it."""
        issued = str(int(self.clock() * 1000))
        nonce = ("s" if several else "o") + secrets.token_urlsafe(12)[:15]
        return f"{issued}.{nonce}.{self._sign('state', browser, f'{issued}.{nonce}', 22)}"

    def spend(self, state: str, browser: str) -> bool:
        """True, once, for a current state this process made for this ``browser``."""
        found = _STATE.fullmatch(state)
        if not found or not browser:
            return False
        issued, nonce, signature = found.groups()
        expected = self._sign("state", browser, f"{issued}.{nonce}", 22)
        if not secrets.compare_digest(signature.encode(), expected.encode()):
            return False
        now = int(self.clock() * 1000)
        if not (now - self.ttl * 1000 < int(issued) <= now) or int(issued) <= self._floor:
            return False
        if state in self._spent:
            return False
        self._forget_expired(now)
        while len(self._spent) >= self.max_spent:
            oldest = next(iter(self._spent))
            self._floor = max(self._floor, self._spent.pop(oldest))
        self._spent[state] = int(issued)
        return True

    @staticmethod
    def several(state: str) -> bool:
        """Whether ``state`` (one :meth:`spend` accepted) started a public App's flow."""
        found = _STATE.fullmatch(state)
        return found is not None and found.group(2).startswith("s")

    def _forget_expired(self, now: int) -> None:
        horizon = now - self.ttl * 1000
        for state in [s for s, issued in self._spent.items() if issued <= horizon]:
            del self._spent[state]

    def __len__(self) -> int:
        """Spent states remembered: all the memory states take."""
        return len(self._spent)


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


def create_setup_app(
    setup: SetupSettings,
    *,
    clock: Callable[[], float] = time.time,
    exchange_timeout: float = EXCHANGE_TIMEOUT,
    max_spent: int = MAX_SPENT,
) -> Starlette:
    """The setup-mode web app for a deployment whose ``setup.pending`` steps are not done."""
    redaction.install()
    states = States(clock, max_spent=max_spent)
    github_pending = "github" in setup.pending
    slack_pending = "slack" in setup.pending
    missing = " and ".join(
        {"github": "the GitHub App", "slack": "the Slack app"}[step] for step in setup.pending
    )
    api = setup.github_api_url.rstrip("/")
    web = setup.github_url.rstrip("/")
    announced = False

    def view(base: str, form_token: str, **fields: Any) -> pages.SetupView:
        slug = setup.github_app_slug
        return pages.SetupView(
            base_url=base,
            github_url=web,
            github_api_url=api,
            github_configured=setup.github_configured,
            github_pending=github_pending,
            slack_pending=slack_pending,
            manifest=manifests.github_manifest(base),
            form_token=form_token,
            slack_create_url=manifests.slack_create_url(base),
            slack_manifest=manifests.slack_manifest(base),
            slack_socket_create_url=manifests.slack_create_url(base, socket_mode=True),
            github_app_id=setup.github_app_id,
            install_url=manifests.install_url(web, slug, ghes=is_ghes(api)) if slug else None,
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

    def announce(where: str) -> None:
        nonlocal announced
        announced = True
        hint = (
            ""
            if setup.public_url
            else " (on a PaaS: this app's https address; RUNNEROPS_PUBLIC_URL names it here)"
        )
        log.warning(
            "runnerops is in setup mode (%s to configure): finish it at %s/setup%s",
            missing,
            where,
            hint,
        )

    async def setup_page(request: Request) -> Response:
        if not announced:  # the address was not found at start-up: the one serving this
            server = request.scope.get("server")
            if server and server[1]:
                announce(local_url(str(server[0]), int(server[1])))
        base = base_url(request, setup.public_url)
        if base is None:
            return bad_host()
        if not github_pending:
            return _page(pages.setup_page(view(base, "")))
        # No state yet (one is made when the form is posted): the cookie and a form token
        # derived from it, which cost nothing to keep.
        browser = browser_of(request) or secrets.token_urlsafe(32)
        response = _page(pages.setup_page(view(base, states.form_token(browser))))
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
        """Check the form, make the flow's state, and send the browser on to GitHub.

        A 307 keeps the method and body: the browser posts the same form (``manifest``) to
        GitHub's new-App page with the state in its address (as GitHub documents it), whose
        path depends on the organization typed in, so the page works without JavaScript."""
        if not github_pending:
            return _refuse(404, "Already registered", "The GitHub App is configured.")
        base = base_url(request, setup.public_url)
        if base is None:
            return bad_host()
        form = await _read_form(request)
        if form is None:
            return _refuse(413, "Form too large", "That is not the setup page's form.")
        browser = browser_of(request)
        token = form.get(FORM_TOKEN, "")
        if not states.form_ok(token, browser):
            return _refuse(
                400,
                "This setup page has expired",
                "Its form works in the browser it was shown in, for an hour, and only on the"
                " process that showed it (a restart forgets it). Nothing was sent to GitHub.",
            )
        organization = form.get("organization", "").strip()
        accounts = form.get("accounts", "one")
        several = accounts == "several"
        problem = None
        if organization and not manifests.is_login(organization):
            problem = (
                f"{organization!r} is not an organization name: letters, digits and single"
                " hyphens, at most 39. Leave it empty to register the App on your own account."
            )
        elif accounts not in {"one", "several"}:
            problem = "Choose whether the App serves one account or several organizations."
        if problem is not None:
            shown = view(base, token, organization=organization, several=several, problem=problem)
            return _page(pages.setup_page(shown), 400)
        state = states.new(browser, several=several)  # kept nowhere: it comes back signed
        if several:
            # Not a 307: that would re-post the one-account (private) manifest. The browser
            # is shown what public means and posts the public manifest itself.
            return _page(
                pages.public_app_page(
                    manifest=manifests.github_manifest(base, public=True),
                    action=manifests.new_app_url(web, organization or None, state),
                    state=state,
                    organization=organization,
                )
            )
        return RedirectResponse(
            manifests.new_app_url(web, organization or None, state),
            status_code=307,
            headers=SECURITY_HEADERS,
        )

    async def github_callback(request: Request) -> Response:
        if not github_pending:
            return _refuse(404, "Already registered", "The GitHub App is configured.")
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        if not states.spend(state, browser_of(request)):
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
        host = urlsplit(api).netloc
        log.info("Exchanging a manifest code with %s", host)
        app, why = await exchange(conversion_url(api, code), exchange_timeout)
        if app is None:
            log.warning("GitHub's manifest conversion at %s failed: %s", host, why)
            return _refuse(502, *EXCHANGE_FAILED)
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
        registered = pages.Registered(
            app_id=str(app["id"]),
            slug=app["slug"],
            name=str(app.get("name") or app["slug"]),
            owner=str(owner.get("login") or "your account"),
            html_url=str(app.get("html_url") or f"{web}/apps/{app['slug']}"),
            install_url=manifests.install_url(web, app["slug"], ghes=is_ghes(api)),
            heroku=heroku,
            dotenv=dotenv,
            several=States.several(state),
        )
        log.info(
            "GitHub App %s (%s) registered on %s; its values were shown once",
            app["id"],
            app["slug"],
            host,
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

    async def status(request: Request) -> Response:
        # Ready too: a readiness probe must not hide the setup page.
        return JSONResponse({"status": "setup"})

    async def root(request: Request) -> Response:
        return RedirectResponse("/setup", status_code=307)

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("setup page failed: %s", type(exc).__name__, exc_info=exc)
        return _refuse(500, "Something went wrong", "Nothing was registered. Start again.")

    async def find_address() -> None:
        """uvicorn binds its socket after the lifespan's start: look for it then."""
        for _ in range(100):
            await asyncio.sleep(0.05)
            if found := listening_addresses():
                announce(" or ".join(local_url(host, port) for host, port in found))
                return
        # Not seen (no /proc, a Unix socket): the first page served names its address.

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        finder = None
        if setup.public_url:
            announce(setup.public_url)
        else:
            finder = asyncio.create_task(find_address())
        try:
            yield
        finally:
            if finder is not None:
                finder.cancel()

    return Starlette(
        routes=[
            Route("/", root, methods=["GET"]),
            Route("/setup", setup_page, methods=["GET"]),
            Route("/setup/github", start_github, methods=["POST"]),
            Route("/setup/github/callback", github_callback, methods=["GET"]),
            Route("/healthz", status, methods=["GET"]),
            Route("/readyz", status, methods=["GET"]),
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
