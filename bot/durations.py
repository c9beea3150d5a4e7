"""Durations typed by people (``90s``, ``5m``, ``2h``, ``7d``) and shown back to them.

Shared by every verb that takes a time (the watch's ``after``, later others), so that one
grammar and one set of error messages hold everywhere. Errors are :class:`ValueError`
whose text is safe to show a user as it is: it quotes at most a short prefix of what was
typed and says what would have been accepted.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""Seconds per unit; the only units accepted (``M`` could be months, so case matters)."""

MAX_DURATION = timedelta(days=400)
"""Longer than any GitHub retention or queue limit: a larger value is a typo."""

_SHAPE = re.compile(r"([0-9]+)([a-zA-Z]*)", re.ASCII)
_HINT = "use a number and s, m, h or d, like 90s, 5m, 2h, 7d"
_QUOTE_MAX = 20
_DIGITS_MAX = 9


def _quoted(text: str) -> str:
    # The text comes from a user: quote a short prefix, never a whole paste.
    text = text.replace("`", "'")  # a backtick would end the quote early
    shown = text if len(text) <= _QUOTE_MAX else text[:_QUOTE_MAX] + "…"
    return f"`{shown}`"


def parse_duration(text: str) -> timedelta:
    """Read ``<whole number><s|m|h|d>``, e.g. ``90s``; :class:`ValueError` otherwise.

    Outer whitespace is ignored (Slack pads arguments); whitespace inside, signs, fractions,
    zero, other units and anything over :data:`MAX_DURATION` are refused.
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration is text: {_HINT}")
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"a duration is missing: {_HINT}")
    match = _SHAPE.fullmatch(stripped)
    if match is None:
        if any(ch.isspace() for ch in stripped):
            raise ValueError(f"{_quoted(stripped)} has a space inside: {_HINT}")
        if stripped.startswith("-"):
            raise ValueError(f"{_quoted(stripped)} is negative: {_HINT}")
        raise ValueError(f"{_quoted(stripped)} is not a duration: {_HINT}")
    number, unit = match.groups()
    if unit not in UNITS:
        if unit == "":
            raise ValueError(f"{_quoted(stripped)} has no unit: {_HINT}")
        raise ValueError(f"{_quoted(stripped)} is not a duration: {_HINT}")
    too_long = f"{_quoted(stripped)} is too long: at most {format_duration(MAX_DURATION)}"
    if len(number.lstrip("0")) > _DIGITS_MAX:  # before int(): no huge numbers built
        raise ValueError(too_long)
    seconds = int(number) * UNITS[unit]
    if seconds == 0:
        raise ValueError(f"{_quoted(stripped)} is zero: a duration must be at least 1s")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(too_long)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The two largest non-zero units, truncated: ``45s``, ``7m 12s``, ``2h 5m``, ``3d 4h``.

    Truncated rather than rounded so a wait never reads longer than it was; a negative
    value (clocks disagree) reads ``0s``.
    """
    total = int(value.total_seconds())
    if total <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        count, total = divmod(total, size)
        if count and not parts:
            parts.append(f"{count}{unit}")
        elif parts:
            if count:
                parts.append(f"{count}{unit}")
            break
    return " ".join(parts)
