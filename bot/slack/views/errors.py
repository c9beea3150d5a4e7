"""Failures in words: one sentence per failure saying what happened and what to do, the
usage of a command typed wrong, a refusal by the policy, and the replies for a restart or
an internal error (never a stack trace).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from bot import errors
from bot.slack.blocks import Reply, clip, code, escape, replacement, section
from bot.targets import Scope, Target


def refusal(action: str, verb: str, target: Target | None, reason: str) -> Reply:
    where = f" on *{escape(str(target))}*" if target is not None else ""
    text = (
        f":no_entry_sign: You may not `{verb}`{where} (a *{action}* action): "
        f"{escape(reason)}. Nothing was done. `/runners whoami` shows what you may do."
    )
    return Reply(text=text, blocks=[section(text)])


def error_text(exc: errors.RunnerOpsError, *, install_url: str, now: float | None = None) -> str:
    """One sentence per failure, saying what happened and what to do."""
    for part in _PARTS:
        text = part(exc, install_url, now)
        if text is not None:
            return text
    return ":warning: That did not work; nothing was changed."


def _account_text(exc: errors.RunnerOpsError, install_url: str, now: float | None) -> str | None:
    """Who runnerops serves and where its App is installed."""
    match exc:
        case errors.NoSuchRepository(target=t, settings_url=settings):
            return (
                f":mag: There is no repository *{escape(str(t))}* that runnerops can see. Check"
                " the name, or add the repository to the runnerops GitHub App's installation"
                f" on *{escape(t.owner)}*: {settings or install_url}"
            )
        case errors.AccountNotServed(target=t, allowed=allowed):
            served = ", ".join(f"*{escape(a)}*" for a in allowed[:10]) or "the App's owner"
            if len(allowed) > 10:  # a long list would crowd the reply (and Slack's limits)
                served += f" and {len(allowed) - 10} more"
            return (
                f":no_entry: runnerops does not serve the account *{escape(t.owner)}*: it"
                f" serves {served} (`GITHUB_ALLOWED_ACCOUNTS`). Nothing was asked of GitHub."
                " An operator can add the account to `GITHUB_ALLOWED_ACCOUNTS` and restart."
            )
        case errors.NotInstalled(target=t):
            account = t.owner if t.scope is not Scope.REPO else f"{t.owner}/{t.repo}"
            return (
                f":no_entry: The runnerops GitHub App is not installed on "
                f"*{escape(account)}* (or GitHub has no such account). An admin of that "
                f"account can install it: {install_url}"
            )
        case errors.EnterpriseTokenMissing(target=t):
            return (
                f":gear: Enterprise runners ({escape(str(t))}) need a classic personal access "
                "token: GitHub refuses App tokens on enterprise endpoints. Set "
                "`GITHUB_ENTERPRISE_TOKEN` to a token with the `manage_runners:enterprise` "
                "scope and restart runnerops."
            )
    return None


def _refused_text(exc: errors.RunnerOpsError, install_url: str, now: float | None) -> str | None:
    """GitHub found nothing, or refused."""
    match exc:
        case errors.RunnerNotFound(target=t, runner=r):
            return f":mag: No runner {code(r)} in *{escape(str(t))}*."
        case errors.NotFound(target=t):
            return (
                f":mag: GitHub knows no *{escape(str(t))}*, or runnerops may not see it. "
                "Check the spelling."
            )
        case errors.Forbidden(target=t, permission=p):
            return (
                f":lock: GitHub refused: runnerops lacks {p} on *{escape(str(t))}*. "
                "An admin can grant it in the app's settings (or the token's scopes)."
            )
        case errors.BadCredentials(credential=c):
            return (
                f":key: GitHub rejected runnerops' credentials ({c}). An operator should "
                "check them; nothing was changed."
            )
        case errors.RunnerBusy(target=t, runner=r):
            return (
                f":hourglass_flowing_sand: Runner {code(r)} is running a job; not deleted. "
                "Try again when it is idle."
            )
    return None


def _outcome_text(exc: errors.RunnerOpsError, install_url: str, now: float | None) -> str | None:
    """GitHub could not act (or say whether it did), or runnerops would not."""
    match exc:
        case errors.RateLimited(retry_at=at):
            wait = max(1, int(at - (time.time() if now is None else now)))
            when = f"in {round(wait / 60)} min" if wait >= 90 else f"in {wait} s"
            return (
                f":turtle: GitHub's rate limit is reached; try again {when} "
                f"(<!date^{int(at)}^{{time}}|at the reset>). Nothing was changed."
            )
        case errors.GitHubUnavailable():
            return ":cloud: GitHub did not answer; nothing was changed. Try again shortly."
        case errors.OutcomeUnknown(target=t):
            return (
                ":grey_question: GitHub did not confirm whether this was done: it may have "
                f"acted before failing on *{escape(str(t))}*. Nothing was shown; check "
                "before trying again (`list` or `get` shows the runners)."
            )
        case errors.RunnerAmbiguous(target=t, runner=r, matches=ms):
            return _ambiguous_runner(t, r, ms)
        case errors.AuditUnavailable():
            return AUDIT_UNAVAILABLE
    return None


def _label_text(exc: errors.RunnerOpsError, install_url: str, now: float | None) -> str | None:
    """A change to labels or groups that GitHub, or runnerops first, refused."""
    match exc:
        case errors.ReadOnlyLabels(target=t, runner=r, labels=ls):
            names = " ".join(code(clip(x, 60)) for x in ls[:10])
            what = "is a read-only label" if len(ls) == 1 else "are read-only labels"
            return (
                f":no_entry_sign: {names} {what} "
                f"of runner {code(r)}: GitHub gives every runner `self-hosted`, its OS and its "
                "architecture, and they cannot be removed. Nothing was changed."
            )
        case errors.LabelsMissing(target=t, runner=r, labels=ls, has=has):
            names = " ".join(code(clip(x, 60)) for x in ls[:10])
            custom = " ".join(code(clip(x, 60)) for x in has[:20]) or "none"
            return (
                f":mag: Runner {code(r)} in *{escape(str(t))}* has no custom label {names}. "
                f"Nothing was changed. Its custom labels: {custom}."
            )
        case errors.GroupNotFound(target=t, group=g, groups=gs):
            gs = tuple(dict.fromkeys(gs))  # an enterprise's Default shared beside the org's
            known = ", ".join(code(clip(x, 60)) for x in gs[:30]) or "none"
            more = f" and {len(gs) - 30} more" if len(gs) > 30 else ""
            return (
                f":mag: No runner group {code(clip(g, 80))} in *{escape(str(t))}*. "
                f"Its groups: {known}{more}. Nothing was changed."
            )
        case errors.GroupGone(target=t, group=g, group_id=gid):
            return (
                f":mag: No runner group {code(clip(g, 80))} (id {gid}) in *{escape(str(t))}*:"
                " GitHub found none when asked to register the runner (it may just have been"
                f" removed), so nothing was registered. `groups {escape(str(t))}` lists them."
            )
        case errors.Conflict(message=m):
            reason = escape(m[:300].rstrip(". "))
            return f":warning: GitHub refused: {reason}. Nothing was changed."
        case errors.Unprocessable(message=m):
            reason = escape(m[:300].rstrip(". "))
            return f":warning: GitHub refused the request: {reason}. Nothing was changed."
    return None


# In this order: the first that knows the failure words it (subclasses before their base).
_PARTS: tuple[Callable[[errors.RunnerOpsError, str, float | None], str | None], ...] = (
    _account_text,
    _refused_text,
    _outcome_text,
    _label_text,
)


def _ambiguous_runner(target: Target, ref: str, matches: Sequence[errors.RunnerMatch]) -> str:
    """Name and id of each runner ``ref`` fits, and the form that picks each one."""
    shown = [f"*{escape(clip(m.name, 60))}* (id {m.id})" for m in matches[:5]]
    named = sum(m.by == "name" for m in matches)
    forms = []
    for m in matches[:5]:
        if m.by == "name" and named == 1 and '"' not in m.name:
            words = f'"{m.name}"' if any(c.isspace() for c in m.name) else m.name
            form = f"name:{words}"
        else:
            form = f"id:{m.id}"
        forms.append(f"{code(clip(form, 80))} for *{escape(clip(m.name, 60))}*")
    return (
        f":question: {code(clip(ref, 80))} could mean {len(matches)} runners in "
        f"*{escape(str(target))}*: {' and '.join(shown)}. Nothing was done. "
        f"Say which: {', '.join(forms)}."
    )


def error_reason(exc: errors.RunnerOpsError, *, install_url: str) -> str:
    """:func:`error_text`'s first sentence without its emoji: a failure's reason as one
    line of a summary (a prune's failed runners, grouped by it)."""
    text = error_text(exc, install_url=install_url)
    text = re.sub(r"^:[a-z0-9_+-]+: ", "", text)
    return re.split(r"(?<=[^.])\. ", text, maxsplit=1)[0].rstrip(".")


AUDIT_UNAVAILABLE = (
    ":floppy_disk: runnerops could not record this action; nothing was done (an"
    " action that cannot be audited is not performed). Try again shortly; if it"
    " persists, an operator should check the database."
)


def audit_unavailable_reply() -> Reply:
    """For a change refused because its audit entry cannot be written (or the database
    it needs did not answer): nothing was done."""
    return Reply(text=AUDIT_UNAVAILABLE, blocks=[section(AUDIT_UNAVAILABLE)])


def error_reply(exc: errors.RunnerOpsError, *, install_url: str) -> Reply:
    text = error_text(exc, install_url=install_url)
    return Reply(text=text, blocks=[section(text)])


def restarting_reply() -> Reply:
    """For a command a shutdown cut short: the deploy's new process will take the next one."""
    text = (
        ":arrows_counterclockwise: runnerops is restarting and could not finish this "
        "command; try again in a minute."
    )
    return Reply(text=text, blocks=[section(text)])


def internal_error_reply() -> Reply:
    text = ":boom: Something went wrong inside runnerops; the operators have the details."
    return Reply(text=text, blocks=[section(text)])


def database_unavailable_reply() -> Reply:
    text = (
        ":floppy_disk: runnerops' database did not answer; nothing was changed. Try"
        " again shortly; if it persists, an operator should check the database."
    )
    return Reply(text=text, blocks=[section(text)])


def button_gone_reply() -> Reply:
    return replacement(":warning: That button is no longer handled.")


def button_invalid_reply(*, on_alert: bool = False) -> Reply:
    """A button whose value runnerops did not write. On a channel's alert it is said to
    the clicker alone: replacing the message would take the alert from everyone."""
    text = ":warning: That button is not valid; nothing was changed."
    if on_alert:
        return Reply(text=text, blocks=[section(text)])
    return replacement(text)
