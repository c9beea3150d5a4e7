"""Block Kit JSON as static HTML styled like Slack's Home tab, for the README's picture.

Slack's own client cannot run here, so this draws the subset of Block Kit runnerops sends
(header, section with mrkdwn text and fields, context, actions with buttons, divider,
image) the way Slack lays it out: its type sizes, greys, button styles and a ~800px
column. It is a development aid like :mod:`bot.sandbox.terminal`, never served to users.

Slack's mrkdwn is handled as Slack reads it: ``*bold*``, ``_italic_``, ``~strike~``,
```code``` spans and blocks, ``<url|label>`` links, ``<#C123>`` channels, ``<@U123>``
users, ``<!date^…|fallback>`` (the fallback: no reader's time zone here), and the emoji
shortcodes runnerops uses (unknown ones stay as text). The text arrives mrkdwn-escaped
(``&amp; &lt; &gt;``); everything is HTML-escaped on the way out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

EMOJI = {
    ":large_green_circle:": "🟢",
    ":large_blue_circle:": "🔵",
    ":large_orange_circle:": "🟠",
    ":white_circle:": "⚪",
    ":red_circle:": "🔴",
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":lock:": "🔒",
    ":key:": "🔑",
    ":hourglass_flowing_sand:": "⏳",
    ":hourglass:": "⌛",
    ":no_entry:": "⛔",
    ":no_entry_sign:": "🚫",
    ":mag:": "🔍",
    ":cloud:": "☁️",
    ":turtle:": "🐢",
    ":gear:": "⚙️",
    ":wastebasket:": "🗑️",
    ":boom:": "💥",
    ":x:": "❌",
    ":grey_question:": "❔",
    ":question:": "❓",
    ":label:": "🏷️",
    ":floppy_disk:": "💾",
    ":eyes:": "👀",
    ":broom:": "🧹",
    ":zzz:": "💤",
    ":see_no_evil:": "🙈",
    ":rotating_light:": "🚨",
    ":repeat:": "🔁",
    ":raised_hand:": "✋",
    ":mailbox_closed:": "📪",
    ":information_source:": "\u2139\ufe0f",
    ":arrows_counterclockwise:": "🔄",
}
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_CODE = re.compile(r"```(.*?)```|`([^`\n]+)`", re.S)
_ANGLE = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_HOLE = re.compile("\ue000(\\d+)\ue001")
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s\"'<>]+", re.I)

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #f8f8f8; color: #1d1c1d;
  font-family: "Slack-Lato", "Lato", "Helvetica Neue", Helvetica, "Liberation Sans",
    "DejaVu Sans", Arial, sans-serif, "Noto Color Emoji";
  font-size: 15px; line-height: 1.46668; -webkit-font-smoothing: antialiased; }
.pane { width: 860px; margin: 0 auto; background: #fff; min-height: 100vh;
  border-left: 1px solid #e8e8e8; border-right: 1px solid #e8e8e8; }
.app { display: flex; align-items: center; gap: 10px; padding: 14px 30px 0; }
.app .icon { width: 36px; height: 36px; border-radius: 8px; background: #1f6feb; color: #fff;
  font-weight: 900; font-size: 18px; display: flex; align-items: center;
  justify-content: center; }
.app .name { font-size: 18px; font-weight: 900; }
.tabs { display: flex; gap: 22px; padding: 8px 30px 0; border-bottom: 1px solid #dddddd;
  font-size: 13px; font-weight: 700; color: #616061; }
.tabs span { padding: 6px 0 8px; }
.tabs .on { color: #1d1c1d; border-bottom: 2px solid #1264a3; }
.blocks { padding: 14px 30px 30px; }
.block { margin: 8px 0; }
.header { font-size: 18px; font-weight: 900; line-height: 1.33; margin-top: 16px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.section { display: flex; gap: 12px; align-items: flex-start; }
.section .main { flex: 1; min-width: 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 6px; }
.context { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px;
  font-size: 13px; color: #616061; line-height: 1.38; }
.context img { width: 20px; height: 20px; border-radius: 3px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; }
.button { display: inline-flex; align-items: center; height: 28px; padding: 0 12px;
  border: 1px solid rgba(29, 28, 29, 0.3); border-radius: 4px; background: #fff;
  color: #1d1c1d; font-size: 13px; font-weight: 700; white-space: nowrap; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.divider { border: 0; border-top: 1px solid #dddddd; margin: 16px 0; }
.image .title { font-size: 15px; font-weight: 700; margin-bottom: 4px; }
.image img { display: block; max-width: 100%; border-radius: 4px;
  border: 1px solid rgba(29, 28, 29, 0.1); }
.accessory img { width: 88px; height: 88px; border-radius: 4px; }
b { font-weight: 700; }
code { font-family: Monaco, Menlo, Consolas, "Courier New", "DejaVu Sans Mono", monospace;
  font-size: 12px; color: #e01e5a; background: rgba(29, 28, 29, 0.04);
  border: 1px solid rgba(29, 28, 29, 0.13); border-radius: 3px; padding: 2px 3px 1px;
  white-space: pre-wrap; }
pre { font-family: Monaco, Menlo, Consolas, "Courier New", "DejaVu Sans Mono", monospace;
  font-size: 12px; background: rgba(29, 28, 29, 0.04); border: 1px solid rgba(29, 28, 29, 0.13);
  border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: rgba(29, 155, 209, 0.1); border-radius: 3px;
  padding: 0 2px; }
.emoji { font-family: "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", sans-serif;
  font-size: 1.05em; }
"""


def _unescape(text: str) -> str:
    """Slack's three escapes back to characters (only those: ``&quot;`` stays as typed)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(text: str) -> str:
    """mrkdwn-escaped plain text as HTML."""
    return html.escape(_unescape(text), quote=True)


def emoji(escaped: str) -> str:
    """Known shortcodes in (HTML-escaped) text as their Unicode emoji; unknown ones stay."""

    def one(match: re.Match[str]) -> str:
        symbol = EMOJI.get(match.group(0))
        return match.group(0) if symbol is None else f'<span class="emoji">{symbol}</span>'

    return _EMOJI.sub(one, escaped)


class Names:
    """How ``<#C123>`` and ``<@U123>`` read: the channel's or user's name where known."""

    def __init__(
        self, channels: Mapping[str, str] | None = None, users: Mapping[str, str] | None = None
    ) -> None:
        self.channels = dict(channels or {})
        self.users = dict(users or {})


def _angle(inner: str, names: Names) -> str:
    """One ``<…>`` token of mrkdwn as HTML."""
    head, _, label = inner.partition("|")
    if head.startswith("#C") or head.startswith("#G"):
        name = label or names.channels.get(head[1:], head[1:])
        return f'<span class="mention">#{_text(name)}</span>'
    if head.startswith("@"):
        name = label or names.users.get(head[1:], head[1:])
        return f'<span class="mention">@{_text(name)}</span>'
    if head.startswith("!date^"):
        return emoji(_text(label)) if label else _text(head)
    if head.startswith("!subteam^"):
        return f'<span class="mention">@{_text(label or head[9:])}</span>'
    if head.startswith("!"):
        return f'<span class="mention">@{_text(label or head[1:])}</span>'
    url = _unescape(head)
    shown = emoji(_text(label)) if label else _text(head)
    if _SAFE_URL.fullmatch(url):
        return f'<a href="{html.escape(url, quote=True)}">{shown}</a>'
    return shown


def mrkdwn(text: str, names: Names | None = None) -> str:
    """Slack mrkdwn as HTML (newlines kept: the container has ``white-space: pre-wrap``)."""
    names = names or Names()
    holes: list[str] = []

    def hole(rendered: str) -> str:
        holes.append(rendered)
        return f"\ue000{len(holes) - 1}\ue001"

    def code(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return hole(f"<pre>{_text(match.group(1).strip(chr(10)))}</pre>")
        return hole(f"<code>{_text(match.group(2))}</code>")

    text = _CODE.sub(code, text)
    text = _ANGLE.sub(lambda m: hole(_angle(m.group(1), names)), text)
    out = emoji(_text(text))
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    return _HOLE.sub(lambda m: holes[int(m.group(1))], out)


def _object(obj: Any, names: Names) -> str:
    """A text object: mrkdwn, or plain text (with shortcodes where ``emoji`` is on)."""
    if not isinstance(obj, Mapping):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(text, names)
    plain = html.escape(text, quote=True)
    return emoji(plain) if obj.get("emoji", True) else plain


ImageSource = Callable[[str], str]


def _img(url: str, alt: str, source: ImageSource) -> str:
    src = source(url)
    return f'<img src="{html.escape(src, quote=True)}" alt="{html.escape(alt, quote=True)}">'


def _button(element: Mapping[str, Any], names: Names) -> str:
    style = element.get("style")
    classes = "button" + (f" {style}" if style in ("primary", "danger") else "")
    return f'<span class="{classes}">{_object(element.get("text"), names)}</span>'


def _element(element: Any, names: Names, source: ImageSource) -> str:
    if not isinstance(element, Mapping):
        return ""
    kind = element.get("type")
    if kind == "button":
        return _button(element, names)
    if kind == "image":
        return _img(str(element.get("image_url", "")), str(element.get("alt_text", "")), source)
    if kind in ("mrkdwn", "plain_text"):
        return f'<span class="text">{_object(element, names)}</span>'
    return f'<span class="button">{html.escape(str(kind))}</span>'  # a select, a picker


def block_html(block: Mapping[str, Any], names: Names, source: ImageSource) -> str:
    """One block as HTML (unknown block types as a placeholder naming the type)."""
    kind = block.get("type")
    if kind == "header":
        return f'<div class="block header">{_object(block.get("text"), names)}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "section":
        main = ""
        if block.get("text"):
            main += f'<div class="text">{_object(block["text"], names)}</div>'
        fields = block.get("fields") or []
        if fields:
            cells = "".join(f'<div class="text">{_object(f, names)}</div>' for f in fields)
            main += f'<div class="fields">{cells}</div>'
        accessory = block.get("accessory")
        side = (
            f'<div class="accessory">{_element(accessory, names, source)}</div>'
            if accessory
            else ""
        )
        return f'<div class="block section"><div class="main">{main}</div>{side}</div>'
    if kind == "context":
        parts = "".join(_element(e, names, source) for e in block.get("elements", []))
        return f'<div class="block context">{parts}</div>'
    if kind == "actions":
        parts = "".join(_element(e, names, source) for e in block.get("elements", []))
        return f'<div class="block actions">{parts}</div>'
    if kind == "image":
        title = block.get("title")
        head = f'<div class="title">{_object(title, names)}</div>' if title else ""
        image = _img(str(block.get("image_url", "")), str(block.get("alt_text", "")), source)
        return f'<div class="block image">{head}{image}</div>'
    return f'<div class="block context">[{html.escape(str(kind))} block]</div>'


def view_html(
    view: Mapping[str, Any],
    *,
    app_name: str = "runnerops",
    channels: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
    images: Mapping[str, str] | None = None,
) -> str:
    """A whole Home view as an HTML page: the app's name and tabs, then its blocks.

    ``images`` maps an image URL to what the page loads instead (a ``data:`` URI fetched
    beforehand, say); other URLs are used as they are."""
    names = Names(channels, users)
    swap = dict(images or {})

    def source(url: str) -> str:
        return swap.get(url, url)

    body = "\n".join(block_html(b, names, source) for b in view.get("blocks", []))
    name = html.escape(app_name)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{name} · Home</title><style>{CSS}</style></head><body>"
        '<div class="pane">'
        f'<div class="app"><div class="icon">{name[:1].upper()}</div>'
        f'<div class="name">{name}</div></div>'
        '<div class="tabs"><span class="on">Home</span><span>Messages</span>'
        "<span>About</span></div>"
        f'<div class="blocks">\n{body}\n</div></div></body></html>\n'
    )
