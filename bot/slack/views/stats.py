"""``stats``: queue times per label set and runner usage over a window, with the charts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from slack_sdk.models.blocks import Block, ImageBlock

from bot.durations import format_duration
from bot.slack import charts
from bot.slack.blocks import Reply, clip, escape, header, section
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


def chart_blocks(signing_secret: str, base_url: str, target: str) -> list[ImageBlock]:
    """The charts of the last 7 days, as signed links Slack fetches."""
    urls = charts.chart_urls(signing_secret, base_url, target)
    return [
        ImageBlock(image_url=url, alt_text=f"{charts.KINDS[kind]} of {target}, 7 days")
        for kind, url in urls.items()
    ]
