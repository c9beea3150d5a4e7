"""The fix button "Register a JIT runner for these labels", on a stuck-job alert whose
matching runners are all busy or all offline, and what its click answers (privately: the
configuration itself is rendered by ``bot.slack.views.jit``, as for the ``jit`` verb)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement

from bot.slack.blocks import Reply, clip, code, escape, section, slack_time
from bot.slack.views.fixes import alert_button_value, confirm
from bot.targets import Target
from bot.watch.alerts import Alert, AlertKind
from bot.watch.diagnosis import Diagnosis, Reason

JIT_FIX_ACTION = "alert_fix_jit"
# A runner more is the fix only when runners with the labels exist, usable, and none is
# free: not when no runner has the labels or a group keeps the repository out.
JIT_REASONS = frozenset({Reason.ALL_BUSY.value, Reason.ALL_OFFLINE.value})


def shown_labels(labels: Sequence[str], limit: int = 120) -> str:
    """Labels for a sentence: each in code, escaped (they come from workflow files)."""
    return clip(", ".join(code(clip(label, 40)) for label in labels[:10]), limit) + (
        f" +{len(labels) - 10} more" if len(labels) > 10 else ""
    )


def applies(alert: Alert) -> bool:
    return alert.kind is AlertKind.STUCK and alert.reason in JIT_REASONS and bool(alert.labels)


def jit_fix_buttons(alert: Alert, diagnosis: Diagnosis | None) -> list[ButtonElement]:
    """The button, on an alert whose jobs wait for busy or offline runners only."""
    if not applies(alert):
        return []
    where = escape(clip(alert.target, 60))
    consequence = (
        "A one-time runner configuration that lets a machine join a runner group of"
        f" *{where}* the job's repository can use (that of its matching runners, else the"
        f" default group) and take a job asking for {shown_labels(alert.labels)}."
        " It is sent only to you."
    )
    return [
        ButtonElement(
            text="Register a JIT runner for these labels",
            action_id=JIT_FIX_ACTION,
            value=alert_button_value(alert, fix="jit"),
            confirm=confirm("Register a JIT runner?", consequence, "Register"),
        )
    ]


def _private(text: str) -> Reply:
    return Reply(text=text, blocks=[section(text)], response_type="ephemeral")


def fix_note(name: str, labels: Sequence[str]) -> str:
    """What the alert says was done (plain words, escaped when drawn; no secret)."""
    return f"registered a JIT runner {name} for {clip(', '.join(labels), 200)}"


def no_longer_applies() -> Reply:
    return _private(
        ":information_source: This alert's jobs no longer wait for busy or offline runners:"
        " no JIT runner was registered."
    )


def runner_idle_now(target: Target, name: str) -> Reply:
    return _private(
        f":information_source: *{escape(clip(name, 80))}*, a runner of"
        f" *{escape(str(target))}* with these labels that the job's repository can use, is"
        " online and idle now: the jobs should start on it. No JIT runner was registered."
    )


def label_refused(label: str | None, why: str) -> Reply:
    """A label from the workflow file (None: their number) GitHub would not take for a
    runner."""
    what = (
        f"a label GitHub would refuse for a runner ({code(clip(label, 60))}:"
        if label
        else ("more labels than GitHub takes for a runner (")
    )
    return _private(
        f":warning: These jobs ask for {what} {escape(why)}), so no JIT runner can take"
        " them. Nothing was registered; check the workflow's `runs-on`."
    )


def registered_already(claim: Any, *, done: bool) -> Reply:
    """A second click within the claim's period: who registered which runner, when
    (``claim``: what the first click stored; None or malformed if it is not known)."""
    found = claim if isinstance(claim, dict) else {}
    by, runner, at = found.get("by"), found.get("runner"), found.get("at")
    who = f"<@{escape(by)}>" if isinstance(by, str) and by else "Someone"
    what = (
        f"JIT runner *{escape(clip(runner, 100))}*" if isinstance(runner, str) else "a JIT runner"
    )
    try:
        when = f" at {slack_time(datetime.fromisoformat(at))}" if isinstance(at, str) else ""
    except ValueError:
        when = ""
    did = "registered" if done else "is registering"
    return _private(
        f":information_source: {who} {did} {what} for this alert{when}: nothing more was"
        " registered; to register another, use `/runners jit`."
    )
