"""``versions``: runners per runner version, the newest GitHub offers, and when GitHub stops
registering each older version and stops giving it jobs.

Each older version's dates are asked of GitHub at most once a day (stored, shared by every
process). GitHub Enterprise Server has no such endpoint: there older versions are only
said to be older than the server offers, and nothing is asked.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bot import errors
from bot.config import is_ghes
from bot.dispatch import Invocation, Router, TargetArgs, Verb, parse_target_only
from bot.github.versions import Deprecation, VersionService, count_versions, older_versions
from bot.slack.blocks import Reply
from bot.slack.views.versions import VersionsView, versions_reply
from bot.store.database import StoreUnavailable
from bot.store.versions import VersionDates
from bot.targets import Target

log = logging.getLogger(__name__)
router = Router()
# Versions whose dates are asked of GitHub at once.
ASK_CONCURRENCY = 4


def _why(exc: errors.RunnerOpsError) -> str:
    detail = getattr(exc, "detail", "")
    return detail if isinstance(detail, str) and detail else type(exc).__name__


async def _newest(service: VersionService, target: Target) -> tuple[str | None, str | None]:
    """The newest version offered, or None and why it is not known."""
    try:
        return await service.newest(target), None
    except errors.RunnerOpsError as exc:
        return None, f"the downloads could not be read: {_why(exc)}"


def stored(found: Deprecation, now: datetime) -> VersionDates:
    return VersionDates(
        found.version,
        found.registration_deprecates_at,
        found.runtime_deprecates_at,
        found.published,
        now,
    )


async def version_dates(
    inv: Invocation[TargetArgs], service: VersionService, versions: list[str]
) -> tuple[dict[str, VersionDates], dict[str, str]]:
    """Each version's dates: from the store when asked less than a day ago, else from
    GitHub (then stored). A version GitHub fails on is named with why; the others go on."""
    store, target = inv.services.store.versions, inv.command.target
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
    now = datetime.fromtimestamp(inv.services.clock(), UTC)
    fetched: list[VersionDates] = []
    failed: dict[str, str] = {}
    for version, answer in zip(missing, answers, strict=True):
        if isinstance(answer, errors.RunnerOpsError):
            failed[version] = _why(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            fetched.append(stored(answer, now))
    try:
        await store.put(fetched)
    except StoreUnavailable:
        log.warning("runner version dates not stored: asked of GitHub again next time")
    return {**known, **{d.version: d for d in fetched}}, failed


async def versions(inv: Invocation[TargetArgs]) -> Reply:
    services, target = inv.services, inv.command.target
    service = VersionService(services.runners)
    listed, (newest, downloads_failed) = await asyncio.gather(
        services.runners.list_runners(target), _newest(service, target)
    )
    counts = count_versions(listed.runners)
    older = older_versions(counts, newest)
    ghes = is_ghes(services.settings.github_api_url)
    dates, failed = ({}, {}) if ghes or not older else await version_dates(inv, service, older)
    view = VersionsView(
        target=target,
        counts=counts,
        newest=newest,
        now=services.clock(),
        ghes=ghes,
        dates=dates,
        failed=failed,
        downloads_failed=downloads_failed,
        incomplete=not listed.complete,
    )
    return versions_reply(view)


router.add(
    Verb(
        "versions",
        "versions TARGET",
        "runners per runner version, the newest offered, and when GitHub stops older ones",
        "read",
        parse_target_only,
        versions,
    )
)
