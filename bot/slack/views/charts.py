"""A chart as blocks: its image (by signed URL or by uploaded Slack file) and, always,
its figures in text under it, so the numbers are there whatever shows the image or not."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import Block, ImageBlock

from bot.slack.blocks import context


@dataclass(frozen=True)
class Chart:
    alt: str  # what the image shows, for screen readers: "Queue time of acme, 7 days"
    figures: str  # the chart's numbers as text (bot.slack.charts.queue_figures, ...)
    image_url: str | None = None  # a signed link Slack fetches (a public address)
    file_id: str | None = None  # a file uploaded to Slack (Socket Mode, no public address)


def chart_blocks(chart: Chart) -> list[Block]:
    """The image when there is one Slack can show, then the figures. A URL that is not
    absolute would make Slack refuse the whole view, so it is left out like a failed
    upload: text only, never a broken image block."""
    blocks: list[Block] = []
    if chart.file_id:
        blocks.append(ImageBlock(slack_file={"id": chart.file_id}, alt_text=chart.alt[:2000]))
    elif chart.image_url and chart.image_url.startswith(("https://", "http://")):
        blocks.append(ImageBlock(image_url=chart.image_url, alt_text=chart.alt[:2000]))
    blocks.append(context(chart.figures))
    return blocks
