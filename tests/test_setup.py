"""Setup mode over real HTTP: the settings that choose it, the setup page and its manifest
flow against the GitHub double, and every refusal (which must change nothing)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import pytest

from bot.config import ConfigError, SetupSettings, load_settings, load_setup_settings
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys
from bot.sandbox.serve import serve
from bot.setup import create_setup_app, manifests
from bot.setup.web import paste_blocks
from tests.conftest import Clock

GITHUB = {
    "GITHUB_APP_ID": "7",
    "GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
    "GITHUB_WEBHOOK_SECRET": "w",
}
SLACK = {"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"}


# -- which mode ------------------------------------------------------------------------


def test_every_variable_set_means_no_setup_mode() -> None:
    assert load_setup_settings({**GITHUB, **SLACK}) is None


def test_nothing_set_means_both_steps_pending() -> None:
    setup = load_setup_settings({})
    assert setup is not None and setup.pending == ("github", "slack")
    assert setup.github_url == "https://github.com" and not setup.github_configured
    assert setup.github_app_id is None


def test_github_done_and_slack_pending_shows_step_two() -> None:
    setup = load_setup_settings({**GITHUB, "GITHUB_APP_SLUG": "ro", "GITHUB_URL": "https://g.x"})
    assert setup is not None and setup.pending == ("slack",)
    assert setup.github_app_id == "7" and setup.github_app_slug == "ro"
    assert setup.github_configured and setup.github_url == "https://g.x"


def test_empty_values_count_as_absent() -> None:
    setup = load_setup_settings({"GITHUB_APP_ID": "  ", **SLACK})
    assert setup is not None and setup.pending == ("github",)


def test_a_half_configured_app_is_named_not_set_up_again() -> None:
    env = {"GITHUB_APP_ID": "7", **SLACK}
    assert load_setup_settings(env) is None
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
        load_settings(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT must be a number"),
        ({"GITHUB_API_URL": "ftp://x"}, "GITHUB_API_URL must be an http"),
        ({"RUNNEROPS_PUBLIC_URL": "runnerops.example.com"}, "RUNNEROPS_PUBLIC_URL"),
        ({"RUNNEROPS_PUBLIC_URL": "https://h.example/setup"}, "RUNNEROPS_PUBLIC_URL"),
    ],
)
def test_other_config_errors_still_stop_setup_mode(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_setup_settings(env)


def test_public_url_is_read_and_trimmed() -> None:
    setup = load_setup_settings({"RUNNEROPS_PUBLIC_URL": "https://ops.example.org/"})
    assert setup is not None and setup.public_url == "https://ops.example.org"


# -- manifests ---------------------------------------------------------------------------


def test_github_manifest_is_filled_for_the_host() -> None:
    m = manifests.github_manifest("https://my-ops.herokuapp.com")
    assert m["url"] == "https://my-ops.herokuapp.com"
    assert m["hook_attributes"]["url"] == "https://my-ops.herokuapp.com/github/webhooks"
    assert m["redirect_url"] == "https://my-ops.herokuapp.com/setup/github/callback"
    assert m["public"] is False and m["name"] == "runnerops-my-ops"
    assert m["default_permissions"]["organization_self_hosted_runners"] == "write"
    assert "example.com" not in json.dumps(m)


def test_the_filled_manifests_keep_to_what_each_platform_accepts() -> None:
    from tests.test_manifests import GITHUB_KEYS, SLACK_KEYS

    assert set(manifests.github_manifest("https://h.example")) <= GITHUB_KEYS
    assert set(manifests.slack_manifest("https://h.example")) <= SLACK_KEYS


def test_app_names_fit_githubs_limit() -> None:
    assert manifests.app_name("http://127.0.0.1:8000") == "runnerops"
    assert manifests.app_name("https://runnerops-acme.onrender.com") == "runnerops-acme"
    long = manifests.app_name("https://" + "a" * 60 + ".example.com")
    assert len(long) <= manifests.MAX_APP_NAME and long.startswith("runnerops-")


def test_slack_link_carries_the_manifest_for_the_host() -> None:
    url = manifests.slack_create_url("https://ops.example.org")
    assert url.startswith("https://api.slack.com/apps?new_app=1&manifest_json=")
    sent = json.loads(unquote(url.split("manifest_json=", 1)[1]))
    assert sent == manifests.slack_manifest("https://ops.example.org")
    commands = sent["features"]["slash_commands"]
    assert {c["url"] for c in commands} == {"https://ops.example.org/slack/events"}
    assert sent["settings"]["interactivity"]["request_url"] == (
        "https://ops.example.org/slack/events"
    )
    assert "runnerops.example.com" not in json.dumps(sent)


def test_install_links() -> None:
    assert manifests.install_url("https://github.com", "ro", ghes=False) == (
        "https://github.com/apps/ro/installations/new"
    )
    assert manifests.install_url("https://ghe.x", "ro", ghes=True) == (
        "https://ghe.x/github-apps/ro/installations/new"
    )
    assert manifests.new_app_url("https://ghe.x", "acme") == (
        "https://ghe.x/organizations/acme/settings/apps/new"
    )
    assert manifests.new_app_url("https://github.com", None) == (
        "https://github.com/settings/apps/new"
    )
    assert manifests.new_app_url("https://github.com", None, "a b") == (
        "https://github.com/settings/apps/new?state=a%20b"
    )


def test_paste_blocks_survive_a_shell_and_load_settings(keys: Keys) -> None:
    values = {
        "GITHUB_APP_ID": "901",
        "GITHUB_APP_SLUG": "runnerops",
        "GITHUB_WEBHOOK_SECRET": "it's $ecret",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
    }
    heroku, dotenv = paste_blocks(values)
    argv = shlex.split(heroku.replace("\\\n", " "))
    assert argv[:2] == ["heroku", "config:set"]
    assert dict(a.split("=", 1) for a in argv[2:]) == values
    # What a shell would hand the CLI, checked by a real shell.
    echoed = subprocess.run(
        ["sh", "-c", heroku.replace("heroku config:set", "printf '%s\\0'", 1)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert echoed.split("\0")[:-1] == [f"{k}={v}" for k, v in values.items()]
    env = dict(line.split("=", 1) for line in dotenv.splitlines())
    assert len(dotenv.splitlines()) == 4
    settings = load_settings({**env, **SLACK})
    assert settings.github_private_key.strip() == keys.private_pem.strip()


# -- the setup app over HTTP -------------------------------------------------------------


@dataclass
class Running:
    github: GitHubDouble
    github_url: str  # the double serves GitHub's web pages and its API on one address
    url: str
    session: aiohttp.ClientSession
    clock: Clock


@contextlib.asynccontextmanager
async def running(keys: Keys, prefix: str = "", **changes: Any) -> AsyncIterator[Running]:
    clock = Clock()
    github = GitHubDouble(app_id="1", public_key_pem=keys.public_pem, clock=clock, prefix=prefix)
    github.add_org("acme")
    async with serve(github.app) as github_url:
        github.web_url = github_url  # its pages link to where it serves them
        fields: dict[str, Any] = {
            "pending": ("github", "slack"),
            "github_url": github_url,
            "github_api_url": github_url,
            "github_configured": True,
        }
        setup = SetupSettings(**(fields | changes))
        async with (
            serve(create_setup_app(setup, clock=clock)) as url,
            # A browser keeps cookies, loopback addresses included.
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
        ):
            yield Running(github, github_url, url, session, clock)


def form_fields(html: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in fields}


async def get(sb: Running, path: str, **headers: str) -> tuple[int, str, Any]:
    async with sb.session.get(sb.url + path, headers=headers, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers


async def post(sb: Running, url: str, form: dict[str, str]) -> tuple[int, str, Any]:
    async with sb.session.post(url, data=form, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers


async def register(sb: Running, organization: str = "", **typed: str) -> tuple[str, str]:
    """Walk the flow as a browser does; return the callback's query (code, state)."""
    _, html, _ = await get(sb, "/setup")
    fields = {**form_fields(html), "organization": organization, **typed}
    status, _, headers = await post(sb, sb.url + "/setup/github", fields)
    assert status == 307
    # The browser posts the same form on (a 307 keeps method and body), then confirms.
    status, page, _ = await post(sb, headers["location"], fields)
    assert status == 200 and "Create GitHub App" in page
    status, _, headers = await post(sb, headers["location"], {**form_fields(page)})
    assert status == 302
    query = parse_qs(urlsplit(headers["location"]).query)
    assert headers["location"].startswith(sb.url + "/setup/github/callback?")
    return query["code"][0], query["state"][0]


def conversions(github: GitHubDouble) -> int:
    return github.count("POST", r"/app-manifests/.*/conversions")


async def test_setup_page_fills_the_manifest_from_the_forwarded_host(keys: Keys) -> None:
    async with running(keys) as sb:
        status, html, headers = await get(
            sb, "/setup", host="ops.example.org", **{"x-forwarded-proto": "https"}
        )
        assert status == 200 and headers["cache-control"] == "no-store"
        manifest = json.loads(form_fields(html)["manifest"])
        assert manifest["hook_attributes"]["url"] == "https://ops.example.org/github/webhooks"
        assert manifest["redirect_url"] == "https://ops.example.org/setup/github/callback"
        assert manifest["url"] == "https://ops.example.org" and manifest["public"] is False
        assert len(form_fields(html)["state"]) >= 32
        assert "api.slack.com/apps?new_app=1&amp;manifest_json=" in html
        assert "SLACK_SIGNING_SECRET" in html and "SLACK_BOT_TOKEN" in html
        assert "<script" not in html
        # Each visit gets its own state.
        _, again, _ = await get(sb, "/setup")
        assert form_fields(again)["state"] != form_fields(html)["state"]


async def test_public_url_wins_over_the_request_host(keys: Keys) -> None:
    async with running(keys, public_url="https://ops.example.org") as sb:
        _, html, _ = await get(sb, "/setup", host="evil.example")
        manifest = json.loads(form_fields(html)["manifest"])
        assert manifest["redirect_url"] == "https://ops.example.org/setup/github/callback"


async def test_a_host_header_that_is_no_host_is_refused(keys: Keys) -> None:
    async with running(keys) as sb:
        status, html, _ = await get(sb, "/setup", host="a b<script>")
        assert status == 400 and "RUNNEROPS_PUBLIC_URL" in html and "<script>" not in html


async def test_the_form_goes_to_the_organizations_new_app_page(keys: Keys) -> None:
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        fields = form_fields(html)
        status, _, headers = await post(
            sb, sb.url + "/setup/github", {**fields, "organization": "acme"}
        )
        assert status == 307
        state = fields["state"]
        assert headers["location"] == (
            f"{sb.github_url}/organizations/acme/settings/apps/new?state={state}"
        )
        # Without one, the signed-in user's own page.
        _, html, _ = await get(sb, "/setup")
        status, _, headers = await post(sb, sb.url + "/setup/github", form_fields(html))
        state = form_fields(html)["state"]
        assert status == 307
        assert headers["location"] == f"{sb.github_url}/settings/apps/new?state={state}"


async def test_a_bad_organization_is_sent_back_with_the_reason(keys: Keys) -> None:
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        fields = form_fields(html)
        status, page, _ = await post(
            sb, sb.url + "/setup/github", {**fields, "organization": "no such/org"}
        )
        assert status == 400 and "is not an organization name" in page
        assert 'value="no such/org"' in page  # what was typed is kept
        assert form_fields(page)["state"] == fields["state"]  # and the same flow goes on
        status, _, _ = await post(sb, sb.url + "/setup/github", {**fields, "organization": ""})
        assert status == 307


async def test_an_unknown_state_on_the_form_is_refused(keys: Keys) -> None:
    async with running(keys) as sb:
        status, page, _ = await post(
            sb, sb.url + "/setup/github", {"state": "forged", "manifest": "{}"}
        )
        assert status == 400 and "expired" in page


async def test_a_ghes_address_typed_in_sends_the_flow_there(keys: Keys) -> None:
    async with running(keys, github_configured=False) as sb:
        _, html, _ = await get(sb, "/setup")
        assert 'name="github_url"' in html
        fields = form_fields(html)
        status, page, _ = await post(
            sb, sb.url + "/setup/github", {**fields, "github_url": "not a url/x"}
        )
        assert status == 400 and "not a GitHub Enterprise Server address" in page
        status, _, headers = await post(
            sb, sb.url + "/setup/github", {**fields, "github_url": "ghe.example.com/"}
        )
        assert status == 307
        assert headers["location"] == (
            f"https://ghe.example.com/settings/apps/new?state={fields['state']}"
        )


async def test_the_whole_flow_shows_the_values_once(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(keys) as sb:
        code, state = await register(sb, organization="acme")
        status, page, headers = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 200, page
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "no-referrer"
        (app,) = sb.github.manifest_apps
        text = unescape(page)
        assert f"GITHUB_APP_ID={app['id']}" in text
        assert f"GITHUB_APP_SLUG={app['slug']}" in text
        assert f"GITHUB_WEBHOOK_SECRET={app['webhook_secret']}" in text
        assert "heroku config:set" in text and shlex.quote(app["pem"].strip()) in text
        assert app["pem"].strip().replace("\n", "\\n") in text  # the .env form
        assert app["client_secret"] not in text  # runnerops has no use for it
        assert f"{sb.github_url}/apps/{app['slug']}/installations/new" in text
        assert app["owner"]["login"] == "acme"
        # The same return again: the state was used.
        status, page, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 400 and "Refused" in page
        assert conversions(sb.github) == 1
    logged = caplog.text
    assert "registered" in logged
    for secret in (app["webhook_secret"], app["client_secret"], app["pem"].splitlines()[1]):
        assert secret not in logged


async def test_a_github_enterprise_server_typed_in_is_used_to_the_end(keys: Keys) -> None:
    """GHES: the new-App form at the web address typed in, the code exchanged under its
    /api/v3, the install link under /github-apps/, and both URLs in the values to set."""
    async with running(keys, prefix="/api/v3", github_configured=False) as sb:
        code, state = await register(sb, organization="acme", github_url=sb.github_url)
        status, page, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 200, page
        (app,) = sb.github.manifest_apps
        text = unescape(page)
        assert f"{sb.github_url}/github-apps/{app['slug']}/installations/new" in text
        assert f"GITHUB_API_URL={sb.github_url}/api/v3" in text
        assert f"GITHUB_URL={sb.github_url}" in text
        assert sb.github.count("POST", r"/app-manifests/.*/conversions") == 1


async def test_a_wrong_or_missing_state_exchanges_nothing(keys: Keys) -> None:
    async with running(keys) as sb:
        code, _ = await register(sb)
        for query in (f"code={code}&state=wrong", f"code={code}", ""):
            status, page, _ = await get(sb, f"/setup/github/callback?{query}")
            assert status == 400 and "Refused" in page and "Traceback" not in page
        assert conversions(sb.github) == 0


async def test_a_callback_opened_in_another_browser_is_refused(keys: Keys) -> None:
    """Someone who started a flow on the public setup page and created an App on their own
    account cannot hand the operator a callback link that configures their App here."""
    async with running(keys) as sb:
        code, state = await register(sb)  # the attacker's browser
        async with aiohttp.ClientSession() as operator:  # no cookie of that flow
            async with operator.get(
                f"{sb.url}/setup/github/callback?code={code}&state={state}"
            ) as r:
                assert r.status == 400 and "another browser" in await r.text()
            # Nor can the attacker's form be posted from the operator's browser.
            _, html, _ = await get(sb, "/setup")
            async with operator.post(
                sb.url + "/setup/github", data=form_fields(html), allow_redirects=False
            ) as r:
                assert r.status == 400
        assert conversions(sb.github) == 0
        # The browser that started it still can.
        status, _, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 200


async def test_the_setup_cookie_is_httponly_and_lax(keys: Keys) -> None:
    async with running(keys) as sb:

        def cookies() -> list[str]:
            return [c.value for c in sb.session.cookie_jar if c.key == "runnerops_setup"]

        _, _, headers = await get(sb, "/setup")
        cookie = headers["set-cookie"]
        assert cookie.startswith("runnerops_setup=") and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie and "Path=/setup" in cookie
        assert "Secure" not in cookie  # plain http on loopback: a Secure one would be lost
        first = cookies()
        await get(sb, "/setup")  # one browser keeps its cookie across visits
        assert len(first) == 1 and cookies() == first
        _, _, headers = await get(sb, "/setup", **{"x-forwarded-proto": "https"})
        assert "Secure" in headers["set-cookie"]


async def test_a_used_or_expired_code_says_start_again(keys: Keys) -> None:
    async with running(keys) as sb:
        code, state = await register(sb)
        # Someone else exchanged the code first (it works once).
        async with sb.session.post(f"{sb.github_url}/app-manifests/{code}/conversions") as r:
            assert r.status == 201
        status, page, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 400 and "already used or has expired" in page
        assert 'href="/setup"' in page
        # An hour later GitHub's code is gone too (and so has our state).
        sb.github.manifest_apps.clear()  # GitHub App names are unique: free this one again
        code, state = await register(sb)
        sb.clock.advance(3601)
        before = conversions(sb.github)
        status, page, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 400 and "over an hour old" in page
        assert conversions(sb.github) == before  # an expired state exchanges nothing
        async with sb.session.post(f"{sb.github_url}/app-manifests/{code}/conversions") as r:
            assert r.status == 404


async def test_setup_mode_answers_503_and_healthz(keys: Keys) -> None:
    async with running(keys) as sb:
        status, body, _ = await get(sb, "/healthz")
        assert status == 200 and json.loads(body) == {"status": "setup"}
        for path in ("/slack/events", "/github/webhooks"):
            async with sb.session.post(sb.url + path, data=b"x") as r:
                text = await r.text()
                assert r.status == 503 and "setup mode" in text and "/setup" in text
                assert text.count("\n") == 1
        status, _, headers = await get(sb, "/")
        assert status == 307 and headers["location"] == "/setup"


async def test_github_done_shows_only_the_slack_step(keys: Keys) -> None:
    setup = SetupSettings(pending=("slack",), github_app_id="77", github_app_slug="ro")
    async with serve(create_setup_app(setup)) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/setup") as r:
            html = await r.text()
        assert "GitHub App <code>77</code> is configured" in html
        assert "https://github.com/apps/ro/installations/new" in html
        assert 'name="manifest"' not in html and "Create the Slack app" in html
        async with session.get(url + "/setup/github/callback?code=x&state=y") as r:
            assert r.status == 404


# -- the double's manifest flow ---------------------------------------------------------


async def test_double_refuses_bad_manifests_and_unknown_organizations(keys: Keys) -> None:
    async with running(keys) as sb:
        base = sb.github_url
        status, page, _ = await post(sb, base + "/settings/apps/new", {"manifest": "nope"})
        assert status == 422 and "Invalid GitHub App manifest" in page
        status, page, _ = await post(
            sb, base + "/settings/apps/new", {"manifest": json.dumps({"url": "https://x"})}
        )
        assert status == 422 and "redirect_url is missing" in page
        good = json.dumps(manifests.github_manifest(sb.url))
        status, page, _ = await post(
            sb, base + "/organizations/globex/settings/apps/new", {"manifest": good}
        )
        assert status == 404
        async with sb.session.post(base + "/app-manifests/unknown/conversions") as r:
            assert r.status == 404 and (await r.json())["message"] == "Not Found"


def test_a_missing_browser_skips_or_fails_where_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import browser

    monkeypatch.setattr(browser, "chromium_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("RUNNEROPS_BROWSER_REQUIRED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.need_browser()
    monkeypatch.setenv("RUNNEROPS_BROWSER_REQUIRED", "1")
    with pytest.raises(pytest.fail.Exception, match="required here"):
        browser.need_browser()
