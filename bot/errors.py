"""Failures the runner service reports, each one something a user can act on.

They carry facts, not wording: the renderer turns them into Slack text. None of them
ever holds a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from bot.targets import Target


class RunnerOpsError(Exception):
    """Base of every failure that becomes a reply rather than a crash."""


@dataclass
class NotInstalled(RunnerOpsError):
    """The GitHub App has no installation on the target's account (or repository)."""

    target: Target


@dataclass
class NoSuchRepository(NotInstalled):
    """The App is installed on the repository's account, but GitHub shows it no such
    repository: the name is wrong, or the installation does not include it.
    ``settings_url``: that installation's settings page, where repositories are added."""

    settings_url: str | None = None


@dataclass
class AccountNotServed(NotInstalled):
    """The target's account is not one this deployment serves (``GITHUB_ALLOWED_ACCOUNTS``,
    by default the App's owner): refused before any GitHub call for it. A kind of "not
    installed" for the watch and the fleet view, which treat both alike."""

    allowed: tuple[str, ...] = ()  # the accounts served, lower-case, as configured or found


@dataclass
class EnterpriseTokenMissing(RunnerOpsError):
    """Enterprise endpoints need ``GITHUB_ENTERPRISE_TOKEN``; App tokens are refused there."""

    target: Target


@dataclass
class NotFound(RunnerOpsError):
    """GitHub answered 404 for the target itself (no such org, repo or enterprise)."""

    target: Target


@dataclass
class RunnerNotFound(RunnerOpsError):
    target: Target
    runner: str


@dataclass
class Forbidden(RunnerOpsError):
    """403: the app or token lacks a permission; ``permission`` names the one needed."""

    target: Target
    permission: str
    message: str = ""


@dataclass
class BadCredentials(RunnerOpsError):
    """401 that survived a re-mint: the key, app id or PAT is wrong or revoked."""

    target: Target
    credential: str


@dataclass
class RunnerBusy(RunnerOpsError):
    """422 on delete: the runner is running a job."""

    target: Target
    runner: str


@dataclass
class RateLimited(RunnerOpsError):
    """GitHub's rate limit holds; ``retry_at`` is a Unix time."""

    target: Target
    retry_at: float


@dataclass
class GitHubUnavailable(RunnerOpsError):
    """A read failed (timeout, connection failure, 5xx, an unreadable body), or a write
    failed before it reached GitHub: nothing was changed."""

    target: Target
    detail: str = ""


@dataclass
class Unprocessable(RunnerOpsError):
    """422 other than a busy runner; ``message`` is GitHub's own text."""

    target: Target
    message: str = ""


@dataclass
class Conflict(RunnerOpsError):
    """409: GitHub holds something that clashes (a JIT runner's name already taken);
    ``message`` is GitHub's own text."""

    target: Target
    message: str = ""


@dataclass
class ReadOnlyLabels(RunnerOpsError):
    """A label change would remove labels GitHub gives the runner (``self-hosted``, its OS
    and architecture): refused before any write."""

    target: Target
    runner: str
    labels: tuple[str, ...]


@dataclass
class LabelsMissing(RunnerOpsError):
    """``remove`` names labels the runner does not have: refused before any write."""

    target: Target
    runner: str
    labels: tuple[str, ...]
    has: tuple[str, ...] = ()


@dataclass
class GroupNotFound(RunnerOpsError):
    """No runner group of that name or id; ``groups`` lists those that exist."""

    target: Target
    group: str
    groups: tuple[str, ...] = ()


@dataclass
class GroupGone(RunnerOpsError):
    """404 registering a JIT runner into a group just listed: the group is gone (or the
    credential may not use it); nothing was registered."""

    target: Target
    group: str
    group_id: int


@dataclass
class OutcomeUnknown(RunnerOpsError):
    """A write (POST, DELETE) failed without a definite answer: GitHub may have acted."""

    target: Target
    detail: str = ""


@dataclass
class JitConfigLost(RunnerOpsError):
    """GitHub registered a just-in-time runner but its answer, the configuration's only
    copy, was lost (a check found the runner): nobody can start it; delete and ask again."""

    target: Target
    name: str
    runner_id: int
    detail: str = ""


class RunnerMatch(NamedTuple):
    """One runner a RUNNER fits, and whether by its id or by its name."""

    by: Literal["id", "name"]
    id: int
    name: str


@dataclass
class RunnerAmbiguous(RunnerOpsError):
    """A RUNNER fits several runners: a bare number that is one runner's id and another's
    name. Asking beats guessing, above all before a delete."""

    target: Target
    runner: str
    matches: tuple[RunnerMatch, ...]


@dataclass
class AuditUnavailable(RunnerOpsError):
    """The audit entry for a token or a delete could not be written: an action that
    cannot be audited is not performed."""

    target: Target
