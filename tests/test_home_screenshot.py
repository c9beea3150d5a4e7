"""The Home tab's picture: the HTML renderer on a view the sandbox published, and the
screenshot in a real browser (tests/browser.py: skipped without Chromium, unless required)."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.blockkit_html import EMOJI, mrkdwn, view_html
from bot.sandbox.fleet import seed_demo
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox
from bot.sandbox.home_screenshot import (
    CHANNELS,
    HOUR,
    Clock,
    home_html,
    live_a_week,
    render,
)
from tests.browser import need_browser


@pytest.fixture
async def lived(keys: Keys) -> AsyncIterator[Sandbox]:
    """A day of the demo fleet (the script lives a week; a day keeps the test quick)."""
    clock = Clock(1_800_000_000.0 - 24 * HOUR)
    async with Sandbox.running(
        keys=keys, seed=seed_demo, policy=PLATFORM_POLICY, clock=clock
    ) as sb:
        await live_a_week(sb, clock, days=1)
        yield sb


def visible(page: str) -> str:
    """The page's text as a reader sees it: tags gone, entities decoded, spaces folded."""
    body = page.split("<body>", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def plain(text: str) -> str:
    """Block text as it should read: mrkdwn marks and escapes gone, channels by name."""
    text = re.sub(r"<#(C\w+)>", lambda m: "#" + CHANNELS.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"[*`]|(?<!\w)_|_(?!\w)", "", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


async def test_every_block_of_the_published_view_is_in_the_html(lived: Sandbox) -> None:
    view, page = await home_html(lived)
    shown = visible(page)
    kinds = {b["type"] for b in view["blocks"]}
    assert {"header", "section", "context", "actions", "divider", "image"} <= kinds
    for block in view["blocks"]:
        texts: list[dict[str, Any]] = []
        if isinstance(block.get("text"), dict):
            texts.append(block["text"])
        texts += block.get("fields", [])
        for element in block.get("elements", []):
            texts.append(element["text"] if element.get("type") == "button" else element)
        for obj in texts:
            for line in obj["text"].split("\n"):
                line = re.sub(r":[a-z_]+:", lambda m: EMOJI.get(m[0], m[0]), line)
                words = plain(line)
                assert "".join(words.split()) in "".join(shown.split()), words
    assert page.count('<hr class="divider">') == sum(b["type"] == "divider" for b in view["blocks"])
    images = [b for b in view["blocks"] if b["type"] == "image"]
    sources = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', page)
    assert len(sources) == len(images) == 2
    for (src, alt), block in zip(sources, images, strict=True):
        assert src.startswith("data:image/png;base64,iVBORw0KGgo")  # the PNG, embedded
        assert html.unescape(alt) == block["alt_text"]
    # What the day left: counts, an open offline alert, stuck jobs, the queue, channels.
    assert "🟢" in page and "idle" in shown and "busy" in shown and "offline" in shown
    assert "2 runners offline" in shown and "runners busy" in shown
    assert "#acme-ci" in shown and "#api-team" in shown and "<#" not in page
    assert "Queued now" in shown and "train-large" in shown
    assert '<span class="button">Refresh</span>' in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*bold* and _italic_ and ~gone~", "<b>bold</b> and <i>italic</i> and <s>gone</s>"),
        ("`a*b*_c_` ok", "<code>a*b*_c_</code> ok"),
        ("```x &lt;y&gt;\nz```", "<pre>x &lt;y&gt;\nz</pre>"),
        (
            "<https://github.com/acme/api/actions/runs/1|CI &amp; build>",
            '<a href="https://github.com/acme/api/actions/runs/1">CI &amp; build</a>',
        ),
        ("<javascript:alert(1)|x>", "x"),
        (
            "in <#C0ACMECI> and <#C9|named>",
            'in <span class="mention">#acme-ci</span> and <span class="mention">#named</span>',
        ),
        (
            "<@U0ALICE> <@U9>",
            '<span class="mention">@alice</span> <span class="mention">@U9</span>',
        ),
        (
            "<!date^1800000000^{date_short_pretty}|2027-01-15T08:00:00+00:00>",
            "2027-01-15T08:00:00+00:00",
        ),
        (":lock: :no_such_emoji:", '<span class="emoji">🔒</span> :no_such_emoji:'),
        (
            "&lt;script&gt;alert('x')&lt;/script&gt; &amp;amp;",
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp;amp;",
        ),
        ("*<https://x.example/a_b_c|a_b>*", '<b><a href="https://x.example/a_b_c">a_b</a></b>'),
        ("acme/api_v2_x and 2*3*4", "acme/api_v2_x and 2*3*4"),
    ],
)
def test_mrkdwn(text: str, expected: str) -> None:
    from bot.sandbox.blockkit_html import Names

    assert mrkdwn(text, Names({"C0ACMECI": "acme-ci"}, {"U0ALICE": "alice"})) == expected


def test_block_kinds_and_button_styles() -> None:
    view = {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Hi :wave: <b>"}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": "*Status*\nonline"}],
                "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Go"}},
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Delete"},
                        "style": "danger",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Yes"},
                        "style": "primary",
                    },
                ],
            },
            {
                "type": "image",
                "image_url": "https://x.example/a.png",
                "alt_text": "a chart",
                "title": {"type": "plain_text", "text": "Chart"},
            },
            {"type": "rich_text", "elements": []},
        ],
    }
    page = view_html(view, images={"https://x.example/a.png": "data:image/png;base64,AAAA"})
    assert "Hi :wave: &lt;b&gt;" in page  # an unknown shortcode stays; nothing injected
    assert '<div class="fields"><div class="text"><b>Status</b>\nonline</div></div>' in page
    assert '<span class="button danger">Delete</span>' in page
    assert '<span class="button primary">Yes</span>' in page
    assert '<img src="data:image/png;base64,AAAA" alt="a chart">' in page
    assert '<div class="title">Chart</div>' in page and "[rich_text block]" in page


async def test_the_home_tab_screenshot_renders(keys: Keys, tmp_path: Path) -> None:
    need_browser()
    target = await render(tmp_path, days=1, running=functools.partial(Sandbox.running, keys=keys))
    assert target == tmp_path / "home.png"
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 860 and height > 1200  # the full page: charts, panels and all
    # The picture's clock is fixed (END), not the wall clock: rendering again, a moment
    # later, draws the same picture to the byte (docs/home.png is reproducible).
    (tmp_path / "again").mkdir()
    again = await render(
        tmp_path / "again", days=1, running=functools.partial(Sandbox.running, keys=keys)
    )
    assert again.read_bytes() == data
