"""The fix buttons on an open alert: one per fix that applies to its cause.

Each fix is one builder in its own view module (listed in bot/slack/views/alerts.py),
taking the alert (and, for a stuck-job alert, the diagnosis the sweep made) and returning
its buttons, or none when the fix does not apply. The click is handled, under the policy,
by the fix's module in ``handlers/``; a button's value carries the alert (target, channel,
key: as Acknowledge's does) plus the fix's own facts, so the handler can re-check the
situation at click time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
)

from bot.slack.blocks import clip, fit
from bot.watch.alerts import Alert
from bot.watch.diagnosis import Diagnosis, Reason

FIXES_BLOCK = "alert_fixes"
MORE_FIXES_BLOCK = "alert_more_fixes"
# Slack's actions block takes 25; more than a few choices would bury the alert.
MAX_FIX_BUTTONS = 8
VALUE_MAX = 2000  # Slack's limit on a button's value
# Slack's limits on a confirmation dialog: its title, its text, its buttons' text.
CONFIRM_TITLE_CHARS, CONFIRM_TEXT_CHARS, CONFIRM_BUTTON_CHARS = 100, 300, 30


def confirm(
    title: str, text: str, confirm_label: str, *, style: str | None = None
) -> ConfirmObject:
    """A fix button's confirmation dialog, stating the consequence (``text``: mrkdwn, cut
    without splitting an escape such as ``&amp;``), each part within Slack's limits."""
    return ConfirmObject(
        title=PlainTextObject(text=clip(title, CONFIRM_TITLE_CHARS)),
        text=MarkdownTextObject(text=fit(text, CONFIRM_TEXT_CHARS)),
        confirm=PlainTextObject(text=clip(confirm_label, CONFIRM_BUTTON_CHARS)),
        deny=PlainTextObject(text="Cancel"),
        style=style,
    )


def alert_button_value(alert: Alert, **fix: Any) -> str:
    """Which alert a button is on: its target (for the policy), channel and key, and the
    fix's own facts if any. The key holds labels from workflow files: carried in base64, so
    that no ``<!channel>`` a workflow wrote is ever in the message, even in a value."""
    key = base64.urlsafe_b64encode(alert.key.encode()).decode()
    found: dict[str, Any] = {"target": alert.target, "channel": alert.channel, "key": key}
    if fix:
        found["fix"] = fix
    return json.dumps(found, separators=(",", ":"))


def alert_button_key(encoded: str) -> str:
    """The alert key an :func:`alert_button_value` carries (ValueError if none)."""
    return base64.urlsafe_b64decode(encoded.encode("ascii")).decode()


def fix_facts(value: str) -> Mapping[str, Any]:
    """The fix's own facts a button's value carries (ValueError when there are none)."""
    found = json.loads(value).get("fix")
    if not isinstance(found, dict):
        raise ValueError("no fix in this button")
    return found


def context_block(text: str, block_id: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text))], block_id=block_id)


FixBuilder = Callable[[Alert, Diagnosis | None], list[ButtonElement]]


def fixes_block(
    alert: Alert, diagnosis: Diagnosis | None, builders: tuple[FixBuilder, ...]
) -> list[Block]:
    """The alert's fix buttons in one actions block (none when no fix applies), and a line
    saying how many were left out when there are more than :data:`MAX_FIX_BUTTONS`; a
    button whose value would pass Slack's limit is left out rather than break the
    message."""
    buttons = [
        button
        for build in builders
        for button in build(alert, diagnosis)
        if button.value is None or len(button.value) <= VALUE_MAX
    ]
    if not buttons:
        return []
    blocks: list[Block] = [ActionsBlock(elements=buttons[:MAX_FIX_BUTTONS], block_id=FIXES_BLOCK)]
    if (more := len(buttons) - MAX_FIX_BUTTONS) > 0:
        where = (
            "see the runner group settings links"
            if diagnosis is not None and diagnosis.reason is Reason.GROUP_NOT_ALLOWED
            else "the commands in `help` make them"
        )
        said = f"{more} more fix{'es' if more != 1 else ''} not shown: {where}"
        blocks.append(context_block(said, MORE_FIXES_BLOCK))
    return blocks
