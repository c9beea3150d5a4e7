"""``list``, ``get`` and ``downloads``: the fleet, one runner, the runner application.

Within Block Kit's limits for any fleet size: a fleet that does not fit is summed up by
label set first, and the lines say how to narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.commands import DownloadChoice, RunnerFilters, Visibility
from bot.github.models import Download, Label, Runner, RunnerGroup, RunnerList
from bot.slack.blocks import (
    MARKS,
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SECTION_CHARS,
    Reply,
    ResponseType,
    clip,
    code,
    context,
    escape,
    header,
    section,
)
from bot.targets import Target


def status_icon(runner: Runner) -> str:
    if not runner.online:
        return MARKS["offline"]
    return MARKS["busy"] if runner.busy else MARKS["idle"]


def runner_labels(runner: Runner, budget: int = 400) -> str:
    """Custom labels in code style, GitHub's read-only ones plain, within ``budget`` chars."""
    custom = [code(clip(lab.name, 60)) for lab in runner.labels if lab.custom]
    fixed = [escape(clip(lab.name, 60)) for lab in runner.labels if not lab.custom]
    shown: list[str] = []
    used = 0
    for label in custom + fixed:
        if used + len(label) + 1 > budget - 12:  # keep room for " +N more"
            break
        shown.append(label)
        used += len(label) + 1
    hidden = len(custom) + len(fixed) - len(shown)
    return " ".join(shown) + (f" +{hidden} more" if hidden else "") or "_no labels_"


def runner_line(runner: Runner) -> str:
    busy = "busy" if runner.busy else "idle"
    return (
        f"{status_icon(runner)} *{escape(clip(runner.name, 100))}* · "
        f"{escape(clip(runner.status, 20))} · {busy} · id {runner.id} · "
        f"{escape(clip(runner.os, 20))} · {runner_labels(runner)}"
    )


def fleet_counts(runners: Sequence[Runner]) -> str:
    online = sum(r.online for r in runners)
    busy = sum(r.busy for r in runners)
    return (
        f"{len(runners):,} runner{'s' if len(runners) != 1 else ''} · {online:,} online · "
        f"{busy:,} busy · {len(runners) - online:,} offline"
    )


# Label sets named in a list that cannot show every runner; the rest are counted together.
MAX_LABEL_SETS = 15
TIMES = "\u00d7"  # MULTIPLICATION SIGN, as in "1,200 (times) `linux,x64,gpu`"
LABEL_SET_CHARS = 120


def label_set(labels: Sequence[Label]) -> tuple[str, ...]:
    """What a job's ``runs-on`` can tell a runner by, in one canonical form: label names
    lower-cased, GitHub's read-only ones (OS, architecture) before custom ones, each part
    sorted. ``self-hosted`` is left out (see :func:`label_set_counts`)."""
    fixed = sorted({lab.name.lower() for lab in labels if not lab.custom})
    custom = sorted({lab.name.lower() for lab in labels if lab.custom} - {*fixed})
    return tuple(name for name in fixed + custom if name != "self-hosted")


@dataclass(frozen=True, slots=True)
class LabelSetCount:
    labels: tuple[str, ...]
    self_hosted: bool  # False: none of these runners has the ``self-hosted`` label
    runners: int
    online: int
    busy: int


def label_set_counts(runners: Sequence[Runner]) -> list[LabelSetCount]:
    """Runners per label set, the largest first (ties by name). A set is apart from the
    same labels with ``self-hosted``: a runner without it (a JIT runner given no labels)
    never picks a job that asks for ``self-hosted``.

    Runners are first tallied by their labels exactly as GitHub spelled them, which is
    cheap, and each distinct spelling is put in canonical form once: a fleet has tens of
    thousands of runners but a handful of label sets."""
    spelled: dict[tuple[str, ...], list[Any]] = {}
    for runner in runners:
        key = tuple([lab.name for lab in runner.labels] + [lab.type for lab in runner.labels])
        tally = spelled.get(key)
        if tally is None:
            tally = spelled[key] = [runner.labels, 0, 0, 0]
        tally[1] += 1
        tally[2] += runner.status == "online"
        tally[3] += runner.busy
    merged: dict[tuple[tuple[str, ...], bool], list[int]] = {}
    for labels, count, online, busy in spelled.values():
        has = any(lab.name.lower() == "self-hosted" for lab in labels)
        total = merged.setdefault((label_set(labels), has), [0, 0, 0])
        total[0] += count
        total[1] += online
        total[2] += busy
    found = [LabelSetCount(k[0], k[1], *v) for k, v in merged.items()]
    return sorted(found, key=lambda c: (-c.runners, c.labels, not c.self_hosted))


def _label_set_line(count: LabelSetCount) -> str:
    shown = code(clip(",".join(count.labels), LABEL_SET_CHARS)) if count.labels else "_no labels_"
    if not count.self_hosted:
        shown += " _without self-hosted_"
    return f"{count.runners:,} {TIMES} {shown} · {count.online:,} online · {count.busy:,} busy"


def label_set_summary(runners: Sequence[Runner]) -> str:
    """Counts by label set, at most :data:`MAX_LABEL_SETS` lines and the rest in one."""
    counts = label_set_counts(runners)
    lines = [_label_set_line(c) for c in counts[:MAX_LABEL_SETS]]
    rest = counts[MAX_LABEL_SETS:]
    if rest:
        lines.append(
            f"…and {sum(c.runners for c in rest):,} runners in {len(rest):,} other label sets"
        )
    return "*By label set* (besides `self-hosted`):\n" + "\n".join(lines)


def _filter_text(command: RunnerFilters) -> str:
    parts = []
    if command.status:
        parts.append(f"--status {command.status}")
    if command.busy is not None:
        parts.append("--busy" if command.busy else "--idle")
    parts += [f"--label {clip(label, 40)}" for label in command.labels]
    if command.name:
        parts.append(f"--name {clip(command.name, 40)}")
    return code(" ".join(parts))


def listing_gaps(listed: RunnerList) -> list[str]:
    """Why a list is less than the whole fleet, in words; empty when it is whole."""
    notes = []
    if listed.failed_pages:
        pages = ", ".join(str(p) for p in listed.failed_pages[:10])
        more = "…" if len(listed.failed_pages) > 10 else ""
        notes.append(
            f":warning: *Incomplete listing*: GitHub did not return page {pages}{more} of "
            "the list (100 runners a page), so runners are missing below and the counts "
            "are too low. Try again shortly."
        )
    if listed.skipped:
        notes.append(
            f":warning: {listed.skipped} runner{'s' if listed.skipped != 1 else ''} GitHub "
            "listed could not be read and are left out."
        )
    if listed.complete and listed.changed:
        details = []
        if listed.count_differs:
            details.append(
                f"GitHub counted {listed.total_count} runners but "
                f"{len(listed.runners) + listed.skipped} were gathered"
            )
        if len(set(listed.page_counts)) > 1:
            details.append(
                f"its pages counted {min(listed.page_counts)} to {max(listed.page_counts)} runners"
            )
        if listed.duplicates:
            one = listed.duplicates == 1
            details.append(
                f"{listed.duplicates:,} runner{'' if one else 's'} moved onto a later page "
                f"and {'was' if one else 'were'} shown once"
            )
        drift = listed.drift
        notes.append(
            ":warning: The fleet changed while it was listed; counts may be off by "
            f"{drift:,}" + (f" ({'; '.join(details)})" if details else "") + ". Run it "
            "again for a settled view."
        )
    return notes


def runner_list(
    target: Target,
    listed: RunnerList,
    shown: Sequence[Runner],
    command: RunnerFilters,
    *,
    group: RunnerGroup | None = None,
) -> Reply:
    """``listed`` is the whole fleet, or one ``group`` of it (for the counts); ``shown``
    those matching the filters."""
    runners = listed.runners
    title = f"Runners of {target}"
    summary = f"*{escape(str(target))}*"
    if group is not None:
        title += f" in group {clip(group.name, 80)}"
        summary += f" · group *{escape(clip(group.name, 80))}* (id {group.id})"
    summary += f": {fleet_counts(runners)}"
    if not listed.complete:
        summary += " _(incomplete)_"
    if command.filtered:
        summary += f"\n{len(shown):,} match {_filter_text(command)}"
    blocks: list[Block] = [header(title), section(summary)]
    blocks += [context(note) for note in listing_gaps(listed)]
    if not runners and group is not None:
        blocks.append(context("No runners in this group."))
    elif not runners:
        blocks.append(
            context("No self-hosted runners yet. `token` gives a registration token to add one.")
        )
    elif not shown:
        blocks.append(context("No runner matches these filters."))
    # A fleet that fits is shown whole; one that does not starts with its label sets, so
    # that the counts say what the lines cannot, and the note says how to narrow.
    lines, drawn = _runner_sections(shown, _blocks_chars(blocks), len(blocks))
    if drawn < len(shown):
        blocks.append(section(label_set_summary(runners)))
        lines, drawn = _runner_sections(shown, _blocks_chars(blocks), len(blocks))
    blocks += [section(text) for text in lines]
    if drawn < len(shown):
        more = len(shown) - drawn
        blocks.append(
            context(
                f"…and {more:,} more not shown. Narrow with `--label L` (repeatable; every "
                "label must match), `--status online|offline`, `--busy` or `--idle`, "
                "`--name TEXT`."
            )
        )
    text = f"{target}: {fleet_counts(runners)}" + ("" if listed.complete else " (incomplete)")
    if group is not None:
        text = f"{target}, group {escape(group.name)}: {fleet_counts(runners)}"
    return Reply(text=text, blocks=blocks, response_type=visibility(command))


def _blocks_chars(blocks: Sequence[Block]) -> int:
    """Characters of text in ``blocks``: what counts toward Slack's message length."""
    total = 0
    for block in blocks:
        text = getattr(block, "text", None)
        total += len(getattr(text, "text", "") or "")
        for element in getattr(block, "elements", None) or []:
            total += len(getattr(element, "text", "") or "")
    return total


def _runner_sections(runners: Sequence[Runner], used: int, blocks: int) -> tuple[list[str], int]:
    """Section texts holding as many of ``runners`` (in order) as fit after ``blocks``
    blocks and ``used`` characters, and how many they hold. Two blocks stay free: the
    "more" note, and room to spare."""
    sections: list[str] = []
    chunk: list[str] = []
    chunk_len = 0
    drawn = 0
    for runner in runners:
        line = runner_line(runner)
        if chunk and chunk_len + len(line) + 1 > SECTION_CHARS:
            sections.append("\n".join(chunk))
            chunk, chunk_len = [], 0
        if used + len(line) > MESSAGE_CHARS or blocks + len(sections) >= MAX_BLOCKS - 2:
            break
        chunk.append(line)
        chunk_len += len(line) + 1
        used += len(line) + 1
        drawn += 1
    if chunk:
        sections.append("\n".join(chunk))
    return sections, drawn


def visibility(command: Visibility) -> ResponseType:
    return "in_channel" if command.public else "ephemeral"


def runner_fields(
    target: Target, runner: Runner, group_name: str | None = None
) -> list[MarkdownTextObject]:
    if group_name:
        group = escape(clip(group_name, 100))
    elif runner.runner_group_id is not None:
        group = f"id {runner.runner_group_id}"  # the name could not be read
    else:
        group = "—"
    return [
        MarkdownTextObject(text=f"*Status*\n{status_icon(runner)} {escape(runner.status)}"),
        MarkdownTextObject(text=f"*Busy*\n{'busy' if runner.busy else 'idle'}"),
        MarkdownTextObject(text=f"*Id*\n{runner.id}"),
        MarkdownTextObject(text=f"*OS*\n{escape(runner.os)}"),
        MarkdownTextObject(text=f"*Target*\n{escape(str(target))}"),
        MarkdownTextObject(text=f"*Runner group*\n{group}"),
        MarkdownTextObject(text=f"*Version*\n{escape(runner.version or '—')}"),
        MarkdownTextObject(text=f"*Ephemeral*\n{'yes' if runner.ephemeral else 'no'}"),
    ]


def runner_detail(
    target: Target, runner: Runner, command: Visibility, group: str | None = None
) -> Reply:
    return Reply(
        text=f"{runner.name} ({target}): {runner.status}, {'busy' if runner.busy else 'idle'}",
        blocks=[
            header(f"Runner {runner.name}"),
            SectionBlock(fields=runner_fields(target, runner, group)),
            section(f"*Labels*: {runner_labels(runner, budget=2900)}"),
        ],
        response_type=visibility(command),
    )


def downloads_reply(
    target: Target, downloads: Sequence[Download], command: DownloadChoice
) -> Reply:
    chosen = [
        d
        for d in downloads
        if (command.os is None or d.os == command.os)
        and (command.arch is None or d.architecture == command.arch)
    ]
    lines = []
    for d in chosen:
        line = f"*{escape(d.os)} {escape(d.architecture)}*: <{d.download_url}|{escape(d.filename)}>"
        if d.sha256_checksum:
            line += f"\n      sha256 `{escape(d.sha256_checksum)}`"
        lines.append(line)
    blocks: list[Block] = [header(f"Runner downloads for {target}")]
    if not lines:
        blocks.append(section("No download matches these filters."))
    for start in range(0, len(lines), 10):
        blocks.append(section("\n".join(lines[start : start + 10])[:SECTION_CHARS]))
    return Reply(
        text=f"{len(chosen)} runner downloads for {target}",
        blocks=blocks,
        response_type=visibility(command),
    )
