"""GitHub's timestamps, read alike by the GitHub layer and the watch's pure core."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """GitHub's timestamps: ISO 8601, ``Z`` or an offset; naive ones are UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
