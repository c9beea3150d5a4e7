"""``help``, usage replies and the dispatcher's own replies, drawn from the verbs'
declarations (each verb's words, usage and help line are said once, in handlers/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from slack_sdk.models.blocks import ContextBlock

from bot.commands import UsageError
from bot.slack.blocks import Reply, clip, context, escape, section


class Documented(Protocol):
    """What help shows of a verb."""

    @property
    def name(self) -> str: ...
    @property
    def usage(self) -> str: ...
    @property
    def help(self) -> str: ...


def help_reply(
    verbs: Sequence[Documented], command_name: str = "/runners", topic: str | None = None
) -> Reply:
    """The index of every verb with a help line, or one verb's usage (``help VERB``)."""
    found = next((v for v in verbs if v.name == topic and topic != "help"), None)
    if found is not None:
        return Reply(
            text=f"{command_name} {found.usage}",
            blocks=[
                section(f"*{found.name}*: {found.help}\n`{command_name} {found.usage}`"),
                _targets_help(),
            ],
        )
    lines = [f"`{command_name} {v.usage}`\n      {v.help}" for v in verbs if v.help]
    half = (len(lines) + 1) // 2  # two sections: each stays under Slack's 3,000 characters
    return Reply(
        text=f"{command_name}: manage GitHub Actions self-hosted runners",
        blocks=[
            section(f"*{command_name}* manages GitHub Actions self-hosted runners."),
            section("\n".join(lines[:half])),
            section("\n".join(lines[half:])),
            _targets_help(),
        ],
    )


def _targets_help() -> ContextBlock:
    return context(
        "TARGET: `ORG` (or `org:ORG`), `OWNER/REPO` (or `repo:OWNER/REPO`), "
        "`enterprise:SLUG`; the scope word may stand apart: `org acme`. "
        'RUNNER: `id:N` (by id), `name:TEXT` (by exact name; `name:"my runner"`), or a '
        "bare id or name; a number that is one runner's id and another's name is asked "
        "about. Lists are private unless `--public`."
    )


def usage_reply(
    error: UsageError, verbs: Sequence[Documented], command_name: str = "/runners"
) -> Reply:
    text = f":warning: {escape(clip(error.message, 300))}"
    found = next((v for v in verbs if v.name == error.verb), None)
    if found is not None:
        text += f"\nUsage: `{command_name} {found.usage}`"
    else:
        words = ", ".join(f"`{v.name}`" for v in verbs)
        text += f"\nCommands: {words}. Try `{command_name} help`."
    return Reply(text=text, blocks=[section(text)])
