"""The runner-group fix buttons of a ``group_not_allowed`` alert (issue 20 §1).

"Allow REPO in GROUP" adds the job's repository to a group that admits selected
repositories; "Allow public repositories in GROUP" sets ``allows_public_repositories``.
Both are ``admin`` on the organization that owns the group (a grant on one repository does
not reach its organization's groups), checked by the dispatcher before anything here. At
click time the group is read again: if the change is no longer needed (or no longer
possible) the clicker is told privately and nothing is written. Otherwise the audit
entry is written, then GitHub is called, then the alert says who fixed it, in place.
Both writes are idempotent, so a double click (on one process or two) is harmless: the
later click finds the change made and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import errors
from bot.dispatch import Click, Router
from bot.github.groups import GroupService, org_of
from bot.github.models import RunnerGroup
from bot.slack.blocks import Reply
from bot.slack.views import fix_groups as view
from bot.slack.views.fixes import fix_facts
from bot.targets import Scope, Target, TargetError, parse_target
from handlers.alerts import AlertButton, invalid_value, note_fix, stored_alert

log = logging.getLogger(__name__)
router = Router()


@dataclass(frozen=True)
class GroupFix:
    """What a group fix button carries besides its alert: the group (id and the name
    shown), and for "Allow REPO" the repository, of the group's organization."""

    org: Target
    group_id: int
    group: str
    repository: Target | None

    @classmethod
    def read(cls, click: Click, *, repository: bool) -> GroupFix:
        try:
            org = org_of(AlertButton.read(click.value).target)
            facts = fix_facts(click.value)
            group_id = facts["group_id"]
            if not isinstance(group_id, int) or isinstance(group_id, bool) or group_id < 1:
                raise ValueError("not a group id")
            repo = parse_target(str(facts["repo"])) if repository else None
            if repo is not None and (
                repo.scope is not Scope.REPO or repo.owner.lower() != org.owner.lower()
            ):
                raise ValueError("not a repository of the group's organization")
            return cls(org, group_id, str(facts["group"]), repo)
        except (ValueError, KeyError, TypeError, TargetError):
            raise invalid_value() from None


async def group_org(click: Click) -> Target:
    """The policy's target: the organization that owns the group, not the watched target."""
    try:
        return org_of(AlertButton.read(click.value).target)
    except ValueError:
        raise invalid_value() from None


async def _group_now(groups: GroupService, fix: GroupFix) -> RunnerGroup | Reply:
    """The group as GitHub has it now, or the reply saying the fix cannot apply."""
    try:
        group = await groups.get_group(fix.org, fix.group_id)
    except errors.NotFound:
        return view.group_gone(fix.group, fix.org.owner)
    if group.inherited:
        return view.inherited(group.name)
    return group


async def allow_repository_clicked(click: Click) -> Reply:
    services = click.services
    _, alert, _ = await stored_alert(click)
    fix = GroupFix.read(click, repository=True)
    assert fix.repository is not None
    repo = f"{fix.repository.owner}/{fix.repository.repo}"
    groups = GroupService(services.github)
    group = await _group_now(groups, fix)
    if isinstance(group, Reply):
        return group
    if group.visibility != "selected":
        return view.not_selected(group.name, group.visibility)
    if repo.lower() in await groups.repository_names(fix.org, group.id):
        return view.already_allowed(repo, group.name)
    try:
        repository_id = await groups.repository_id(fix.repository)
    except (errors.NotFound, errors.NotInstalled):
        return view.repo_gone(repo)
    except errors.Forbidden as exc:  # not a permission the App lacks: GitHub's own refusal
        return view.repo_refused(repo, exc.message)
    detail = f"{repo} in {group.name} (group id {group.id})"
    async with await services.audit_first(click.caller, "allow-repository", fix.org, detail) as a:
        try:
            await groups.allow_repository(fix.org, group.id, repository_id)
        except errors.NotFound:
            await a.settle("failed", f"{detail}: not found")
            return view.group_gone(group.name, fix.org.owner)
        except errors.Unprocessable as exc:
            await a.settle("failed", f"{detail}: {exc.message[:200]}")
            return view.refused(group.name, exc.message)
        await a.settle("allowed", detail)
    await note_fix(click, alert.channel, alert.key, view.repo_note(repo, group.name))
    return view.repo_allowed(repo, group.name)


async def allow_public_clicked(click: Click) -> Reply:
    services = click.services
    _, alert, _ = await stored_alert(click)
    fix = GroupFix.read(click, repository=False)
    groups = GroupService(services.github)
    group = await _group_now(groups, fix)
    if isinstance(group, Reply):
        return group
    if group.allows_public_repositories:
        return view.already_public(group.name)
    if group.visibility == "private":
        return view.private_only(group.name)
    detail = f"public repositories in {group.name} (group id {group.id})"
    async with await services.audit_first(click.caller, "allow-public", fix.org, detail) as a:
        try:
            await groups.allow_public(fix.org, group)
        except errors.NotFound:
            await a.settle("failed", f"{detail}: not found")
            return view.group_gone(group.name, fix.org.owner)
        except errors.Unprocessable as exc:
            await a.settle("failed", f"{detail}: {exc.message[:200]}")
            return view.refused(group.name, exc.message)
        await a.settle("allowed", detail)
    await note_fix(click, alert.channel, alert.key, view.public_note(group.name))
    return view.public_allowed(group.name)


for _repo_action, _public_action in zip(
    view.ALLOW_REPO_ACTIONS, view.ALLOW_PUBLIC_ACTIONS, strict=True
):
    router.button(_repo_action, verb="allow-repository", action="admin", target=group_org)(
        allow_repository_clicked
    )
    router.button(_public_action, verb="allow-public", action="admin", target=group_org)(
        allow_public_clicked
    )
