"""Slack text of ``versions``: runners per runner version, and when GitHub stops each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.github.versions import VersionCount, days_until, is_older
from bot.slack.blocks import MESSAGE_CHARS, SECTION_CHARS, Reply, code, escape, fit
from bot.store.versions import VersionDates
from bot.targets import Target

MAX_VERSIONS_SHOWN = 40  # at ~300 characters a version, within Slack's message size
GHES_OLDER = "older than this server offers"


@dataclass(frozen=True, slots=True)
class VersionsView:
    """What ``versions`` found: counts per version, the newest offered (None: unknown),
    each older version's dates (or why they are missing), and what could not be read."""

    target: Target
    counts: Sequence[VersionCount]
    newest: str | None
    now: float
    ghes: bool = False
    dates: Mapping[str, VersionDates] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)  # version -> why
    downloads_failed: str | None = None
    incomplete: bool = False


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def when(moment: datetime, now: float) -> str:
    """``20 Dec 2026, in 9 days`` / ``today`` / ``since 3 days``."""
    days = days_until(moment, now)
    day = f"{moment.day} {moment:%b %Y}"
    if days > 0:
        return f"{day}, in {_plural(days, 'day')}"
    if days == 0:
        return f"{day}, today"
    return f"{day}, since {_plural(-days, 'day')}"


def _dates_line(dates: VersionDates, now: float) -> str:
    if not dates.published:
        return "GitHub has published no end-of-life dates for this version"
    parts = []
    for moment, what in (
        (dates.registration_deprecates_at, "stops registering"),
        (dates.runtime_deprecates_at, "stops receiving jobs"),
    ):
        parts.append(f"{what}: {when(moment, now)}" if moment else f"{what}: no date published")
    return " · ".join(parts)


def _counts(row: VersionCount) -> str:
    return f"{_plural(row.runners, 'runner')} · {row.online:,} online · {row.offline:,} offline"


def version_line(view: VersionsView, row: VersionCount) -> str:
    if row.version is None:
        return f":grey_question: *no version yet* (never connected) · {_counts(row)}"
    head = f"{code(row.version)} · {_counts(row)}"
    if row.version == view.newest:
        return f":large_green_circle: {head} · _newest offered_"
    if not is_older(row.version, view.newest):
        return f":white_circle: {head}"
    if view.ghes:
        return f":warning: {head}\n      {GHES_OLDER}"
    dates = view.dates.get(row.version)
    if dates is not None:
        return f":warning: {head}\n      {_dates_line(dates, view.now)}"
    why = view.failed.get(row.version, "not asked")
    return f":warning: {head}\n      dates could not be read ({escape(why)}); asked again next time"


def _summary(view: VersionsView) -> str:
    total = sum(c.runners for c in view.counts)
    known = sum(1 for c in view.counts if c.version is not None)
    text = f"*{escape(str(view.target))}*: {_plural(total, 'runner')}"
    text += f" on {_plural(known, 'version')}"
    if view.newest is not None:
        text += f" · newest offered: {code(view.newest)}"
    else:
        why = view.downloads_failed or "no version in the downloads"
        text += f" · newest offered: unknown ({escape(why)})"
    return text


def _lines(view: VersionsView) -> tuple[list[str], int]:
    """The versions' lines that fit one message, newest first, then the runners that never
    connected (always said); and how many versions were left out."""
    versioned = [c for c in view.counts if c.version is not None]
    lines: list[str] = []
    used = 0
    for row in versioned[:MAX_VERSIONS_SHOWN]:
        line = fit(version_line(view, row), 600)
        if used + len(line) > MESSAGE_CHARS - 1500:
            break
        lines.append(line)
        used += len(line) + 1
    hidden = len(versioned) - len(lines)
    return lines + [version_line(view, c) for c in view.counts if c.version is None], hidden


def versions_reply(view: VersionsView) -> Reply:
    title = f"Runner versions of {view.target}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=title[:150], emoji=True)),
        _section(_summary(view)),
    ]
    lines, hidden = _lines(view)
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > SECTION_CHARS:
            blocks.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    notes = [f"…and {_plural(hidden, 'more version')} not shown."] if hidden > 0 else []
    if view.incomplete:
        notes.append("Some runners could not be read from GitHub: the counts may be short.")
    if view.ghes:
        notes.append("GitHub Enterprise Server publishes no end-of-life dates.")
    notes.append(
        "A runner updates itself unless started with `--disableupdate`; "
        f"`downloads {escape(str(view.target))}` gives the newest files and their SHA-256."
    )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=fit(" ".join(notes)))]))
    return Reply(text=f"{title}: {_summary_plain(view)}", blocks=blocks)


def _summary_plain(view: VersionsView) -> str:
    total = sum(c.runners for c in view.counts)
    return f"{_plural(total, 'runner')}, newest offered {view.newest or 'unknown'}"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text)))
