"""Charts draw from data to PNG; their URLs are signed and expire."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl

from bot.slack.charts import (
    FleetPoint,
    QueuePoint,
    chart_key,
    fleet_chart,
    queue_time_chart,
    signed_url,
    verify,
)

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    return struct.unpack(">II", png[16:24])


def test_queue_time_chart_draws_each_label_set() -> None:
    points = [
        QueuePoint(date(2026, 11, 23) + timedelta(days=d), labels, 60.0 * d, 300.0 * d)
        for d in range(7)
        for labels in ("gpu,linux,self-hosted", "linux,self-hosted,x64")
    ]
    one = queue_time_chart(points[::2])
    two = queue_time_chart(points)
    assert size(two) == (792, 330)
    assert one != two  # the second label set is drawn
    assert queue_time_chart([]).startswith(PNG)  # an empty period still draws a chart


def test_fleet_chart_draws_samples() -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    points = [FleetPoint(start + timedelta(hours=h), 40, h % 30, 5) for h in range(0, 168, 2)]
    assert size(fleet_chart(points)) == (792, 330)
    assert fleet_chart(points) != fleet_chart(points[:10])
    assert fleet_chart([]).startswith(PNG)


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
