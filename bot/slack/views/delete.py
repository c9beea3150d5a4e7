"""``delete``: the confirmation with its danger button, and what the message becomes."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.github.models import Runner
from bot.slack.blocks import Reply, clip, code, escape, replacement, section
from bot.slack.views.fleet import runner_fields, runner_labels
from bot.targets import Target

DELETE_ACTION = "runner_delete"


def delete_button_value(target: Target, runner: Runner) -> str:
    return json.dumps({"target": str(target), "id": runner.id, "name": runner.name[:200]})


def delete_confirm(target: Target, runner: Runner) -> Reply:
    name = escape(clip(runner.name, 100))
    warning = ""
    if runner.busy:
        warning = "\n:warning: This runner is running a job now; GitHub will refuse to delete it."
    button = ButtonElement(
        text=PlainTextObject(text="Delete"),
        action_id=DELETE_ACTION,
        value=delete_button_value(target, runner),
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Delete this runner?"),
            text=MarkdownTextObject(
                text=f"*{escape(clip(runner.name, 60))}* (id {runner.id}) will be removed from "
                f"{escape(clip(str(target), 60))}. Jobs can no longer run on it.",
            ),
            confirm=PlainTextObject(text="Delete"),
            deny=PlainTextObject(text="Cancel"),
            style="danger",
        ),
    )
    return Reply(
        text=f"Delete runner {runner.name} from {target}?",
        blocks=[
            section(f"Delete runner *{name}* from *{escape(str(target))}*?{warning}"),
            SectionBlock(fields=runner_fields(target, runner)),
            section(f"*Labels*: {runner_labels(runner, budget=2900)}"),
            ActionsBlock(elements=[button]),
        ],
    )


def delete_outcome(target: Target, runner_name: str, user_id: str, text: str) -> Reply:
    """What the Delete message becomes once the button has been pressed."""
    body = f"{text}\n_by <@{user_id}> for {escape(str(target))}_"
    return Reply(text=f"{runner_name}: {text}", blocks=[section(body)], replace_original=True)


def deleted_text(target: Target, runner_name: str, *, checked: bool = False) -> str:
    note = " (GitHub failed to answer the delete; a check found the runner gone)" if checked else ""
    return (
        f":wastebasket: Runner *{escape(runner_name)}* was deleted from "
        f"*{escape(str(target))}*{note}."
    )


def delete_in_progress(target: Target, runner_name: str) -> Reply:
    return replacement(
        f":hourglass: Another click is deleting {code(runner_name)} from"
        f" *{escape(str(target))}*; its outcome shows on that message."
    )


def delete_unknown_text(target: Target, runner_name: str) -> str:
    return (
        f":grey_question: GitHub did not confirm the delete of {code(runner_name)}, and could "
        f"not be asked whether it is still there. `get {escape(str(target))} "
        f"{escape(clip(runner_name, 100))}` shows whether it is; the button can be pressed again."
    )
