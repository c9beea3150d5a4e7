"""What a user may read among many targets: the filter between stored rows and a reply.

A grant on ``acme`` covers the organization only; ``acme/*`` its repositories. Replies
about an organization (``queue acme``, ``watching``, the Home tab) hold rows of many
targets, so each row's own target is checked here before it is rendered, and the rows
left out are only counted. Pure: the caller looks up the user's groups once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.policy.rules import Policy, PolicyError
from bot.targets import Scope, TargetError, parse_target

T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    """A user, their Slack groups and where they ask from (``channel_id`` "" for the Home
    tab, where a channel-bound grant does not hold)."""

    policy: Policy
    user_id: str
    groups: frozenset[str]
    channel_id: str

    def may_read(self, target: str, scope: Scope | None = None) -> bool:
        """Whether read on ``target`` (as stored: ``acme``, ``acme/api``…) is granted; a
        name that is no valid target is not readable."""
        try:
            parsed = parse_target(target, scope)
            return self.policy.decide(
                "read",
                user_id=self.user_id,
                user_groups=self.groups,
                channel_id=self.channel_id,
                target=parsed,
            ).allowed
        except (TargetError, PolicyError, ValueError):
            return False


def visible_repositories(reader: Reader, repositories: Iterable[str]) -> frozenset[str]:
    """The names (lower case, as GitHub compares them) among ``repositories``
    (``OWNER/REPO``) that ``reader`` may read."""
    names = {name.lower() for name in repositories}
    return frozenset(name for name in names if reader.may_read(name, Scope.REPO))


def split_by_repository(
    reader: Reader, items: Sequence[T], repository_of: Callable[[T], str]
) -> tuple[list[T], list[T]]:
    """``items`` of repositories ``reader`` may read, and the others (to be counted)."""
    visible = visible_repositories(reader, (repository_of(item) for item in items))
    shown: list[T] = []
    hidden: list[T] = []
    for item in items:
        (shown if repository_of(item).lower() in visible else hidden).append(item)
    return shown, hidden
