"""The fix button "Prune these", on an offline alert, and the note its private dry run
adds about the alert's runners it leaves out (the dry run itself is ``prune``'s)."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import ButtonElement

from bot.slack.blocks import Reply, clip, escape, section
from bot.slack.views.fixes import alert_button_value, confirm
from bot.slack.views.reasons import plural
from bot.watch.alerts import Alert, AlertKind
from bot.watch.diagnosis import Diagnosis

PRUNE_FIX_ACTION = "alert_fix_prune"
CRITERIA = "offline in the watch's alert"
NAMED = 10


def prune_fix_buttons(alert: Alert, diagnosis: Diagnosis | None) -> list[ButtonElement]:
    """The button, on an open offline alert."""
    if alert.kind is not AlertKind.OFFLINE or not alert.members:
        return []
    count = plural(len(alert.members), "runner")
    return [
        ButtonElement(
            text="Prune these",
            action_id=PRUNE_FIX_ACTION,
            value=alert_button_value(alert, fix="prune"),
            confirm=confirm(
                "Prune these runners?",
                f"Shows you, privately, a dry run deleting the {count} of this alert (each"
                " checked with GitHub first), with its own Delete button. Nothing is deleted"
                " until you press it.",
                "Show the dry run",
            ),
        )
    ]


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(f"*{escape(clip(n, 60))}*" for n in names[:NAMED])
    return shown + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def with_left_out(
    reply: Reply, *, back: Sequence[str], busy: Sequence[str], gone: Sequence[str]
) -> Reply:
    """The dry run, saying which of the alert's runners it leaves out, and why."""
    said = []
    if back:
        said.append(f"{_names(back)} {'is' if len(back) == 1 else 'are'} back online")
    if busy:
        said.append(f"{_names(busy)} {'is' if len(busy) == 1 else 'are'} running a job")
    if gone:
        said.append(f"{_names(gone)} {'was' if len(gone) == 1 else 'were'} deleted already")
    if not said:
        return reply
    note = section(":information_source: Left out since the alert: " + "; ".join(said) + ".")
    blocks = list(reply.blocks)
    blocks.insert(len(blocks) - 1 if len(blocks) > 2 else len(blocks), note)
    return Reply(text=reply.text, blocks=blocks, response_type="ephemeral")
