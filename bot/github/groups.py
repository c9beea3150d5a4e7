"""Changes to an organization's runner group that let a repository in: the fixes of a
``group_not_allowed`` alert (issue 20 §1), and the reads that re-check them at click time.

A repository is added to a group by its numeric id, which the stored job does not keep:
``GET /repos/{owner}/{repo}`` gives it (and says whether runnerops can see the repository
at all) right before the write. Each write is idempotent on GitHub's side (adding a
repository that is in already, allowing what is allowed), so a double click is harmless.
"""

from __future__ import annotations

from typing import Any

from bot import errors
from bot.github.client import GitHubClient
from bot.github.models import RunnerGroup, Unreadable
from bot.github.runners import GROUPS
from bot.targets import Scope, Target

GROUP = GROUPS + "/{runner_group_id}"
GROUP_REPOSITORIES = GROUP + "/repositories"
GROUP_REPOSITORY = GROUP_REPOSITORIES + "/{repository_id}"


class GroupService:
    def __init__(self, github: GitHubClient) -> None:
        self.github = github

    async def get_group(self, org: Target, group_id: int) -> RunnerGroup:
        """The group as it is now; :class:`errors.NotFound` when GitHub has no such group."""
        data = await self.github.call(org, "GET", GROUP, {"runner_group_id": group_id})
        try:
            return RunnerGroup.from_api(data)
        except Unreadable:
            raise errors.GitHubUnavailable(org, "an unreadable runner group") from None

    async def repository_names(self, org: Target, group_id: int) -> frozenset[str]:
        """The full names (lower-case) of the repositories a ``selected`` group admits."""
        listing = await self.github.listing(
            org, GROUP_REPOSITORIES, "repositories", {"runner_group_id": group_id}
        )
        if not listing.complete:
            raise errors.GitHubUnavailable(org, "an incomplete list of the group's repositories")
        return frozenset(_full_name(item) for item in listing.items) - {""}

    async def repository_id(self, repository: Target) -> int:
        """``owner/repo``'s numeric id; :class:`errors.NotFound` when runnerops cannot see
        it (deleted, renamed away, or outside the App's installation)."""
        data = await self.github.call(repository, "GET", "")
        found = data.get("id") if isinstance(data, dict) else None
        if not isinstance(found, int) or isinstance(found, bool):
            raise errors.GitHubUnavailable(repository, "a repository without an id")
        return found

    async def allow_repository(self, org: Target, group_id: int, repository_id: int) -> None:
        """``PUT .../runner-groups/{id}/repositories/{repository_id}`` (GitHub: 204)."""
        url_vars = {"runner_group_id": group_id, "repository_id": repository_id}
        await self.github.call(org, "PUT", GROUP_REPOSITORY, url_vars)

    async def allow_public(self, org: Target, group: RunnerGroup) -> None:
        """``PATCH .../runner-groups/{id}`` with ``allows_public_repositories``; the spec
        requires ``name``, sent as GitHub has it now so that nothing is renamed."""
        body = {"name": group.name, "allows_public_repositories": True}
        await self.github.call(org, "PATCH", GROUP, {"runner_group_id": group.id}, data=body)


def org_of(target: Target) -> Target:
    """The organization whose runner groups serve ``target`` (an org or one repository)."""
    if target.scope is Scope.ENTERPRISE:
        raise ValueError("an enterprise's groups are not changed from an alert")
    return Target(Scope.ORG, target.owner)


def _full_name(item: Any) -> str:
    name = item.get("full_name") if isinstance(item, dict) else None
    return name.lower() if isinstance(name, str) else ""
