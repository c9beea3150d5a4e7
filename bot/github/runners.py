"""The self-hosted-runner operations, at any scope, as plain data.

This is the one place that knows GitHub's runner endpoints. It knows nothing of Slack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Literal

from bot import errors
from bot.commands import Command, RunnerRef
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


def choose_runner(
    target: Target, ref: RunnerRef, by_id: Runner | None, named: Sequence[Runner]
) -> Runner:
    """The one runner ``ref`` means, given what GitHub found for its id and its names.

    Never guesses: when the id is one runner's and the name another's, it raises
    :class:`errors.RunnerAmbiguous`; when nothing fits, :class:`errors.RunnerNotFound`."""
    found: list[tuple[errors.RunnerMatch, Runner]] = []
    if by_id is not None and ref.id is not None and by_id.id == ref.id:
        found.append((errors.RunnerMatch("id", by_id.id, by_id.name), by_id))
    for runner in named:
        if runner.name in ref.names and all(runner.id != r.id for _, r in found):
            found.append((errors.RunnerMatch("name", runner.id, runner.name), runner))
    if not found:
        raise errors.RunnerNotFound(target, str(ref))
    if len(found) > 1:
        raise errors.RunnerAmbiguous(target, str(ref), tuple(match for match, _ in found))
    return found[0][1]


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

    async def find_runner(self, target: Target, ref: RunnerRef) -> Runner:
        """The runner ``ref`` names, with as few calls as tell it apart.

        ``id:N``: one GET by id. ``name:TEXT`` (or a bare non-number): one list filtered
        by name; a second only if TEXT has an apostrophe and the first found nothing. A
        bare number: the GET and the filtered list at once, as only the pair shows whether
        id N and a runner named N are two runners (listing the whole fleet instead would
        cost a call per 100 runners). :func:`choose_runner` decides."""
        if ref.by == "id":
            by_id, named = await self._by_id(target, ref), []
        elif ref.by == "name":
            by_id, named = None, await self._by_names(target, ref)
        else:
            got_id, got_named = await asyncio.gather(
                self._by_id(target, ref), self._by_names(target, ref), return_exceptions=True
            )
            if isinstance(got_id, BaseException):  # both finish before either error counts
                raise got_id
            if isinstance(got_named, BaseException):
                raise got_named
            by_id, named = got_id, got_named
        return choose_runner(target, ref, by_id, named)

    async def _by_id(self, target: Target, ref: RunnerRef) -> Runner | None:
        if ref.id is None:
            return None
        try:
            return await self.get_runner(target, ref.id)
        except errors.RunnerNotFound:
            return None

    async def _by_names(self, target: Target, ref: RunnerRef) -> list[Runner]:
        for name in ref.names:
            found = (await self.list_runners(target, name=name)).runners
            if found:
                return found
        return []

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
