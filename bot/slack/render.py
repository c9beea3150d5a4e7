"""Slack text for every outcome, built with ``slack_sdk.models.blocks``.

The renderer knows nothing of HTTP: it turns plain data into a :class:`Reply`, and the
Slack layer posts it. Every piece of user- or GitHub-supplied text goes through
:func:`escape`, so nothing echoed back can ping a channel or break formatting.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot import errors
from bot.commands import DownloadChoice, RunnerFilters, Visibility
from bot.durations import format_duration
from bot.github.models import (
    Download,
    JitConfig,
    Label,
    Runner,
    RunnerGroup,
    RunnerList,
    RunnerToken,
)
from bot.github.runners import LabelChange
from bot.policy.rules import Grant
from bot.store.audit import AuditEntry, RefusalCount
from bot.targets import Scope, Target

MAX_BLOCKS = 50
SECTION_CHARS = 3000
# Slack rejects long messages (msg_blocks_too_long) well below 50 x 3000 characters.
MESSAGE_CHARS = 11_000
DELETE_ACTION = "runner_delete"

ResponseType = Literal["ephemeral", "in_channel"]


@dataclass
class Reply:
    text: str  # the plain-text fallback (notifications, screen readers)
    blocks: list[Block] = field(default_factory=list)
    response_type: ResponseType = "ephemeral"
    replace_original: bool = False

    def payload(self) -> dict[str, Any]:
        """The JSON body for ``response_url``; serialising validates Slack's limits."""
        body: dict[str, Any] = {
            "text": self.text,
            "blocks": [b.to_dict() for b in self.blocks],
            "response_type": self.response_type,
        }
        if self.replace_original:
            body["replace_original"] = True
        return body


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``<!channel>`` or ``<@U1>`` typed by a user stays inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Inline code that a backtick in ``text`` cannot close early."""
    return "`" + escape(text).replace("`", "\u02cb") + "`"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit(text: str, limit: int = SECTION_CHARS) -> str:
    """Cut mrkdwn to ``limit`` characters without splitting an escape such as ``&amp;``.

    Escaping can grow echoed text fivefold, so every text block passes through here."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text))])


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=text[:150], emoji=True))


def _utc(moment: datetime) -> datetime:
    """A stored time in UTC (one without a zone is UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def slack_time(moment: datetime) -> str:
    """``HH:MM`` in each reader's own time zone (a token's expiry: within the hour)."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{time}}|{_utc(moment):%H:%M} UTC>"


def slack_date(moment: datetime) -> str:
    """Slack shows this in each reader's own time zone; the fallback (where Slack cannot
    draw dates: notifications, some clients) is UTC, readable rather than ISO."""
    epoch = int(moment.timestamp())
    fallback = f"{_utc(moment):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


# -- fleet ---------------------------------------------------------------------------


# One mark per state, the same in `list`, `get` and the Home tab.
MARKS = {"idle": ":large_green_circle:", "busy": ":large_orange_circle:", "offline": ":red_circle:"}


def _status_icon(runner: Runner) -> str:
    if not runner.online:
        return MARKS["offline"]
    return MARKS["busy"] if runner.busy else MARKS["idle"]


def _labels(runner: Runner, budget: int = 400) -> str:
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
        f"{_status_icon(runner)} *{escape(clip(runner.name, 100))}* · "
        f"{escape(clip(runner.status, 20))} · {busy} · id {runner.id} · "
        f"{escape(clip(runner.os, 20))} · {_labels(runner)}"
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
    blocks: list[Block] = [_header(title), _section(summary)]
    blocks += [_context(note) for note in listing_gaps(listed)]
    if not runners and group is not None:
        blocks.append(_context("No runners in this group."))
    elif not runners:
        blocks.append(
            _context("No self-hosted runners yet. `token` gives a registration token to add one.")
        )
    elif not shown:
        blocks.append(_context("No runner matches these filters."))
    # A fleet that fits is shown whole; one that does not starts with its label sets, so
    # that the counts say what the lines cannot, and the note says how to narrow.
    lines, drawn = _runner_sections(shown, _blocks_chars(blocks), len(blocks))
    if drawn < len(shown):
        blocks.append(_section(label_set_summary(runners)))
        lines, drawn = _runner_sections(shown, _blocks_chars(blocks), len(blocks))
    blocks += [_section(text) for text in lines]
    if drawn < len(shown):
        more = len(shown) - drawn
        blocks.append(
            _context(
                f"…and {more:,} more not shown. Narrow with `--label L` (repeatable; every "
                "label must match), `--status online|offline`, `--busy` or `--idle`, "
                "`--name TEXT`."
            )
        )
    text = f"{target}: {fleet_counts(runners)}" + ("" if listed.complete else " (incomplete)")
    if group is not None:
        text = f"{target}, group {escape(group.name)}: {fleet_counts(runners)}"
    return Reply(text=text, blocks=blocks, response_type=_visibility(command))


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


def _visibility(command: Visibility) -> ResponseType:
    return "in_channel" if command.public else "ephemeral"


def _runner_fields(
    target: Target, runner: Runner, group_name: str | None = None
) -> list[MarkdownTextObject]:
    if group_name:
        group = escape(clip(group_name, 100))
    elif runner.runner_group_id is not None:
        group = f"id {runner.runner_group_id}"  # the name could not be read
    else:
        group = "—"
    return [
        MarkdownTextObject(text=f"*Status*\n{_status_icon(runner)} {escape(runner.status)}"),
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
            _header(f"Runner {runner.name}"),
            SectionBlock(fields=_runner_fields(target, runner, group)),
            _section(f"*Labels*: {_labels(runner, budget=2900)}"),
        ],
        response_type=_visibility(command),
    )


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
            _section(f"Delete runner *{name}* from *{escape(str(target))}*?{warning}"),
            SectionBlock(fields=_runner_fields(target, runner)),
            _section(f"*Labels*: {_labels(runner, budget=2900)}"),
            ActionsBlock(elements=[button]),
        ],
    )


def delete_outcome(target: Target, runner_name: str, user_id: str, text: str) -> Reply:
    """What the Delete message becomes once the button has been pressed."""
    body = f"{text}\n_by <@{user_id}> for {escape(str(target))}_"
    return Reply(text=f"{runner_name}: {text}", blocks=[_section(body)], replace_original=True)


def replacement(text: str) -> Reply:
    """A message that takes the place of the one whose button was pressed."""
    return Reply(text=text, blocks=[_section(text)], replace_original=True)


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


# -- tokens --------------------------------------------------------------------------


def config_url(github_url: str, target: Target) -> str:
    return f"{github_url.rstrip('/')}/{target.web_path}"


# What a leaked token allows, said under it: each kind allows something else.
TOKEN_RISK = {
    "registration": "anyone holding it can attach a machine that receives this target's jobs.",
    "remove": "anyone holding it can remove a runner from this target (until it expires).",
}


def token_reply(
    target: Target,
    token: RunnerToken,
    *,
    kind: Literal["registration", "remove"],
    github_url: str,
    now: float | None = None,
) -> Reply:
    """Always ephemeral: a runner token is an admin secret."""
    now = time.time() if now is None else now
    if kind == "registration":
        line = f"./config.sh --url {config_url(github_url, target)} --token {token.token}"
        what = "Registration token"
        how = "On the new machine, in the runner directory, run:"
    else:
        line = f"./config.sh remove --token {token.token}"
        what = "Remove token"
        how = "On the runner's machine, in the runner directory, run:"
    if token.expires_at is not None:
        minutes = max(0, int((token.expires_at.timestamp() - now) // 60))
        expiry = f"expires at {slack_time(token.expires_at)} (in {minutes} min)"
    else:  # GitHub's time was unreadable; its tokens last an hour
        expiry = "expires within the hour (GitHub's expiry time could not be read)"
    return Reply(
        text=f"{what} for {target}, {expiry}",
        blocks=[
            _section(f"*{what}* for *{escape(str(target))}*, {expiry}.\n{how}"),
            _section(f"```{line}```"),
            _context(f"Only you can see this. Treat the token as a password: {TOKEN_RISK[kind]}"),
        ],
        response_type="ephemeral",
    )


def token_unknown(target: Target, kind: Literal["registration", "remove"]) -> Reply:
    """GitHub failed without saying whether it issued the token (a 5xx or a timeout)."""
    text = (
        f":grey_question: GitHub did not confirm the {kind} token for "
        f"*{escape(str(target))}*: it may have issued one before failing. None was shown to "
        "anyone, and an unused token expires within the hour. Ask again for a new one."
    )
    return Reply(text=text, blocks=[_section(text)], response_type="ephemeral")


# -- downloads -----------------------------------------------------------------------


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
    blocks: list[Block] = [_header(f"Runner downloads for {target}")]
    if not lines:
        blocks.append(_section("No download matches these filters."))
    for start in range(0, len(lines), 10):
        blocks.append(_section("\n".join(lines[start : start + 10])[:SECTION_CHARS]))
    return Reply(
        text=f"{len(chosen)} runner downloads for {target}",
        blocks=blocks,
        response_type=_visibility(command),
    )


# -- labels --------------------------------------------------------------------------


def _label_words(labels: Sequence[Label]) -> tuple[list[str], list[str]]:
    """Custom labels in code style, read-only ones plain (as ``list`` shows them)."""
    custom = [code(clip(lab.name, 100)) for lab in labels if lab.custom]
    fixed = [escape(clip(lab.name, 100)) for lab in labels if not lab.custom]
    return custom, fixed


def _word_sections(head: str, words: Sequence[str], budget: int) -> tuple[list[Block], int]:
    """``head`` then ``words`` joined by spaces, over as many sections as Slack needs,
    within ``budget`` characters in all; words that do not fit become "+N more"."""
    blocks: list[Block] = []
    line = head
    used = len(head)
    for shown, word in enumerate(words):
        if used + len(word) + 20 > budget:
            line += f" +{len(words) - shown} more"
            break
        if len(line) + len(word) + 1 > SECTION_CHARS - 20:
            blocks.append(_section(line))
            line = ""
        line = f"{line} {word}" if line else word
        used += len(word) + 1
    blocks.append(_section(line))
    return blocks, used


def _labels_blocks(labels: Sequence[Label], budget: int = 9000) -> list[Block]:
    custom, fixed = _label_words(labels)
    blocks, used = _word_sections(
        f"*Custom labels* ({len(custom)}):", custom or ["_none_"], budget - 600
    )
    more, _ = _word_sections(
        f"*Read-only labels* ({len(fixed)}, given by GitHub):", fixed or ["_none_"], budget - used
    )
    return blocks + more


def labels_reply(target: Target, runner: Runner, labels: Sequence[Label]) -> Reply:
    custom = sum(lab.custom for lab in labels)
    return Reply(
        text=f"Labels of {escape(runner.name)} ({target}): {custom} custom, "
        f"{len(labels) - custom} "
        "read-only",
        blocks=[
            _header(f"Labels of {runner.name}"),
            _context(f"Runner id {runner.id} in *{escape(str(target))}*"),
            *_labels_blocks(labels),
        ],
    )


_DONE = {"add": "added", "remove": "removed", "set": "set"}


def label_change_reply(target: Target, change: LabelChange) -> Reply:
    """The labels after the change, and what changed."""
    name = escape(clip(change.runner.name, 100))
    before = {lab.name.lower(): lab.name for lab in change.before}
    after = {lab.name.lower(): lab.name for lab in change.after}
    added = [code(clip(after[k], 100)) for k in after if k not in before]
    removed = [code(clip(before[k], 100)) for k in before if k not in after]
    parts = []
    if change.changed:
        if added:
            parts.append(f"added {' '.join(added[:20])}{' …' if len(added) > 20 else ''}")
        if removed:
            parts.append(f"removed {' '.join(removed[:20])}{' …' if len(removed) > 20 else ''}")
    where = f"*{name}* in *{escape(str(target))}*"
    if not change.done:
        happened = f" Only this was done: {'; '.join(parts)}." if parts else " Nothing changed."
        head = (
            f":warning: GitHub failed to answer the label change on {where}, and reading the "
            f"labels back shows it was not made as asked.{happened} Try again if it is "
            "still wanted."
        )
    elif change.changed:
        head = f":label: Labels of {where}: {'; '.join(parts)}."
    else:
        head = (
            f":label: Labels of *{name}* in *{escape(str(target))}* are unchanged: "
            "it already had what was asked."
        )
    if change.confirmed and change.done:
        head += "\n_GitHub did not answer the change in full; the labels below were read back._"
    if change.op == "set":
        head += "\n_`set` replaces the custom labels; read-only labels always stay._"
    return Reply(
        text=f"Labels of {escape(change.runner.name)} ({target}) {_DONE[change.op]}",
        blocks=[_section(head), *_labels_blocks(change.after, budget=8000)],
    )


def label_unknown(target: Target, runner_name: str) -> Reply:
    text = (
        f":grey_question: GitHub did not confirm the label change on {code(runner_name)}, "
        f"and could not be asked what its labels are now. `labels {escape(str(target))} "
        f"{escape(clip(runner_name, 100))}` shows them."
    )
    return Reply(text=text, blocks=[_section(text)])


# -- runner groups -------------------------------------------------------------------

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
        _header(title),
        _section(
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
            blocks.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
        used += len(line) + 1
        drawn += 1
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    if drawn < len(groups):
        blocks.append(_context(f"…and {len(groups) - drawn} more groups not shown."))
    blocks.append(
        _context(
            f"`list {escape(str(target))} --group NAME` lists one group's runners; "
            "`jit … --group NAME` adds a runner to one."
        )
    )
    return Reply(text=f"{title}: {len(groups)}", blocks=blocks)


def group_list_title(target: Target, group: RunnerGroup) -> str:
    return f"Runners of {target} in group {group.name}"


# -- just-in-time runners ------------------------------------------------------------


def jit_reply(
    target: Target, jit: JitConfig, group: RunnerGroup, labels: Sequence[str], work_folder: str
) -> Reply:
    """Always ephemeral: the configuration is a credential, like a registration token.

    The line can be longer than a section's 3,000 characters (the configuration carries
    the runner's keys), so a longer one goes in a markdown block (12,000)."""
    line = f"./run.sh --jitconfig {jit.encoded}"
    name = escape(clip(jit.runner.name, 100))
    shown = " ".join(code(clip(label, 60)) for label in labels[:30])
    if len(labels) > 30:
        shown += f" +{len(labels) - 30} more"
    head = (
        f"*Just-in-time runner* *{name}* (id {jit.runner.id}) is registered in "
        f"*{escape(str(target))}*, group *{escape(clip(group.name, 80))}*, labels {shown}, "
        f"work folder {code(clip(work_folder, 100))}.\n"
        "On the machine, in the runner directory (no `./config.sh` needed), run:"
    )
    fenced = f"```{line}```"
    command: Block = (
        _section(fenced) if len(fenced) <= SECTION_CHARS else MarkdownBlock(text=fenced)
    )
    note = (
        "It takes *one job* and is then removed by GitHub. Only you can see this. Treat "
        "the configuration as a password: anyone holding it can run this target's next job."
    )
    if not any(label.lower() == "self-hosted" for label in labels):
        note += (
            " It has no `self-hosted` label: workflows asking for `self-hosted` will not pick it."
        )
    return Reply(
        text=f"Just-in-time runner {escape(jit.runner.name)} for {target}",
        blocks=[_section(head), command, _context(note)],
        response_type="ephemeral",
    )


def jit_unknown(target: Target, name: str) -> Reply:
    text = (
        f":grey_question: GitHub did not confirm the just-in-time runner {code(name)} for "
        f"*{escape(str(target))}*: it may have registered it before failing. No "
        f"configuration was shown to anyone, so such a runner stays offline; `get "
        f"{escape(str(target))} name:{escape(clip(name, 100))}` shows it, and `delete` removes it."
    )
    return Reply(text=text, blocks=[_section(text)], response_type="ephemeral")


def jit_lost(target: Target, name: str, runner_id: int) -> Reply:
    """GitHub registered the runner (a check found it) but its answer, with the only copy
    of the configuration, was lost."""
    t = escape(str(target))
    text = (
        f":warning: GitHub registered the just-in-time runner {code(name)} (id {runner_id})"
        f" on *{t}*, but its answer was lost, and the configuration with it: GitHub gives"
        " it only once, so this runner can never start. Delete it"
        f" (`delete {t} id:{runner_id}`), then ask again (`jit {t} {escape(clip(name, 100))}`;"
        " the name is taken until the runner is deleted)."
    )
    return Reply(text=text, blocks=[_section(text)], response_type="ephemeral")


# -- errors --------------------------------------------------------------------------


def error_text(exc: errors.RunnerOpsError, *, install_url: str, now: float | None = None) -> str:
    """One sentence per failure, saying what happened and what to do."""
    match exc:
        case errors.NoSuchRepository(target=t, settings_url=settings):
            return (
                f":mag: There is no repository *{escape(str(t))}* that runnerops can see. Check"
                " the name, or add the repository to the runnerops GitHub App's installation"
                f" on *{escape(t.owner)}*: {settings or install_url}"
            )
        case errors.AccountNotServed(target=t, allowed=allowed):
            served = ", ".join(f"*{escape(a)}*" for a in allowed[:10]) or "the App's owner"
            if len(allowed) > 10:  # a long list would crowd the reply (and Slack's limits)
                served += f" and {len(allowed) - 10} more"
            return (
                f":no_entry: runnerops does not serve the account *{escape(t.owner)}*: it"
                f" serves {served} (`GITHUB_ALLOWED_ACCOUNTS`). Nothing was asked of GitHub."
                " An operator can add the account to `GITHUB_ALLOWED_ACCOUNTS` and restart."
            )
        case errors.NotInstalled(target=t):
            account = t.owner if t.scope is not Scope.REPO else f"{t.owner}/{t.repo}"
            return (
                f":no_entry: The runnerops GitHub App is not installed on "
                f"*{escape(account)}* (or GitHub has no such account). An admin of that "
                f"account can install it: {install_url}"
            )
        case errors.EnterpriseTokenMissing(target=t):
            return (
                f":gear: Enterprise runners ({escape(str(t))}) need a classic personal access "
                "token: GitHub refuses App tokens on enterprise endpoints. Set "
                "`GITHUB_ENTERPRISE_TOKEN` to a token with the `manage_runners:enterprise` "
                "scope and restart runnerops."
            )
        case errors.RunnerNotFound(target=t, runner=r):
            return f":mag: No runner {code(r)} in *{escape(str(t))}*."
        case errors.NotFound(target=t):
            return (
                f":mag: GitHub knows no *{escape(str(t))}*, or runnerops may not see it. "
                "Check the spelling."
            )
        case errors.Forbidden(target=t, permission=p):
            return (
                f":lock: GitHub refused: runnerops lacks {p} on *{escape(str(t))}*. "
                "An admin can grant it in the app's settings (or the token's scopes)."
            )
        case errors.BadCredentials(credential=c):
            return (
                f":key: GitHub rejected runnerops' credentials ({c}). An operator should "
                "check them; nothing was changed."
            )
        case errors.RunnerBusy(target=t, runner=r):
            return (
                f":hourglass_flowing_sand: Runner {code(r)} is running a job; not deleted. "
                "Try again when it is idle."
            )
        case errors.RateLimited(retry_at=at):
            wait = max(1, int(at - (time.time() if now is None else now)))
            when = f"in {round(wait / 60)} min" if wait >= 90 else f"in {wait} s"
            return (
                f":turtle: GitHub's rate limit is reached; try again {when} "
                f"(<!date^{int(at)}^{{time}}|at the reset>). Nothing was changed."
            )
        case errors.GitHubUnavailable():
            return ":cloud: GitHub did not answer; nothing was changed. Try again shortly."
        case errors.OutcomeUnknown(target=t):
            return (
                ":grey_question: GitHub did not confirm whether this was done: it may have "
                f"acted before failing on *{escape(str(t))}*. Nothing was shown; check "
                "before trying again (`list` or `get` shows the runners)."
            )
        case errors.RunnerAmbiguous(target=t, runner=r, matches=ms):
            return _ambiguous_runner(t, r, ms)
        case errors.AuditUnavailable():
            return AUDIT_UNAVAILABLE
        case errors.ReadOnlyLabels(target=t, runner=r, labels=ls):
            names = " ".join(code(clip(x, 60)) for x in ls[:10])
            what = "is a read-only label" if len(ls) == 1 else "are read-only labels"
            return (
                f":no_entry_sign: {names} {what} "
                f"of runner {code(r)}: GitHub gives every runner `self-hosted`, its OS and its "
                "architecture, and they cannot be removed. Nothing was changed."
            )
        case errors.LabelsMissing(target=t, runner=r, labels=ls, has=has):
            names = " ".join(code(clip(x, 60)) for x in ls[:10])
            custom = " ".join(code(clip(x, 60)) for x in has[:20]) or "none"
            return (
                f":mag: Runner {code(r)} in *{escape(str(t))}* has no custom label {names}. "
                f"Nothing was changed. Its custom labels: {custom}."
            )
        case errors.GroupNotFound(target=t, group=g, groups=gs):
            gs = tuple(dict.fromkeys(gs))  # an enterprise's Default shared beside the org's
            known = ", ".join(code(clip(x, 60)) for x in gs[:30]) or "none"
            more = f" and {len(gs) - 30} more" if len(gs) > 30 else ""
            return (
                f":mag: No runner group {code(clip(g, 80))} in *{escape(str(t))}*. "
                f"Its groups: {known}{more}. Nothing was changed."
            )
        case errors.GroupGone(target=t, group=g, group_id=gid):
            return (
                f":mag: No runner group {code(clip(g, 80))} (id {gid}) in *{escape(str(t))}*:"
                " GitHub found none when asked to register the runner (it may just have been"
                f" removed), so nothing was registered. `groups {escape(str(t))}` lists them."
            )
        case errors.Conflict(message=m):
            reason = escape(m[:300].rstrip(". "))
            return f":warning: GitHub refused: {reason}. Nothing was changed."
        case errors.Unprocessable(message=m):
            reason = escape(m[:300].rstrip(". "))
            return f":warning: GitHub refused the request: {reason}. Nothing was changed."
    return ":warning: That did not work; nothing was changed."


def _ambiguous_runner(target: Target, ref: str, matches: Sequence[errors.RunnerMatch]) -> str:
    """Name and id of each runner ``ref`` fits, and the form that picks each one."""
    shown = [f"*{escape(clip(m.name, 60))}* (id {m.id})" for m in matches[:5]]
    named = sum(m.by == "name" for m in matches)
    forms = []
    for m in matches[:5]:
        if m.by == "name" and named == 1 and '"' not in m.name:
            words = f'"{m.name}"' if any(c.isspace() for c in m.name) else m.name
            form = f"name:{words}"
        else:
            form = f"id:{m.id}"
        forms.append(f"{code(clip(form, 80))} for *{escape(clip(m.name, 60))}*")
    return (
        f":question: {code(clip(ref, 80))} could mean {len(matches)} runners in "
        f"*{escape(str(target))}*: {' and '.join(shown)}. Nothing was done. "
        f"Say which: {', '.join(forms)}."
    )


def error_reason(exc: errors.RunnerOpsError, *, install_url: str) -> str:
    """:func:`error_text`'s first sentence without its emoji: a failure's reason as one
    line of a summary (a prune's failed runners, grouped by it)."""
    text = error_text(exc, install_url=install_url)
    text = re.sub(r"^:[a-z0-9_+-]+: ", "", text)
    return re.split(r"(?<=[^.])\. ", text, maxsplit=1)[0].rstrip(".")


AUDIT_UNAVAILABLE = (
    ":floppy_disk: runnerops could not record this action; nothing was done (an"
    " action that cannot be audited is not performed). Try again shortly; if it"
    " persists, an operator should check the database."
)


def audit_unavailable_reply() -> Reply:
    """For a change refused because its audit entry cannot be written (or the database
    it needs did not answer): nothing was done."""
    return Reply(text=AUDIT_UNAVAILABLE, blocks=[_section(AUDIT_UNAVAILABLE)])


def error_reply(exc: errors.RunnerOpsError, *, install_url: str) -> Reply:
    text = error_text(exc, install_url=install_url)
    return Reply(text=text, blocks=[_section(text)])


def restarting_reply() -> Reply:
    """For a command a shutdown cut short: the deploy's new process will take the next one."""
    text = (
        ":arrows_counterclockwise: runnerops is restarting and could not finish this "
        "command; try again in a minute."
    )
    return Reply(text=text, blocks=[_section(text)])


def internal_error_reply() -> Reply:
    text = ":boom: Something went wrong inside runnerops; the operators have the details."
    return Reply(text=text, blocks=[_section(text)])


# -- access --------------------------------------------------------------------------


def refusal(action: str, verb: str, target: Target | None, reason: str) -> Reply:
    where = f" on *{escape(str(target))}*" if target is not None else ""
    text = (
        f":no_entry_sign: You may not `{verb}`{where} (a *{action}* action): "
        f"{escape(reason)}. Nothing was done. `/runners whoami` shows what you may do."
    )
    return Reply(text=text, blocks=[_section(text)])


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
    return Reply(text=text[:3000], blocks=[_section(text[:SECTION_CHARS])])


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
    blocks: list[Block] = [_header(title)]
    if not entries:
        empty = "No refusals." if refused_only else "No entries yet."
        blocks.append(_section("Nothing but refusals yet." if refusals else empty))
    used = 0
    if refusals:
        again = f"audit {target} --refused" if target else "audit --refused"
        lines = [refusal_line(c) for c in refusals]
        counted = fit(f"*Refused*, counted (`{again}` lists them):\n" + "\n".join(lines))
        blocks.append(_section(counted))
        used = len(counted)
    chunk: list[str] = []
    for entry in entries:
        line = audit_line(entry)
        if used + len(line) > MESSAGE_CHARS or len(blocks) >= MAX_BLOCKS - 1:
            break
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_CHARS:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        used += len(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    return Reply(text=f"{title}: {len(entries)} entries", blocks=blocks)
