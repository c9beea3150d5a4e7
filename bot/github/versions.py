"""Runner versions: the newest GitHub offers, which are older, and when GitHub stops them.

The pure part (comparing ``2.321.0`` with ``2.330.0`` by number, grouping runners by
version, days left) is apart from :class:`VersionService`, the two calls to GitHub: the
downloads (the newest version offered) and ``GET …/actions/runners/deprecations/{version}``
(github.com and GHEC only; GitHub Enterprise Server has no such endpoint).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import errors
from bot.github.models import Download, Runner
from bot.github.runners import RUNNERS, RunnerService
from bot.targets import Target
from bot.timestamps import time_or_none

DEPRECATIONS = RUNNERS + "/deprecations/{version}"
_VERSION = re.compile(r"v?([0-9]+(?:\.[0-9]+)*)", re.ASCII)
# The version in a download's file name: actions-runner-linux-x64-2.330.0.tar.gz
_RELEASE = re.compile(r"-([0-9]+(?:\.[0-9]+){1,3})\.(?:tar\.gz|zip)$", re.ASCII)
DAY = 86_400.0

# -- pure ------------------------------------------------------------------------------


def version_key(text: str | None) -> tuple[int, ...] | None:
    """``2.321.0`` -> ``(2, 321, 0)``, compared by number (``2.330.0`` is after
    ``2.321.0``, and after ``2.33.0``); None when it is not a version."""
    match = _VERSION.fullmatch(text.strip()) if text else None
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def is_older(version: str, newest: str | None) -> bool:
    """Whether ``version`` is before ``newest``; False when either cannot be read."""
    mine, top = version_key(version), version_key(newest)
    return mine is not None and top is not None and mine < top


def newest_offered(downloads: Iterable[Download]) -> str | None:
    """The highest version among the downloads' file names; None when none names one."""
    found = [m.group(1) for d in downloads if (m := _RELEASE.search(d.filename))]
    return max(found, key=lambda v: version_key(v) or (), default=None)


@dataclass(frozen=True, slots=True)
class VersionCount:
    """The runners on one version; ``version`` None: never connected, so none reported."""

    version: str | None
    runners: int
    online: int

    @property
    def offline(self) -> int:
        return self.runners - self.online


def count_versions(runners: Iterable[Runner]) -> list[VersionCount]:
    """Runners per version, newest first; the runners without a version last."""
    counts: dict[str | None, list[int]] = {}
    for runner in runners:
        version = runner.version.strip() if runner.version and runner.version.strip() else None
        tally = counts.setdefault(version, [0, 0])
        tally[0] += 1
        tally[1] += runner.online
    ordered = sorted(
        (v for v in counts if v is not None),
        key=lambda v: (version_key(v) or (), v),
        reverse=True,
    )
    rows = [VersionCount(v, *counts[v]) for v in ordered]
    if None in counts:
        rows.append(VersionCount(None, *counts[None]))
    return rows


def older_versions(counts: Sequence[VersionCount], newest: str | None) -> list[str]:
    """The versions in use that are before ``newest`` (those whose dates matter)."""
    return [c.version for c in counts if c.version is not None and is_older(c.version, newest)]


def days_until(moment: datetime, now: float) -> int:
    """Whole days from ``now`` to ``moment``: positive ahead (rounded up: "in 1 day" until
    the moment), zero or negative once past (``-3``: since 3 days)."""
    left = (moment.timestamp() - now) / DAY
    return math.ceil(left) if left > 0 else -math.floor(-left)


# -- GitHub ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A version's end-of-life dates as GitHub published them; ``published`` False: GitHub
    answered 404 (no dates for this version)."""

    version: str
    registration_deprecates_at: datetime | None = None
    runtime_deprecates_at: datetime | None = None
    published: bool = True


def deprecation_of(version: str, data: Any) -> Deprecation:
    """GitHub's answer read; a date missing, null or unreadable is None (no schedule)."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return Deprecation(
        version,
        time_or_none(data.get("registration_deprecates_at")),
        time_or_none(data.get("runtime_deprecates_at")),
    )


class VersionService:
    """The newest version a target is offered, and one version's published dates."""

    def __init__(self, runners: RunnerService) -> None:
        self.runners = runners

    async def newest(self, target: Target) -> str | None:
        return newest_offered(await self.runners.list_downloads(target))

    async def deprecation(self, target: Target, version: str) -> Deprecation:
        """One request. 404: no dates published for ``version`` (``published`` False).
        Other failures raise, as :mod:`bot.errors`."""
        try:
            data = await self.runners.github.call(target, "GET", DEPRECATIONS, {"version": version})
        except errors.NotFound:
            return Deprecation(version, published=False)
        try:
            return deprecation_of(version, data)
        except ValueError:
            raise errors.GitHubUnavailable(target, "unreadable version dates") from None
