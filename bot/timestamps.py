"""GitHub's timestamps, read alike by the GitHub layer and the watch's pure core."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """GitHub's timestamps: ISO 8601, ``Z`` or an offset; naive ones are UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def time_or_none(value: object) -> datetime | None:
    """A timestamp GitHub may leave out (``null``, empty) or a datetime already read; None
    for anything unreadable: one bad field never fails the record around it."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def stored_time(value: datetime | str) -> datetime:
    """A time as the store keeps it, in UTC: fixed-width ISO text on SQLite, an aware
    datetime from PostgreSQL (in the session's zone). Read alike by the store's column
    type and by whatever decodes raw rows without it (the capacity replay's worker)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
