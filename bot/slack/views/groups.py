"""``groups``: runner groups, who may use them, which workflows, how many runners."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.github.models import RunnerGroup
from bot.slack.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SECTION_CHARS,
    Reply,
    clip,
    code,
    context,
    escape,
    fit,
    header,
    section,
)
from bot.targets import Scope, Target

MAX_GROUPS_SHOWN = 40  # at ~250 characters a line, 40 groups stay within MESSAGE_CHARS


def _group_line(group: RunnerGroup, scope: Scope) -> str:
    who = {
        "all": "all organizations" if scope is Scope.ENTERPRISE else "all repositories",
        "selected": "selected organizations"
        if scope is Scope.ENTERPRISE
        else "selected repositories",
        "private": "private repositories only",
    }.get(group.visibility, escape(clip(group.visibility, 30)))
    public = (
        "public repositories allowed"
        if group.allows_public_repositories
        else "no public repositories"
    )
    if group.restricted_to_workflows:
        flows = [code(clip(w, 60)) for w in group.selected_workflows[:3]]
        more = len(group.selected_workflows) - len(flows)
        workflows = (
            "only workflows "
            + (", ".join(flows) or "_none_")
            + (f" +{more} more" if more > 0 else "")
        )
    else:
        workflows = "any workflow"
    count = group.runner_count
    runners = "? runners" if count is None else f"{count} runner{'s' if count != 1 else ''}"
    tags = []
    if group.default:
        tags.append("default")
    if group.inherited:
        tags.append("shared by the enterprise")
    tag = f" _({', '.join(tags)})_" if tags else ""
    return (
        f"*{escape(clip(group.name, 80))}*{tag} · id {group.id} · {runners}\n"
        f"      {who} · {public} · {workflows}"
    )


def groups_reply(target: Target, groups: Sequence[RunnerGroup]) -> Reply:
    """Only the first MAX_GROUPS_SHOWN are drawn (and were counted)."""
    title = f"Runner groups of {target}"
    blocks: list[Block] = [
        header(title),
        section(
            f"*{escape(str(target))}*: {len(groups)} runner group{'s' if len(groups) != 1 else ''}"
        ),
    ]
    chunk: list[str] = []
    size = 0
    used = 0
    drawn = 0
    for group in groups[:MAX_GROUPS_SHOWN]:
        line = fit(_group_line(group, target.scope), 600)
        if used + len(line) > MESSAGE_CHARS - 500 or len(blocks) >= MAX_BLOCKS - 2:
            break
        if chunk and size + len(line) + 1 > SECTION_CHARS:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
        used += len(line) + 1
        drawn += 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if drawn < len(groups):
        blocks.append(context(f"…and {len(groups) - drawn} more groups not shown."))
    blocks.append(
        context(
            f"`list {escape(str(target))} --group NAME` lists one group's runners; "
            "`jit … --group NAME` adds a runner to one."
        )
    )
    return Reply(text=f"{title}: {len(groups)}", blocks=blocks)


def group_list_title(target: Target, group: RunnerGroup) -> str:
    return f"Runners of {target} in group {group.name}"
