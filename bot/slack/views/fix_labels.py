"""The "Add LABELS to RUNNER" fix buttons of a "no runner has the labels" alert, their
confirmation, and what the click answers privately.

One button per runner :func:`bot.watch.label_fixes.label_fixes` offers (at most three),
each with its own action id: Slack wants the ids in one actions block distinct.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import ButtonElement, PlainTextObject

from bot.slack.blocks import Reply, clip, code, escape, section
from bot.slack.views.fixes import alert_button_value, confirm
from bot.watch.alerts import Alert
from bot.watch.diagnosis import Diagnosis, Reason
from bot.watch.label_fixes import MAX_LABEL_FIXES, LabelFix, label_fixes

FIX_LABELS_ACTIONS = tuple(f"alert_fix_labels_{n}" for n in range(1, MAX_LABEL_FIXES + 1))
BUTTON_TEXT_MAX = 75  # Slack's limit on a button's text


def _codes(labels: Sequence[str], limit: int = 10) -> str:
    shown = " ".join(code(clip(label, 60)) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def note_text(labels: Sequence[str], runner: str) -> str:
    """The fix note the alert shows: plain words (the alert escapes them)."""
    return f"added {', '.join(labels)} to {runner}"


def _button(alert: Alert, fix: LabelFix, action_id: str) -> ButtonElement:
    runner = clip(fix.runner_name, 30)
    text = clip(f"Add {clip(', '.join(fix.labels), 30)} to {runner}", BUTTON_TEXT_MAX)
    later = "" if fix.online else " It is offline now: it takes them once it is back."
    consequence = (
        f"*{escape(clip(fix.runner_name, 60))}* of *{escape(clip(fix.scope, 60))}* will also"
        f" take jobs that ask for {_codes(fix.labels, 5)} from every repository that may use"
        f" it.{later}"
    )
    return ButtonElement(
        text=PlainTextObject(text=text),
        action_id=action_id,
        value=alert_button_value(
            alert,
            scope=fix.scope,
            runner_id=fix.runner_id,
            runner=fix.runner_name[:100],
            labels=list(fix.labels),
        ),
        confirm=confirm("Add labels to this runner?", consequence, "Add labels"),
    )


def label_fix_buttons(alert: Alert, diagnosis: Diagnosis | None) -> list[ButtonElement]:
    """The alert's "Add LABELS to RUNNER" buttons; none unless no runner has the labels
    and some close runner lacks only custom ones."""
    if diagnosis is None or diagnosis.reason is not Reason.NO_MATCHING_LABELS:
        return []
    fixes = label_fixes(alert.target, diagnosis.closest)
    return [_button(alert, fix, FIX_LABELS_ACTIONS[n]) for n, fix in enumerate(fixes)]


def _reply(text: str) -> Reply:
    return Reply(text=text, blocks=[section(text)])


def added_reply(runner: str, labels: Sequence[str], scope: str) -> Reply:
    return _reply(
        f":label: You added {_codes(labels)} to *{escape(clip(runner, 100))}* in"
        f" *{escape(scope)}*. The alert says so; its next update shows whether the jobs are"
        " picked up."
    )


def already_has_reply(runner: str, labels: Sequence[str]) -> Reply:
    return _reply(
        f":information_source: *{escape(clip(runner, 100))}* already has {_codes(labels)}"
        " (someone added them since the alert was drawn): nothing was changed."
    )


def runner_gone_reply(runner: str, scope: str) -> Reply:
    return _reply(
        f":mag: *{escape(clip(runner, 100))}* is no longer a runner of *{escape(scope)}*"
        " (deleted since the alert was drawn): nothing was changed."
    )


def not_added_reply(runner: str, labels: Sequence[str]) -> Reply:
    return _reply(
        f":warning: GitHub failed to answer, and reading the labels of"
        f" *{escape(clip(runner, 100))}* back shows {_codes(labels)} not added. Nothing"
        " was changed; try again if it is still wanted."
    )
