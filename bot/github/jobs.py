"""What the watch reads of GitHub beside the runners: a job as GitHub says it now, its
workflow run, and the organization's runner groups (the runner service has the runners).

Used by the sweep's GitHub view (bot/sweep/fleetview.py) and by ``queue`` and ``why``.
Answers come back as GitHub's JSON, for the watch's ``from_github`` readers and for
:func:`bot.sweep.ingest.record_job`, which never trust its shape.
"""

from __future__ import annotations

from typing import Any

from bot import errors
from bot.github.client import GitHubClient
from bot.github.pages import Listing
from bot.targets import Scope, Target

ACTIONS_READ = "repository permission “Actions” (read)"


class JobService:
    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    async def fetch_job(self, target: Target, job_id: int) -> dict[str, Any]:
        """``GET /repos/{owner}/{repo}/actions/jobs/{job_id}``: the job as GitHub says it
        now (a missed delivery is caught with it).

        Raises :class:`errors.NotFound` when the job is gone or its repository is not
        visible, :class:`errors.Forbidden` naming the Actions permission it needs, and
        :class:`errors.GitHubUnavailable` for an answer that is no job."""
        try:
            data = await self.client.call(
                target, "GET", "/actions/jobs/{job_id}", {"job_id": job_id}
            )
        except errors.Forbidden as exc:
            raise errors.Forbidden(target, ACTIONS_READ, exc.message) from None
        if not isinstance(data, dict):
            raise errors.GitHubUnavailable(target, "an unreadable job")
        return data

    async def workflow_ref(self, repository: str, run_id: int) -> str | None:
        """``owner/repo/PATH@BRANCH`` of a run's workflow (a job's webhook does not carry
        it): what a group restricted to selected workflows is compared with. None when
        it cannot be read."""
        owner, _, name = repository.partition("/")
        try:
            run = await self.client.call(
                Target(Scope.REPO, owner, name), "GET", "/actions/runs/{run_id}", {"run_id": run_id}
            )
        except errors.RunnerOpsError:
            return None
        path = run.get("path") if isinstance(run, dict) else None
        branch = run.get("head_branch") if isinstance(run, dict) else None
        if not isinstance(path, str) or not path:
            return None
        ref = f"{repository}/{path}"
        if "@" not in path and isinstance(branch, str) and branch:
            ref += f"@{branch}"
        return ref

    async def runner_groups(self, org: Target, *, visible_to: str | None = None) -> Listing:
        """The organization's runner groups (raw); with ``visible_to``, only those the
        repository of that name may use (GitHub's own answer)."""
        url_vars = {"visible_to_repository": visible_to} if visible_to is not None else None
        return await self.client.listing(org, "/actions/runner-groups", "runner_groups", url_vars)

    async def group_runners(self, org: Target, group_id: Any) -> Listing:
        """The runners of one group (raw): how an enterprise group shared with the
        organization shows its runners."""
        return await self.client.listing(
            org, "/actions/runner-groups/{group_id}/runners", "runners", {"group_id": group_id}
        )
