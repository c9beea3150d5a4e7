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

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.watch.alerts import Alert
from bot.watch.diagnosis import Diagnosis

FIXES_BLOCK = "alert_fixes"
MAX_FIX_BUTTONS = 5  # Slack's actions block takes 25; an alert offers a few choices
VALUE_MAX = 2000  # Slack's limit on a button's value


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


FixBuilder = Callable[[Alert, Diagnosis | None], list[ButtonElement]]


def fixes_block(
    alert: Alert, diagnosis: Diagnosis | None, builders: tuple[FixBuilder, ...]
) -> ActionsBlock | None:
    """The alert's fix buttons in one actions block (None when no fix applies); a button
    whose value would pass Slack's limit is left out rather than break the message."""
    buttons = [
        button
        for build in builders
        for button in build(alert, diagnosis)
        if button.value is None or len(button.value) <= VALUE_MAX
    ]
    if not buttons:
        return None
    return ActionsBlock(elements=buttons[:MAX_FIX_BUTTONS], block_id=FIXES_BLOCK)
