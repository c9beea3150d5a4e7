"""list, get and downloads, end to end: signed Slack request -> GitHub double -> response_url."""

from __future__ import annotations

import re

import pytest

from bot.sandbox.fleet import generated_fleet, seed_generated
from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import SCOPES


@pytest.mark.parametrize("scope", SCOPES)
async def test_list_runners_at_every_scope(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    reply = await sandbox.run(f"list {target}")
    text = reply_text(reply)
    assert "3 runners · 2 online · 1 busy · 1 offline" in text
    for name in ("linux-idle", "linux-busy", "mac-offline"):
        assert name in text
    assert "`gpu`" in text  # custom labels set apart from read-only ones
    assert reply["response_type"] == "ephemeral"
    assert sandbox.github.count("GET", f"{path}/actions/runners") == 1


async def test_scope_word_may_stand_apart(sandbox: Sandbox) -> None:
    for text in (
        "list org acme",
        "list org:acme",
        "list repo acme/api",
        "list repo:acme/api",
        "list enterprise octo-ent",
    ):
        assert "3 runners" in reply_text(await sandbox.run(text)), text


async def test_list_over_several_pages(make_sandbox) -> None:
    def seed(gh) -> None:
        gh.add_org("big")
        gh.add_installation("big")
        for i in range(250):
            gh.add_runner(
                "/orgs/big",
                f"r-{i:03}",
                busy=i % 5 == 0,
                status="offline" if i % 7 == 0 else "online",
            )

    async with make_sandbox(seed=seed) as sb:
        reply = await sb.run("list big")
        text = reply_text(reply)
        assert "250 runners · 214 online · 50 busy · 36 offline" in text
        assert sb.github.count("GET", "/orgs/big/actions/runners") == 3  # 100 + 100 + 50
        assert "more not shown" in text and "--label" in text  # how to narrow
        assert len(reply["blocks"]) <= 50
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in reply["blocks"])
        assert "r-000" in text
        narrowed = reply_text(await sb.run("list big --busy --status offline"))
        assert "8 match" in narrowed and "more not shown" not in narrowed


async def test_list_filters(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("list acme --status online --idle"))
    assert "1 match" in text and "linux-idle" in text and "linux-busy" not in text
    text = reply_text(await sandbox.run("list acme --label docker"))
    assert "linux-busy" in text and "linux-idle" not in text
    text = reply_text(await sandbox.run("list acme --name MAC"))
    assert "mac-offline" in text and "linux" not in text.split("match")[1]


async def test_public_list_goes_in_channel(sandbox: Sandbox) -> None:
    assert (await sandbox.run("list acme --public"))["response_type"] == "in_channel"


@pytest.mark.parametrize("scope", SCOPES)
async def test_get_runner_by_id_and_by_name(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    runner = next(r for r in sandbox.github.runners(path) if r["name"] == "linux-busy")
    by_id = reply_text(await sandbox.run(f"get {target} {runner['id']}"))
    assert "linux-busy" in by_id and "busy" in by_id and "`docker`" in by_id
    assert sandbox.github.count("GET", f"{path}/actions/runners/{runner['id']}") == 1
    by_name = reply_text(await sandbox.run(f"get {target} linux-busy"))
    assert f"*Id*\n{runner['id']}" in by_name


async def test_unknown_runner(sandbox: Sandbox) -> None:
    assert "No runner `nope` in *acme*" in reply_text(await sandbox.run("get acme nope"))
    assert "No runner `999999` in *acme/api*" in reply_text(
        await sandbox.run("get acme/api 999999")
    )


@pytest.mark.parametrize("scope", SCOPES)
async def test_downloads(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    text = reply_text(await sandbox.run(f"downloads {target} --os linux --arch arm64"))
    assert "linux arm64" in text and "osx" not in text and "win" not in text
    assert "actions-runner-linux-arm64" in text
    assert sandbox.github.count("GET", f"{path}/actions/runners/downloads") == 1


async def test_default_target(make_sandbox) -> None:
    async with make_sandbox(default_target="acme/api") as sb:
        assert "*acme/api*" in reply_text(await sb.run("list"))
        assert "linux-idle" in reply_text(await sb.run("get linux-idle"))


async def test_app_not_installed_links_installation_page(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("list globex"))
    assert "not installed on *globex*" in text
    assert "https://github.com/apps/runnerops/installations/new" in text


async def test_app_not_installed_on_ghes_links_its_own_page(make_sandbox) -> None:
    async with make_sandbox(prefix="/api/v3") as sb:
        text = reply_text(await sb.run("list globex"))
        assert "not installed on *globex*" in text
        assert "https://ghe.sandbox/github-apps/runnerops/installations/new" in text
        assert "ghe.sandbox/apps/" not in text


async def test_a_repository_that_does_not_exist_is_not_called_not_installed(
    sandbox: Sandbox,
) -> None:
    """GitHub answers 404 on /repos/O/R/installation alike for a repository that does not
    exist, one the installation does not include, and an account without the App; the
    account's own installation tells them apart."""
    sandbox.github.add_org("initech")
    sandbox.github.add_repo("initech", "b")
    iid = sandbox.github.add_installation("initech", repositories=["initech/a"])
    for target, account, installation in (
        ("acme/nope", "acme", r"\d+"),
        ("initech/b", "initech", str(iid)),
    ):
        text = reply_text(await sandbox.run(f"list {target}"))
        assert f"There is no repository *{target}* that runnerops can see" in text
        assert "Check the name, or add the repository" in text
        link = (
            rf"https://github\.com/organizations/{account}/settings/installations/{installation}\b"
        )
        assert re.search(link, text), text
        assert "not installed" not in text
    absent = reply_text(await sandbox.run("list globex/api"))
    assert "not installed on *globex/api*" in absent
    assert "https://github.com/apps/runnerops/installations/new" in absent


async def test_list_of_thousands_over_many_pages_starts_with_the_counts(make_sandbox) -> None:
    """A signed ``list`` of 3,000 runners: thirty pages fetched, every runner counted, the
    label sets before the runners, and no word of an incomplete listing."""
    n = 3000
    specs = generated_fleet(n)
    async with make_sandbox(seed=lambda gh: seed_generated(gh, "huge", n)) as sb:
        reply = await sb.run("list huge")
        assert sb.github.count("GET", "/orgs/huge/actions/runners") == n // 100
    text = reply_text(reply)
    online = sum(s.status == "online" for s in specs)
    busy = sum(s.busy for s in specs)
    assert f"3,000 runners · {online:,} online · {busy:,} busy · {n - online:,} offline" in text
    gpu = sum("gpu" in s.labels for s in specs)
    assert f"{gpu:,} \u00d7 `linux,x64,gpu`" in text
    assert text.index("By label set") < text.index("*build-000000*")
    assert "incomplete" not in text.lower() and "GitHub counted" not in text
    assert "more not shown" in text and "--label" in text
    assert len(reply["blocks"]) <= 50


async def test_a_repeated_list_is_answered_from_304s_at_no_rate_limit_cost(make_sandbox) -> None:
    """Within the ETags' lifetime every page comes back 304, which GitHub does not count,
    and the reply built from the kept pages is the same as the first."""
    async with make_sandbox(seed=lambda gh: seed_generated(gh, "huge", 500)) as sb:
        first = await sb.run("list huge")
        seen, cost = len(sb.github.requests), sb.github.rate_limit_used()
        again = await sb.run("list huge")
        pages = [r.status for r in sb.github.requests[seen:] if r.path.endswith("/runners")]
        assert pages == [304] * 5
        assert sb.github.rate_limit_used() == cost
    assert again["blocks"] == first["blocks"] and "500 runners" in reply_text(again)
