"""RUNNER forms end to end: ``id:N``, ``name:TEXT``, bare numbers that are both, curly quotes.

Signed slash commands go into the running app; the GitHub double answers. The fleet is
``seed_basic`` plus, in ``acme``, a runner *named* "2" while another runner *has id* 2,
and names that only a phone keyboard's quotes can type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot import errors
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Sandbox, find_button, reply_text
from bot.slack.views.delete import DELETE_ACTION
from bot.slack.views.errors import error_text
from bot.targets import Scope, Target
from tests.conftest import seed_basic

ORG = "/orgs/acme"
RUNNERS = f"{ORG}/actions/runners"


class Fleet:
    """The ids the double gave the runners seeded here (its ids are sequential from 1)."""

    def __init__(self) -> None:
        self.named_two = self.spaced = self.curly = self.straight = 0

    def seed(self, gh: GitHubDouble) -> None:
        seed_basic(gh)
        self.named_two = gh.add_runner(ORG, "2", labels=["numbered"])
        self.spaced = gh.add_runner(ORG, "linux idle")
        self.curly = gh.add_runner(ORG, "bob\u2019s-mac")  # the name has a curly apostrophe
        self.straight = gh.add_runner("/repos/acme/api", "ann's-mac")


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


@pytest.fixture
async def sb(make_sandbox: Callable[..., Any], fleet: Fleet) -> AsyncIterator[Sandbox]:
    async with make_sandbox(seed=fleet.seed) as sandbox:
        # The premise of these tests: id 2 and the runner named "2" are two runners.
        assert fleet.named_two != 2 and name_of(sandbox, 2) == "linux-busy"
        yield sandbox


def name_of(sb: Sandbox, runner_id: int, path: str = ORG) -> str:
    return next(r["name"] for r in sb.github.runners(path) if r["id"] == runner_id)


async def test_bare_number_naming_two_runners_asks(sb: Sandbox, fleet: Fleet) -> None:
    assert name_of(sb, 2) == "linux-busy"
    before = len(sb.github.requests)
    text = reply_text(await sb.run("get acme 2"))
    assert "*linux-busy* (id 2)" in text and f"*2* (id {fleet.named_two})" in text
    assert "`id:2`" in text and "`name:2`" in text
    assert "Runner linux-busy" not in text and "Runner 2" not in text  # no detail picked
    # A bare number needs both lookups, and nothing more.
    calls = [(r.method, r.path) for r in sb.github.requests[before:] if "/actions/" in r.path]
    assert sorted(calls) == [("GET", RUNNERS), ("GET", f"{RUNNERS}/2")]


async def test_id_form_takes_the_id(sb: Sandbox) -> None:
    before = len(sb.github.requests)
    text = reply_text(await sb.run("get acme id:2"))
    assert "Runner linux-busy" in text and "*Id*\n2" in text
    # The runner's lookup (``get`` then asks its group's name: issue 19).
    calls = [
        (r.method, r.path) for r in sb.github.requests[before:] if "/actions/runners" in r.path
    ]
    assert calls == [("GET", f"{RUNNERS}/2")]  # one call: no name lookup


async def test_name_form_takes_the_name(sb: Sandbox, fleet: Fleet) -> None:
    before = len(sb.github.requests)
    text = reply_text(await sb.run("get acme name:2"))
    assert "Runner 2" in text and f"*Id*\n{fleet.named_two}" in text and "`numbered`" in text
    # The runner's lookup (``get`` then asks its group's name: issue 19).
    calls = [
        (r.method, r.path) for r in sb.github.requests[before:] if "/actions/runners" in r.path
    ]
    assert calls == [("GET", RUNNERS)]  # one call, filtered by name
    listed = [r for r in sb.github.requests[before:] if r.path == RUNNERS]
    assert listed[-1].query.get("name") == "2"


async def test_bare_number_that_is_only_an_id(sb: Sandbox) -> None:
    assert "Runner mac-offline" in reply_text(await sb.run("get acme 3"))


async def test_bare_number_that_is_only_a_name(sb: Sandbox) -> None:
    named = sb.github.add_runner("/repos/acme/api", "77")
    assert named != 77  # no runner has id 77: the name decides
    text = reply_text(await sb.run("get acme/api 77"))
    assert "Runner 77" in text and f"*Id*\n{named}" in text
    assert sb.github.count("GET", "/repos/acme/api/actions/runners/77") == 1  # asked, 404


async def test_runner_whose_name_is_its_own_id(sb: Sandbox) -> None:
    """id N named "N" is one runner: no question."""
    new_id = sb.github.add_runner("/repos/acme/web", "placeholder")
    sb.github.add_runner("/repos/acme/web", str(new_id + 1))  # gets id new_id + 1
    text = reply_text(await sb.run(f"get acme/web {new_id + 1}"))
    assert f"Runner {new_id + 1}" in text and "could mean" not in text


async def test_unknown_forms(sb: Sandbox) -> None:
    assert "No runner `999` in *acme*" in reply_text(await sb.run("get acme id:999"))
    assert "No runner `ghost` in *acme*" in reply_text(await sb.run("get acme name:ghost"))
    text = reply_text(await sb.run("get acme id:linux-busy"))
    assert text.startswith(":warning:") and "`name:id:linux-busy`" in text


async def test_delete_bare_number_gives_no_button(sb: Sandbox) -> None:
    reply = await sb.run("delete acme 2")
    text = reply_text(reply)
    assert "`id:2`" in text and "`name:2`" in text and "Nothing was done" in text
    with pytest.raises(LookupError):
        find_button(reply, DELETE_ACTION)
    assert sb.github.count("DELETE", f"{RUNNERS}/.*") == 0


async def test_delete_by_name_form_deletes_the_named_runner(sb: Sandbox, fleet: Fleet) -> None:
    ask = await sb.run("delete acme name:2")
    assert "Delete runner *2*" in reply_text(ask)
    assert f'"id": {fleet.named_two}' in find_button(ask, DELETE_ACTION)["value"]
    done = await sb.click(ask, DELETE_ACTION)
    assert "was deleted" in reply_text(done)
    assert sb.github.count("DELETE", f"{RUNNERS}/{fleet.named_two}") == 1
    assert name_of(sb, 2) == "linux-busy"  # id 2 untouched
    # With the clash gone, the bare number means id 2 again.
    assert "Runner linux-busy" in reply_text(await sb.run("get acme 2"))


async def test_delete_by_id_form(sb: Sandbox) -> None:
    ask = await sb.run("delete acme id:2")
    assert "Delete runner *linux-busy*" in reply_text(ask)
    assert '"id": 2' in find_button(ask, DELETE_ACTION)["value"]


@pytest.mark.parametrize(
    "text",
    [
        "get acme \u201clinux idle\u201d",  # as iOS and Android type "linux idle"
        "get acme \u201elinux idle\u201c",  # German keyboards: low-9 then left quote
        "get acme \u2018linux idle\u2019",  # single curly quotes
        "get acme name:\u201clinux idle\u201d",
        'get acme name:"linux idle"',
    ],
)
async def test_curly_quotes_are_quotes(sb: Sandbox, fleet: Fleet, text: str) -> None:
    reply = reply_text(await sb.run(text))
    assert "Runner linux idle" in reply and f"*Id*\n{fleet.spaced}" in reply


@pytest.mark.parametrize(
    "text",
    [
        "get acme bob\u2019s-mac",  # typed bare: the apostrophe is part of the name
        "get acme \u201cbob\u2019s-mac\u201d",
        "get acme \u2018bob\u2019s-mac\u2019",
        "get acme name:bob\u2019s-mac",
    ],
)
async def test_apostrophe_inside_a_name_stays(sb: Sandbox, fleet: Fleet, text: str) -> None:
    reply = reply_text(await sb.run(text))
    assert "Runner bob\u2019s-mac" in reply and f"*Id*\n{fleet.curly}" in reply


async def test_phone_apostrophe_finds_a_straight_one(sb: Sandbox, fleet: Fleet) -> None:
    """A phone types U+2019 for the apostrophe of a runner registered as ann's-mac."""
    before = len(sb.github.requests)
    reply = reply_text(await sb.run("get acme/api ann\u2019s-mac"))
    assert "Runner ann's-mac" in reply and f"*Id*\n{fleet.straight}" in reply
    names = [r.query.get("name") for r in sb.github.requests[before:] if "/actions/" in r.path]
    assert names == ["ann\u2019s-mac", "ann's-mac"]  # the second lookup only as typed failed


def test_ambiguity_reply_offers_a_form_that_picks_each_runner() -> None:
    acme = Target(Scope.ORG, "acme")
    clash = errors.RunnerAmbiguous(
        acme,
        "5",
        (errors.RunnerMatch("id", 5, "my <!here> box"), errors.RunnerMatch("name", 9, "5")),
    )
    text = error_text(clash, install_url="")
    assert "`id:5` for *my &lt;!here&gt; box*" in text and "`name:5` for *5*" in text
    # Two runners of one name: only their ids tell them apart.
    twins = errors.RunnerAmbiguous(
        acme, "a b", (errors.RunnerMatch("name", 4, "a b"), errors.RunnerMatch("name", 8, "a b"))
    )
    text = error_text(twins, install_url="")
    assert "`id:4`" in text and "`id:8`" in text and "name:" not in text
