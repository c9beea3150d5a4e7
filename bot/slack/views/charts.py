"""A chart as blocks: Slack's own chart (``data_visualization``, in messages), or its
image (by signed URL or by uploaded Slack file), and, always, its figures in text under
it, so the numbers are there whatever shows the chart or not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, ImageBlock

from bot.slack.blocks import context

NATIVE = "data_visualization"
NATIVE_PER_MESSAGE = 2  # Slack takes at most two chart blocks in one message


class NativeChartBlock(Block):
    """Slack's ``data_visualization`` block (2026-06), which slack_sdk has no class for:
    a title and the chart (type, series, axis_config) as built by bot.slack.charts."""

    attributes = {"block_id", "type", "title", "chart"}

    def __init__(self, *, title: str, chart: Mapping[str, Any], block_id: str | None = None):
        super().__init__(type=NATIVE, block_id=block_id)
        self.title = title
        self.chart = dict(chart)


@dataclass(frozen=True)
class Chart:
    alt: str  # what the image shows, for screen readers: "Queue time of acme, 7 days"
    figures: str  # the chart's numbers as text (bot.slack.charts.queue_figures, ...)
    image_url: str | None = None  # a signed link Slack fetches (a public address)
    file_id: str | None = None  # a file uploaded to Slack (Socket Mode, no public address)
    native: Mapping[str, Any] | None = None  # a data_visualization block (messages only)


def chart_blocks(chart: Chart) -> list[Block]:
    """The chart when there is one Slack can show, then the figures. A URL that is not
    absolute would make Slack refuse the whole view, so it is left out like a failed
    upload: text only, never a broken image block."""
    blocks: list[Block] = []
    if chart.native is not None:
        blocks.append(
            NativeChartBlock(title=str(chart.native["title"]), chart=chart.native["chart"])
        )
    elif chart.file_id:
        blocks.append(ImageBlock(slack_file={"id": chart.file_id}, alt_text=chart.alt[:2000]))
    elif chart.image_url and chart.image_url.startswith(("https://", "http://")):
        blocks.append(ImageBlock(image_url=chart.image_url, alt_text=chart.alt[:2000]))
    blocks.append(context(chart.figures))
    return blocks


def without_native(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """``payload`` with its chart blocks taken out (their figures stay, in text): what is
    sent again when a workspace refuses them. None when it holds none."""
    blocks = payload.get("blocks") or []
    kept = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == NATIVE)]
    if len(kept) == len(blocks):
        return None
    return {**payload, "blocks": kept}
