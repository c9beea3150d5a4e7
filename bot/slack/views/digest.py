"""The daily digest: how the fleet served a watched target over one local day, on one
screen (a header, a few short sections, every list cut to fit)."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.slack.blocks import Reply, context, escape, header, section, slack_date
from bot.slack.views.reasons import REASON_TITLES, names, plural, wanted_labels
from bot.watch.diagnosis import Reason
from bot.watch.digest import Digest, QueueLine, Trend, trend

ARROWS = {Trend.UP: "↑", Trend.DOWN: "↓", Trend.SAME: "=", Trend.NONE: "·"}
MAX_SHORT = 5
MAX_VERSIONS = 5


def _wait(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "-"


def _versus(now: timedelta | None, day: timedelta | None, week: timedelta | None) -> str:
    """``4m`` followed by its arrows against the day before and the week before."""
    arrows = " ".join(
        f"{ARROWS[t]}{label} {_wait(before)}"
        for t, label, before in (
            (trend(now, day), "day", day),
            (trend(now, week), "wk", week),
        )
        if before is not None
    )
    return f"*{_wait(now)}*" + (f" ({arrows})" if arrows else "")


def queue_line(line: QueueLine) -> str:
    return (
        f"• {wanted_labels(line.labels)}: {plural(line.jobs, 'job')} · p50"
        f" {_versus(line.p50, line.p50_day, line.p50_week)} · p95"
        f" {_versus(line.p95, line.p95_day, line.p95_week)}"
    )


def _reason(value: str) -> str:
    try:
        return REASON_TITLES[Reason(value)]
    except ValueError:
        return escape(value) or "unknown"


def _queues(d: Digest) -> str:
    head = f"*{plural(d.jobs, 'job')} ran*" + (
        f", {d.waiting} created that did not start" if d.waiting else ""
    )
    if not d.lines:
        return head + "\nNo self-hosted job was created in the day."
    lines = [queue_line(line) for line in d.lines]
    if d.more:
        lines.append(f"…and {plural(d.more, 'more label set')}")
    return (
        head
        + " · queue time per label set, against the day and the week before:\n"
        + ("\n".join(lines))
    )


def _alerts(d: Digest) -> str:
    text = f"*Alerts*: {d.opened} opened, {d.resolved} resolved."
    if d.reasons:
        counts = ", ".join(f"{_reason(r)} {n}" for r, n in d.reasons)
        text += f" Jobs that waited too long, by reason: {counts}."
    return text


def _fleet(d: Digest) -> str:
    if d.offline:
        text = f"*Offline now*: {plural(len(d.offline), 'runner')} ({names(list(d.offline))})."
    else:
        text = "*Offline now*: none."
    if d.versions:
        shown = [
            f"{plural(v.runners, 'runner')} on {escape(v.version)} (stops {slack_date(v.stops)})"
            for v in d.versions[:MAX_VERSIONS]
        ]
        more = len(d.versions) - len(shown)
        text += " *Versions near end of life*: " + "; ".join(shown)
        text += f" and {more} more." if more > 0 else "."
    return text


def _short(d: Digest) -> str | None:
    if not d.short:
        return None
    lines = [
        f"• {wanted_labels(s.labels)}: {plural(s.runners, 'runner')} ran its jobs,"
        f" {s.suggested} suggested"
        for s in d.short[:MAX_SHORT]
    ]
    if len(d.short) > MAX_SHORT:
        lines.append(f"…and {plural(len(d.short) - MAX_SHORT, 'more label set')}")
    return "*Short of runners* (an estimate, as `stats` makes it):\n" + "\n".join(lines)


def digest_message(d: Digest) -> Reply:
    """The digest as posted in the watch's channel."""
    title = f"Daily digest: {d.target}, {d.day:%a %d %b}"
    blocks: list[Block] = [header(title), section(_queues(d)), section(_alerts(d))]
    blocks.append(section(_fleet(d)))
    shortfall = _short(d)
    if shortfall:
        blocks.append(section(shortfall))
    notes = (
        f"From {slack_date(d.start)} to {slack_date(d.end)} ({escape(d.zone)} day)."
        " Waits are of self-hosted jobs created in the day."
    )
    if not d.capacity_known:
        notes += " Capacity advice was not computed in time."
    blocks.append(context(notes))
    text = f"Daily digest of {d.target}: {plural(d.jobs, 'job')} ran, {d.opened} alerts opened"
    return Reply(text=escape(text), blocks=blocks, response_type="in_channel")
