"""The one dispatcher: parse, authorize, audit refusals, route, and turn every failure
into a reply, for typed commands and for every button alike.

No handler decides policy: a verb's action is declared with it, a button's action and
how its target is read from the click with the route, and both are checked here before
the handler runs (so before any GitHub request)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from bot import errors
from bot.caller import Caller
from bot.commands import Action, UsageError
from bot.dispatch.router import Button, Click, ClickRefused, Invocation, NoTarget, Router
from bot.observe.logs import error_kind, handled, handling, word
from bot.services import Services
from bot.slack.blocks import Reply
from bot.slack.views import errors as errors_view
from bot.slack.views import help as help_view
from bot.store.database import StoreUnavailable
from bot.targets import Target

log = logging.getLogger(__name__)
R = TypeVar("R", Reply, Reply | None)


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
    settings = services.settings
    try:
        args = router.parse(text, settings.default_target, github_url=settings.github_url)
    except UsageError as exc:
        _outcome("error usage")
        return help_view.usage_reply(exc, router.documented(), caller.command_name)
    current = handling.get()
    if current is not None:
        current.verb, current.target = args.verb, word(str(args.target or ""))
    verb = router.verbs[args.verb]
    refused = await _refused(services, caller, args.action, args.verb, args.target)
    if refused is not None:
        return refused
    if args.target is not None and not verb.local:
        # An account this deployment does not serve: said before any GitHub call, and
        # before store-only verbs (queue, stats) would answer "nothing" for it.
        await services.github.check_served(args.target)
    return await verb.handler(Invocation(args, caller, services, router))


async def _refused(
    services: Services, caller: Caller, action: Action, verb: str, target: Target | None
) -> Reply | None:
    """The refusal reply (audited) when the policy refuses ``action``; None if allowed."""
    decision = await services.access.decide(
        action, user_id=caller.user_id, channel_id=caller.channel_id, target=target
    )
    if decision.allowed:
        return None
    _outcome("refused")
    await services.audit(caller, verb, target, "refused", decision.reason)
    return errors_view.refusal(action, verb, target, decision.reason)


async def run_click(click: Click, router: Router) -> Reply | None:
    """One button press, through its route's policy check; None: nothing to post (a
    Home button answers with a new Home view, or a command button that runs nothing)."""
    button = router.buttons.get(click.action_id)
    if button is not None and button.command is not None:
        text = button.command(click.action_id, click.value)
        if text is None:
            log.warning("ignoring a Home button without a user or a valid target")
            return None
        return await run_command(text, click.caller, click.services, router, kind="button")
    # The log line's target is the one the route's reader finds (_authorized_click).
    with handled("button", click.caller.user_id, click.action_id) as current:
        if button is None:
            current.outcome = "error unhandled"
            return errors_view.button_gone_reply()
        return await _guarded(_click(button, click), click.services)


async def _click(button: Button, click: Click) -> Reply | None:
    """A target reader's or handler's :class:`ClickRefused` is its reply."""
    try:
        return await _authorized_click(button, click)
    except ClickRefused as refused:
        return refused.reply


async def _authorized_click(button: Button, click: Click) -> Reply | None:
    if button.handler is None or button.action is None or button.target is None:
        raise ValueError(f"button {button.action_id!r} declares no policy action or target")
    if not isinstance(button.target, NoTarget):
        click.target = await button.target(click)
        current = handling.get()
        if current is not None:
            current.target = word(str(click.target))
        refusal = await _refused(
            click.services, click.caller, button.action, button.verb, click.target
        )
        if refusal is not None:
            return refusal
    return await button.handler(click)


async def _guarded(work: Awaitable[R], services: Services) -> R | Reply:
    try:
        reply = await work
    except errors.RunnerOpsError as exc:
        _outcome(f"error {error_kind(exc)}")
        log.info("command failed: %r", exc)  # an error never holds a credential
        return errors_view.error_reply(exc, install_url=services.settings.install_url)
    except StoreUnavailable:  # logged by the store; the watch's verbs read and write it
        _outcome("error database")
        return errors_view.database_unavailable_reply()
    except Exception:
        _outcome("error internal")
        log.exception("unexpected failure while handling a Slack request")
        return errors_view.internal_error_reply()
    return reply
