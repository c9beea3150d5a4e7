"""The grammar: every form the README documents, and helpful refusals."""

from __future__ import annotations

import pytest

from bot import errors
from bot.commands import RunnerRef, UsageError, split_words, straighten_quotes
from bot.github.models import Runner
from bot.github.runners import choose_runner
from bot.targets import Scope, Target
from handlers import parse


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
    assert parse("get acme/api 42").runner == RunnerRef("42", "either")
    assert parse("delete org acme runner-7").runner == RunnerRef("runner-7", "name")
    assert parse('get acme "name with space"').runner == RunnerRef("name with space", "name")


@pytest.mark.parametrize(
    ("word", "ref"),
    [
        ("42", RunnerRef("42", "either")),  # an id, a name, or both: GitHub will tell
        ("007", RunnerRef("007", "either")),
        ("id:42", RunnerRef("42", "id")),
        ("ID:042", RunnerRef("42", "id")),
        ("name:42", RunnerRef("42", "name")),
        ("Name:linux-idle", RunnerRef("linux-idle", "name")),
        ('name:"my runner"', RunnerRef("my runner", "name")),
        ("name:id:3", RunnerRef("id:3", "name")),  # a runner named "id:3"
        ("name:name:x", RunnerRef("name:x", "name")),
        ("linux-idle", RunnerRef("linux-idle", "name")),
        ("build:7", RunnerRef("build:7", "name")),  # other prefixes are part of the name
        ("\u00b2", RunnerRef("\u00b2", "name")),  # superscript two: not an id
        ("\uff11\uff12", RunnerRef("\uff11\uff12", "name")),  # fullwidth digits
        ("-1", RunnerRef("-1", "name")),
        ("9" * 19, RunnerRef("9" * 19, "name")),  # above int64: no runner has that id
        ("9223372036854775807", RunnerRef("9223372036854775807", "either")),
    ],
)
def test_runner_forms(word: str, ref: RunnerRef) -> None:
    assert parse(f"get acme {word}").runner == ref
    assert parse(f"delete acme {word}").runner == ref


@pytest.mark.parametrize(
    ("word", "fragment"),
    [
        ("id:", "numeric id"),
        ("id:x", "`name:id:x`"),
        ("id:-1", "numeric id"),
        ("id:\u00b2", "numeric id"),
        ("id:" + "9" * 30, "numeric id"),
        ("name:", "exact name"),
        ('name:""', "exact name"),
        ("name:" + "x" * 201, "not valid"),
    ],
)
def test_runner_form_errors(word: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(f"get acme {word}")
    assert err.value.verb == "get" and fragment in err.value.message


def test_runner_ref_lookups() -> None:
    assert (RunnerRef("42", "either").id, RunnerRef("42", "either").names) == (42, ("42",))
    assert (RunnerRef("42", "id").id, RunnerRef("42", "id").names) == (42, ())
    assert (RunnerRef("42", "name").id, RunnerRef("42", "name").names) == (None, ("42",))
    # A phone's apostrophe and a keyboard's find each other's runner.
    assert RunnerRef("ann\u2019s-mac").names == ("ann\u2019s-mac", "ann's-mac")
    assert RunnerRef("ann's-mac").names == ("ann's-mac", "ann\u2019s-mac")
    assert [str(RunnerRef("4", b)) for b in ("id", "name", "either")] == ["4", "4", "4"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("get acme \u201clinux idle\u201d", ["get", "acme", "linux idle"]),
        ("get acme \u201elinux idle\u201c", ["get", "acme", "linux idle"]),
        ("get acme \u2018linux idle\u2019", ["get", "acme", "linux idle"]),
        ("get acme \u201alinux idle\u2019", ["get", "acme", "linux idle"]),
        ("get acme \u2033linux idle\u2033", ["get", "acme", "linux idle"]),
        ("get acme \u2032linux idle\u2032", ["get", "acme", "linux idle"]),
        ("get acme name:\u201clinux idle\u201d", ["get", "acme", "name:linux idle"]),
        ("list acme --name=\u2018a b\u2019", ["list", "acme", "--name=a b"]),
        # An apostrophe inside a word stays what it is, quoted or not.
        ("get acme bob\u2019s-mac", ["get", "acme", "bob\u2019s-mac"]),
        ("get acme \u201cbob\u2019s mac\u201d", ["get", "acme", "bob\u2019s mac"]),
        ("get acme \u2018bob\u2019s mac\u2019", ["get", "acme", "bob\u2019s mac"]),
        ("get acme name:bob\u2019s-mac", ["get", "acme", "name:bob\u2019s-mac"]),
        # Unbalanced: curly quotes taken as characters, then plain spaces.
        ("get acme \u2019tis", ["get", "acme", "\u2019tis"]),
        ("get acme 6\u201d-rack", ["get", "acme", "6\u201d-rack"]),
        ("get acme bob's-mac", ["get", "acme", "bob's-mac"]),
        ('get acme "open', ["get", "acme", '"open']),
    ],
)
def test_curly_quotes(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_straighten_quotes_only_at_word_edges() -> None:
    assert straighten_quotes("\u2018a\u2019 b\u2019c \u201cd\u201d") == "'a' b\u2019c \"d\""


def test_downloads_flags() -> None:
    c = parse("downloads acme --os win --arch arm64")
    assert (c.os, c.arch) == ("win", "arm64")


def test_default_target() -> None:
    assert parse("token", "acme/api").target == Target(Scope.REPO, "acme", "api")
    assert parse("get 12", "acme").runner == RunnerRef("12", "either")
    assert parse("get id:12", "acme").runner == RunnerRef("12", "id")


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
        ("get id:2", "get", "which target"),
        ("delete name:linux-idle", "delete", "which target"),
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


# -- which runner a RUNNER means (pure: what GitHub found goes in, one runner comes out) --

ACME = Target(Scope.ORG, "acme")
BUSY = Runner(2, "linux-busy", "Linux", "online", True)
NAMED_2 = Runner(10, "2", "Linux", "online", False)
SELF_NAMED = Runner(7, "7", "Linux", "online", False)
STRAIGHT = Runner(11, "ann's-mac", "macOS", "online", False)


@pytest.mark.parametrize(
    ("ref", "by_id", "named", "expected"),
    [
        # a bare number: id and name both looked up
        (RunnerRef("2", "either"), BUSY, [NAMED_2], errors.RunnerAmbiguous),
        (RunnerRef("2", "either"), BUSY, [], BUSY),
        (RunnerRef("2", "either"), None, [NAMED_2], NAMED_2),
        (RunnerRef("2", "either"), None, [], errors.RunnerNotFound),
        (RunnerRef("7", "either"), SELF_NAMED, [SELF_NAMED], SELF_NAMED),  # one runner
        # the explicit forms never ask
        (RunnerRef("2", "id"), BUSY, [], BUSY),
        (RunnerRef("2", "id"), None, [], errors.RunnerNotFound),
        (RunnerRef("2", "name"), None, [NAMED_2], NAMED_2),
        (RunnerRef("2", "name"), None, [], errors.RunnerNotFound),
        # GitHub (older GHES) may ignore the name filter: only exact names count
        (RunnerRef("2", "name"), None, [BUSY], errors.RunnerNotFound),
        (RunnerRef("2", "either"), None, [BUSY, NAMED_2], NAMED_2),
        (RunnerRef("LINUX-BUSY", "name"), None, [BUSY], errors.RunnerNotFound),
        # a runner GitHub returned for another id does not count as this one
        (RunnerRef("3", "either"), BUSY, [], errors.RunnerNotFound),
        # two runners with one name (GitHub should not allow it): ask, do not pick
        (
            RunnerRef("2", "name"),
            None,
            [NAMED_2, Runner(12, "2", "Linux", "online", False)],
            errors.RunnerAmbiguous,
        ),
        # a phone's apostrophe finds the keyboard's
        (RunnerRef("ann\u2019s-mac", "name"), None, [STRAIGHT], STRAIGHT),
    ],
)
def test_choose_runner(
    ref: RunnerRef, by_id: Runner | None, named: list[Runner], expected: object
) -> None:
    if isinstance(expected, Runner):
        assert choose_runner(ACME, ref, by_id, named) == expected
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as err:
        choose_runner(ACME, ref, by_id, named)
    assert err.value.target == ACME and err.value.runner == str(ref)


def test_ambiguity_names_each_runner_and_how_it_matched() -> None:
    with pytest.raises(errors.RunnerAmbiguous) as err:
        choose_runner(ACME, RunnerRef("2", "either"), BUSY, [NAMED_2])
    assert err.value.matches == (
        errors.RunnerMatch("id", 2, "linux-busy"),
        errors.RunnerMatch("name", 10, "2"),
    )


# -- fleet verbs: labels, label, groups, list --group, jit ------------------------------


def test_labels_and_label_forms() -> None:
    c = parse("labels acme/api id:7")
    assert (c.verb, c.action, c.runner) == ("labels", "read", RunnerRef("7", "id"))
    c = parse("label org acme linux-idle ADD gpu cuda")
    assert (c.verb, c.action, c.label_op, c.labels) == ("label", "admin", "add", ("gpu", "cuda"))
    assert c.target == Target(Scope.ORG, "acme") and c.runner == RunnerRef("linux-idle")
    assert parse('label acme name:"my runner" remove gpu').runner == RunnerRef("my runner")
    assert parse("label acme name:set set a").runner == RunnerRef("set")  # a runner named set
    assert parse("label acme r set").labels == ()  # set to nothing clears custom labels
    assert parse("label acme r add gpu GPU x").labels == ("gpu", "x")  # case-insensitive once
    assert parse("label acme r set " + " ".join(f"l{i}" for i in range(100))).labels[-1] == "l99"
    assert parse("label r add x", "acme").runner == RunnerRef("r")  # the default target
    assert parse("labels 12", "acme").runner == RunnerRef("12", "either")


def test_groups_and_list_group() -> None:
    assert parse("groups enterprise:octo-ent").target == Target(Scope.ENTERPRISE, "octo-ent")
    assert parse("groups acme").action == "read"
    assert parse("list acme --group Big --idle").group == "Big"
    assert parse("list acme --group=7").group == "7"


def test_jit_forms() -> None:
    c = parse("jit acme new-1 --label gpu --label x64 --group Big --work-folder _w --public")
    assert (c.verb, c.action, c.name, c.labels) == ("jit", "token", "new-1", ("gpu", "x64"))
    assert (c.group, c.work_folder, c.public) == ("Big", "_w", True)
    assert parse("jit acme/api r").labels == () and parse("jit acme r").group is None
    assert parse("jit r9", "acme").name == "r9" and parse("jit r9", "acme").target == ACME_ORG


ACME_ORG = Target(Scope.ORG, "acme")


@pytest.mark.parametrize(
    ("text", "verb", "fragment"),
    [
        ("labels acme", "labels", "which runner"),
        ("labels id:3", "labels", "which target"),
        ("labels acme r --public", "labels", "does not take"),
        ("label acme r", "label", "`add`, `remove` or `set`"),
        ("label acme r gpu", "label", "`add`, `remove` or `set`"),
        ("label acme add gpu", "label", "which runner"),
        ("label acme r add", "label", "`add` needs at least one label"),
        ("label acme r remove", "label", "`remove` needs at least one label"),
        ("label acme r add a,b", "label", "no commas"),
        ("label acme r add " + "x" * 101, "label", "1 to 100 characters"),
        ("label acme r add bad\u0007bell", "label", "control characters"),
        ('label acme r add "two words"', "label", "no spaces"),
        ("label acme r add " + " ".join(f"l{i}" for i in range(101)), "label", "at most 100"),
        ("label acme r add --frob", "label", "does not take"),
        ("groups", "groups", "which target"),
        ("groups acme/api", "groups", "Try `groups acme`"),
        ("groups acme more", "groups", "unexpected"),
        ("list acme/api --group Big", "list", "Default group"),
        ("list acme --group", "list", "needs a value"),
        ("jit acme", "jit", "what should the new runner be called"),
        ("jit acme a b", "jit", "unexpected"),
        ("jit acme id:3", "jit", "without `id:`"),
        ("jit acme r --label a,b", "jit", "no commas"),
        ("jit acme r --label", "jit", "needs a value"),
        ("jit acme r --work-folder", "jit", "needs a value"),
        ("jit acme r --status online", "jit", "does not take"),
        ("jit acme " + "n" * 101, "jit", "at most 100 characters"),
        ("jit acme r " + " ".join(f"--label l{i}" for i in range(101)), "jit", "at most 100"),
    ],
)
def test_fleet_usage_errors(text: str, verb: str | None, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert err.value.verb == verb
    assert fragment in err.value.message
