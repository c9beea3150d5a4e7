"""``stats``: queue times per label set and runner usage over a window, with the charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.slack.blocks import (
    SECTION_CHARS,
    Reply,
    clip,
    context,
    escape,
    fit,
    header,
    section,
    slack_date,
)
from bot.slack.views.charts import Chart, chart_blocks
from bot.slack.views.reasons import labels_text, plural
from bot.watch.capacity import MAX_REPLAYED, Advice, Capacity
from bot.watch.stats import QueueStats, RunnerUsage

MAX_ADVICE_LINES = 20  # label sets given capacity advice: the busiest, in one section


def stats_reply(
    target: str,
    since: timedelta,
    threshold: timedelta,
    queues: Mapping[tuple[str, ...], QueueStats],
    usage: Mapping[str, RunnerUsage],
    advice: Capacity | None = None,
    deadline: float = 0.0,
) -> Reply:
    window = format_duration(since)
    blocks: list[Block] = [header(f"{target}: the last {window}")]
    if not queues:
        blocks.append(section("No jobs in this window (as far as runnerops has heard)."))
    lines = []
    for labels, q in queues.items():
        if q.count:
            times = (
                f"p50 {format_duration(q.p50 or timedelta(0))}, p95"
                f" {format_duration(q.p95 or timedelta(0))}, max"
                f" {format_duration(q.max or timedelta(0))}"
            )
        else:
            times = "none started"
        share = f"{round(q.share_over * 100)}% waited {format_duration(threshold)} or more"
        unstarted = f", {q.unstarted} not started" if q.unstarted else ""
        lines.append(
            f"• {labels_text(labels)}: {plural(q.count, 'job')}{unstarted} · {times} · {share}"
        )
    for start in range(0, len(lines), 20):
        blocks.append(section("\n".join(lines[start : start + 20])))
    if queues:
        blocks.extend(capacity_blocks(queues, advice, threshold, deadline))
    if usage:
        runner_lines = [
            f"• *{escape(clip(u.runner, 60))}*: {plural(u.jobs, 'job')},"
            f" busy {round(u.busy_share * 100)}%"
            for u in usage.values()
        ]
        blocks.append(section("*Runners*\n" + "\n".join(runner_lines[:40])))
    return Reply(text=f"Stats of {target} over {window}", blocks=blocks[:50])


def with_charts(reply: Reply, shown: Sequence[Chart]) -> Reply:
    """The charts of the last 7 days under the figures, each with its figures in text,
    as far as a message's 50 blocks allow."""
    for chart in shown:
        blocks = chart_blocks(chart)
        if len(reply.blocks) + len(blocks) > 50:
            break
        reply.blocks.extend(blocks)
    return reply


def capacity_blocks(
    queues: Mapping[tuple[str, ...], QueueStats],
    found: Capacity | None,
    threshold: timedelta,
    deadline: float,
) -> list[Block]:
    """Per label set (the busiest that have finished jobs): peak concurrency, saturation
    and the suggested runner count, said as the estimate it is."""
    if found is None:
        return [
            context(
                f"Capacity advice was not computed: it takes longer than {deadline:g}s"
                " (or the database failed it). Try a shorter `--since`."
            )
        ]
    busiest = sorted(found.advice.values(), key=lambda a: (-a.jobs, a.labels))
    shown = [a for a in busiest if a.labels in queues][:MAX_ADVICE_LINES]
    if not shown:
        return []
    after = format_duration(threshold)
    lines: list[str] = []
    room = SECTION_CHARS - 200  # the title and the count of the rest
    for a in shown:
        line = fit(f"• {labels_text(a.labels)}: {_advice_text(a)}", 1000)
        if len(line) + 1 > room:
            break
        lines.append(line)
        room -= len(line) + 1
    more = len(found.advice) - len(lines)
    if more > 0:
        lines.append(f"…and {plural(more, 'more label set')}")
    notes = (
        "An estimate: the window's finished jobs replayed in the order they were created,"
        " each taking the run time it took, on identical runners that are always online"
        " and run only that label set's jobs; suggested: the fewest runners with which 95%"
        f" of them would have started within {after}. Saturation: the share of the time"
        " every runner that ran its jobs was busy."
    )
    if found.capped_since is not None:
        notes += (
            f" Only the most recent {MAX_REPLAYED:,} jobs (created since"
            f" {slack_date(found.capped_since)}) were replayed."
        )
    return [section("*Capacity* (an estimate)\n" + "\n".join(lines)), context(notes)]


def _advice_text(a: Advice) -> str:
    if a.saturation is None:
        saturated = "its runners unknown"
    else:
        share = f"busy {round(a.saturation * 100)}% of the time"
        saturated = f"its runner {share}" if a.runners == 1 else f"all {a.runners} runners {share}"
    if a.suggested is None:
        suggested = "suggested runners not computed in time"
    else:
        suggested = f"suggested {plural(a.suggested, 'runner')}"
    return f"peak {a.peak} at once · {saturated} · {suggested}"
