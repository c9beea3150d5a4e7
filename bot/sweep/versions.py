"""Runner versions' end-of-life dates, asked of GitHub at most once a day per version and
stored (shared by every process: ``versions`` and the sweep read the same answers), and
the sweep's version alerts (decided by bot/watch/versions.py).

GitHub Enterprise Server has no deprecations endpoint: there nothing is asked, and no
version alert is raised (no dates to warn of).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import errors
from bot.config import is_ghes
from bot.github.versions import Deprecation, VersionService
from bot.store.database import StoreUnavailable
from bot.store.versions import VersionDates
from bot.store.watches import Watch
from bot.targets import Target
from bot.watch.alerts import Alert, AlertPlan
from bot.watch.models import RunnerInfo
from bot.watch.versions import Ends, plan_versions, runner_version

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
ASK_CONCURRENCY = 4  # versions whose dates are asked of GitHub at once
# The sweep asks again about a version GitHub failed on only after this (a command asks
# again at once: a person is waiting for it).
RETRY_AFTER = timedelta(hours=1)


def why(exc: errors.RunnerOpsError) -> str:
    detail = getattr(exc, "detail", "")
    return detail if isinstance(detail, str) and detail else type(exc).__name__


def stored(found: Deprecation, now: datetime) -> VersionDates:
    return VersionDates(
        found.version,
        found.registration_deprecates_at,
        found.runtime_deprecates_at,
        found.published,
        now,
    )


async def version_dates(
    services: Services, target: Target, versions: Sequence[str]
) -> tuple[dict[str, VersionDates], dict[str, str]]:
    """Each version's dates: from the store when asked less than a day ago, else from
    GitHub (then stored). A version GitHub fails on is named with why; the others go on."""
    store, service = services.store.versions, VersionService(services.runners)
    try:
        known = await store.fresh(versions)
    except StoreUnavailable:
        known = {}  # asked of GitHub instead
    slots = asyncio.Semaphore(ASK_CONCURRENCY)

    async def ask(version: str) -> Deprecation:
        async with slots:
            return await service.deprecation(target, version)

    missing = [v for v in versions if v not in known]
    answers = await asyncio.gather(*(ask(v) for v in missing), return_exceptions=True)
    now = datetime.fromtimestamp(services.clock(), UTC)
    fetched: list[VersionDates] = []
    failed: dict[str, str] = {}
    for version, answer in zip(missing, answers, strict=True):
        if isinstance(answer, errors.RunnerOpsError):
            failed[version] = why(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            fetched.append(stored(answer, now))
    try:
        await store.put(fetched)
    except StoreUnavailable:
        log.warning("runner version dates not stored: asked of GitHub again next time")
    return {**known, **{d.version: d for d in fetched}}, failed


class VersionAlerts:
    """The sweep's version alerts: the dates of the versions a watch's runners are on,
    then :func:`plan_versions`. Lives in the sweeping process (its retry waits)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.ghes = is_ghes(services.settings.github_api_url)
        self.failed: dict[str, datetime] = {}  # versions GitHub failed on, and when

    async def ends(self, target: Target, runners: Sequence[RunnerInfo], now: datetime) -> Ends:
        """Each version's ``runtime_deprecates_at`` as stored or asked now; a version
        GitHub failed on is left out (its alert stays as it is) until RETRY_AFTER."""
        if self.ghes:
            return {}
        versions = sorted({v for r in runners if (v := runner_version(r.version)) is not None})
        asked = [
            v for v in versions if (at := self.failed.get(v)) is None or now - at >= RETRY_AFTER
        ]
        dates, failed = await version_dates(self.services, target, asked)
        for version, reason in failed.items():
            self.failed[version] = now
            log.warning("dates of runner version %s not read for %s: %s", version, target, reason)
        for version in dates:
            self.failed.pop(version, None)
        return {v: d.runtime_deprecates_at for v, d in dates.items()}

    async def plan(
        self,
        watch: Watch,
        target: Target,
        runners: Sequence[RunnerInfo],
        mine: Sequence[Alert],
        now: datetime,
    ) -> AlertPlan:
        """``mine``: the watch's open version alerts."""
        return plan_versions(
            mine,
            target=watch.target,
            channel=watch.channel,
            runners=runners,
            ends=await self.ends(target, runners, now),
            now=now,
            warn=watch.version_warn,
        )
