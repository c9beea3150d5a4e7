"""The self-hosted-runner operations, at any scope, as plain data.

This is the one place that knows GitHub's runner endpoints. It knows nothing of Slack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from bot import errors
from bot.commands import Command
from bot.github.client import GitHubClient
from bot.github.models import (
    Download,
    Runner,
    RunnerList,
    RunnerToken,
    Unreadable,
    downloads_of,
    runners_of,
)
from bot.redact import redact
from bot.targets import Target

RUNNERS = "/actions/runners"


def matching(command: Command, runners: Iterable[Runner]) -> list[Runner]:
    """The runners that pass ``list``'s filters; all labels must match, names partly."""
    wanted_labels = {label.lower() for label in command.labels}
    out = []
    for r in runners:
        if command.status and r.status != command.status:
            continue
        if command.busy is not None and r.busy != command.busy:
            continue
        if wanted_labels and not wanted_labels <= {lab.name.lower() for lab in r.labels}:
            continue
        if command.name and command.name.lower() not in r.name.lower():
            continue
        out.append(r)
    return out


class RunnerService:
    def __init__(self, github: GitHubClient) -> None:
        self.github = github

    async def list_runners(self, target: Target, *, name: str | None = None) -> RunnerList:
        """Every runner of ``target``, across all pages, with what is missing if anything."""
        listing = await self.github.listing(
            target, RUNNERS, "runners", {"name": name} if name is not None else None
        )
        runners, skipped = runners_of(listing.items)
        if name is not None:  # older GHES releases ignore ``name``
            runners = [r for r in runners if r.name == name]
        return RunnerList(runners, listing.total_count, listing.failed_pages, skipped)

    async def list_downloads(self, target: Target) -> list[Download]:
        items = await self.github.call(target, "GET", RUNNERS + "/downloads")
        if not isinstance(items, list):
            raise errors.GitHubUnavailable(target, "an unreadable downloads list")
        return downloads_of(items)[0]

    async def registration_token(self, target: Target) -> RunnerToken:
        return await self._token(target, "/registration-token")

    async def remove_token(self, target: Target) -> RunnerToken:
        return await self._token(target, "/remove-token")

    async def _token(self, target: Target, path: str) -> RunnerToken:
        data = await self.github.call(target, "POST", RUNNERS + path)
        try:
            token = RunnerToken.from_api(data)
        except Unreadable:  # GitHub said it issued one, and it cannot be shown
            raise errors.OutcomeUnknown(target, "a token answer without a token") from None
        redact.add(token.token)  # from now on it never reaches a log
        return token

    async def get_runner(self, target: Target, runner_id: int) -> Runner:
        try:
            data = await self.github.call(
                target, "GET", RUNNERS + "/{runner_id}", {"runner_id": runner_id}
            )
        except errors.NotFound:
            raise errors.RunnerNotFound(target, str(runner_id)) from None
        try:
            return Runner.from_api(data)
        except Unreadable:
            raise errors.GitHubUnavailable(target, "an unreadable runner") from None

    async def find_runner(self, target: Target, ref: str) -> Runner:
        """A runner by numeric id or exact name."""
        if ref.isascii() and ref.isdigit():  # "²".isdigit() is true, int("²") fails
            return await self.get_runner(target, int(ref))
        matches = (await self.list_runners(target, name=ref)).runners
        if not matches:
            raise errors.RunnerNotFound(target, ref)
        return matches[0]

    async def delete_runner(
        self, target: Target, runner_id: int, name: str
    ) -> Literal["deleted", "deleted-confirmed"]:
        """Delete by id; ``name`` only words the errors (GitHub's 404 and busy 422).

        When GitHub gives no definite answer, a GET settles it: gone means deleted
        (``deleted-confirmed``), still there means nothing changed; if the GET fails too,
        :class:`errors.OutcomeUnknown` says so."""
        try:
            await self.github.call(
                target, "DELETE", RUNNERS + "/{runner_id}", {"runner_id": runner_id}
            )
        except errors.NotFound:
            raise errors.RunnerNotFound(target, name) from None
        except errors.Unprocessable:
            raise errors.RunnerBusy(target, name) from None
        except errors.OutcomeUnknown as unknown:
            try:
                await self.get_runner(target, runner_id)
            except errors.RunnerNotFound:
                return "deleted-confirmed"
            except errors.RunnerOpsError:
                raise unknown from None
            raise errors.GitHubUnavailable(target, f"{unknown.detail}; still there") from None
        return "deleted"
