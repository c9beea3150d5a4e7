"""The digest's pure core (bot/watch/digest.py) and its view, table-tested on small
inputs whose right answer is known by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.slack.views.digest import digest_message
from bot.watch.capacity import Advice, Capacity
from bot.watch.digest import (
    AlertRow,
    Facts,
    NearEnd,
    Trend,
    digest,
    due,
    last_day,
    near_end,
    parse_hhmm,
    parse_zone,
    reasons,
    short,
    windows,
)
from bot.watch.stats import QueueStats

NY = parse_zone("America/New_York")
M = timedelta(minutes=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "at", "claimed", "expected"),
    [
        ("2027-01-15 08:59", "09:00", "2027-01-14", None),  # not yet
        ("2027-01-15 09:00", "09:00", "2027-01-14", "2027-01-15"),  # on the minute
        ("2027-01-15 09:00", "09:00", "2027-01-15", None),  # claimed
        ("2027-01-15 08:00", "09:00", "2027-01-10", "2027-01-14"),  # down: the latest day
        ("2027-01-15 08:00", "09:00", None, "2027-01-14"),
        ("2027-01-15 00:00", "00:00", "2027-01-14", "2027-01-15"),
        ("2027-01-15 23:59", "23:59", "2027-01-14", "2027-01-15"),
    ],
)
def test_due_in_utc(now: str, at: str, claimed: str | None, expected: str | None) -> None:
    day = due(utc(now), parse_hhmm(at), parse_zone("UTC"), claimed)
    assert (day.isoformat() if day else None) == expected


@pytest.mark.parametrize(
    ("now", "at", "expected"),
    [
        # Spring forward, 14 March 2027: 02:30 does not exist; read as 03:30 EDT.
        ("2027-03-14 07:29", "02:30", "2027-03-13"),
        ("2027-03-14 07:30", "02:30", "2027-03-14"),
        ("2027-03-15 06:30", "02:30", "2027-03-15"),  # 02:30 EDT, 23 hours later
        # Fall back, 7 November 2027: 01:30 happens twice; the first (EDT).
        ("2027-11-07 05:29", "01:30", "2027-11-06"),
        ("2027-11-07 05:30", "01:30", "2027-11-07"),
        ("2027-11-07 06:30", "01:30", "2027-11-07"),
        # An ordinary time: the local day, not the UTC one (19:00 EST is 00:00 UTC).
        ("2027-01-16 00:30", "19:00", "2027-01-15"),
    ],
)
def test_last_day_in_new_york(now: str, at: str, expected: str) -> None:
    assert last_day(utc(now), parse_hhmm(at), NY).isoformat() == expected


def test_windows_are_local_days_of_23_or_25_hours_across_dst() -> None:
    spring = windows(date(2027, 3, 15), time(9), NY)
    assert (spring.start, spring.end) == (utc("2027-03-14 13:00"), utc("2027-03-15 13:00"))
    across = windows(date(2027, 3, 14), time(9), NY)
    assert across.end - across.start == timedelta(hours=23)
    assert across.previous_start == utc("2027-03-12 14:00")
    assert across.week_start == utc("2027-03-06 14:00")
    autumn = windows(date(2027, 11, 7), time(9), NY)
    assert autumn.end - autumn.start == timedelta(hours=25)


ARABIC_NINE = "\u0660\u0669:\u0660\u0660"  # digits a bare \d would accept


@pytest.mark.parametrize("text", ["24:00", "9:00", "09:0", "0900", "09:00:00", "", ARABIC_NINE])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match="not a time of day"):
        parse_hhmm(text)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Mars/Olympus", None),
        ("europe/paris", "Europe/Paris"),
        ("/etc/localtime", None),
        ("../zoneinfo/UTC", None),
        ("America", None),  # a directory
        ("x" * 500, None),
    ],
)
def test_bad_zones(name: str, hint: str | None) -> None:
    with pytest.raises(ValueError, match="not an IANA time zone") as raised:
        parse_zone(name)
    assert (f"did you mean `{hint}`" in str(raised.value)) == (hint is not None)


def qs(labels: tuple[str, ...], count: int, p50: int | None, p95: int | None) -> QueueStats:
    """Minutes; None for no started job."""
    return QueueStats(
        labels=labels,
        count=count,
        p50=p50 * M if p50 is not None else None,
        p95=p95 * M if p95 is not None else None,
        max=None,
        over=0,
        share_over=0.0,
        unstarted=1 if count == 0 else 0,
    )


A, B, C = ("self-hosted", "a"), ("self-hosted", "b"), ("self-hosted", "c")


def facts(**given: object) -> Facts:
    base: dict[str, object] = {
        "target": "acme",
        "day": date(2027, 1, 20),
        "span": windows(date(2027, 1, 20), time(9), parse_zone("UTC")),
        "zone": "UTC",
        "today": {},
        "day_before": {},
        "week": {},
        "alerts": [],
        "offline": [],
        "versions": None,
        "capacity": None,
    }
    return Facts(**(base | given))  # type: ignore[arg-type]


def test_queue_lines_worst_first_with_their_trends() -> None:
    d = digest(
        facts(
            today={A: qs(A, 4, 2, 3), B: qs(B, 2, 5, 9), C: qs(C, 0, None, None)},
            day_before={A: qs(A, 1, 1, 3), B: qs(B, 3, 6, 6)},
            week={A: qs(A, 9, 2, 8)},
        )
    )
    assert [line.labels for line in d.lines] == [B, A, C]  # p95 9m, 3m, none
    assert (d.jobs, d.waiting) == (6, 1)
    b, a, c = d.lines
    assert b.trends == (Trend.DOWN, Trend.NONE, Trend.UP, Trend.NONE)
    assert a.trends == (Trend.UP, Trend.SAME, Trend.SAME, Trend.DOWN)
    assert c.trends == (Trend.NONE,) * 4


def test_the_lines_are_capped_and_the_rest_counted() -> None:
    today = {(f"l{i:02}",): qs((f"l{i:02}",), 1, i, i) for i in range(13)}
    d = digest(facts(today=today))
    assert [line.labels[0] for line in d.lines] == [f"l{i:02}" for i in range(12, 2, -1)]
    assert d.more == 3
    shown = digest_message(d)
    text = str([b.to_dict() for b in shown.blocks])
    assert "…and 3 more label sets" in text
    assert "`l12`" in text and "`l02`" not in text
    assert len(shown.blocks) <= 6


def test_reasons_count_the_jobs_of_stuck_alerts_opened_in_the_day() -> None:
    rows = [
        AlertRow("stuck", "all_busy", 3, opened=True, resolved=True),
        AlertRow("stuck", "all_busy", 2, opened=True, resolved=False),
        AlertRow("stuck", "all_offline", 4, opened=True, resolved=False),
        AlertRow("stuck", "no_matching_labels", 9, opened=False, resolved=True),  # older
        AlertRow("offline", "", 1, opened=True, resolved=False),
    ]
    assert reasons(rows) == [("all_busy", 5), ("all_offline", 4)]
    d = digest(facts(alerts=rows))
    assert (d.opened, d.resolved) == (4, 2)
    said = str([b.to_dict() for b in digest_message(d).blocks])
    assert "4 opened, 2 resolved" in said
    assert "runners busy 5, runners offline 4" in said


def test_versions_near_their_end() -> None:
    now = utc("2027-01-20 09:00")
    stops = {"2.300.0": utc("2027-01-10"), "2.310.0": utc("2027-02-03"), "2.320.0": None}
    stops["2.311.0"] = utc("2027-02-04")  # 15 days: not yet
    counts = {"2.300.0": 2, "2.310.0": 5, "2.311.0": 1, "2.320.0": 7, "2.321.0": 3}
    assert near_end(counts, stops, now) == [
        NearEnd("2.300.0", 2, utc("2027-01-10")),  # past its end
        NearEnd("2.310.0", 5, utc("2027-02-03")),  # 14 days
    ]
    # A watch's --version-warn 3d: only what ends within 3 days (or has ended).
    assert near_end(counts, stops, now, timedelta(days=3)) == [
        NearEnd("2.300.0", 2, utc("2027-01-10"))
    ]


def test_short_label_sets_from_the_capacity_advice() -> None:
    advice = {
        A: Advice(A, jobs=9, peak=4, runners=2, saturation=1.0, suggested=4),
        B: Advice(B, jobs=9, peak=2, runners=2, saturation=0.5, suggested=2),  # enough
        C: Advice(C, jobs=9, peak=3, runners=1, saturation=1.0, suggested=2),
    }
    found = short(Capacity(advice, 27))
    assert [(s.labels, s.runners, s.suggested) for s in found] == [(A, 2, 4), (C, 1, 2)]
    assert short(None) == []
    d = digest(facts(capacity=None))
    assert "Capacity advice was not computed in time" in str(digest_message(d).blocks[-1].to_dict())
