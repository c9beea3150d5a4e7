"""The Slack side: slack-bolt verifies, acknowledges and routes; we dispatch and reply.

Every command is acknowledged before any GitHub work starts, so Slack's three-second
limit holds whatever GitHub's latency; the answer goes to the command's ``response_url``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackObjectFormationError

from bot import errors
from bot.commands import UsageError, parse
from bot.observe.logs import error_kind, handled, handling, word
from bot.routing import Caller, Click, Invocation, Router
from bot.services import Services
from bot.slack.blocks import Reply, replacement, section
from bot.slack.views import errors as errors_view
from bot.slack.views.home import (
    HOME_ACTIONS,
    HOME_COMMANDS,
    HOME_FOCUS,
    HOME_GLOBAL_COMMANDS,
    command_text,
)
from bot.store.database import StoreUnavailable

log = logging.getLogger(__name__)

COMMANDS = ("/runners", "/runner")
# Verbs that read or tidy runnerops' own records only: they work on any account's target,
# so a watch made before its account stopped being served can still be removed.
LOCAL_VERBS = frozenset({"audit", "unwatch", "watching", "help", "whoami"})


async def run_command(
    text: str, caller: Caller, services: Services, router: Router, kind: str = "command"
) -> Reply:
    """Parse, authorize, route and render one command; every failure becomes a reply.
    One log line says who asked what, how it ended, its GitHub requests and its time."""
    words = text.split()
    with handled(kind, caller.user_id, words[0] if words else "help"):
        return await _guarded(_dispatch(text, caller, services, router), services)


def _outcome(outcome: str) -> None:
    current = handling.get()
    if current is not None:
        current.outcome = outcome


async def _dispatch(text: str, caller: Caller, services: Services, router: Router) -> Reply:
    try:
        command = parse(
            text, services.settings.default_target, github_url=services.settings.github_url
        )
    except UsageError as exc:
        _outcome("error usage")
        return errors_view.usage_reply(exc, caller.command_name)
    current = handling.get()
    if current is not None:
        current.verb, current.target = command.verb, word(str(command.target or ""))
    handler = router.verbs.get(command.verb)
    if handler is None:
        _outcome("error usage")
        return errors_view.usage_reply(
            UsageError(f"`{command.verb}` is not available here"), caller.command_name
        )
    decision = await services.access.decide(
        command.action,
        user_id=caller.user_id,
        channel_id=caller.channel_id,
        target=command.target,
    )
    if not decision.allowed:  # refused before any GitHub call
        _outcome("refused")
        await services.audit(caller, command.verb, command.target, "refused", decision.reason)
        return errors_view.refusal(command.action, command.verb, command.target, decision.reason)
    if command.target is not None and command.verb not in LOCAL_VERBS:
        # An account this deployment does not serve: said before any GitHub call, and
        # before store-only verbs (queue, stats) would answer "nothing" for it.
        await services.github.check_served(command.target)
    return await handler(Invocation(command, caller, services))


def button_target(value: str) -> str:
    """The target a button acts on, when its value names one (a JSON object's
    ``target``); empty otherwise (a plan id)."""
    try:
        found = json.loads(value)
    except ValueError:
        return ""
    return word(str(found.get("target") or "")) if isinstance(found, dict) else ""


async def run_click(click: Click, router: Router) -> Reply:
    with handled("button", click.caller.user_id, click.action_id) as current:
        current.target = button_target(click.value)
        handler = router.actions.get(click.action_id)
        if handler is None:
            current.outcome = "error unhandled"
            return replacement(":warning: That button is no longer handled.")
        return await _guarded(handler(click), click.services)


async def _guarded(work: Awaitable[Reply], services: Services) -> Reply:
    try:
        reply = await work
    except errors.RunnerOpsError as exc:
        _outcome(f"error {error_kind(exc)}")
        log.info("command failed: %r", exc)  # an error never holds a credential
        return errors_view.error_reply(exc, install_url=services.settings.install_url)
    except StoreUnavailable:  # logged by the store; the watch's verbs read and write it
        _outcome("error database")
        text = (
            ":floppy_disk: runnerops' database did not answer; nothing was changed. Try"
            " again shortly; if it persists, an operator should check the database."
        )
        return Reply(text=text, blocks=[section(text)])
    except Exception:
        _outcome("error internal")
        log.exception("unexpected failure while handling a Slack request")
        return errors_view.internal_error_reply()
    return reply


def safe_payload(reply: Reply) -> dict[str, Any]:
    """``reply`` as Slack takes it; one Slack would reject is replaced by a short apology."""
    try:
        return reply.payload()
    except SlackObjectFormationError:
        log.exception("a reply broke Slack's Block Kit limits")
        return errors_view.internal_error_reply().payload()


async def post(respond: AsyncRespond, reply: Reply) -> None:
    """Send ``reply`` to the response_url."""
    payload = safe_payload(reply)
    try:
        response = await respond(**payload)
    except ValueError:  # the request carried no response_url: nowhere to answer
        log.warning("a Slack request without response_url; the reply was dropped")
        return
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not post to response_url: %s", type(exc).__name__)
        return
    if response.status_code >= 300:
        log.warning("response_url answered %s", response.status_code)


def response_url_allowed(url: str | None, prefixes: Sequence[str]) -> bool:
    """Whether a reply may go to ``url``: only to Slack's own hosts (SLACK_RESPONSE_URL_PREFIXES).

    A leaked signing secret must not also leak runner tokens, nor let runnerops POST into
    the internal network on a forged request's behalf."""
    return bool(url) and any(str(url).startswith(prefix) for prefix in prefixes)


def _refuse_response_url(url: str | None) -> None:
    host = urlsplit(str(url or "")).hostname or "(none)"
    log.warning("ignoring a Slack request whose response_url is not Slack's (host %s)", host)


class _NoBodies(logging.Filter):
    """slack-bolt logs a failed signature check at INFO with the whole request body: an
    unauthenticated caller's text, newlines (forged log lines) and all. Keep the line,
    drop the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature"):
            record.msg, record.args = "Invalid request signature detected (body not logged)", ()
        return True


_NO_BODIES = _NoBodies()


class _ClientGiven(logging.Filter):
    """slack-bolt reads SLACK_BOT_TOKEN from the environment by itself, and warns at every
    start that the client we give (built from that very token) wins over it. That is the
    intent, not a problem: a healthy start logs no warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_CLIENT_GIVEN = _ClientGiven()


def quiet_bolt_body_logs() -> None:
    """Install :class:`_NoBodies` on slack-bolt's verification loggers (idempotent).

    app.py checks signatures before slack-bolt sees a request, so this is the second line."""
    for name in ("slack_bolt.RequestVerification", "slack_bolt.AsyncRequestVerification"):
        logger = logging.getLogger(name)
        if _NO_BODIES not in logger.filters:
            logger.addFilter(_NO_BODIES)
    logger = logging.getLogger(get_bolt_logger(AsyncApp).name)
    if _CLIENT_GIVEN not in logger.filters:
        logger.addFilter(_CLIENT_GIVEN)


# Publishes one user's Home tab: (services, user id, runnerops' public base URL, focus).
HomePublisher = Callable[[Services, str, str, str | None], Awaitable[None]]


def public_base(services: Services, request: AsyncBoltRequest) -> str:
    """Where Slack can fetch runnerops' images: RUNNEROPS_PUBLIC_URL, or the host Slack
    itself just reached (the request's Host, behind the PaaS router's X-Forwarded-Proto)."""
    if services.settings.public_url:
        return services.settings.public_url
    headers = request.headers
    if request.mode == "socket_mode":  # no Host: Slack did not reach runnerops at all
        return ""
    host = (headers.get("x-forwarded-host") or headers.get("host") or [""])[0]
    proto = (headers.get("x-forwarded-proto") or ["https"])[0].split(",")[0].strip()
    return f"{proto}://{host}"


def build_slack_app(
    services: Services, router: Router, home: HomePublisher | None = None
) -> AsyncApp:
    """Each listener is an ack that returns at once plus a lazy listener doing the work.

    With ``process_before_response`` slack-bolt awaits the ack inline and answers Slack
    right away, then runs the lazy listener as a task: the ack never waits for GitHub.
    """
    settings = services.settings
    quiet_bolt_body_logs()
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret,
        client=services.slack,
        ignoring_self_events_enabled=False,
        raise_error_for_unhandled_request=False,
        process_before_response=True,
        # Socket Mode's envelopes come over runnerops' own connection: nothing is signed.
        request_verification_enabled=not settings.socket_mode,
    )

    async def ack_now(ack: AsyncAck) -> None:
        await ack()

    prefixes = settings.slack_response_url_prefixes

    async def on_command(
        body: dict[str, Any], respond: AsyncRespond, request: AsyncBoltRequest
    ) -> None:
        if not response_url_allowed(respond.response_url, prefixes):
            _refuse_response_url(respond.response_url)  # nothing runs: its reply could not go
            return
        services.hold_current_task(lambda: post(respond, errors_view.restarting_reply()))
        # A redelivery (X-Slack-Retry-Num) repeats the trigger_id: answer it once only.
        trigger = (
            body.get("trigger_id")
            or hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        )
        if not await services.store.once.first(f"command:{trigger}"):
            log.info("ignoring a redelivered command")
            return
        caller = Caller(
            user_id=str(body.get("user_id", "")),
            user_name=str(body.get("user_name", "")),
            channel_id=str(body.get("channel_id", "")),
            command_name=str(body.get("command") or COMMANDS[0]),
            base_url=public_base(services, request),
        )
        reply = await run_command(str(body.get("text") or ""), caller, services, router)
        await post(respond, reply)

    for name in COMMANDS:
        app.command(name)(ack=ack_now, lazy=[on_command])

    async def on_click(body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        if not response_url_allowed(respond.response_url, prefixes):
            _refuse_response_url(respond.response_url)
            return
        services.hold_current_task(lambda: post(respond, errors_view.restarting_reply()))
        user = body.get("user") or {}
        caller = Caller(
            user_id=str(user.get("id", "")),
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id=str((body.get("channel") or {}).get("id", "")),
        )
        click = Click(
            action_id=str(action.get("action_id", "")),
            value=str(action.get("value", "")),
            caller=caller,
            services=services,
            update=lambda reply: post(respond, reply),
        )
        await post(respond, await run_click(click, router))

    for action_id in router.actions:
        app.action(action_id)(ack=ack_now, lazy=[on_click])
    if home is not None:
        _home_listeners(app, services, home, ack_now)
        _home_command_listeners(app, services, router, ack_now)
    return app


def _home_listeners(
    app: AsyncApp,
    services: Services,
    home: HomePublisher,
    ack_now: Callable[[AsyncAck], Awaitable[None]],
) -> None:
    """The Home tab: published when opened (``app_home_opened``) and on its buttons (which
    have no response_url: the answer is a new Home view)."""

    async def opened(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        if event.get("tab", "home") != "home":
            return
        try:
            await home(services, str(event.get("user", "")), public_base(services, request), None)
        except Exception as exc:
            log.warning("could not publish the Home tab: %s", type(exc).__name__)

    async def clicked(
        body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        user = str((body.get("user") or {}).get("id", ""))
        focus = (
            str(action.get("value") or "")[:200] if action.get("action_id") == HOME_FOCUS else None
        )
        with handled("button", user, str(action.get("action_id", ""))) as current:
            current.target = word(focus or "")
            try:
                await home(services, user, public_base(services, request), focus)
            except Exception as exc:
                current.outcome = f"error {error_kind(exc)}"
                log.warning("could not publish the Home tab: %s", type(exc).__name__)

    app.event("app_home_opened")(ack=ack_now, lazy=[opened])
    for action_id in HOME_ACTIONS:
        app.action(action_id)(ack=ack_now, lazy=[clicked])


async def post_dm(services: Services, user_id: str, reply: Reply) -> None:
    """Send ``reply`` to ``user_id``'s DM with runnerops (chat.postMessage to the user id):
    what a Home button answers with, as a Home view has no response_url."""
    payload = safe_payload(reply)
    try:
        await services.slack.chat_postMessage(
            channel=user_id, text=payload["text"], blocks=payload["blocks"]
        )
    except Exception as exc:  # SlackApiError, network: the click has nowhere else to answer
        log.warning("could not send a Home button's answer by DM: %s", type(exc).__name__)


def _home_command_listeners(
    app: AsyncApp,
    services: Services,
    router: Router,
    ack_now: Callable[[AsyncAck], Awaitable[None]],
) -> None:
    """The Home tab's command buttons: the clicker's own command, through the same parse
    and policy check as a typed one (no channel: a channel-bound grant does not hold in
    the Home tab, as for the panels), answered by DM."""

    async def clicked(
        body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        user = body.get("user") or {}
        user_id = str(user.get("id", ""))
        text = command_text(str(action.get("action_id", "")), str(action.get("value") or ""))
        if not user_id or text is None:
            log.warning("ignoring a Home button without a user or a valid target")
            return
        trigger = str(body.get("trigger_id") or "")
        if trigger and not await services.store.once.first(f"command:{trigger}"):
            log.info("ignoring a redelivered Home button")
            return
        caller = Caller(
            user_id=user_id,
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id="",
            base_url=public_base(services, request),
        )
        reply = await run_command(text, caller, services, router, kind="button")
        await post_dm(services, user_id, reply)

    for action_id in (*HOME_COMMANDS, *HOME_GLOBAL_COMMANDS):
        app.action(action_id)(ack=ack_now, lazy=[clicked])
