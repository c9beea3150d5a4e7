"""The runner-group fixes of a ``group_not_allowed`` alert: "Allow REPO in GROUP" and
"Allow public repositories in GROUP", their confirmations (what the change lets in), the
link to each group's settings (workflow restrictions and the rest are changed there, not
from Slack), and the private replies to the clicker.
"""

from __future__ import annotations

from slack_sdk.models.blocks import ButtonElement, ConfirmObject, ContextBlock, MarkdownTextObject

from bot.slack.blocks import Reply, clip, escape, fit, section
from bot.slack.views.fixes import alert_button_value, confirm
from bot.slack.views.reasons import plural
from bot.targets import Scope, TargetError, parse_target
from bot.watch.alerts import Alert
from bot.watch.diagnosis import Diagnosis, Exclusion, GroupExclusion, Reason

ALLOW_REPO_ACTION = "fix_group_allow_repo"
ALLOW_PUBLIC_ACTION = "fix_group_allow_public"
LINKS_BLOCK = "alert_group_links"
MAX_GROUPS = 3  # buttons for the first few groups; the links name them all (up to 10)
# One action id per group shown: Slack refuses an actions block whose ids repeat (the first
# group's button keeps the plain id).
ALLOW_REPO_ACTIONS = tuple(
    ALLOW_REPO_ACTION + (f"_{n}" if n > 1 else "") for n in range(1, MAX_GROUPS + 1)
)
ALLOW_PUBLIC_ACTIONS = tuple(
    ALLOW_PUBLIC_ACTION + (f"_{n}" if n > 1 else "") for n in range(1, MAX_GROUPS + 1)
)
MAX_LINKS = 10


def _org(alert: Alert) -> str | None:
    """The organization whose groups the alert's target uses (None for an enterprise)."""
    try:
        target = parse_target(alert.target)
    except TargetError:
        return None
    return None if target.scope is Scope.ENTERPRISE else target.owner


def _name(group: str) -> str:
    return escape(clip(group, 60))


def group_fixes(alert: Alert, diagnosis: Diagnosis | None) -> list[ButtonElement]:
    """A button per group setting Slack may change: the job's repository left out of a
    ``selected`` group, and public repositories not allowed. None for other exclusions."""
    if diagnosis is None or diagnosis.reason is not Reason.GROUP_NOT_ALLOWED or not _org(alert):
        return []
    buttons = []
    for n, group in enumerate(diagnosis.excluded_groups[:MAX_GROUPS]):
        facts = {"group_id": group.group_id, "group": group.group_name}
        repo = diagnosis.repository
        if Exclusion.SELECTED_REPOSITORIES in group.exclusions and repo:
            buttons.append(
                ButtonElement(
                    text=clip(f"Allow {repo} in {group.group_name}", 75),
                    action_id=ALLOW_REPO_ACTIONS[n],
                    value=alert_button_value(alert, **facts, repo=repo),
                    confirm=_confirm_repo(repo, group),
                )
            )
        # A group for private repositories only admits no public one, allowed or not.
        public = Exclusion.PRIVATE_ONLY not in group.exclusions
        if Exclusion.PUBLIC_NOT_ALLOWED in group.exclusions and public:
            buttons.append(
                ButtonElement(
                    text=clip(f"Allow public repositories in {group.group_name}", 75),
                    action_id=ALLOW_PUBLIC_ACTIONS[n],
                    value=alert_button_value(alert, **facts),
                    confirm=_confirm_public(str(_org(alert)), group),
                )
            )
    return buttons


def _runners(group: GroupExclusion) -> str:
    count = len(group.runners)
    return f"{plural(count, 'runner')} with these labels"


def _confirm_repo(repo: str, group: GroupExclusion) -> ConfirmObject:
    text = (
        f"Every workflow of *{escape(clip(repo, 100))}* may then run jobs on the runners of"
        f" *{_name(group.group_name)}* ({_runners(group)}), within any workflow"
        " restriction the group has."
    )
    return confirm("Allow this repository?", text, "Allow")


def _confirm_public(org: str, group: GroupExclusion) -> ConfirmObject:
    text = (
        f"Every public repository of *{escape(org)}* that *{_name(group.group_name)}* admits"
        f" may then run jobs on its runners ({_runners(group)}). Public repositories can run"
        " code from forks' pull requests on them."
    )
    return confirm("Allow public repositories?", text, "Allow", style="danger")


def group_settings_url(github_url: str, org: str, group_id: int) -> str:
    """The group's settings page on the configured GitHub (github.com or a GHES host)."""
    return f"{github_url.rstrip('/')}/organizations/{org}/settings/actions/runner-groups/{group_id}"


def _link_text(group: str) -> str:
    return _name(group).replace("|", "/")  # a bar would end the link's text early


def group_links(alert: Alert, diagnosis: Diagnosis | None, github_url: str) -> ContextBlock | None:
    """For a ``group_not_allowed`` alert: each group's settings page, where what Slack does
    not change (workflow restrictions, visibility) is changed."""
    org = _org(alert)
    if diagnosis is None or diagnosis.reason is not Reason.GROUP_NOT_ALLOWED or org is None:
        return None
    links = [
        f"<{group_settings_url(github_url, org, g.group_id)}|{_link_text(g.group_name)}>"
        for g in diagnosis.excluded_groups[:MAX_LINKS]
    ]
    if not links:
        return None
    text = fit("Runner group settings: " + ", ".join(links))
    return ContextBlock(elements=[MarkdownTextObject(text=text)], block_id=LINKS_BLOCK)


# -- the private replies --------------------------------------------------------------------


def _reply(text: str) -> Reply:
    return Reply(text=text, blocks=[section(text)])


def repo_note(repo: str, group: str) -> str:
    """The fix note the alert shows ("Fixed by @who at TIME: allowed acme/api in gpu")."""
    return f"allowed {repo} in {group}"


def public_note(group: str) -> str:
    return f"allowed public repositories in {group}"


def repo_allowed(repo: str, group: str) -> Reply:
    return _reply(
        f":white_check_mark: You allowed *{escape(repo)}* in runner group *{_name(group)}*:"
        " its jobs can now run on the group's runners. The alert says so, and resolves"
        " once its jobs are picked up."
    )


def public_allowed(group: str) -> Reply:
    return _reply(
        f":white_check_mark: You allowed public repositories in runner group *{_name(group)}*."
        " The alert says so, and resolves once its jobs are picked up."
    )


def already_allowed(repo: str, group: str) -> Reply:
    return _reply(
        f":information_source: *{escape(repo)}* is already allowed in runner group"
        f" *{_name(group)}* (someone allowed it since the alert was drawn). Nothing was changed."
    )


def already_public(group: str) -> Reply:
    return _reply(
        f":information_source: Runner group *{_name(group)}* already allows public"
        " repositories (changed since the alert was drawn). Nothing was changed."
    )


def not_selected(group: str, visibility: str) -> Reply:
    return _reply(
        f":information_source: Runner group *{_name(group)}* no longer admits only selected"
        f" repositories (its repository access is now `{escape(clip(visibility, 20))}`), so"
        " there is no list to add the repository to. Nothing was changed."
    )


def private_only(group: str) -> Reply:
    return _reply(
        f":information_source: Runner group *{_name(group)}* now admits private repositories"
        " only: allowing public ones would let none in. Its repository access is changed in"
        " its settings. Nothing was changed."
    )


def inherited(group: str) -> Reply:
    return _reply(
        f":information_source: Runner group *{_name(group)}* is shared by the enterprise:"
        " its settings are changed in the enterprise's settings, not the organization's."
        " Nothing was changed."
    )


def group_gone(group: str, org: str) -> Reply:
    return _reply(
        f":mag: GitHub has no runner group *{_name(group)}* in *{escape(org)}* any more (it"
        f" may have been removed or renamed). Nothing was changed. `groups {escape(org)}`"
        " lists them."
    )


def repo_gone(repo: str) -> Reply:
    return _reply(
        f":mag: GitHub has no repository *{escape(repo)}* that runnerops can see any more"
        " (deleted, renamed, or outside the App's installation). Nothing was changed."
    )


def repo_refused(repo: str, message: str) -> Reply:
    reason = escape(clip(message, 300).rstrip(". ")) or "no reason given"
    return _reply(
        f":lock: GitHub refused to show runnerops the repository *{escape(repo)}*: {reason}."
        " Nothing was changed."
    )


def refused(group: str, message: str) -> Reply:
    reason = escape(clip(message, 300).rstrip(". ")) or "no reason given"
    return _reply(
        f":warning: GitHub refused to change runner group *{_name(group)}*: {reason}."
        " Nothing was changed."
    )
