"""The grammar: every form the README documents, and helpful refusals."""

from __future__ import annotations

import pytest

from bot.commands import UsageError, parse
from bot.targets import Scope, Target


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP"])
def test_help(text: str) -> None:
    assert parse(text).verb == "help"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("list acme", Target(Scope.ORG, "acme")),
        ("list org:acme", Target(Scope.ORG, "acme")),
        ("list org acme", Target(Scope.ORG, "acme")),
        ("list acme/api", Target(Scope.REPO, "acme", "api")),
        ("list repo:acme/api", Target(Scope.REPO, "acme", "api")),
        ("list repo acme/api", Target(Scope.REPO, "acme", "api")),
        ("list enterprise:octo-ent", Target(Scope.ENTERPRISE, "octo-ent")),
        ("list enterprise octo-ent", Target(Scope.ENTERPRISE, "octo-ent")),
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert parse(text).target == target


def test_list_flags() -> None:
    c = parse("list acme --status offline --busy --label gpu --label=x64 --name web --public")
    assert (c.status, c.busy, c.labels, c.name, c.public) == (
        "offline",
        True,
        ("gpu", "x64"),
        "web",
        True,
    )
    assert parse("list acme --idle").busy is False


def test_get_delete_runner() -> None:
    assert parse("get acme/api 42").runner == "42"
    assert parse("delete org acme runner-7").runner == "runner-7"
    assert parse('get acme "name with space"').runner == "name with space"


def test_downloads_flags() -> None:
    c = parse("downloads acme --os win --arch arm64")
    assert (c.os, c.arch) == ("win", "arm64")


def test_default_target() -> None:
    assert parse("token", "acme/api").target == Target(Scope.REPO, "acme", "api")
    assert parse("get 12", "acme").runner == "12"


def test_bare_audit_ignores_the_default_target() -> None:
    assert parse("audit", "acme").target is None
    assert parse("audit --limit 5", "acme/api").target is None
    assert parse("audit acme/api", "acme").target == Target(Scope.REPO, "acme", "api")
    assert parse("list", "acme").target == Target(Scope.ORG, "acme")  # others keep it


@pytest.mark.parametrize(
    ("text", "verb", "fragment"),
    [
        ("frobnicate acme", None, "unknown command"),
        ("list", "list", "which target"),
        ("list acme --status maybe", "list", "online, offline"),
        ("list acme --busy --idle", "list", "exclude"),
        ("list acme --label", "list", "needs a value"),
        ("list acme --frob", "list", "does not take"),
        ("token acme --label x", "token", "does not take"),
        ("get acme", "get", "which runner"),
        ("list ../../etc", "list", "OWNER/REPO"),
        ("list ../etc", "list", "not a valid"),
        ("list acme/..", "list", "not a valid"),
        ("list acme/api/x", "list", "OWNER/REPO"),
        ("list acme%2Fapi", "list", "not a valid"),
        ("list foo:bar", "list", "a target looks like"),
        ("downloads acme --os beos", "downloads", "linux, osx, win"),
        ("list acme extra words here", "list", "too many"),
    ],
)
def test_usage_errors(text: str, verb: str | None, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert err.value.verb == verb
    assert fragment in err.value.message
