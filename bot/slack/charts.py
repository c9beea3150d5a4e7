"""Charts for the Home tab and ``stats``: PNG images drawn with matplotlib.

Slack shows an image block by fetching its ``image_url``; runnerops serves each chart on
its own host under a URL signed with a key derived from the Slack signing secret and
valid for a short time, so only links runnerops handed out work, and only for a while.
(The alternative, ``files_upload_v2``, needs the files:write scope and leaves a file in
the workspace for every refresh.) Drawing is pure: data in, PNG bytes out.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:  # matplotlib is imported where a chart is drawn: ~40 MB the service
    # otherwise holds from start-up, whether or not anyone ever asks for a chart.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 7.2, 3.0, 110  # ~800 x 330 px: readable in the Home tab
COLOURS = ("#1f6feb", "#d29922", "#2da44e", "#8250df", "#cf222e", "#57606a")
MAX_SERIES = 6  # label sets drawn; more would not be readable


@dataclass(frozen=True)
class QueuePoint:
    day: date
    labels: str  # a label set, "gpu,linux,self-hosted"
    p50: float  # seconds
    p95: float


@dataclass(frozen=True)
class FleetPoint:
    at: datetime
    online: int
    busy: int
    offline: int


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # a bare Figure draws with Agg: no display, no pyplot

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(labelsize=8)
    return figure, axes


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png")
    return out.getvalue()


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#57606a")
    axes.set_xticks([])
    axes.set_yticks([])


def queue_time_chart(points: Sequence[QueuePoint], title: str = "Queue time") -> bytes:
    """p50 (solid) and p95 (dashed) queue time per day, one colour per label set."""
    import matplotlib.dates as mdates

    figure, axes = _figure(title)
    by_labels: dict[str, list[QueuePoint]] = {}
    for point in sorted(points, key=lambda p: p.day):
        by_labels.setdefault(point.labels, []).append(point)
    busiest = sorted(by_labels, key=lambda k: -len(by_labels[k]))[:MAX_SERIES]
    if not busiest:
        _empty(axes, "No jobs in this period")
        return _png(figure)
    top = max(p.p95 for k in busiest for p in by_labels[k])
    unit, scale = ("min", 60.0) if top >= 120 else ("s", 1.0)
    for colour, labels in zip(COLOURS, busiest, strict=False):
        days = mdates.date2num([p.day for p in by_labels[labels]])
        axes.plot(
            days,
            [p.p50 / scale for p in by_labels[labels]],
            color=colour,
            marker="o",
            markersize=3,
            label=labels[:40],
        )
        axes.plot(
            days,
            [p.p95 / scale for p in by_labels[labels]],
            color=colour,
            linestyle="--",
            alpha=0.7,
            label="_nolegend_",  # the same colour: one legend entry per label set
        )
    axes.set_ylabel(f"{unit} (solid p50, dashed p95)", fontsize=8)
    axes.set_ylim(0, max(top / scale, 1e-9) * 1.3)  # headroom: the legend sits above the lines
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
    axes.legend(fontsize=7, frameon=False, loc="upper left", ncol=2)
    return _png(figure)


def fleet_chart(points: Sequence[FleetPoint], title: str = "Runners") -> bytes:
    """Runners busy, idle online and offline over time, stacked."""
    import matplotlib.dates as mdates

    figure, axes = _figure(title)
    points = sorted(points, key=lambda p: p.at)
    if not points:
        _empty(axes, "No samples yet: the watch records them")
        return _png(figure)
    times = mdates.date2num([p.at for p in points])
    axes.stackplot(
        times,
        [p.busy for p in points],
        [max(0, p.online - p.busy) for p in points],
        [p.offline for p in points],
        labels=["busy", "idle", "offline"],
        colors=("#1f6feb", "#2da44e", "#8c959f"),
        alpha=0.9,
    )
    highest = max(p.online + p.offline for p in points)  # online counts the busy too
    axes.set_ylim(0, max(highest, 1) * 1.25)  # headroom: the legend sits above the areas
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
    axes.legend(fontsize=7, frameon=False, loc="upper left", ncol=3)
    return _png(figure)


def _signature(key: bytes, path: str, target: str, expires: int) -> str:
    message = f"{path}\n{target}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def chart_key(signing_secret: str) -> bytes:
    """A key of its own, derived from the Slack signing secret (no extra setting)."""
    return hmac.new(signing_secret.encode(), b"runnerops charts", hashlib.sha256).digest()


def signed_url(base: str, path: str, target: str, key: bytes, expires: int) -> str:
    sig = _signature(key, path, target, expires)
    query = urlencode({"target": target, "exp": expires, "sig": sig})
    return f"{base.rstrip('/')}{path}?{query}"


CHART_LIFE = 3600  # seconds a chart link works; a new view or reply hands out fresh ones
KINDS = {"queue": "Queue time", "fleet": "Runners"}


def chart_urls(signing_secret: str, base_url: str, target: str) -> dict[str, str]:
    """Signed links to ``target``'s charts, valid for CHART_LIFE (Slack fetches them with
    the wall clock, so this is the wall clock too)."""
    key = chart_key(signing_secret)
    expires = int(time.time()) + CHART_LIFE
    return {
        kind: signed_url(base_url, f"/charts/{kind}.png", target, key, expires) for kind in KINDS
    }


def verify(path: str, target: str, expires: str, signature: str, key: bytes, now: float) -> bool:
    if not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(_signature(key, path, target, int(expires)), signature)
