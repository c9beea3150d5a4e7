"""The small pieces every Slack view is built from, with ``slack_sdk.models.blocks``.

A view turns plain data into a :class:`Reply`, and the Slack layer posts it; nothing here
knows of HTTP. Every piece of user- or GitHub-supplied text goes through :func:`escape`
(or :func:`code`), so nothing echoed back can ping a channel or break formatting, and
every text block through :func:`fit`, so none exceeds Slack's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

MAX_BLOCKS = 50
SECTION_CHARS = 3000
# Slack rejects long messages (msg_blocks_too_long) well below 50 x 3000 characters.
MESSAGE_CHARS = 11_000

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


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=text[:150], emoji=True))


def utc(moment: datetime) -> datetime:
    """A stored time in UTC (one without a zone is UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def slack_time(moment: datetime) -> str:
    """``HH:MM`` in each reader's own time zone (a token's expiry: within the hour)."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{time}}|{utc(moment):%H:%M} UTC>"


def slack_date(moment: datetime) -> str:
    """Slack shows this in each reader's own time zone; the fallback (where Slack cannot
    draw dates: notifications, some clients) is UTC, readable rather than ISO."""
    epoch = int(moment.timestamp())
    fallback = f"{utc(moment):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


# One mark per state, the same in `list`, `get` and the Home tab.
MARKS = {"idle": ":large_green_circle:", "busy": ":large_orange_circle:", "offline": ":red_circle:"}


def replacement(text: str) -> Reply:
    """A message that takes the place of the one whose button was pressed."""
    return Reply(text=text, blocks=[section(text)], replace_original=True)
