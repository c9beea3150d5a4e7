"""Charts for the Home tab and ``stats``: PNG images drawn with matplotlib.

Two ways reach Slack. With a public address, Slack fetches each chart from runnerops'
own host under a URL signed with a key derived from the Slack signing secret and valid
for a short time, so only links runnerops handed out work, and only for a while. Without
one (Socket Mode, no RUNNEROPS_PUBLIC_URL) the PNG is uploaded to Slack and shown by its
file id (bot.slack.chart_files). In a message (``stats``) the chart is Slack's own
``data_visualization`` block instead (``queue_native``, ``fleet_native``): nothing to
fetch or upload. Either way each chart's figures are also given as text
(``queue_figures``, ``fleet_figures``). Drawing is pure: data in, PNG bytes or JSON out.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:  # matplotlib is imported where a chart is drawn: ~40 MB the service
    # otherwise holds from start-up, whether or not anyone ever asks for a chart.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 7.2, 3.0, 110  # ~800 x 330 px: readable in the Home tab
COLOURS = ("#1f6feb", "#d29922", "#2da44e", "#8250df", "#cf222e", "#57606a")
MAX_SERIES = 6  # label sets drawn; more would not be readable
SPARSE = 60  # fewer fleet samples than this get a marker each, so a lone one still shows

Window = tuple[datetime, datetime]  # (start, end), timezone-aware: the x-axis, fixed


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


def _figure(title: str, window: Window) -> tuple[Figure, Axes]:
    """A figure whose x-axis is the window, whatever the data: otherwise matplotlib fits
    the axis to the data, and a day of jobs or a minute of samples gets an axis of
    months or of seconds, with its ticks all on one day. Days are labelled at their noon
    (the label sits under the day it names); minor ticks and grid lines mark midnight."""
    import matplotlib.dates as mdates
    from matplotlib import ticker
    from matplotlib.figure import Figure  # a bare Figure draws with Agg: no pyplot

    start, end = window
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("a chart's window is two aware datetimes, start before end")
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(labelsize=8)
    axes.set_xlim(mdates.date2num(start), mdates.date2num(end))
    first = datetime.combine(start.astimezone(UTC).date(), day_time(), tzinfo=UTC)
    midnights = [first + timedelta(days=d) for d in range((end - first).days + 2)]
    every = max(1, round((end - start) / timedelta(days=8)))  # at most ~8 day labels
    noons = [m + timedelta(hours=12) for m in midnights[::every]]
    axes.xaxis.set_major_locator(
        ticker.FixedLocator(mdates.date2num([n for n in noons if start <= n <= end]))
    )
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%a %d", tz=UTC))
    axes.xaxis.set_minor_locator(
        ticker.FixedLocator(mdates.date2num([m for m in midnights if start <= m <= end]))
    )
    axes.tick_params(axis="x", which="major", length=0)
    axes.grid(axis="x", which="minor", alpha=0.2)
    axes.set_xlabel("UTC", fontsize=7, color="#57606a", loc="right")
    return figure, axes


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png")
    return out.getvalue()


def _empty(axes: Axes, text: str) -> None:
    """No data: say so over the window's (still dated) axis."""
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#57606a")
    axes.set_yticks([])


def _day_middle(day: date, window: Window) -> datetime:
    """Where a day's figure is drawn: the middle of the part of that day in the window
    (the first and last days are cut by it), so every day's point lies on the axis."""
    start, end = window
    midnight = datetime.combine(day, day_time(), tzinfo=UTC)
    left, right = max(midnight, start), min(midnight + timedelta(days=1), end)
    return left + (right - left) / 2


def _in_window(day: date, window: Window) -> bool:
    midnight = datetime.combine(day, day_time(), tzinfo=UTC)
    return midnight < window[1] and window[0] < midnight + timedelta(days=1)


def queue_time_chart(
    points: Sequence[QueuePoint], window: Window, title: str = "Queue time"
) -> bytes:
    """p50 (solid) and p95 (dashed) queue time per day over ``window``, one colour per
    label set; PNG bytes. Days outside the window are left out."""
    return _png(queue_time_figure(points, window, title))


def _queue_series(points: Sequence[QueuePoint], window: Window) -> dict[str, list[QueuePoint]]:
    """The label sets drawn (the MAX_SERIES with the most days), each one's days in order."""
    by_labels: dict[str, list[QueuePoint]] = {}
    for point in sorted((p for p in points if _in_window(p.day, window)), key=lambda p: p.day):
        by_labels.setdefault(point.labels, []).append(point)
    busiest = sorted(by_labels, key=lambda k: -len(by_labels[k]))[:MAX_SERIES]
    return {labels: by_labels[labels] for labels in busiest}


def queue_time_figure(
    points: Sequence[QueuePoint], window: Window, title: str = "Queue time"
) -> Figure:
    import matplotlib.dates as mdates

    figure, axes = _figure(title, window)
    by_labels = _queue_series(points, window)
    busiest = list(by_labels)
    if not busiest:
        _empty(axes, "No jobs in this period")
        return figure
    top = max(p.p95 for k in busiest for p in by_labels[k])
    unit, scale = ("min", 60.0) if top >= 120 else ("s", 1.0)
    for colour, labels in zip(COLOURS, busiest, strict=False):
        days = mdates.date2num([_day_middle(p.day, window) for p in by_labels[labels]])
        axes.plot(
            days,
            [p.p50 / scale for p in by_labels[labels]],
            color=colour,
            marker="o",
            markersize=3,
            clip_on=False,  # a point on the window's edge (today) shows whole
            label=labels[:40],
        )
        axes.plot(
            days,
            [p.p95 / scale for p in by_labels[labels]],
            color=colour,
            linestyle="--",
            marker="o",
            markersize=3,
            markerfacecolor="white",  # hollow: a lone day's p95 shows, apart from its p50
            clip_on=False,
            alpha=0.7,
            label="_nolegend_",  # the same colour: one legend entry per label set
        )
    axes.set_ylabel(f"{unit} (solid p50, dashed p95)", fontsize=8)
    axes.set_ylim(0, max(top / scale, 1e-9) * 1.3)  # headroom: the legend sits above the lines
    axes.legend(fontsize=7, frameon=False, loc="upper left", ncol=2)
    return figure


FLEET_COLOURS = ("#1f6feb", "#2da44e", "#8c959f")


def fleet_chart(points: Sequence[FleetPoint], window: Window, title: str = "Runners") -> bytes:
    """Runners busy, idle online and offline over ``window``, stacked; PNG bytes.
    Samples outside the window are left out."""
    return _png(fleet_figure(points, window, title))


def fleet_figure(points: Sequence[FleetPoint], window: Window, title: str = "Runners") -> Figure:
    import matplotlib.dates as mdates

    figure, axes = _figure(title, window)
    points = sorted((p for p in points if window[0] <= p.at <= window[1]), key=lambda p: p.at)
    if not points:
        _empty(axes, "No samples yet: the watch records them")
        return figure
    times = mdates.date2num([p.at for p in points])
    layers = (
        [p.busy for p in points],
        [max(0, p.online - p.busy) for p in points],
        [p.offline for p in points],
    )
    axes.stackplot(
        times, *layers, labels=["busy", "idle", "offline"], colors=FLEET_COLOURS, alpha=0.9
    )
    # Each layer's top edge as a line: an area of one sample has no width, and a line
    # with markers still shows it (markers only while samples are few enough to read).
    marker = "o" if len(points) < SPARSE else None
    top = [0] * len(points)
    for colour, layer in zip(FLEET_COLOURS, layers, strict=True):
        top = [a + b for a, b in zip(top, layer, strict=True)]
        axes.plot(times, top, color=colour, linewidth=1, marker=marker, markersize=3, clip_on=False)
    highest = max(p.online + p.offline for p in points)  # online counts the busy too
    axes.set_ylim(0, max(highest, 1) * 1.25)  # headroom: the legend sits above the areas
    axes.legend(fontsize=7, frameon=False, loc="upper left", ncol=3)
    return figure


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


# The figures of a chart as text: shown under the image (or instead of it when there is
# none), so a screen reader, a notification or a failed upload still tells the numbers.


def _short(seconds: float) -> str:
    """A duration in one unit, as compact as a chart's caption needs: 45s, 2.5m, 12m, 3h
    (a tenth under ten of the unit, so 150 s does not read as 2 minutes)."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    value, unit = (seconds / 60, "m") if seconds < 7200 else (seconds / 3600, "h")
    if value < 10:
        return f"{value:.1f}".removesuffix(".0") + unit
    return f"{value:.0f}{unit}"


def _day(day: date) -> str:
    return day.strftime("%a %d")


def queue_figures(points: Sequence[QueuePoint], window: Window) -> str:
    """p50/p95 per day of each label set the chart draws, one line per label set."""
    series = _queue_series(points, window)
    if not series:
        return "Queue time: no jobs in this period."
    lines = ["Queue time p50/p95 per day (UTC):"]
    for labels, days in series.items():
        figures = " · ".join(f"{_day(p.day)} {_short(p.p50)}/{_short(p.p95)}" for p in days)
        lines.append(f"`{labels[:40]}` {figures}")
    return "\n".join(lines)


def fleet_figures(points: Sequence[FleetPoint], window: Window) -> str:
    """Per day, the runners busy/idle/offline at that day's last sample."""
    last: dict[date, FleetPoint] = {}
    for point in sorted((p for p in points if window[0] <= p.at <= window[1]), key=lambda p: p.at):
        last[point.at.astimezone(UTC).date()] = point
    if not last:
        return "Runners: no samples yet (the watch records them)."
    figures = " · ".join(
        f"{_day(day)} {p.busy}/{max(0, p.online - p.busy)}/{p.offline}" for day, p in last.items()
    )
    return f"Runners busy/idle/offline at each day's last sample (UTC): {figures}"


# -- Slack's native chart block (``data_visualization``): the same figures, drawn by Slack --

NATIVE_TITLE = 50  # characters in a data_visualization block's title
NATIVE_LABEL = 20  # characters in a category or series name
NATIVE_CATEGORIES = 20


def _window_days(window: Window) -> list[date]:
    """The UTC days the window touches, oldest first (the last NATIVE_CATEGORIES)."""
    first, last = window[0].astimezone(UTC).date(), window[1].astimezone(UTC).date()
    days = [first + timedelta(days=d) for d in range((last - first).days + 1)]
    return days[-NATIVE_CATEGORIES:]


def _series_names(names: Sequence[str]) -> list[str]:
    """Names cut to Slack's 20 characters and kept apart ("…2") where the cut joins two."""
    out: list[str] = []
    for name in names:
        short = name if len(name) <= NATIVE_LABEL else name[: NATIVE_LABEL - 1] + "…"
        n = 2
        while short in out:
            tail = f"…{n}"
            short = name[: NATIVE_LABEL - len(tail)] + tail
            n += 1
        out.append(short)
    return out


def _native(
    title: str,
    kind: str,
    categories: list[str],
    series: dict[str, list[float]],
    x_label: str,
    y_label: str,
) -> dict[str, object]:
    names = _series_names(list(series))
    return {
        "type": "data_visualization",
        "title": title if len(title) <= NATIVE_TITLE else title[: NATIVE_TITLE - 1] + "…",
        "chart": {
            "type": kind,
            "series": [
                {
                    "name": name,
                    "data": [
                        {"label": c, "value": v} for c, v in zip(categories, values, strict=True)
                    ],
                }
                for name, values in zip(names, series.values(), strict=True)
            ],
            "axis_config": {"categories": categories, "x_label": x_label, "y_label": y_label},
        },
    }


def queue_native(
    points: Sequence[QueuePoint], window: Window, title: str
) -> dict[str, object] | None:
    """p95 queue time per day of each label set the PNG would draw, as Slack's own bar
    chart (minutes; a day without jobs is 0: every series needs a value per day). None
    when there is nothing to draw: the figures say so."""
    drawn = _queue_series(points, window)
    if not drawn:
        return None
    days = _window_days(window)
    series = {
        labels: [round(p95.get(day, 0.0) / 60, 1) for day in days]
        for labels, p95 in ((k, {p.day: p.p95 for p in v}) for k, v in drawn.items())
    }
    return _native(title, "bar", [_day(d) for d in days], series, "Day (UTC)", "p95 queue, minutes")


def fleet_native(
    points: Sequence[FleetPoint], window: Window, title: str
) -> dict[str, object] | None:
    """Runners busy, idle and offline at each day's last sample, as Slack's own line
    chart over the days that have one; None without samples."""
    last: dict[date, FleetPoint] = {}
    for point in sorted((p for p in points if window[0] <= p.at <= window[1]), key=lambda p: p.at):
        last[point.at.astimezone(UTC).date()] = point
    if not last:
        return None
    days = sorted(last)[-NATIVE_CATEGORIES:]
    series: dict[str, list[float]] = {
        "busy": [float(last[d].busy) for d in days],
        "idle": [float(max(0, last[d].online - last[d].busy)) for d in days],
        "offline": [float(last[d].offline) for d in days],
    }
    return _native(title, "line", [_day(d) for d in days], series, "Day (UTC)", "runners")
