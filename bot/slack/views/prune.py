"""Where ``prune``'s messages are rendered: the dry run, its progress, its summary.

Within Block Kit's limits for any fleet size: the dry run names as many runners as fit
(oldest offline first) and counts the rest; the summary groups by reason and clips names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    PlainTextObject,
)

from bot.durations import format_duration
from bot.fleet.prune import Selection, Since, Tally
from bot.slack.blocks import (
    SECTION_CHARS,
    Reply,
    clip,
    code,
    context,
    escape,
    header,
    replacement,
    section,
    slack_date,
)
from bot.targets import Target

PRUNE_ACTION = "runners_prune"
LISTED = 40  # runners named in the dry run; the rest are counted
NAMES = 15  # names shown per summary line


def _lines_fitting(lines: Sequence[str], budget: int = SECTION_CHARS - 100) -> list[str]:
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def plan(
    target: Target,
    selection: Selection,
    plan_id: str,
    *,
    criteria: str,
    now: datetime,
    incomplete: bool,
) -> Reply:
    where = escape(str(target))
    n = len(selection.candidates)
    if n == 0:
        blocks: list[Block] = [
            section(f":broom: Nothing to prune in *{where}* ({escape(criteria)})."),
            context(_counts(selection)),
        ]
        if unseen := selection.too_recent_unseen:
            runners = "runner" if unseen == 1 else "runners"
            blocks.append(
                section(
                    f":information_source: {unseen} offline {runners} runnerops has never seen"
                    " online: their time offline counts from when it first saw them offline"
                    " (for any it first saw with this listing: from now). Run `prune` again"
                    " once they have been offline that long."
                )
            )
        return Reply(text=f"Nothing to prune in {target}", blocks=blocks)
    lines = []
    for c in selection.candidates[:LISTED]:
        ago = format_duration(now - c.offline_since)
        since = (
            f"last seen online {ago} ago"
            if c.since is Since.LAST_ONLINE
            else f"never seen online; offline since first seen, {ago} ago"
        )
        lines.append(f"• {code(clip(c.runner.name, 80))} (id {c.runner.id}): {since}")
    shown = _lines_fitting(lines)
    more = n - len(shown)
    blocks = [
        header(f"Prune {clip(str(target), 100)}: {n} runner{'s' * (n != 1)}"),
        section(
            f"A dry run: these runners of *{where}* are offline, idle and match"
            f" ({escape(criteria)}). Nothing is deleted until you press the button; each is"
            " checked again just before its delete, and one back online or busy is kept."
        ),
        section("\n".join(shown) + (f"\n… and {more} more" if more else "")),
        context(_counts(selection)),
    ]
    notes = []
    if selection.never_seen_online:
        notes.append(
            f":information_source: {selection.never_seen_online} of them runnerops has never"
            " seen online: their time offline counts from when it first saw them offline."
        )
    if incomplete:
        notes.append(
            ":warning: GitHub's listing was incomplete: runners on the missing pages are not"
            " in this plan."
        )
    if notes:
        blocks.append(section("\n".join(notes)))
    button = ButtonElement(
        text=PlainTextObject(text=f"Delete {n} runner{'s' * (n != 1)}"),
        action_id=PRUNE_ACTION,
        value=plan_id,
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text=f"Delete {n} runners?"),
            text=MarkdownTextObject(
                text=f"{n} offline runner{'s' * (n != 1)} will be removed from"
                f" {escape(clip(str(target), 60))}. Jobs can no longer run on them.",
            ),
            confirm=PlainTextObject(text="Delete"),
            deny=PlainTextObject(text="Cancel"),
            style="danger",
        ),
    )
    blocks.append(ActionsBlock(elements=[button]))
    return Reply(text=f"Prune {target}: {n} runners would be deleted", blocks=blocks)


def _counts(selection: Selection) -> str:
    parts = [
        f"{selection.online} online",
        f"{selection.busy} busy",
        f"{selection.too_recent} offline for less long",
    ]
    if selection.unmatched:
        parts.append(f"{selection.unmatched} not matching the filters")
    if selection.over_limit:
        parts.append(f"{selection.over_limit} more beyond this round's limit: prune again after")
    return "Kept: " + ", ".join(parts) + "."


def progress(target: Target, tally: Tally) -> Reply:
    text = (
        f":hourglass_flowing_sand: Pruning *{escape(str(target))}*: {tally.done} of"
        f" {tally.total} done ({len(tally.deleted)} deleted)."
    )
    if tally.paused_until is not None:
        text += (
            f"\n:turtle: Paused for GitHub's rate limit until"
            f" {slack_date(datetime.fromtimestamp(tally.paused_until).astimezone())};"
            " it goes on by itself."
        )
    return Reply(
        text=f"Pruning {target}: {tally.done}/{tally.total}",
        blocks=[section(text)],
        replace_original=True,
    )


def _grouped(title: str, groups: Mapping[str, Sequence[str]]) -> list[str]:
    lines = []
    for reason, names in groups.items():
        shown = ", ".join(code(clip(n, 60)) for n in names[:NAMES])
        more = f" and {len(names) - NAMES} more" if len(names) > NAMES else ""
        lines.append(f"• {title} ({escape(reason)}): {len(names)}: {shown}{more}")
    return lines


def summary(target: Target, tally: Tally, user_id: str, *, not_attempted: int = 0) -> Reply:
    where = escape(str(target))
    head = (
        f":broom: Prune of *{where}* done: {len(tally.deleted)} deleted,"
        f" {sum(map(len, tally.skipped.values()))} skipped,"
        f" {sum(map(len, tally.failed.values()))} failed."
    )
    lines = _grouped("skipped", tally.skipped) + _grouped("failed", tally.failed)
    if not_attempted:
        lines.append(
            f"• not attempted: {not_attempted}, GitHub's rate limit held too long;"
            " run `prune` again later for a new dry run of what is left"
        )
    blocks: list[Block] = [section(head)]
    if lines:
        blocks.append(section("\n".join(_lines_fitting(lines))))
    blocks.append(context(f"by <@{user_id}>"))
    return Reply(
        text=f"Prune of {target}: {len(tally.deleted)} deleted",
        blocks=blocks,
        replace_original=True,
    )


def already_pruning(target: Target) -> Reply:
    """A second click on the same plan: the first one's message shows how it goes."""
    return replacement(
        f":hourglass: Another click is pruning *{escape(str(target))}*; its"
        " progress and summary show on that message."
    )
