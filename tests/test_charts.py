"""Charts draw from data to PNG; their URLs are signed and expire."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl

import matplotlib.dates as mdates
import pytest
from matplotlib.figure import Figure

from bot.slack.charts import (
    FleetPoint,
    QueuePoint,
    chart_key,
    fleet_chart,
    fleet_figure,
    fleet_figures,
    queue_figures,
    queue_time_chart,
    queue_time_figure,
    signed_url,
    verify,
)

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    return struct.unpack(">II", png[16:24])


NOW = datetime(2026, 11, 29, 21, 49, tzinfo=UTC)  # a Sunday evening
WINDOW = (NOW - timedelta(days=7), NOW)
DOCKER = "docker,linux,self-hosted"


def xlim_is_window(figure: Figure) -> bool:
    axes = figure.axes[0]
    return tuple(axes.get_xlim()) == tuple(mdates.date2num(WINDOW))


def day_labels(figure: Figure) -> list[str]:
    """The x tick labels, as drawn (a canvas draw formats them)."""
    figure.canvas.draw()
    return [t.get_text() for t in figure.axes[0].get_xticklabels()]


def drawn(figure: Figure) -> list[tuple[list[float], list[float]]]:
    """Each line's points; every one must lie on the axis (x in the window)."""
    low, high = figure.axes[0].get_xlim()
    out = []
    for line in figure.axes[0].get_lines():
        xs, ys = (list(map(float, v)) for v in line.get_data())
        assert all(low <= x <= high for x in xs)
        out.append((xs, ys))
    return out


WEEK_LABELS = ["Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27", "Sat 28", "Sun 29"]


def test_queue_time_chart_draws_each_label_set() -> None:
    points = [
        QueuePoint(date(2026, 11, 22) + timedelta(days=d), labels, 60.0 * d, 300.0 * d)
        for d in range(8)
        for labels in ("gpu,linux,self-hosted", DOCKER)
    ]
    one = queue_time_chart(points[::2], WINDOW)
    two = queue_time_chart(points, WINDOW)
    assert size(two) == (792, 330)
    assert one != two  # the second label set is drawn
    figure = queue_time_figure(points, WINDOW)
    assert xlim_is_window(figure)
    assert day_labels(figure) == WEEK_LABELS  # one label a day, each under its day
    lines = drawn(figure)
    assert len(lines) == 4  # p50 and p95 of each label set
    assert all(len(xs) == 8 for xs, _ in lines)  # the cut first day's point too


def test_one_day_of_jobs_keeps_the_week_axis_and_draws_p95() -> None:
    """A fresh deployment: one day of jobs. The axis is still the week (not two months
    around one date), and a lone day's p50 and p95 both show as markers."""
    before = QueuePoint(date(2026, 11, 20), DOCKER, 1.0, 2.0)  # outside the window: left out
    figure = queue_time_figure([before, QueuePoint(date(2026, 11, 29), DOCKER, 30.0, 90.0)], WINDOW)
    assert xlim_is_window(figure)
    assert day_labels(figure) == WEEK_LABELS
    (p50_x, p50_y), (p95_x, p95_y) = drawn(figure)
    assert (p50_y, p95_y) == ([30.0], [90.0])
    assert p50_x == p95_x and len(p50_x) == 1  # inside the window: on the last day
    assert all(line.get_marker() == "o" for line in figure.axes[0].get_lines())
    assert size(queue_time_chart([QueuePoint(date(2026, 11, 29), DOCKER, 30.0, 90.0)], WINDOW))


def test_fleet_chart_draws_samples() -> None:
    start = datetime(2026, 11, 22, 22, tzinfo=UTC)
    points = [FleetPoint(start + timedelta(hours=h), 40, h % 30, 5) for h in range(0, 168, 2)]
    assert size(fleet_chart(points, WINDOW)) == (792, 330)
    assert fleet_chart(points, WINDOW) != fleet_chart(points[:10], WINDOW)
    figure = fleet_figure(points, WINDOW)
    assert xlim_is_window(figure)
    assert day_labels(figure) == WEEK_LABELS
    tops = [ys for _, ys in drawn(figure)]  # busy, busy+idle, busy+idle+offline
    assert tops[2] == [45.0] * len(points)
    assert figure.axes[0].get_lines()[0].get_marker() in (None, "None", "")  # many: no markers


def test_one_fleet_sample_shows() -> None:
    """A stacked area of one sample has no width: its edges are drawn as marked lines."""
    figure = fleet_figure([FleetPoint(NOW - timedelta(minutes=5), 3, 1, 2)], WINDOW)
    assert xlim_is_window(figure)
    assert [ys for _, ys in drawn(figure)] == [[1.0], [3.0], [5.0]]
    assert all(line.get_marker() == "o" for line in figure.axes[0].get_lines())


def test_thirty_seconds_of_samples_keep_the_week_axis() -> None:
    """Samples 5 s apart over 30 s: the axis is the week, one label a day (not eight
    ticks all on one day)."""
    samples = [FleetPoint(NOW - timedelta(seconds=s), 4, 2, 0) for s in range(0, 31, 5)]
    figure = fleet_figure(samples, WINDOW)
    assert xlim_is_window(figure)
    assert day_labels(figure) == WEEK_LABELS
    assert size(fleet_chart(samples, WINDOW)) == (792, 330)


def test_empty_charts_keep_the_axis() -> None:
    for figure in (queue_time_figure([], WINDOW), fleet_figure([], WINDOW)):
        assert xlim_is_window(figure)
        assert day_labels(figure) == WEEK_LABELS
        assert not figure.axes[0].get_lines()
    assert size(queue_time_chart([], WINDOW)) == (792, 330)
    assert size(fleet_chart([], WINDOW)) == (792, 330)


def test_a_window_must_be_aware_and_ordered() -> None:
    with pytest.raises(ValueError):
        fleet_chart([], (NOW, NOW - timedelta(days=7)))
    with pytest.raises(ValueError):
        fleet_chart([], (datetime(2026, 11, 22), datetime(2026, 11, 29)))


def test_chart_urls_are_signed_and_expire() -> None:
    key = chart_key("slsec-signing-secret")
    url = signed_url("https://runnerops.example.com/", "/charts/queue.png", "acme/api", key, 2000)
    query = dict(parse_qsl(url.split("?")[1]))
    assert url.startswith("https://runnerops.example.com/charts/queue.png?target=acme%2Fapi")
    path, sig, exp = "/charts/queue.png", query["sig"], query["exp"]
    assert verify(path, "acme/api", exp, sig, key, now=1999)
    assert not verify(path, "acme/api", exp, sig, key, now=2001)  # expired
    assert not verify(path, "globex", exp, sig, key, now=1)  # another target
    assert not verify("/charts/fleet.png", "acme/api", exp, sig, key, now=1)  # another chart
    assert not verify(path, "acme/api", "9999", sig, key, now=1)  # a longer life
    assert not verify(path, "acme/api", "x", sig, key, now=1)
    assert not verify(path, "acme/api", exp, sig, chart_key("other secret"), now=1)


def test_the_figures_are_said_in_text() -> None:
    """What the charts draw, as text: p50/p95 per day per label set (days out of the
    window left out, as on the chart), and runners at each day's last sample."""
    points = [
        QueuePoint(date(2026, 11, 20), DOCKER, 1, 2),  # before the window: not drawn
        QueuePoint(date(2026, 11, 27), DOCKER, 45, 150),
        QueuePoint(date(2026, 11, 28), DOCKER, 300, 9000),
        QueuePoint(date(2026, 11, 28), "gpu", 12.4, 30),
    ]
    assert queue_figures(points, WINDOW) == (
        "Queue time p50/p95 per day (UTC):\n"
        f"`{DOCKER}` Fri 27 45s/2.5m · Sat 28 5m/2.5h\n"
        "`gpu` Sat 28 12s/30s"
    )
    assert queue_figures([], WINDOW) == "Queue time: no jobs in this period."
    samples = [
        FleetPoint(NOW - timedelta(days=1, hours=2), 5, 2, 1),
        FleetPoint(NOW - timedelta(days=1, hours=1), 4, 4, 0),  # Saturday's last
        FleetPoint(NOW - timedelta(minutes=5), 3, 1, 2),
        FleetPoint(NOW + timedelta(minutes=5), 9, 9, 9),  # after the window: not drawn
    ]
    assert fleet_figures(samples, WINDOW) == (
        "Runners busy/idle/offline at each day's last sample (UTC): Sat 28 4/0/0 · Sun 29 1/2/2"
    )
    assert fleet_figures([], WINDOW).startswith("Runners: no samples yet")
