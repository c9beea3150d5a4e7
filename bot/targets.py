"""Where a command points: an enterprise, an organization or a repository.

Names are checked against GitHub's own rules before any URL is built, so text typed in
Slack can never steer a request to another path (``../``, ``%2F``, ``?``...).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Scope(enum.StrEnum):
    ENTERPRISE = "enterprise"
    ORG = "org"
    REPO = "repo"


class TargetError(ValueError):
    """The text is not a valid target; the message is safe to show a user."""


# GitHub logins: letters, digits and hyphens, no leading or trailing hyphen, at most 39.
# Underscores appear in Enterprise Managed Users logins (``name_shortcode``).
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,37}[A-Za-z0-9_])?")
# Repository names: letters, digits, ``.``, ``-`` and ``_``, at most 100; not ``.``/``..``.
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Enterprise slugs: lower-case letters, digits and hyphens.
_SLUG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,58}[A-Za-z0-9])?")

SCOPE_WORDS = {"enterprise": Scope.ENTERPRISE, "org": Scope.ORG, "repo": Scope.REPO}


@dataclass(frozen=True, slots=True)
class Target:
    scope: Scope
    owner: str  # enterprise slug, organization login or repository owner
    repo: str | None = None

    @property
    def api_template(self) -> tuple[str, dict[str, str]]:
        """The REST prefix of this scope, under which ``/actions/runners`` lives, as a URI
        template and its variables, so that every name is escaped when expanded."""
        if self.scope is Scope.ENTERPRISE:
            return "/enterprises/{enterprise}", {"enterprise": self.owner}
        if self.scope is Scope.ORG:
            return "/orgs/{org}", {"org": self.owner}
        return "/repos/{owner}/{repo}", {"owner": self.owner, "repo": self.repo or ""}

    @property
    def web_path(self) -> str:
        """The path ``config.sh --url`` expects on the GitHub web host."""
        return f"enterprises/{self.owner}" if self.scope is Scope.ENTERPRISE else str(self)

    def __str__(self) -> str:
        if self.scope is Scope.ENTERPRISE:
            return f"enterprise:{self.owner}"
        if self.scope is Scope.ORG:
            return self.owner
        return f"{self.owner}/{self.repo}"


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value) or value in {".", ".."}:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise TargetError(f"`{shown}` is not a valid {what} name on GitHub")
    return value


def parse_target(text: str, scope: Scope | None = None) -> Target:
    """Parse ``acme``, ``org:acme``, ``acme/api``, ``repo:acme/api`` or ``enterprise:slug``.

    ``scope`` is given when the scope word stood apart (``org acme``).
    """
    text = text.strip()
    if scope is None and ":" in text:
        word, _, rest = text.partition(":")
        if word.lower() not in SCOPE_WORDS:
            raise TargetError("a target looks like `ORG`, `OWNER/REPO` or `enterprise:SLUG`")
        scope, text = SCOPE_WORDS[word.lower()], rest
    if not text:
        raise TargetError("the target is empty")
    if scope is None:
        scope = Scope.REPO if "/" in text else Scope.ORG
    if scope is Scope.ENTERPRISE:
        return Target(Scope.ENTERPRISE, _check(_SLUG, text, "enterprise"))
    if scope is Scope.ORG:
        if "/" in text:
            raise TargetError("an organization has no `/`: use `OWNER/REPO` for a repository")
        return Target(Scope.ORG, _check(_LOGIN, text, "organization"))
    owner, sep, repo = text.partition("/")
    if not sep or "/" in repo:
        raise TargetError("a repository looks like `OWNER/REPO`")
    return Target(Scope.REPO, _check(_LOGIN, owner, "owner"), _check(_REPO, repo, "repository"))
