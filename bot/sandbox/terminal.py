"""Block Kit JSON as terminal text, for the demo: what Slack would show, roughly."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

EMOJI = {
    ":large_green_circle:": "🟢",
    ":large_orange_circle:": "🟠",
    ":red_circle:": "🔴",
    ":warning:": "⚠️ ",
    ":no_entry:": "⛔",
    ":mag:": "🔍",
    ":lock:": "🔒",
    ":key:": "🔑",
    ":hourglass_flowing_sand:": "⏳",
    ":cloud:": "☁️ ",
    ":turtle:": "🐢",
    ":gear:": "⚙️ ",
    ":wastebasket:": "🗑️ ",
    ":boom:": "💥",
    ":white_check_mark:": "✅",
    ":x:": "❌",
}
_DATE = re.compile(r"<!date\^(\d+)\^[^|>]*\|[^>]*>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def mrkdwn(text: str, *, bold: bool = True) -> str:
    text = _DATE.sub(
        lambda m: datetime.fromtimestamp(int(m.group(1))).strftime("%b %d %H:%M"), text
    )
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    text = text.replace("```", "\n    ")
    if bold:
        text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", "\033[1m\\1\033[0m", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(message: dict[str, Any], *, color: bool = True) -> str:
    lines: list[str] = []
    visibility = message.get("response_type", "ephemeral")
    lines.append(
        "── only visible to you ──" if visibility == "ephemeral" else "── posted in channel ──"
    )
    if message.get("replace_original"):
        lines.append("(replaces the message above)")
    for block in message.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            lines.append(mrkdwn(f"*{block['text']['text']}*", bold=color))
        elif kind == "section":
            if block.get("text"):
                lines.append(mrkdwn(block["text"]["text"], bold=color))
            fields = [
                mrkdwn(f["text"], bold=color).replace("\n", ": ", 1)
                for f in block.get("fields", [])
            ]
            if fields:
                lines.append("   ".join(fields))
        elif kind == "context":
            lines.append(
                "  "
                + " ".join(mrkdwn(e.get("text", ""), bold=color) for e in block.get("elements", []))
            )
        elif kind == "actions":
            buttons = [f"[{e['text']['text']}]" for e in block.get("elements", [])]
            lines.append(" ".join(buttons) + "   (type `click` to press)")
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "image":  # a chart: a terminal cannot draw it, so it says what it is
            title = (block.get("title") or {}).get("text") or block.get("alt_text", "image")
            lines.append(f"[chart: {title}]")
    if not message.get("blocks"):
        lines.append(mrkdwn(message.get("text", ""), bold=color))
    return "\n".join(lines)
