"""``whoami`` and ``audit``: what a user may do, and the audit trail with refusals counted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.policy.rules import Grant
from bot.slack.blocks import (
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SECTION_CHARS,
    Reply,
    code,
    escape,
    fit,
    header,
    section,
    slack_date,
)
from bot.store.audit import AuditEntry, RefusalCount
from bot.targets import Target


def whoami(user_id: str, grants: Sequence[Grant], channel_id: str, is_default: bool) -> Reply:
    lines = []
    for grant in grants:
        actions = ", ".join(a for a in ("read", "token", "admin") if a in grant.actions)
        targets = ", ".join(code(t) for t in grant.targets)
        line = f"• *{actions}* on {targets}"
        if grant.channels is not None:
            here = "including this one" if channel_id in grant.channels else "not this one"
            line += f" — only in {', '.join(f'<#{c}>' for c in sorted(grant.channels))} ({here})"
        line += f"  _{escape(grant.label)}_"
        lines.append(line)
    if not lines:
        lines.append("Nothing: no grant of the policy applies to you.")
    head = f"<@{user_id}> may:"
    if is_default:
        head += " (no RUNNEROPS_POLICY is set: read for everyone, tokens and deletes for nobody)"
    text = head + "\n" + "\n".join(lines)
    return Reply(text=text[:3000], blocks=[section(text[:SECTION_CHARS])])


_SECONDS = re.compile(r"\b(after) (\d+)s\b")
_ISO = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(?:\+00:00|Z)")


def readable_detail(detail: str) -> str:
    """An audit detail as people read it, entries written before this wording included:
    ``after 300s`` reads ``after 5m`` (the duration grammar), an ISO time in UTC
    ``2026-12-06 21:09 UTC``."""
    detail = _SECONDS.sub(
        lambda m: f"{m[1]} {format_duration(timedelta(seconds=int(m[2])))}", detail
    )
    return _ISO.sub(lambda m: f"{m[1]} {m[2]} UTC", detail)


def audit_line(entry: AuditEntry) -> str:
    who = f"<@{entry.user_id}>" if entry.user_id else "someone"
    target = f" on *{escape(entry.target)}*" if entry.target else ""
    detail = f" — {escape(readable_detail(entry.detail[:300]))}" if entry.detail else ""
    return (
        f"{slack_date(entry.at)}: {who} ({escape(entry.user_name)}) "
        f"`{escape(entry.action)}`{target}: *{escape(entry.outcome)}*{detail}"
    )


def refusal_line(count: RefusalCount) -> str:
    who = f"<@{count.user_id}>" if count.user_id else "someone"
    where = f" on *{escape(count.target)}*" if count.target else ""
    times = "once" if count.count == 1 else f"{count.count:,} times"
    return (
        f"{who} ({escape(count.user_name)}) `{escape(count.action)}`{where}: *refused* "
        f"{times}, latest {slack_date(count.latest)}"
    )


def audit_list(
    entries: Sequence[AuditEntry],
    target: Target | None,
    *,
    refusals: Sequence[RefusalCount] = (),
    refused_only: bool = False,
) -> Reply:
    """Newest entries first; refusals apart, counted per user, command and target."""
    kind = "Refusals" if refused_only else "Audit trail"
    title = f"{kind}{' of ' + str(target) if target else ''}"
    blocks: list[Block] = [header(title)]
    if not entries:
        empty = "No refusals." if refused_only else "No entries yet."
        blocks.append(section("Nothing but refusals yet." if refusals else empty))
    used = 0
    if refusals:
        again = f"audit {target} --refused" if target else "audit --refused"
        lines = [refusal_line(c) for c in refusals]
        counted = fit(f"*Refused*, counted (`{again}` lists them):\n" + "\n".join(lines))
        blocks.append(section(counted))
        used = len(counted)
    chunk: list[str] = []
    for entry in entries:
        line = audit_line(entry)
        if used + len(line) > MESSAGE_CHARS or len(blocks) >= MAX_BLOCKS - 1:
            break
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_CHARS:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        used += len(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return Reply(text=f"{title}: {len(entries)} entries", blocks=blocks)
