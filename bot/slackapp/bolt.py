"""The Slack side: slack-bolt verifies, acknowledges and routes; bot.dispatch does the
rest (parse, policy, audit of refusals, handlers, failures as replies) and we post.

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

from bot.dispatch import Caller, Click, Router, run_click, run_command
from bot.services import Services
from bot.slack.blocks import Reply
from bot.slack.views import errors as errors_view
from bot.slack.views.charts import without_native

log = logging.getLogger(__name__)

COMMANDS = ("/runners", "/runner")


def safe_payload(reply: Reply) -> dict[str, Any]:
    """``reply`` as Slack takes it; one Slack would reject is replaced by a short apology."""
    try:
        return reply.payload()
    except SlackObjectFormationError:
        log.exception("a reply broke Slack's Block Kit limits")
        return errors_view.internal_error_reply().payload()


async def post(respond: AsyncRespond, reply: Reply) -> None:
    """Send ``reply`` to the response_url; once more without its chart blocks if Slack
    refuses it (a workspace without Slack's chart block yet): the figures stay, in text."""
    payload: dict[str, Any] | None = safe_payload(reply)
    while payload is not None:
        try:
            response = await respond(**payload)
        except ValueError:  # the request carried no response_url: nowhere to answer
            log.warning("a Slack request without response_url; the reply was dropped")
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not post to response_url: %s", type(exc).__name__)
            return
        if response.status_code < 300:
            return
        log.warning("response_url answered %s", response.status_code)
        payload = without_native(payload)


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


def command_trigger(body: dict[str, Any]) -> str:
    """What makes a command once-only: a redelivery (X-Slack-Retry-Num) repeats the
    trigger_id; a body without one is known by its digest."""
    return str(
        body.get("trigger_id")
        or hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    )


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
        if not await services.store.once.first(f"command:{command_trigger(body)}"):
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
            message_blocks=_blocks(body.get("message")),
        )
        reply = await run_click(click, router)
        if reply is not None:
            await post(respond, reply)

    for button in router.buttons.values():
        if button.answer == "response_url":
            app.action(button.action_id)(ack=ack_now, lazy=[on_click])
    _home_listeners(app, services, router, home, ack_now)
    return app


def _blocks(message: object) -> list[dict[str, Any]] | None:
    """The clicked message's blocks, as Slack sent them (None without a message)."""
    if not isinstance(message, dict) or not isinstance(message.get("blocks"), list):
        return None
    return [b for b in message["blocks"] if isinstance(b, dict)]


def _home_click(
    services: Services, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
) -> Click:
    """A click in the Home tab: no channel (a channel-bound grant does not hold there, as
    for the panels) and no response_url."""
    user = body.get("user") or {}
    caller = Caller(
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username") or user.get("name") or ""),
        channel_id="",
        base_url=public_base(services, request),
    )
    return Click(
        action_id=str(action.get("action_id", "")),
        value=str(action.get("value") or ""),
        caller=caller,
        services=services,
    )


def _home_listeners(
    app: AsyncApp,
    services: Services,
    router: Router,
    home: HomePublisher | None,
    ack_now: Callable[[AsyncAck], Awaitable[None]],
) -> None:
    """The Home tab: published when opened (``app_home_opened``); its buttons answer with
    a new Home view or, for a command button, by DM (a Home view has no response_url)."""

    async def opened(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        if event.get("tab", "home") != "home" or home is None:
            return
        try:
            await home(services, str(event.get("user", "")), public_base(services, request), None)
        except Exception as exc:
            log.warning("could not publish the Home tab: %s", type(exc).__name__)

    async def clicked(
        body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await run_click(_home_click(services, body, action, request), router)

    async def command_clicked(
        body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        click = _home_click(services, body, action, request)
        if not click.caller.user_id:
            log.warning("ignoring a Home button without a user or a valid target")
            return
        trigger = str(body.get("trigger_id") or "")
        if trigger and not await services.store.once.first(f"command:{trigger}"):
            log.info("ignoring a redelivered Home button")
            return
        reply = await run_click(click, router)
        if reply is not None:
            await post_dm(services, click.caller.user_id, reply)

    if home is not None:
        app.event("app_home_opened")(ack=ack_now, lazy=[opened])
    listeners: dict[str, Callable[..., Awaitable[None]]] = {"home": clicked, "dm": command_clicked}
    for button in router.buttons.values():
        if button.answer in listeners:
            app.action(button.action_id)(ack=ack_now, lazy=[listeners[button.answer]])


async def post_dm(services: Services, user_id: str, reply: Reply) -> None:
    """Send ``reply`` to ``user_id``'s DM with runnerops (chat.postMessage to the user id):
    what a Home button answers with, as a Home view has no response_url."""
    payload: dict[str, Any] | None = safe_payload(reply)
    while payload is not None:
        try:
            await services.slack.chat_postMessage(
                channel=user_id, text=payload["text"], blocks=payload["blocks"]
            )
            return
        except Exception as exc:  # SlackApiError, network: nowhere else to answer
            log.warning("could not send a Home button's answer by DM: %s", type(exc).__name__)
            payload = without_native(payload)  # again without charts a workspace refused
