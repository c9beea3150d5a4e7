"""Who may do what, on which runners: the authorization policy.

Commands fall into three kinds of action: ``read`` (help, list, get, downloads, labels,
groups), ``token`` (token, remove-token, jit) and ``admin`` (delete, label, audit, an
alert's runner-group fixes). The policy is TOML, given in the ``RUNNEROPS_POLICY`` setting
either inline or as the path of a file::

    [[grant]]
    name = "platform"                      # optional; shown in whoami and in refusals
    actions = ["read", "token", "admin"]   # any of read, token, admin
    users = ["U0123ABCD"]                  # Slack user IDs
    groups = ["S0456EFGH"]                 # Slack user-group IDs
    channels = ["C0789IJKL"]               # the grant holds only in these channels
    targets = ["acme", "acme/*", "enterprise:octo-ent"]   # "*" = everything

A grant applies when the user is one of ``users`` or belongs to one of ``groups`` (with
both left out it applies to everyone), when the command comes from one of ``channels``
(left out: from anywhere) and when the target matches one of ``targets`` (required).

Target patterns, matched case-insensitively as GitHub matches names:

* ``*``: every target;
* ``acme`` or ``org:acme``: the organization acme itself. It does NOT match acme's
  repositories: a runner registered on a repository is a different target, and granting
  an organization must not silently grant every repository in it. Write ``acme/*`` too;
* ``acme/*``: every repository of acme; ``acme/api`` or ``repo:acme/api``: one repository;
  ``*/*``: every repository;
* ``enterprise:octo-ent``: one enterprise; ``enterprise:*``: every enterprise.

Each part may be an fnmatch glob (``acme-*``, ``acme/svc-*``, ``[ab]team``).

Without a policy everyone may read and nobody may issue tokens or delete runners. Once a
policy is set it is the whole truth: read needs a grant too (a grant with no ``users``,
no ``groups`` and ``targets = ["*"]`` gives it to everyone).
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from bot.targets import Scope, Target, TargetError, parse_target

Action = Literal["read", "token", "admin"]
ACTIONS: tuple[Action, ...] = ("read", "token", "admin")

SETTING = "RUNNEROPS_POLICY"

_GRANT_KEYS = ("actions", "users", "groups", "channels", "targets", "name")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_GROUP_ID = re.compile(r"S[A-Z0-9]+")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")
_ID_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "users": (_USER_ID, "a Slack user ID (like U0123ABCD, not an @name)"),
    "groups": (_GROUP_ID, "a Slack user-group ID (like S0456EFGH, not an @handle)"),
    "channels": (_CHANNEL_ID, "a Slack channel ID (like C0789IJKL, not a #name)"),
}
_GRANT_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*grant[ \t]*\]\]", re.MULTILINE)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")

_GLOB = frozenset("*?[]!")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = {
    "enterprise slug": _ALNUM | {"-"},
    "organization": _ALNUM | {"-", "_"},
    "owner": _ALNUM | {"-", "_"},
    "repository": _ALNUM | {"-", "_", "."},
}


class PolicyError(ValueError):
    """The policy cannot be used; the message names the line and says what to change."""

    def __init__(self, reason: str, *, line: int | None = None, source: str | None = None):
        self.reason = reason
        self.line = line
        self.source = source
        where = f"policy line {line}" if line else "policy"
        suffix = f" (in {source})" if source else ""
        super().__init__(f"{where}: {reason}{suffix}")


class _PatternError(ValueError):
    """Why a target pattern can never match a valid target."""


@dataclass(frozen=True, slots=True)
class _Pattern:
    scope: Scope | None  # None: every target
    owner: str = "*"  # lower-cased glob
    repo: str | None = None  # lower-cased glob, repository patterns only

    def matches(self, target: Target) -> bool:
        if self.scope is None:
            return True
        if target.scope is not self.scope or not fnmatchcase(target.owner.lower(), self.owner):
            return False
        return self.repo is None or fnmatchcase((target.repo or "").lower(), self.repo)


def _segment(text: str, kind: str, literal: Callable[[str], object]) -> str:
    """Check one part of a pattern could match a real name, and fold its case."""
    if not text:
        raise _PatternError(f"the {kind} part is empty")
    bad = sorted(set(text) - _NAME_CHARS[kind] - _GLOB)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise _PatternError(f"no {kind} name contains {shown}")
    if not _GLOB & set(text):
        try:
            literal(text)
        except TargetError:
            raise _PatternError(f"{text!r} is not a valid {kind} name") from None
    return text.lower()


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> _Pattern:
    text = pattern.strip()
    if text == "*":
        return _Pattern(None)
    scope: Scope | None = None
    if ":" in text:
        word, _, text = text.partition(":")
        text = text.strip()
        scope = {"enterprise": Scope.ENTERPRISE, "org": Scope.ORG, "repo": Scope.REPO}.get(
            word.strip().lower()
        )
        if scope is None:
            raise _PatternError(f"unknown scope {word!r} (expected enterprise:, org: or repo:)")
    if scope is None:
        scope = Scope.REPO if "/" in text else Scope.ORG
    if scope is Scope.ENTERPRISE:
        if "/" in text:
            raise _PatternError("an enterprise pattern has no '/'")
        slug = _segment(text, "enterprise slug", lambda s: parse_target(s, Scope.ENTERPRISE))
        return _Pattern(Scope.ENTERPRISE, slug)
    if scope is Scope.ORG:
        if "/" in text:
            raise _PatternError("an organization pattern has no '/' (use OWNER/REPO)")
        return _Pattern(Scope.ORG, _segment(text, "organization", _org))
    owner, sep, repo = text.partition("/")
    if not sep or "/" in repo:
        raise _PatternError("a repository pattern looks like OWNER/REPO")
    return _Pattern(
        Scope.REPO,
        _segment(owner, "owner", _org),
        _segment(repo, "repository", lambda s: parse_target(f"owner/{s}", Scope.REPO)),
    )


def _org(name: str) -> Target:
    return parse_target(name, Scope.ORG)


@dataclass(frozen=True)
class Grant:
    """One ``[[grant]]`` table: who may do which actions, where, on which targets."""

    actions: frozenset[str]
    users: frozenset[str] | None
    groups: frozenset[str] | None
    channels: frozenset[str] | None
    targets: tuple[str, ...]
    name: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        # Fail when the grant is built, not when the first command happens to need it.
        for pattern in self.targets:
            try:
                _compile(pattern)
            except _PatternError as exc:
                raise PolicyError(f"target pattern {pattern!r}: {exc}", line=self.line) from None

    @property
    def label(self) -> str:
        """How refusals and whoami name this grant."""
        where = f"policy line {self.line}" if self.line else None
        if self.name:
            return f"grant '{self.name}'" + (f" ({where})" if where else "")
        return f"the grant at {where}" if where else "an unnamed grant"

    def applies_to(
        self, *, user_id: str, user_groups: frozenset[str], channel_id: str | None
    ) -> bool:
        """Whether the grant holds for this user here (``channel_id`` None: anywhere)."""
        if self.users is not None or self.groups is not None:
            in_users = self.users is not None and user_id in self.users
            in_groups = self.groups is not None and not self.groups.isdisjoint(user_groups)
            if not (in_users or in_groups):
                return False
        return channel_id is None or self.channels is None or channel_id in self.channels

    def covers(self, target: Target) -> bool:
        return any(_compile(pattern).matches(target) for pattern in self.targets)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    action: str
    reason: str  # short, for a person: which grant allowed it, or why nothing did


_DEFAULT_GRANT = Grant(
    actions=frozenset({"read"}),
    users=None,
    groups=None,
    channels=None,
    targets=("*",),
    name="default: read for everyone",
)


@dataclass(frozen=True)
class Policy:
    grants: tuple[Grant, ...]
    is_default: bool = False

    @classmethod
    def default(cls) -> Policy:
        """Read for everyone on every target; token and admin for nobody."""
        return cls((_DEFAULT_GRANT,), is_default=True)

    @classmethod
    def parse(cls, text: str) -> Policy:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _syntax_error(exc, text) from None
        for key in data:
            if key != "grant":
                raise PolicyError(
                    f"unknown top-level key {key!r}: a policy holds only [[grant]] tables",
                    line=_key_line(text, key),
                )
        raw = data.get("grant")
        if raw is None:
            raise PolicyError("no [[grant]] table, so nothing would be allowed")
        if not isinstance(raw, list):
            raise PolicyError(
                "write each grant as [[grant]] (double brackets: there may be several)",
                line=_key_line(text, "grant"),
            )
        headers = [text.count("\n", 0, m.start()) + 1 for m in _GRANT_HEADER.finditer(text)]
        lines = text.splitlines()

        def section(number: int) -> _Section | None:
            """Where grant ``number`` is written: its header line and the lines after it."""
            if number > len(headers):
                return None
            start = headers[number - 1]
            end = headers[number] - 1 if number < len(headers) else len(lines)
            return _Section(start, lines[start:end])

        grants = tuple(
            _parse_grant(entry, number, section(number))
            for number, entry in enumerate(raw, start=1)
        )
        if not grants:
            raise PolicyError("no [[grant]] table, so nothing would be allowed")
        return cls(grants)

    @classmethod
    def from_setting(cls, value: str | None) -> Policy:
        """Read ``RUNNEROPS_POLICY``: empty for the default, TOML text, or a file path.

        PaaS dashboards often keep a setting on one line, so inline text without a real
        line break has its literal ``\\n`` sequences read as line breaks.
        """
        if value is None or not value.strip():
            return cls.default()
        if "[[grant]]" in value or "=" in value or "\n" in value:
            if "\n" not in value and "\\n" in value:
                value = value.replace("\\n", "\n")
            return cls.parse(value)
        path = Path(value.strip()).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(f"{SETTING} names the file {path}, which does not exist") from None
        except OSError as exc:
            raise PolicyError(
                f"{SETTING} names the file {path}, which cannot be read ({exc.strerror})"
            ) from None
        except UnicodeDecodeError:
            raise PolicyError(f"{SETTING} names the file {path}, which is not UTF-8") from None
        try:
            return cls.parse(text)
        except PolicyError as exc:
            raise PolicyError(exc.reason, line=exc.line, source=str(path)) from None

    def referenced_groups(self) -> frozenset[str]:
        """Every user group a grant names: the only memberships worth looking up."""
        return frozenset().union(*(g.groups for g in self.grants if g.groups))

    def grants_for(
        self, *, user_id: str, user_groups: frozenset[str], channel_id: str | None
    ) -> list[Grant]:
        return [
            g
            for g in self.grants
            if g.applies_to(user_id=user_id, user_groups=user_groups, channel_id=channel_id)
        ]

    def decide(
        self,
        action: str,
        *,
        user_id: str,
        user_groups: frozenset[str],
        channel_id: str,
        target: Target | None,
    ) -> Decision:
        """Allow or refuse ``action``; ``target`` None for commands without one (help)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (expected {', '.join(ACTIONS)})")
        if target is None and action == "read":
            return Decision(True, action, "read needs no grant when no target is named")
        for grant in self.grants_for(
            user_id=user_id, user_groups=user_groups, channel_id=channel_id
        ):
            if action in grant.actions and (target is None or grant.covers(target)):
                if self.is_default:
                    return Decision(True, action, f"read is open to everyone ({SETTING} is unset)")
                return Decision(True, action, f"granted by {grant.label}")
        return Decision(False, action, self._refusal(action, user_id, user_groups, target))

    def _refusal(
        self, action: str, user_id: str, user_groups: frozenset[str], target: Target | None
    ) -> str:
        shown_target = str(target) if target is not None else "acme"
        if self.is_default:
            user = user_id if _USER_ID.fullmatch(user_id) else "U…"
            return (
                f"{action} needs a grant in the {SETTING} setting (none is set, so only read"
                f' is allowed); e.g. [[grant]] actions = ["{action}"] users = ["{user}"]'
                f' targets = ["{shown_target}"]'
            )
        what = f"{action} on {target}" if target is not None else action
        if not any(g.channels is not None for g in self.grants):
            return f"no grant gives {what} to you"
        reason = f"no grant gives {what} to you in this channel"
        for grant in self.grants_for(user_id=user_id, user_groups=user_groups, channel_id=None):
            if action in grant.actions and (target is None or grant.covers(target)):
                return f"{reason}; {grant.label} allows it only in other channels"
        return reason


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str) -> PolicyError:
    message = str(exc)
    line: int | None = None
    if found := _TOML_POSITION.search(message):
        line = int(found.group(1))
        message = f"{message[: found.start()]} (column {found.group(2)})"
    elif found := _TOML_AT_END.search(message):
        line = max(1, len(text.rstrip().splitlines()))
        message = f"{message[: found.start()]} (at the end)"
    return PolicyError(message[:1].lower() + message[1:], line=line)


def _key_line(text: str, key: str) -> int | None:
    """Best-effort line of a top-level key or table, for errors found after parsing."""
    name = re.escape(key)
    found = re.search(
        rf"""^[ \t]*(?:\[+[ \t]*)?["']?{name}["']?[ \t]*(?:=|\]|\.)""", text, re.MULTILINE
    )
    return text.count("\n", 0, found.start()) + 1 if found else None


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


@dataclass(frozen=True)
class _Section:
    """A ``[[grant]]`` table as written: its header's line number and the lines below it."""

    line: int
    body: list[str]

    def line_of(self, key: str) -> int:
        """The line of ``key = ...`` (or a ``[grant.key]`` sub-table) in this grant; the
        header's when it is not written there (a missing key)."""
        name = re.escape(key)
        written = re.compile(
            rf"""^[ \t]*(?:["']?{name}["']?[ \t]*[=.]|\[+[ \t]*grant[ \t]*\.[ \t]*["']?{name}\b)"""
        )
        for offset, text in enumerate(self.body, start=1):
            if written.match(text):
                return self.line + offset
        return self.line


class _GrantReader:
    """Reads one ``[[grant]]`` table, each failure naming the grant and its line."""

    def __init__(self, raw: dict[str, Any], number: int, section: _Section | None) -> None:
        self.raw = raw
        self.number = number
        self.section = section

    def fail(self, reason: str, key: str | None = None) -> PolicyError:
        return _grant_error(reason, self.number, self.section, key)

    def check_keys(self) -> None:
        for key in self.raw:
            if key not in _GRANT_KEYS:
                close = difflib.get_close_matches(key, _GRANT_KEYS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    f"unknown key {key!r} ({hint}expected {', '.join(_GRANT_KEYS)})", key
                )

    def strings(self, key: str, *, required: bool = False) -> list[str] | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            got = _describe(value) if not isinstance(value, list) else "a list with non-strings"
            raise self.fail(
                f'{key} must be a list of strings, e.g. {key} = ["..."] (got {got})', key
            )
        if not value:
            optional = "" if required else ", or leave the key out"
            raise self.fail(f"{key} is empty: list at least one{optional}", key)
        return [v.strip() for v in value]

    def name(self) -> str | None:
        name = self.raw.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise self.fail("name must be a non-empty string", "name")
        return name.strip() if isinstance(name, str) else None

    def actions(self) -> list[str]:
        actions = self.strings("actions", required=True)
        if actions is None:
            raise self.fail(f"missing actions (any of {', '.join(ACTIONS)})")
        for action in actions:
            if action.lower() not in ACTIONS:
                raise self.fail(
                    f"unknown action {action!r} (expected {', '.join(ACTIONS)})", "actions"
                )
        return actions

    def ids(self) -> dict[str, frozenset[str] | None]:
        ids: dict[str, frozenset[str] | None] = {}
        for key, (pattern, what) in _ID_RULES.items():
            values = self.strings(key)
            for value in values or ():
                if not pattern.fullmatch(value):
                    raise self.fail(f"{value!r} in {key} is not {what}", key)
            ids[key] = frozenset(values) if values is not None else None
        return ids

    def targets(self) -> list[str]:
        targets = self.strings("targets", required=True)
        if targets is None:
            raise self.fail(
                'missing targets (e.g. targets = ["acme", "acme/*"]; "*" is everything)'
            )
        for target_pattern in targets:
            try:
                _compile(target_pattern)
            except _PatternError as exc:
                raise self.fail(
                    f"target pattern {target_pattern!r} cannot match any target: {exc}",
                    "targets",
                ) from None
        return targets


def _grant_error(
    reason: str, number: int, section: _Section | None, key: str | None = None
) -> PolicyError:
    line = section.line if section is not None else None
    at = section.line_of(key) if section is not None and key is not None else line
    return PolicyError(f"grant #{number}: {reason}", line=at)


def _parse_grant(raw: object, number: int, section: _Section | None) -> Grant:
    if not isinstance(raw, dict):
        raise _grant_error(f"a grant must be a table, not {_describe(raw)}", number, section)
    reader = _GrantReader(raw, number, section)
    reader.check_keys()
    # Checked in this order so the first problem reported stays the same one.
    name = reader.name()
    actions = reader.actions()
    ids = reader.ids()
    targets = reader.targets()
    return Grant(
        actions=frozenset(a.lower() for a in actions),
        users=ids["users"],
        groups=ids["groups"],
        channels=ids["channels"],
        targets=tuple(targets),
        name=name,
        line=section.line if section is not None else None,
    )
