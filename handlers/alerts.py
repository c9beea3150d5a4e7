"""Acknowledge and Snooze 1h, the buttons on every open stuck-job, offline and version
alert.

Both need ``read`` on the alert's target (anyone who may read it): the route declares it
and the dispatcher checks it, reading the target from the button's value; the handler
then finds the stored alert by its channel and key and acts only if its target is the one
checked. The marks are stored in the alert's row, so every process sees them: a double
click, on one process or two, acknowledges once. The alert's message is updated in
place, and the sweep's later updates keep saying it (bot/sweep/messages.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import errors
from bot.dispatch import Click, ClickRefused, Router
from bot.slack.blocks import Reply
from bot.slack.views import alerts as alerts_view
from bot.slack.views import errors as errors_view
from bot.slack.views import fixes as fixes_view
from bot.slack.views.version_alerts import version_alert
from bot.store.database import StoreUnavailable
from bot.targets import Target, TargetError, parse_target
from bot.watch.alerts import SNOOZE, Alert, AlertKind, Marks

log = logging.getLogger(__name__)
router = Router()


@dataclass(frozen=True)
class AlertButton:
    """What an alert button's value carries: the alert's target, channel and key (a fix
    button's value carries the fix's own facts too: ``bot.slack.views.fixes``)."""

    target: Target
    channel: str
    key: str

    @classmethod
    def read(cls, value: str) -> AlertButton:
        try:
            found = json.loads(value)
            key = fixes_view.alert_button_key(str(found["key"]))
            return cls(parse_target(str(found["target"])), str(found["channel"]), key)
        except (ValueError, KeyError, TypeError, TargetError, UnicodeError):
            raise invalid_value() from None


def invalid_value() -> ClickRefused:
    """A value runnerops did not write on an alert's button (or its fix): said to the
    clicker alone, as replacing the message would take the alert from the whole channel.
    Every alert and fix button refuses with this one."""
    return ClickRefused(errors_view.button_invalid_reply(on_alert=True))


async def alert_button_target(click: Click) -> Target:
    return AlertButton.read(click.value).target


async def stored_fix(click: Click) -> tuple[AlertButton, Alert, Mapping[str, Any]]:
    """A fix button's open alert (as :func:`stored_alert`) and the fix's own facts."""
    button, alert, _ = await stored_alert(click)
    try:
        return button, alert, fixes_view.fix_facts(click.value)
    except ValueError:
        raise invalid_value() from None


async def stored_alert(click: Click) -> tuple[AlertButton, Alert, Marks]:
    """The open alert the button is on; refused when it is over (or is not the alert of
    the target the policy checked). Fix buttons start here too."""
    button = AlertButton.read(click.value)
    found = await click.services.store.alerts.find(button.channel, button.key)
    if found is None or found[0].target.lower() != str(button.target).lower():
        raise ClickRefused(alerts_view.alert_gone_reply())
    return button, found[0], found[1]


async def update_alert_message(click: Click, alert: Alert, marks: Marks, now: datetime) -> None:
    """Say the marks (and a fix) on the alert's message, in place; the rest of it stays as
    it is."""
    if alert.message_ts is None:
        return
    if alert.kind is AlertKind.VERSION:  # its fallback text, at least
        drawn = version_alert(alert, now=now, marks=marks)
    else:
        drawn = alerts_view.alert_message(alert, marks, now)
    if click.message_blocks is not None:
        blocks = alerts_view.remarked(click.message_blocks, alert, marks, now)
    else:  # the message was not sent with the click: drawn again from the stored alert
        blocks = [b.to_dict() for b in drawn.blocks]
    try:
        await click.services.slack.chat_update(
            channel=alert.channel, ts=alert.message_ts, text=drawn.text, blocks=blocks
        )
    except SlackApiError as exc:  # the mark is stored: the next sweep update says it
        error = exc.response.get("error") if exc.response is not None else None
        log.warning("could not update alert %s in %s: %s", alert.key, alert.channel, error)


async def note_fix(
    click: Click, channel: str, key: str, note: str, *, on_alert: bool = True
) -> None:
    """After a fix button's change is made: the fix note on the alert (stored for every
    process), then its message updated in place. ``note``: what was done, in plain words
    and no secret. An alert resolved meanwhile has nothing to say it on: nothing is done.
    ``on_alert`` False: the click was not on the alert's message (prune's Delete, on a
    private dry run), which is then drawn again from the stored alert. The change is made
    by now: a database that fails here costs the note, never the change."""
    now = datetime.fromtimestamp(click.services.clock(), UTC)
    store = click.services.store.alerts
    try:
        if not await store.record_fix(channel, key, click.caller.user_id, note, now):
            log.info("alert %s in %s resolved before its fix was noted", key, channel)
            return
        found = await store.find(channel, key)
    except StoreUnavailable:
        log.warning("fix on alert %s in %s made, its note not stored", key, channel)
        return
    if found is None:
        log.info("alert %s in %s resolved before its fix was noted", key, channel)
        return
    where = click if on_alert else replace(click, message_blocks=None)
    await update_alert_message(where, found[0], found[1], now)


async def _mark(click: Click, verb: str) -> Reply:
    services, caller = click.services, click.caller
    now = datetime.fromtimestamp(services.clock(), UTC)
    button, alert, _ = await stored_alert(click)
    async with await services.audit_first(caller, verb, button.target, alert.key) as audited:
        store = services.store.alerts
        if verb == "acknowledge":
            done = await store.acknowledge(button.channel, button.key, caller.user_id, now)
        else:
            until = now + SNOOZE
            done = await store.snooze(button.channel, button.key, caller.user_id, until)
        found = await store.find(button.channel, button.key)
        if found is None:
            await audited.settle("not-done", f"{alert.key}: resolved meanwhile")
            return alerts_view.alert_gone_reply()
        marks = found[1]
        if not done:
            await audited.settle("not-done", f"{alert.key}: acknowledged already")
            return alerts_view.already_acknowledged(marks)
        await audited.settle("acknowledged" if verb == "acknowledge" else "snoozed", alert.key)
    await update_alert_message(click, found[0], marks, now)
    return alerts_view.marked_reply(verb, marks, now)


@router.button(
    alerts_view.ACK_ACTION, verb="acknowledge", action="read", target=alert_button_target
)
async def acknowledge_clicked(click: Click) -> Reply:
    try:
        return await _mark(click, "acknowledge")
    except StoreUnavailable:  # nothing can be promised to other processes without it
        raise errors.AuditUnavailable(AlertButton.read(click.value).target) from None


@router.button(alerts_view.SNOOZE_ACTION, verb="snooze", action="read", target=alert_button_target)
async def snooze_clicked(click: Click) -> Reply:
    try:
        return await _mark(click, "snooze")
    except StoreUnavailable:
        raise errors.AuditUnavailable(AlertButton.read(click.value).target) from None
