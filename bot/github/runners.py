"""The self-hosted-runner operations, at any scope, as plain data.

This is the one place that knows GitHub's runner endpoints. It knows nothing of Slack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, NoReturn

from bot import errors
from bot.commands import RunnerFilters, RunnerRef
from bot.github.client import GitHubClient, Listing
from bot.github.models import (
    Download,
    JitConfig,
    Label,
    Runner,
    RunnerGroup,
    RunnerList,
    RunnerToken,
    Unreadable,
    downloads_of,
    groups_of,
    labels_of,
    runners_of,
)
from bot.redact import redact
from bot.targets import Scope, Target

RUNNERS = "/actions/runners"
LABELS = RUNNERS + "/{runner_id}/labels"
GROUPS = "/actions/runner-groups"
# Group runner counts fetched at once (one request each, ``per_page=1``).
COUNT_CONCURRENCY = 10
LabelOp = Literal["add", "remove", "set"]


@dataclass(frozen=True, slots=True)
class LabelChange:
    """A label change as done: the labels before and after, and how sure we are.

    ``confirmed``: GitHub failed to answer a write and a GET read the labels after it."""

    runner: Runner
    op: LabelOp
    asked: tuple[str, ...]
    before: tuple[Label, ...]
    after: tuple[Label, ...]
    confirmed: bool = False

    @property
    def changed(self) -> bool:
        return _names(self.before) != _names(self.after)

    @property
    def done(self) -> bool:
        """Whether the labels after are what was asked for (False only when a failed
        write was read back and GitHub had not, or not wholly, made the change)."""
        asked = {name.lower() for name in self.asked}
        custom = {lab.name.lower() for lab in self.after if lab.custom}
        fixed = {lab.name.lower() for lab in self.after if not lab.custom}
        if self.op == "add":
            return asked <= custom | fixed
        if self.op == "remove":
            return not asked & custom
        return custom == asked - fixed


def _names(labels: Iterable[Label]) -> list[str]:
    return sorted(label.name.lower() for label in labels)


def plan_labels(
    target: Target, runner: Runner, op: LabelOp, names: Sequence[str]
) -> tuple[str, ...]:
    """What to send for ``op``, decided from the runner's current labels before any write.

    Read-only labels (``self-hosted``, the OS, the architecture) stay whatever is asked:
    ``remove`` naming one raises :class:`errors.ReadOnlyLabels`; ``add`` and ``set`` leave
    them out of the request, as the runner has them already. ``remove`` of a label the
    runner lacks raises :class:`errors.LabelsMissing`. Nothing is written either way."""
    fixed = {lab.name.lower() for lab in runner.labels if not lab.custom}
    custom = {lab.name.lower() for lab in runner.labels if lab.custom}
    if op == "remove":
        read_only = tuple(n for n in names if n.lower() in fixed)
        if read_only:
            raise errors.ReadOnlyLabels(target, runner.name, read_only)
        missing = tuple(n for n in names if n.lower() not in custom)
        if missing:
            has = tuple(lab.name for lab in runner.labels if lab.custom)
            raise errors.LabelsMissing(target, runner.name, missing, has)
        return tuple(names)
    return tuple(n for n in names if n.lower() not in fixed)


def matching(command: RunnerFilters, runners: Iterable[Runner]) -> list[Runner]:
    """The runners that pass ``list``'s filters; all labels must match, names partly."""
    if not command.filtered:  # a fleet of thousands, listed whole: no per-runner checks
        return list(runners)
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


def runner_list(listing: Listing, runners: list[Runner]) -> RunnerList:
    """``runners`` with everything the listing knows about its gaps and changes."""
    return RunnerList(
        runners,
        listing.total_count,
        listing.failed_pages,
        listing.skipped,
        listing.pages,
        listing.duplicates,
        listing.page_counts,
    )


class RunnerService:
    def __init__(self, github: GitHubClient) -> None:
        self.github = github

    async def list_runners(self, target: Target, *, name: str | None = None) -> RunnerList:
        """Every runner of ``target``, across all pages, with what is missing if anything."""
        listing = await self.github.listing(
            target,
            RUNNERS,
            "runners",
            {"name": name} if name is not None else None,
            read=runners_of,
        )
        runners: list[Runner] = listing.items
        if name is not None:  # older GHES releases ignore ``name``
            runners = [r for r in runners if r.name == name]
        return runner_list(listing, runners)

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

    # -- labels ------------------------------------------------------------------------

    async def list_labels(self, target: Target, runner_id: int, name: str) -> tuple[Label, ...]:
        try:
            data = await self.github.call(target, "GET", LABELS, {"runner_id": runner_id})
        except errors.NotFound:
            raise errors.RunnerNotFound(target, name) from None
        try:
            return labels_of(data)
        except Unreadable:
            raise errors.GitHubUnavailable(target, "unreadable labels") from None

    async def change_labels(
        self, target: Target, runner: Runner, op: LabelOp, names: Sequence[str]
    ) -> LabelChange:
        """Add, remove or set ``runner``'s custom labels; the labels after, as GitHub says.

        Checked first by :func:`plan_labels` (raises before any write). ``remove`` is one
        DELETE per label. When a write gets no definite answer, or a later DELETE of
        ``remove`` fails after earlier ones succeeded, a GET reads the labels as they are
        and the change is returned with ``confirmed``; if that GET fails too, the write's
        :class:`errors.OutcomeUnknown` (or its failure) is raised."""
        send = plan_labels(target, runner, op, names)
        before = runner.labels
        if op == "add" and not send:  # only read-only names, which the runner has
            return LabelChange(runner, op, tuple(names), before, before)
        ident = {"runner_id": runner.id}
        wrote = False
        try:
            if op == "remove":
                data: object = None
                for label in send:
                    data = await self._label_write(
                        target, runner, "DELETE", LABELS + "/{name}", {**ident, "name": label}
                    )
                    wrote = True
            else:
                method = "POST" if op == "add" else "PUT"
                data = await self._label_write(
                    target, runner, method, LABELS, ident, {"labels": list(send)}
                )
        except errors.RunnerOpsError as exc:
            if not (wrote or isinstance(exc, errors.OutcomeUnknown)):
                raise
            try:
                after = await self.list_labels(target, runner.id, runner.name)
            except errors.RunnerOpsError:
                raise exc from None
            return LabelChange(runner, op, tuple(names), before, after, confirmed=True)
        try:
            after = labels_of(data)
        except Unreadable:  # it was done; ask what the labels are now
            after = await self.list_labels(target, runner.id, runner.name)
        return LabelChange(runner, op, tuple(names), before, after)

    async def _label_write(
        self,
        target: Target,
        runner: Runner,
        method: str,
        path: str,
        url_vars: Mapping[str, object],
        body: object = b"",
    ) -> object:
        try:
            return await self.github.call(target, method, path, url_vars, data=body)
        except errors.NotFound:
            raise errors.RunnerNotFound(target, runner.name) from None

    # -- runner groups -----------------------------------------------------------------

    async def group_name(self, target: Target, group_id: int | None) -> str | None:
        """The name of a runner's group, to show beside it; None when it cannot be told
        (a repository's runners, or GitHub not saying): the runner is shown all the same."""
        if group_id is None or target.scope is Scope.REPO:
            return None
        try:
            data = await self.github.call(
                target, "GET", GROUPS + "/{runner_group_id}", {"runner_group_id": group_id}
            )
            return RunnerGroup.from_api(data).name
        except (errors.RunnerOpsError, Unreadable):
            return None

    async def list_groups(self, target: Target) -> list[RunnerGroup]:
        """Every runner group of an organization (its enterprise's shared ones included)
        or of an enterprise, in GitHub's order."""
        listing = await self.github.listing(target, GROUPS, "runner_groups", read=groups_of)
        if not listing.complete:
            raise errors.GitHubUnavailable(target, "an incomplete list of runner groups")
        groups: list[RunnerGroup] = listing.items
        return groups

    async def count_runners(
        self, target: Target, groups: Sequence[RunnerGroup]
    ) -> list[RunnerGroup]:
        """``groups`` with their number of runners: one ``per_page=1`` request each, a few
        at a time; a count GitHub does not give stays None."""
        slots = asyncio.Semaphore(COUNT_CONCURRENCY)

        async def count(group: RunnerGroup) -> RunnerGroup:
            async with slots:
                try:
                    data = await self.github.call(
                        target,
                        "GET",
                        GROUPS + "/{runner_group_id}/runners{?per_page}",
                        {"runner_group_id": group.id, "per_page": 1},
                    )
                except errors.GitHubUnavailable:
                    return group
            total = data.get("total_count") if isinstance(data, dict) else None
            if isinstance(total, int | float) and total >= 0:
                return replace(group, runner_count=int(total))
            return group

        return list(await asyncio.gather(*(count(g) for g in groups)))

    async def find_group(self, target: Target, wanted: str | None) -> RunnerGroup:
        """The group named ``wanted`` (case-insensitively) or with that id; None: the
        default group. A repository's runners have only the Default group, id 1."""
        if target.scope is Scope.REPO:
            if wanted is None or wanted == "1" or wanted.lower() == "default":
                return RunnerGroup(1, "Default", default=True)
            raise errors.GroupNotFound(target, wanted, ("Default",))
        groups = await self.list_groups(target)
        for group in groups:
            if wanted is None and group.default:
                return group
            if wanted is not None and (
                group.name.lower() == wanted.lower() or str(group.id) == wanted
            ):
                return group
        if wanted is None:  # GitHub's documented default, should the list not mark it
            return RunnerGroup(1, "Default", default=True)
        raise errors.GroupNotFound(target, wanted, tuple(g.name for g in groups))

    async def group_runners(self, target: Target, group: RunnerGroup) -> RunnerList:
        """Every runner of one group, across all pages."""
        listing = await self.github.listing(
            target,
            GROUPS + "/{runner_group_id}/runners",
            "runners",
            {"runner_group_id": group.id},
            read=runners_of,
        )
        return runner_list(listing, listing.items)

    # -- just-in-time runners ----------------------------------------------------------

    async def generate_jit(
        self,
        target: Target,
        name: str,
        group: RunnerGroup,
        labels: Sequence[str],
        work_folder: str,
    ) -> JitConfig:
        """Register a JIT runner and return its configuration, redacted from logs at once.

        When GitHub gives no definite answer, a list filtered by ``name`` settles whether
        it registered the runner: found raises :class:`errors.JitConfigLost` (the config
        came only in the lost answer); not found means nothing changed
        (:class:`errors.GitHubUnavailable`); if the check fails too, the
        :class:`errors.OutcomeUnknown` is raised."""
        body = {
            "name": name,
            "runner_group_id": group.id,
            "labels": list(labels),
            "work_folder": work_folder,
        }
        try:
            data = await self.github.call(
                target, "POST", RUNNERS + "/generate-jitconfig", data=body
            )
        except errors.OutcomeUnknown as unknown:
            await self._check_registered(target, name, unknown)
        except errors.NotFound:
            # An organization's or enterprise's groups were just listed, so the target is
            # there: what GitHub does not find is the group. A repository has no groups
            # but its Default, so there the repository itself is missing.
            if target.scope is Scope.REPO:
                raise
            raise errors.GroupGone(target, group.name, group.id) from None
        encoded = data.get("encoded_jit_config") if isinstance(data, dict) else None
        if isinstance(encoded, str):
            redact.add(encoded)  # from now on it never reaches a log
        try:
            return JitConfig.from_api(data)
        except Unreadable:  # GitHub said it registered one, and it cannot be shown
            raise errors.OutcomeUnknown(target, "a JIT answer that cannot be read") from None

    async def _check_registered(
        self, target: Target, name: str, unknown: errors.OutcomeUnknown
    ) -> NoReturn:
        """After a JIT request without a definite answer: raise what a GET finds."""
        try:
            found = await self.list_runners(target, name=name)
        except errors.RunnerOpsError:
            raise unknown from None
        if found.runners:
            runner = found.runners[0]
            raise errors.JitConfigLost(target, name, runner.id, unknown.detail) from None
        if not found.complete:  # the runner may be on a page GitHub did not give
            raise unknown from None
        raise errors.GitHubUnavailable(
            target, f"{unknown.detail}; no runner {name} after it"
        ) from None
