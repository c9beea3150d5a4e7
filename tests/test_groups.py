"""groups and list --group, end to end: visibility, public repositories, workflows, counts."""

from __future__ import annotations

from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import seed_basic

WORKFLOW = "acme/api/.github/workflows/deploy.yml@refs/heads/main"


def seed_groups(gh) -> None:
    seed_basic(gh)
    gh.add_enterprise("octo-ent", organizations=["acme"])
    gh.add_runner_group(
        "/orgs/acme",
        "Deploy",
        visibility="selected",
        selected_repositories=["api"],
        restricted_to_workflows=True,
        selected_workflows=[WORKFLOW],
    )
    gh.add_runner_group("/orgs/acme", "Private", visibility="private")
    gh.add_runner_group("/orgs/acme", "Open", allows_public_repositories=True)
    gh.add_runner_group(
        "/enterprises/octo-ent", "Shared", visibility="selected", selected_organizations=["acme"]
    )
    deploy = next(g["id"] for g in gh.runner_groups("/orgs/acme") if g["name"] == "Deploy")
    for i in range(2):
        gh.add_runner("/orgs/acme", f"deployer-{i}", runner_group_id=deploy, labels=["deploy"])


def _line(text: str, name: str) -> str:
    lines = text.splitlines()
    index = next(i for i, ln in enumerate(lines) if ln.startswith(f"*{name}*"))
    return lines[index] + "\n" + lines[index + 1]


async def test_groups_of_an_organization(make_sandbox) -> None:
    async with make_sandbox(seed=seed_groups) as sb:
        reply = await sb.run("groups acme")
        text = reply_text(reply)
        assert reply["response_type"] == "ephemeral"
        assert "*acme*: 6 runner groups" in text
        default = _line(text, "Default")  # the organization's own comes first
        assert "_(default)_ · id 1 · 3 runners" in default and "all repositories" in default
        assert "no public repositories · any workflow" in default
        deploy = _line(text, "Deploy")
        assert "2 runners" in deploy and "selected repositories" in deploy
        assert f"only workflows `{WORKFLOW}`" in deploy
        assert "private repositories only" in _line(text, "Private")
        assert "public repositories allowed" in _line(text, "Open")
        assert "0 runners" in _line(text, "Open")
        shared = _line(text, "Shared")
        assert "shared by the enterprise" in shared and "0 runners" in shared
        # One list, then one count per group.
        assert sb.github.count("GET", "/orgs/acme/actions/runner-groups") == 1
        assert sb.github.count("GET", "/orgs/acme/actions/runner-groups/[0-9]+/runners") == 6


async def test_groups_of_an_enterprise(make_sandbox) -> None:
    async with make_sandbox(seed=seed_groups) as sb:
        text = reply_text(await sb.run("groups enterprise:octo-ent"))
        assert "*enterprise:octo-ent*: 2 runner groups" in text
        assert "3 runners" in _line(text, "Default") and "all organizations" in text
        assert "selected organizations" in _line(text, "Shared")
        assert all(r.auth == "pat" for r in sb.github.requests)


async def test_groups_of_a_repository_is_explained_without_a_request(sandbox: Sandbox) -> None:
    before = len(sandbox.github.requests)
    text = reply_text(await sandbox.run("groups acme/api"))
    assert "belong to organizations and enterprises" in text and "`groups acme`" in text
    assert len(sandbox.github.requests) == before


async def test_two_hundred_groups_fit_slack(make_sandbox) -> None:
    def seed(gh) -> None:
        gh.add_org("big")
        gh.add_installation("big")
        for i in range(199):
            gh.add_runner_group(
                "/orgs/big",
                f"group-{i:03}-" + "n" * 60,
                restricted_to_workflows=True,
                selected_workflows=[f"big/r/.github/workflows/{'w' * 50}{j}.yml" for j in range(5)],
            )

    async with make_sandbox(seed=seed) as sb:
        reply = await sb.run("groups big")
        blocks = reply["blocks"]
        assert len(blocks) <= 50
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
        assert sum(len(b.get("text", {}).get("text", "")) for b in blocks) < 11_000
        text = reply_text(reply)
        assert "200 runner groups" in text and "more groups not shown" in text
        assert sb.github.count("GET", "/orgs/big/actions/runner-groups") == 2  # two pages
        # Only the groups shown are counted.
        counted = sb.github.count("GET", "/orgs/big/actions/runner-groups/[0-9]+/runners")
        assert counted <= 40


async def test_list_one_group(make_sandbox) -> None:
    async with make_sandbox(seed=seed_groups) as sb:
        deploy = next(
            g["id"] for g in sb.github.runner_groups("/orgs/acme") if g["name"] == "Deploy"
        )
        for form in ("deploy", "DEPLOY", str(deploy)):
            text = reply_text(await sb.run(f"list acme --group {form}"))
            assert f"group *Deploy* (id {deploy}): 2 runners" in text, form
            assert "deployer-0" in text and "deployer-1" in text and "linux-idle" not in text
        text = reply_text(await sb.run("list acme --group Deploy --name deployer-1"))
        assert "1 match" in text
        text = reply_text(await sb.run("list enterprise:octo-ent --group default"))
        assert "3 runners" in text and "linux-idle" in text


async def test_unknown_group_names_the_groups(make_sandbox) -> None:
    async with make_sandbox(seed=seed_groups) as sb:
        text = reply_text(await sb.run("list acme --group nope"))
        assert "No runner group `nope` in *acme*" in text
        assert "`Default`, `Deploy`, `Private`, `Open`, `Shared`" in text
        assert sb.github.count("GET", "/orgs/acme/actions/runner-groups/.*") == 0


async def test_fleet_verbs_on_ghes_under_api_v3(make_sandbox) -> None:
    async with make_sandbox(prefix="/api/v3", seed=seed_groups) as sb:
        assert "*Custom labels* (1): `gpu`" in reply_text(await sb.run("labels acme linux-idle"))
        assert "added `cuda`" in reply_text(await sb.run("label acme/api linux-idle add cuda"))
        assert "6 runner groups" in reply_text(await sb.run("groups acme"))
        assert "2 runners" in reply_text(await sb.run("list acme --group deploy"))
        text = reply_text(await sb.run("jit enterprise:octo-ent ghes-jit"))
        assert f"./run.sh --jitconfig {sb.github.issued_jit_configs[0]}" in text
        # Every request reached the double under /api/v3 (it answers 404 elsewhere).
        assert sb.github.requests and all(r.status < 400 for r in sb.github.requests)
