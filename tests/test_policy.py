from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.policy.rules import ACTIONS, Grant, Policy, PolicyError
from bot.targets import Scope, Target, parse_target

EXAMPLE = """\
[[grant]]
actions = ["read", "token", "admin"]   # any of read, token, admin
users = ["U0123ABCD"]                  # Slack user IDs
groups = ["S0456EFGH"]                 # Slack user-group IDs
channels = ["C0789IJKL"]               # the grant holds only in these channels
targets = ["acme", "acme/*", "enterprise:octo-ent"]   # "*" = everything
"""

NOBODY: frozenset[str] = frozenset()


def decide(
    policy: Policy,
    action: str,
    target: str | None,
    *,
    user: str = "U0123ABCD",
    groups: frozenset[str] = NOBODY,
    channel: str = "C0789IJKL",
) -> bool:
    parsed = parse_target(target) if target is not None else None
    return policy.decide(
        action, user_id=user, user_groups=groups, channel_id=channel, target=parsed
    ).allowed


def grant(body: str) -> Policy:
    return Policy.parse(f"[[grant]]\n{body}\n")


def error_of(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        Policy.parse(text)
    return str(info.value)


# --- the documented example ---------------------------------------------------------------


def test_example_as_written() -> None:
    policy = Policy.parse(EXAMPLE)
    (only,) = policy.grants
    assert only.actions == frozenset(ACTIONS)
    assert only.users == {"U0123ABCD"}
    assert only.groups == {"S0456EFGH"}
    assert only.channels == {"C0789IJKL"}
    assert only.targets == ("acme", "acme/*", "enterprise:octo-ent")
    assert only.line == 1
    assert only.name is None
    assert not policy.is_default
    for action in ACTIONS:
        assert decide(policy, action, "acme")
        assert decide(policy, action, "acme/api")
        assert decide(policy, action, "enterprise:octo-ent")
        assert not decide(policy, action, "other")
        assert not decide(policy, action, "other/api")
    decision = policy.decide(
        "token",
        user_id="U0123ABCD",
        user_groups=NOBODY,
        channel_id="C0789IJKL",
        target=parse_target("acme/api"),
    )
    assert decision.allowed and decision.action == "token"
    assert "policy line 1" in decision.reason


# --- who ----------------------------------------------------------------------------------


def test_users_only() -> None:
    policy = grant('actions = ["token"]\nusers = ["U1"]\ntargets = ["*"]')
    assert decide(policy, "token", "acme", user="U1")
    assert not decide(policy, "token", "acme", user="U2")
    # Being in some group does not help when the grant names no groups.
    assert not decide(policy, "token", "acme", user="U2", groups=frozenset({"S1"}))


def test_groups_only() -> None:
    policy = grant('actions = ["token"]\ngroups = ["S1"]\ntargets = ["*"]')
    assert decide(policy, "token", "acme", user="U9", groups=frozenset({"S1", "S2"}))
    assert not decide(policy, "token", "acme", user="U9", groups=frozenset({"S2"}))
    assert not decide(policy, "token", "acme", user="U9")


def test_users_or_groups() -> None:
    policy = grant('actions = ["admin"]\nusers = ["U1"]\ngroups = ["S1"]\ntargets = ["*"]')
    assert decide(policy, "admin", "acme", user="U1")
    assert decide(policy, "admin", "acme", user="U2", groups=frozenset({"S1"}))
    assert not decide(policy, "admin", "acme", user="U2", groups=frozenset({"S2"}))


def test_no_users_and_no_groups_means_everyone() -> None:
    policy = grant('actions = ["read"]\ntargets = ["*"]')
    assert decide(policy, "read", "acme", user="UANYONE", channel="CANY")
    assert decide(policy, "read", "enterprise:x", user="WGRID", channel="DDM")


def test_channels() -> None:
    policy = grant('actions = ["token"]\nchannels = ["C1", "G2"]\ntargets = ["*"]')
    assert decide(policy, "token", "acme", channel="C1")
    assert decide(policy, "token", "acme", channel="G2")
    assert not decide(policy, "token", "acme", channel="C3")
    refusal = policy.decide(
        "token", user_id="U1", user_groups=NOBODY, channel_id="C3", target=parse_target("acme")
    )
    assert refusal.reason == (
        "no grant gives token on acme to you in this channel; the grant at policy line 1"
        " allows it only in other channels"
    )


def test_actions_are_separate() -> None:
    policy = grant('actions = ["read", "token"]\ntargets = ["*"]')
    assert decide(policy, "read", "acme")
    assert decide(policy, "token", "acme")
    assert not decide(policy, "admin", "acme")


def test_several_grants_first_applying_one_names_itself() -> None:
    policy = Policy.parse(
        '[[grant]]\nname = "everyone"\nactions = ["read"]\ntargets = ["*"]\n\n'
        '[[grant]]\nname = "platform"\nactions = ["token", "admin"]\ngroups = ["S1"]\n'
        'targets = ["acme/*"]\n'
    )
    allowed = policy.decide(
        "admin",
        user_id="U1",
        user_groups=frozenset({"S1"}),
        channel_id="C1",
        target=parse_target("acme/api"),
    )
    assert allowed.allowed
    assert allowed.reason == "granted by grant 'platform' (policy line 6)"
    refused = policy.decide(
        "admin",
        user_id="U2",
        user_groups=NOBODY,
        channel_id="C1",
        target=parse_target("acme/api"),
    )
    assert not refused.allowed
    assert refused.reason == "no grant gives admin on acme/api to you"


# --- which targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["acme", "acme/api", "enterprise:octo-ent"], []),
        ("acme", ["acme", "org:acme", "ACME"], ["acme/api", "acme-labs", "enterprise:acme"]),
        ("org:acme", ["acme"], ["acme/api"]),
        ("acme/*", ["acme/api", "acme/web", "Acme/API"], ["acme", "other/api"]),
        ("acme/api", ["acme/api", "repo:acme/api", "ACME/Api"], ["acme/web", "acme"]),
        ("repo:acme/api", ["acme/api"], ["acme/apix"]),
        ("*/*", ["acme/api", "x/y"], ["acme", "enterprise:e"]),
        (
            "enterprise:octo-ent",
            ["enterprise:octo-ent", "enterprise:OCTO-ENT"],
            ["octo-ent", "enterprise:octo"],
        ),
        ("enterprise:*", ["enterprise:a", "enterprise:b"], ["acme", "acme/api"]),
        ("org:*", ["acme", "other"], ["acme/api", "enterprise:a"]),
        ("acme-*", ["acme-labs", "ACME-X"], ["acme", "acme-labs/api"]),
        ("acme/svc-*", ["acme/svc-api", "acme/SVC-web"], ["acme/api", "other/svc-api"]),
        ("*/infra", ["acme/infra", "other/infra"], ["acme/infra2"]),
        ("[ab]team", ["ateam", "bteam"], ["cteam"]),
        ("ACME/Api.js", ["acme/api.js"], ["acme/apixjs"]),
    ],
)
def test_target_patterns(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    policy = grant(f'actions = ["read"]\ntargets = ["{pattern}"]')
    for target in matching:
        assert decide(policy, "read", target), target
    for target in not_matching:
        assert not decide(policy, "read", target), target


def test_org_pattern_does_not_cover_its_repositories() -> None:
    policy = grant('actions = ["token"]\ntargets = ["acme"]')
    assert decide(policy, "token", "acme")
    assert not decide(policy, "token", "acme/api")


logins = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
repos = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,12}", fullmatch=True)
targets = st.one_of(
    st.builds(lambda o: Target(Scope.ORG, o), logins),
    st.builds(lambda o, r: Target(Scope.REPO, o, r), logins, repos),
    st.builds(lambda o: Target(Scope.ENTERPRISE, o), logins),
)
pattern_text = {Scope.ORG: "org:{}", Scope.REPO: "repo:{}", Scope.ENTERPRISE: "{}"}


@given(target=targets, flips=st.lists(st.booleans(), min_size=120, max_size=120))
def test_matching_ignores_case_and_star_matches_everything(
    target: Target, flips: list[bool]
) -> None:
    def flip(text: str) -> str:
        return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=False))

    written = pattern_text[target.scope].format(str(target))
    policy = Policy.parse(
        f'[[grant]]\nactions = ["read"]\ntargets = ["{flip(written)}"]\n'
        '[[grant]]\nactions = ["token"]\ntargets = ["*"]\n'
    )
    swapped = Target(target.scope, target.owner.swapcase(), target.repo and target.repo.swapcase())
    for candidate in (target, swapped):
        assert policy.decide(
            "read", user_id="U1", user_groups=NOBODY, channel_id="C1", target=candidate
        ).allowed
        assert policy.decide(
            "token", user_id="U1", user_groups=NOBODY, channel_id="C1", target=candidate
        ).allowed
        assert not policy.decide(
            "admin", user_id="U1", user_groups=NOBODY, channel_id="C1", target=candidate
        ).allowed


# --- no target ----------------------------------------------------------------------------


def test_no_target_read_always_allowed() -> None:
    policy = grant('actions = ["token"]\nusers = ["U1"]\nchannels = ["C1"]\ntargets = ["x"]')
    assert decide(policy, "read", None, user="U2", channel="C2")


def test_no_target_only_user_and_channel_count() -> None:
    policy = grant('actions = ["admin"]\nusers = ["U1"]\nchannels = ["C1"]\ntargets = ["x/y"]')
    assert decide(policy, "admin", None, user="U1", channel="C1")
    assert not decide(policy, "admin", None, user="U1", channel="C2")
    assert not decide(policy, "admin", None, user="U2", channel="C1")
    assert not decide(policy, "token", None, user="U1", channel="C1")


def test_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Policy.default().decide(
            "write", user_id="U1", user_groups=NOBODY, channel_id="C1", target=None
        )


# --- default ------------------------------------------------------------------------------


def test_default_policy() -> None:
    policy = Policy.default()
    assert policy.is_default
    for target in ("acme", "acme/api", "enterprise:octo-ent", None):
        assert decide(policy, "read", target, user="UANY", channel="CANY")
        for action in ("token", "admin"):
            assert not decide(policy, action, target, user="UANY", channel="CANY")
    refusal = policy.decide(
        "token",
        user_id="U0123ABCD",
        user_groups=NOBODY,
        channel_id="C1",
        target=parse_target("acme/api"),
    )
    assert refusal.reason == (
        "token needs a grant in the RUNNEROPS_POLICY setting (none is set, so only read is"
        ' allowed); e.g. [[grant]] actions = ["token"] users = ["U0123ABCD"]'
        ' targets = ["acme/api"]'
    )
    assert (
        "RUNNEROPS_POLICY"
        in policy.decide(
            "admin", user_id="not-an-id", user_groups=NOBODY, channel_id="C1", target=None
        ).reason
    )
    assert policy.referenced_groups() == frozenset()


# --- from_setting -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   \n"])
def test_from_setting_empty_is_default(value: str | None) -> None:
    assert Policy.from_setting(value).is_default


def test_from_setting_inline() -> None:
    assert Policy.from_setting(EXAMPLE) == Policy.parse(EXAMPLE)
    one_line = 'grant = [{actions = ["read"], targets = ["*"]}]'
    policy = Policy.from_setting(one_line)
    assert decide(policy, "read", "acme")
    assert policy.grants[0].line is None


def test_from_setting_one_line_with_escaped_newlines() -> None:
    one_line = EXAMPLE.replace("\n", "\\n")
    assert "\n" not in one_line
    assert Policy.from_setting(one_line) == Policy.parse(EXAMPLE)


def test_from_setting_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE)
    policy = Policy.from_setting(str(path))
    assert policy == Policy.parse(EXAMPLE)
    assert decide(policy, "token", "acme/api")


def test_from_setting_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=r"nope\.toml.*does not exist"):
        Policy.from_setting(str(path))


def test_from_setting_bad_file_names_line_and_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('# grants\n\n[[grant]]\nactions = ["tokens"]\ntargets = ["*"]\n')
    with pytest.raises(PolicyError) as info:
        Policy.from_setting(str(path))
    assert str(info.value).startswith("policy line 4: grant #1: unknown action 'tokens'")
    assert str(path) in str(info.value)
    assert info.value.line == 4  # the line of actions, not of its [[grant]]


# --- errors name the right line -----------------------------------------------------------

PREAMBLE = '# the policy\n\n[[grant]]\nname = "ok"\nactions = ["read"]\ntargets = ["*"]\n\n'


@pytest.mark.parametrize(
    ("body", "reason", "line"),
    [
        (
            'actions = ["tokens"]\ntargets = ["*"]',
            "unknown action 'tokens' (expected read, token, admin)",
            9,
        ),
        ('actions = []\ntargets = ["*"]', "actions is empty", 9),
        ('targets = ["*"]', "missing actions", 8),
        ('actions = "read"\ntargets = ["*"]', "actions must be a list of strings", 9),
        ('actions = ["read", 1]\ntargets = ["*"]', "actions must be a list of strings", 9),
        ('actions = ["read"]', "missing targets", 8),
        ('actions = ["read"]\ntargets = []', "targets is empty", 10),
        ('actions = ["read"]\ntargets = "*"', "targets must be a list of strings", 10),
        (
            'actions = ["read"]\nuser = ["U1"]\ntargets = ["*"]',
            "unknown key 'user' (did you mean 'users'?",
            10,
        ),
        (
            'actions = ["read"]\nusers = ["@alice"]\ntargets = ["*"]',
            "'@alice' in users is not a Slack user ID",
            10,
        ),
        ('actions = ["read"]\nusers = ["S1"]\ntargets = ["*"]', "in users is not a Slack user", 10),
        ('actions = ["read"]\nusers = ["u1"]\ntargets = ["*"]', "in users is not a Slack user", 10),
        (
            'actions = ["read"]\ngroups = ["U1"]\ntargets = ["*"]',
            "'U1' in groups is not a Slack user-group ID",
            10,
        ),
        (
            'actions = ["read"]\nchannels = ["#ops"]\ntargets = ["*"]',
            "'#ops' in channels is not a Slack channel ID",
            10,
        ),
        (
            'actions = ["read"]\nchannels = 5\ntargets = ["*"]',
            "channels must be a list of strings",
            10,
        ),
        ('actions = ["read"]\nname = ""\ntargets = ["*"]', "name must be a non-empty string", 10),
        (
            'actions = ["read"]\ntargets = ["acme/api/x"]',
            "target pattern 'acme/api/x' cannot match any target",
            10,
        ),
        ('actions = ["read"]\ntargets = ["team:acme"]', "unknown scope 'team'", 10),
        ('actions = ["read"]\ntargets = ["acme/"]', "the repository part is empty", 10),
        ('actions = ["read"]\ntargets = ["-acme"]', "'-acme' is not a valid organization", 10),
        ('actions = ["read"]\ntargets = ["ac me*"]', "no organization name contains ' '", 10),
        ('actions = ["read"]\ntargets = ["enterprise:a/b"]', "enterprise pattern has no '/'", 10),
        ('actions = ["read"]\ntargets = ["org:a/b"]', "organization pattern has no '/'", 10),
        ('actions = ["read"]\ntargets = ["repo:acme"]', "looks like OWNER/REPO", 10),
        ('actions = ["read"]\ntargets = ["acme/.."]', "'..' is not a valid repository", 10),
        ('actions = ["read"]\ntargets = [""]', "the organization part is empty", 10),
        ('actions = ["read"]\ntargets = ["*"]\n[grant.extra]\nx = 1', "unknown key 'extra'", 11),
    ],
)
def test_grant_errors_name_the_offending_keys_line(body: str, reason: str, line: int) -> None:
    """The line of the key at fault (the grant's body starts on line 9); a missing key's
    error names the grant's header (line 8)."""
    message = error_of(f"{PREAMBLE}  [[ grant ]]  # second\n{body}\n")
    assert message.startswith(f"policy line {line}: grant #2: "), message
    assert reason in message


def test_syntax_error_names_the_toml_line() -> None:
    message = error_of('[[grant]]\nactions = ["read"]\ntargets = ["*"\nname = "x"\n')
    assert message.startswith("policy line 4: ")
    message = error_of('[[grant]]\nactions = ["read"]\nactions = ["token"]\ntargets = ["*"]\n')
    assert message.startswith("policy line 3: ")
    assert "column" in message


def test_syntax_error_at_end_of_document() -> None:
    assert error_of('[[grant]]\nactions = ["read"]\ntargets = \n').startswith("policy line 3: ")


def test_top_level_key_is_refused_at_its_line() -> None:
    message = error_of('# header\nversion = 2\n[[grant]]\nactions = ["read"]\ntargets = ["*"]\n')
    assert message == (
        "policy line 2: unknown top-level key 'version': a policy holds only [[grant]] tables"
    )
    message = error_of('[[grant]]\nactions = ["read"]\ntargets = ["*"]\n\n[settings]\nx = 1\n')
    assert message.startswith("policy line 5: unknown top-level key 'settings'")


def test_single_bracket_grant_is_refused() -> None:
    message = error_of('\n[grant]\nactions = ["read"]\ntargets = ["*"]\n')
    assert message.startswith("policy line 2: write each grant as [[grant]]")


def test_empty_policy_is_refused() -> None:
    assert "no [[grant]]" in error_of("# nothing yet\n")


def test_inline_grant_errors_have_no_line() -> None:
    message = error_of('grant = [{actions = ["read"], targets = ["*"]}, {actions = ["x"]}]')
    assert message.startswith("policy: grant #2: unknown action 'x'")


def test_grant_checks_its_patterns_when_built() -> None:
    with pytest.raises(PolicyError, match="target pattern 'a/b/c'"):
        Grant(frozenset({"read"}), None, None, None, ("a/b/c",), None, None)


# --- groups and whoami --------------------------------------------------------------------

TWO_GROUPS = """\
[[grant]]
name = "readers"
actions = ["read"]
targets = ["*"]

[[grant]]
name = "platform"
actions = ["token", "admin"]
groups = ["S1", "S2"]
channels = ["C1"]
targets = ["acme/*"]

[[grant]]
name = "oncall"
actions = ["token"]
users = ["U7"]
groups = ["S3"]
targets = ["acme"]
"""


def test_referenced_groups() -> None:
    assert Policy.parse(TWO_GROUPS).referenced_groups() == {"S1", "S2", "S3"}
    assert Policy.parse(EXAMPLE).referenced_groups() == {"S0456EFGH"}


def names(grants: list[Grant]) -> list[str | None]:
    return [g.name for g in grants]


def test_grants_for() -> None:
    policy = Policy.parse(TWO_GROUPS)
    s1 = frozenset({"S1"})
    assert names(policy.grants_for(user_id="U1", user_groups=s1, channel_id="C1")) == [
        "readers",
        "platform",
    ]
    assert names(policy.grants_for(user_id="U1", user_groups=s1, channel_id="C2")) == ["readers"]
    assert names(policy.grants_for(user_id="U1", user_groups=s1, channel_id=None)) == [
        "readers",
        "platform",
    ]
    assert names(policy.grants_for(user_id="U7", user_groups=NOBODY, channel_id=None)) == [
        "readers",
        "oncall",
    ]
    assert names(
        policy.grants_for(user_id="U9", user_groups=frozenset({"S3", "S2"}), channel_id="C1")
    ) == ["readers", "platform", "oncall"]
    lines = [g.line for g in policy.grants]
    assert lines == [1, 6, 13]
    assert policy.grants[1].label == "grant 'platform' (policy line 6)"


def test_second_grant_error_names_its_own_header() -> None:
    text = (
        '[[grant]]\nname = "a"\nactions = ["read"]\ntargets = ["*"]\n[[grant]]\nactions = ["x"]\n'
    )
    assert error_of(text).startswith("policy line 6: grant #2:")  # its actions line


def test_a_typo_is_named_on_its_own_line_not_the_grants() -> None:
    text = '[[grant]]\nactions = ["read"]\ntagets = ["*"]\n'
    assert error_of(text).startswith("policy line 3: grant #1: unknown key 'tagets'")
    text = (
        '[[grant]]\nname = "a"\nusers = [\n  "U1",\n  "U2",\n]\n"targets" = ["a/b/c"]\n'
        'actions = ["read"]\n'
    )
    assert error_of(text).startswith("policy line 7: grant #1: target pattern 'a/b/c'")
