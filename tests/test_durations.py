"""parse_duration / format_duration: the one duration grammar every verb shares."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.durations import MAX_DURATION, format_duration, parse_duration

HINT = "use a number and s, m, h or d, like 90s, 5m, 2h, 7d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("5m", timedelta(minutes=5), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("7d", timedelta(days=7), id="days"),
        pytest.param("1s", timedelta(seconds=1), id="smallest"),
        pytest.param("400d", MAX_DURATION, id="cap-inclusive"),
        pytest.param("9600h", MAX_DURATION, id="cap-in-hours"),
        pytest.param("  5m\t", timedelta(minutes=5), id="outer-whitespace"),
        pytest.param("007m", timedelta(minutes=7), id="leading-zeros"),
    ],
)
def test_parse_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("5x", f"`5x` is not a duration: {HINT}", id="unknown-unit"),
        pytest.param("5M", f"`5M` is not a duration: {HINT}", id="upper-case-unit"),
        pytest.param("5ms", f"`5ms` is not a duration: {HINT}", id="two-letter-unit"),
        pytest.param("5 m", f"`5 m` has a space inside: {HINT}", id="space-inside"),
        pytest.param("-5m", f"`-5m` is negative: {HINT}", id="negative"),
        pytest.param("+5m", f"`+5m` is not a duration: {HINT}", id="plus-sign"),
        pytest.param("1.5h", f"`1.5h` is not a duration: {HINT}", id="fraction"),
        pytest.param("0m", "`0m` is zero: a duration must be at least 1s", id="zero"),
        pytest.param("00s", "`00s` is zero: a duration must be at least 1s", id="zeros"),
        pytest.param("401d", "`401d` is too long: at most 400d", id="over-cap"),
        pytest.param("34560001s", "`34560001s` is too long: at most 400d", id="one-second-over"),
        pytest.param("5", f"`5` has no unit: {HINT}", id="no-unit"),
        pytest.param("m", f"`m` is not a duration: {HINT}", id="no-number"),
        pytest.param("", f"a duration is missing: {HINT}", id="empty"),
        pytest.param("   ", f"a duration is missing: {HINT}", id="blank"),
        pytest.param("\u0663m", f"`\u0663m` is not a duration: {HINT}", id="non-ascii-digit"),
        pytest.param("5`m", f"`5'm` is not a duration: {HINT}", id="backtick-neutralised"),
        pytest.param(
            "9" * 5000 + "s",
            "`" + "9" * 20 + "…` is too long: at most 400d",
            id="huge-number-quoted-short",
        ),
    ],
)
def test_parse_refuses_with_a_message_for_people(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_parse_refuses_non_text() -> None:
    with pytest.raises(ValueError, match="a duration is text"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(timedelta(seconds=45), "45s", id="seconds-only"),
        pytest.param(timedelta(minutes=7, seconds=12), "7m 12s", id="minutes-seconds"),
        pytest.param(timedelta(hours=2, minutes=5, seconds=59), "2h 5m", id="hours-truncated"),
        pytest.param(timedelta(days=3, hours=4, minutes=1), "3d 4h", id="days-hours"),
        pytest.param(timedelta(hours=2), "2h", id="whole-hours"),
        pytest.param(timedelta(days=1, minutes=5), "1d", id="zero-second-unit-dropped"),
        pytest.param(timedelta(minutes=1), "1m", id="one-minute"),
        pytest.param(timedelta(seconds=59, milliseconds=999), "59s", id="never-rounded-up"),
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(milliseconds=400), "0s", id="sub-second"),
        pytest.param(timedelta(seconds=-3), "0s", id="negative-clock-skew"),
        pytest.param(MAX_DURATION, "400d", id="cap"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize("text", ["45s", "5m", "2h", "7d", "400d"])
def test_format_reads_back_whole_units(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
