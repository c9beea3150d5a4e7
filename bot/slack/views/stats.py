"""``stats``: queue times per label set and runner usage over a window, with the charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.slack.blocks import Reply, clip, escape, header, section
from bot.slack.views.charts import Chart, chart_blocks
from bot.slack.views.reasons import labels_text, plural
from bot.watch.stats import QueueStats, RunnerUsage


def stats_reply(
    target: str,
    since: timedelta,
    threshold: timedelta,
    queues: Mapping[tuple[str, ...], QueueStats],
    usage: Mapping[str, RunnerUsage],
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
