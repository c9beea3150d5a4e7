"""``help`` and ``help VERB``: what each command does, and how targets and runners are named."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock

from bot.commands import USAGE
from bot.slack.blocks import Reply, context, section

HELP_LINES = {
    "list": "fleet status: counts, then each runner with status, busy/idle and labels",
    "get": "one runner by id or exact name",
    "labels": "a runner's labels: custom ones, and GitHub's read-only ones apart",
    "label": "add, remove or set a runner's custom labels (admins)",
    "groups": "runner groups: who may use them, which workflows, how many runners",
    "jit": "a just-in-time runner: one job, then removed; the `./run.sh` line to paste",
    "delete": "remove a runner (asks for confirmation with a button)",
    "token": "a one-hour registration token and the `./config.sh` line to paste",
    "remove-token": "a one-hour remove token and the `./config.sh remove` line",
    "downloads": "runner application downloads for each OS and architecture",
    "whoami": "what you may do, and where",
    "audit": (
        "recent tokens, deletes and other changes, refusals counted apart"
        " (`--refused` lists them; admins)"
    ),
}
# The watch's verbs.
HELP_LINES.update(
    {
        "watch": "alerts in this channel: jobs queued too long (default 5m), runners offline"
        " (default 10m); watching again changes the thresholds (admins)",
        "unwatch": "stop this channel's alerts for a target (admins)",
        "watching": "the watches of targets you may read: channel, target, thresholds, by whom",
        "queue": "jobs queued now, oldest first, each with the reason it waits",
        "why": "why one job waits, and what to do (its URL, or OWNER/REPO JOB_ID)",
        "stats": "queue times p50/p95/max per label set, and runner usage (default 7d)",
        "prune": "a dry run of the dead runners to delete (offline 1d+ by default), then a"
        " button that deletes them, each checked again first (admins)",
    }
)


def help_reply(command_name: str = "/runners", topic: str | None = None) -> Reply:
    if topic in USAGE and topic != "help":
        return Reply(
            text=f"{command_name} {USAGE[topic]}",
            blocks=[
                section(f"*{topic}*: {HELP_LINES.get(topic, '')}\n`{command_name} {USAGE[topic]}`"),
                _targets_help(),
            ],
        )
    lines = [f"`{command_name} {USAGE[verb]}`\n      {HELP_LINES[verb]}" for verb in HELP_LINES]
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
