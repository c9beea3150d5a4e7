"""``versions``: runners per runner version, the newest GitHub offers, and when GitHub stops
registering each older version and stops giving it jobs.

Each older version's dates are asked of GitHub at most once a day (stored, shared by every
process). GitHub Enterprise Server has no such endpoint: there older versions are only
said to be older than the server offers, and nothing is asked.
"""

from __future__ import annotations

import asyncio

from bot import errors
from bot.config import is_ghes
from bot.dispatch import Invocation, Router, TargetArgs, Verb, parse_target_only
from bot.github.versions import VersionService, count_versions, older_versions
from bot.slack.blocks import Reply
from bot.slack.views.versions import VersionsView, versions_reply
from bot.sweep.versions import version_dates, why
from bot.targets import Target

router = Router()


async def _newest(service: VersionService, target: Target) -> tuple[str | None, str | None]:
    """The newest version offered, or None and why it is not known."""
    try:
        return await service.newest(target), None
    except errors.RunnerOpsError as exc:
        return None, f"the downloads could not be read: {why(exc)}"


async def versions(inv: Invocation[TargetArgs]) -> Reply:
    services, target = inv.services, inv.command.target
    service = VersionService(services.runners)
    listed, (newest, downloads_failed) = await asyncio.gather(
        services.runners.list_runners(target), _newest(service, target)
    )
    counts = count_versions(listed.runners)
    older = older_versions(counts, newest)
    ghes = is_ghes(services.settings.github_api_url)
    dates, failed = ({}, {}) if ghes or not older else await version_dates(services, target, older)
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
