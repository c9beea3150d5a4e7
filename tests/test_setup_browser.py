"""The setup page in a real browser: headless Chromium clicks through GitHub's manifest flow
(the GitHub double's form and confirm page), lands on the callback and reads what it shows.

Screenshots of the setup page and the callback page are saved under the test's tmp dir.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.sandbox.browser import chromium
from bot.sandbox.harness import Keys
from bot.sandbox.serve import serve
from bot.sandbox.setup_screenshot import render
from tests.browser import need_browser
from tests.test_setup import form_fields, running

# The tests share one Chromium (see ``browser``), so they run on the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(autouse=True)
def _browser_here() -> None:
    need_browser()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the module, started once: each test opens its pages in a context
    of its own (``new_page`` makes one), so no cookie or storage passes between tests."""
    need_browser()
    async with chromium() as launched:
        yield launched


@pytest.mark.parametrize("organization", ["acme", ""])
async def test_register_the_github_app_in_a_browser(
    keys: Keys, tmp_path: Path, organization: str, browser: Any
) -> None:
    async with running(keys) as sb:
        page = await browser.new_page(viewport={"width": 960, "height": 900})
        answer = await page.goto(sb.url + "/setup")
        assert answer is not None and answer.status == 200
        assert await page.title() == "Set up runnerops · runnerops"
        assert "setup mode" in await page.inner_text("main")
        # Where GitHub is: the deployment's setting, shown, not a field to fill in.
        host = await page.inner_text("#github-host")
        assert sb.github_url in host and "GITHUB_API_URL" in host
        assert await page.locator("input[name=github_url]").count() == 0
        assert await page.locator("input[name=state]").count() == 0  # made on posting
        await page.screenshot(path=str(tmp_path / "setup.png"), full_page=True)
        if organization:
            await page.fill("#organization", organization)
        await page.click("button:has-text('Register on GitHub')")
        # GitHub's (the double's) page, reached through our 307 with the form re-posted.
        owner = organization or sb.github.manifest_user
        await page.wait_for_selector(f"h1:has-text('Create GitHub App for {owner}')")
        assert page.url.startswith(sb.github_url + "/")
        expected = "/organizations/acme/" if organization else "/settings/apps/new"
        assert expected in page.url
        assert await page.inner_text("#app-name") == "runnerops"
        await page.click("button:has-text('Create GitHub App')")
        await page.wait_for_selector("h1:has-text('registered')")
        assert page.url.startswith(sb.url + "/setup/github/callback?code=")
        await page.screenshot(path=str(tmp_path / "callback.png"), full_page=True)

        (app,) = sb.github.manifest_apps
        assert app["owner"]["login"] == owner
        main = await page.inner_text("main")
        assert f"GitHub App {app['slug']} registered" in main
        assert str(app["id"]) in main and app["slug"] in main
        heroku = await page.inner_text("#heroku")
        assert heroku.startswith("heroku config:set")
        assert "-----BEGIN RSA PRIVATE KEY-----" in heroku
        assert f"GITHUB_APP_ID={app['id']}" in heroku
        assert f"GITHUB_WEBHOOK_SECRET={app['webhook_secret']}" in heroku
        dotenv = await page.inner_text("#dotenv")
        assert "GITHUB_PRIVATE_KEY='-----BEGIN RSA PRIVATE KEY-----\\n" in dotenv
        assert "set -a; . ./github.env" in await page.inner_text("main")
        install = await page.get_attribute("#install", "href")
        assert install == f"{sb.github_url}/apps/{app['slug']}/installations/new"
        assert (tmp_path / "setup.png").stat().st_size > 10_000
        assert (tmp_path / "callback.png").stat().st_size > 10_000


async def test_a_wrong_state_is_refused_in_the_browser(
    keys: Keys, tmp_path: Path, browser: Any
) -> None:
    """The flow started in this browser (its setup cookie set, a real one-hour code from
    GitHub) comes back with only ``state`` changed: refused, and the code not exchanged.
    The same code with the state it was sent with then registers: only the state was
    wrong."""
    async with running(keys) as sb:
        page = await browser.new_page()
        await page.goto(sb.url + "/setup")
        await page.click("button:has-text('Register on GitHub')")
        await page.wait_for_selector("h1:has-text('Create GitHub App')")
        state_field = "input[name=state]"
        sent = await page.get_attribute(state_field, "value")
        assert sent  # the state our setup page handed to GitHub
        forged = sent[:-1] + ("A" if sent[-1] != "A" else "B")
        # GitHub sends back whatever state it was given (in the form's address, as its
        # docs say, or the form): give the double another one, both ways.
        await page.eval_on_selector(
            state_field,
            """(field, value) => {
                field.value = value;
                const url = new URL(location.href);
                url.searchParams.set("state", value);
                field.form.action = url.toString();
            }""",
            forged,
        )
        async with page.expect_navigation(url="**/setup/github/callback*") as landed:
            await page.click("button:has-text('Create GitHub App')")
        answer = await landed.value
        back = urlsplit(page.url)
        query = dict(parse_qsl(back.query))
        assert back.path == "/setup/github/callback" and query["state"] == forged
        assert answer is not None and answer.status == 400
        assert "Refused" in await page.inner_text("h1")
        assert "nothing was registered" in await page.inner_text("main")
        await page.screenshot(path=str(tmp_path / "refused.png"))
        assert sb.github.count("POST", r"/app-manifests/.*/conversions") == 0
        assert not sb.github.manifest_apps

        right = f"{sb.url}/setup/github/callback?{urlencode({**query, 'state': sent})}"
        answer = await page.goto(right)
        assert answer is not None and answer.status == 200
        await page.wait_for_selector("h1:has-text('registered')")
        assert sb.github.count("POST", r"/app-manifests/.*/conversions") == 1


async def test_the_operators_registration_outlives_a_crowd(keys: Keys, browser: Any) -> None:
    """The operator presses Register and is on GitHub's page; meanwhile 1,200 other
    browsers load the setup page and post its form. The operator's return still works."""
    async with running(keys) as sb:
        page = await browser.new_page()
        await page.goto(sb.url + "/setup")
        await page.click("button:has-text('Register on GitHub')")
        await page.wait_for_selector("h1:has-text('Create GitHub App')")

        async def stranger(session: aiohttp.ClientSession) -> None:
            async with session.get(sb.url + "/setup") as r:
                html = await r.text()
                cookie = r.cookies["runnerops_setup"].value
            async with session.post(
                sb.url + "/setup/github",
                data=form_fields(html),
                headers={"cookie": f"runnerops_setup={cookie}"},
                allow_redirects=False,
            ) as r:
                assert r.status == 307

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as others:
            for _ in range(12):
                await asyncio.gather(*(stranger(others) for _ in range(100)))
        await page.click("button:has-text('Create GitHub App')")
        await page.wait_for_selector("h1:has-text('registered')")
        assert len(sb.github.manifest_apps) == 1


async def test_a_failed_exchange_shows_one_page_and_spends_the_return(
    keys: Keys, browser: Any
) -> None:
    """GitHub's API answering with a redirect to another local address: the browser sees
    the one failure page, the redirect is not followed, and a reload is refused."""
    followed: list[str] = []

    async def convert(request: Request) -> Response:
        return RedirectResponse(f"{elsewhere}/internal", status_code=302)

    async def internal(request: Request) -> Response:
        followed.append(request.url.path)
        return PlainTextResponse("internal")

    conversions = Route("/app-manifests/{code}/conversions", convert, methods=["POST"])
    hostile = Starlette(routes=[conversions])
    inside = Starlette(routes=[Route("/internal", internal, methods=["GET", "POST"])])
    async with serve(inside) as elsewhere, serve(hostile) as api:
        async with running(keys, github_api_url=api) as sb:
            page = await browser.new_page()
            await page.goto(sb.url + "/setup")
            await page.click("button:has-text('Register on GitHub')")
            await page.wait_for_selector("h1:has-text('Create GitHub App')")
            async with page.expect_navigation(url="**/setup/github/callback*") as landed:
                await page.click("button:has-text('Create GitHub App')")
            answer = await landed.value
            assert answer is not None and answer.status == 502
            assert await page.inner_text("h1") == "The registration was not finished"
            assert "start again" in await page.inner_text("main")
            answer = await page.reload()
            assert answer is not None and answer.status == 400
            assert "Refused" in await page.inner_text("h1")
    assert followed == []


async def test_the_readme_picture_renders(tmp_path: Path) -> None:
    target = await render(tmp_path)
    assert target == tmp_path / "setup.png"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000


async def test_choose_several_organizations_in_a_browser(
    keys: Keys, tmp_path: Path, browser: Any
) -> None:
    """The choice is two radio buttons in the form: "Several organizations" leads to a page
    saying what public means, whose button registers a public App on GitHub (the double's
    confirmation says "Any account"); the callback says to install it on each organization
    and to list them in GITHUB_ALLOWED_ACCOUNTS. Script is off: the page needs none."""
    async with running(keys) as sb:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(sb.url + "/setup")
        assert await page.is_checked("#accounts-one")  # one account unless chosen
        choice = await page.inner_text("#accounts")
        assert "Several organizations" in choice and "GITHUB_ALLOWED_ACCOUNTS" in choice
        await page.fill("#organization", "acme")
        await page.check("#accounts-several")
        await page.click("button:has-text('Register on GitHub')")
        await page.wait_for_selector("h1:has-text('Register a public GitHub App')")
        assert page.url == sb.url + "/setup/github"
        means = await page.inner_text("#public-means")
        assert "any GitHub account can install the App" in means
        assert "grants runnerops nothing on an account that is not allowed" in means
        await page.screenshot(path=str(tmp_path / "public.png"), full_page=True)
        assert not sb.github.manifest_apps  # nothing sent to GitHub yet

        await page.click("button:has-text('Register the public App on GitHub')")
        await page.wait_for_selector("h1:has-text('Create GitHub App for acme')")
        assert await page.inner_text("#app-public") == "Any account"
        await page.click("button:has-text('Create GitHub App')")
        await page.wait_for_selector("h1:has-text('registered')")
        (app,) = sb.github.manifest_apps
        assert sb.github.manifest_public[app["id"]] is True
        main = await page.inner_text("main")
        assert "It is a public App. Install it on each organization" in main
        assert await page.inner_text("#allowed") == (
            "heroku config:set GITHUB_ALLOWED_ACCOUNTS=ORG1,ORG2,ORG3"
        )
        install = await page.get_attribute("#install", "href")
        assert install == f"{sb.github_url}/apps/{app['slug']}/installations/new"
        await context.close()


async def test_one_account_stays_a_private_app_in_a_browser(keys: Keys, browser: Any) -> None:
    async with running(keys) as sb:
        page = await browser.new_page()
        await page.goto(sb.url + "/setup")
        await page.check("#accounts-several")
        await page.check("#accounts-one")  # changed one's mind: radio buttons, one value
        await page.click("button:has-text('Register on GitHub')")
        await page.wait_for_selector("h1:has-text('Create GitHub App')")
        assert await page.inner_text("#app-public") == "Only on this account"
        await page.click("button:has-text('Create GitHub App')")
        await page.wait_for_selector("h1:has-text('registered')")
        (app,) = sb.github.manifest_apps
        assert sb.github.manifest_public[app["id"]] is False
        assert "It is a private App" in await page.inner_text("main")
