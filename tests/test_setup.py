"""Setup mode over real HTTP: the settings that choose it, the setup page and its manifest
flow against the GitHub double, and every refusal (which must change nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import pytest

from bot.config import ConfigError, SetupSettings, load_settings, load_setup_settings
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import Keys
from bot.sandbox.serve import serve
from bot.setup import create_setup_app, manifests, web
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
    assert len(dotenv.splitlines()) == 4


def test_the_dotenv_block_loads_with_set_a(keys: Keys, tmp_path: Path) -> None:
    """``set -a; . ./github.env`` in a real bash, the variables read back and given to
    load_settings: the key (one line, quoted, with \\n escapes) becomes the PEM again."""
    values = {
        "GITHUB_APP_ID": "901",
        "GITHUB_APP_SLUG": "runnerops",
        "GITHUB_WEBHOOK_SECRET": "it's $ecret `x` \\n",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_API_URL": "https://ghe.example.com/api/v3",
    }
    _, dotenv = paste_blocks(values)
    (tmp_path / "github.env").write_text(dotenv + "\n")
    script = "set -a; . ./github.env; set +a; env -0"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env={}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    loaded = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    assert {name: loaded[name] for name in values if name != "GITHUB_PRIVATE_KEY"} == {
        name: value for name, value in values.items() if name != "GITHUB_PRIVATE_KEY"
    }
    assert "\n" not in loaded["GITHUB_PRIVATE_KEY"]  # one line, escapes kept as written
    settings = load_settings({**loaded, **SLACK})
    assert settings.github_private_key.strip() == keys.private_pem.strip()
    assert settings.github_api_url == "https://ghe.example.com/api/v3"


# -- the setup app over HTTP -------------------------------------------------------------


@dataclass
class Running:
    github: GitHubDouble
    github_url: str  # the double serves GitHub's web pages and its API on one address
    url: str
    session: aiohttp.ClientSession
    clock: Clock


@contextlib.asynccontextmanager
async def running(
    keys: Keys, prefix: str = "", exchange_timeout: float = 20.0, **changes: Any
) -> AsyncIterator[Running]:
    clock = Clock()
    github = GitHubDouble(app_id="1", public_key_pem=keys.public_pem, clock=clock, prefix=prefix)
    github.add_org("acme")
    async with serve(github.app) as github_url:
        github.web_url = github_url  # its pages link to where it serves them
        fields: dict[str, Any] = {
            "pending": ("github", "slack"),
            "github_url": github_url,
            "github_api_url": github_url + prefix,  # GHES: its API under /api/v3
            "github_configured": True,
        }
        setup = SetupSettings(**(fields | changes))
        async with (
            serve(create_setup_app(setup, clock=clock, exchange_timeout=exchange_timeout)) as url,
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
        assert len(form_fields(html)["form_token"]) >= 32
        assert "api.slack.com/apps?new_app=1&amp;manifest_json=" in html
        assert "SLACK_SIGNING_SECRET" in html and "SLACK_BOT_TOKEN" in html
        assert "<script" not in html
        # A visit makes no state (the form's post does): the page carries none.
        assert "state" not in form_fields(html)


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
        where, _, query = headers["location"].partition("?")
        assert where == f"{sb.github_url}/organizations/acme/settings/apps/new"
        first = parse_qs(query)["state"][0]
        # Without one, the signed-in user's own page; each post makes its own state.
        _, html, _ = await get(sb, "/setup")
        status, _, headers = await post(sb, sb.url + "/setup/github", form_fields(html))
        assert status == 307
        where, _, query = headers["location"].partition("?")
        assert where == f"{sb.github_url}/settings/apps/new"
        assert parse_qs(query)["state"][0] != first and len(first) >= 32


async def test_a_bad_organization_is_sent_back_with_the_reason(keys: Keys) -> None:
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        fields = form_fields(html)
        status, page, _ = await post(
            sb, sb.url + "/setup/github", {**fields, "organization": "no such/org"}
        )
        assert status == 400 and "is not an organization name" in page
        assert 'value="no such/org"' in page  # what was typed is kept
        assert form_fields(page)["form_token"] == fields["form_token"]  # the form goes on
        status, _, _ = await post(sb, sb.url + "/setup/github", {**fields, "organization": ""})
        assert status == 307


async def test_a_form_not_from_this_browsers_page_is_refused(keys: Keys) -> None:
    async with running(keys) as sb:
        status, page, _ = await post(
            sb, sb.url + "/setup/github", {"form_token": "forged", "manifest": "{}"}
        )
        assert status == 400 and "expired" in page
        # The page's form posted without its cookie (as a cross-site form would be: the
        # cookie is SameSite=Lax) starts nothing either.
        _, html, _ = await get(sb, "/setup")
        async with aiohttp.ClientSession() as elsewhere:
            async with elsewhere.post(
                sb.url + "/setup/github", data=form_fields(html), allow_redirects=False
            ) as r:
                assert r.status == 400 and "expired" in await r.text()


async def test_the_github_host_is_the_deployments_not_a_form_field(keys: Keys) -> None:
    """The page shows where GitHub is (read-only, with how to change it); a ``github_url``
    posted anyway, as the form once had, changes nothing."""
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        assert 'name="github_url"' not in html
        shown = unescape(re.sub(r"<[^>]+>", "", html))
        assert f"GitHub{sb.github_url} (API {sb.github_url}), from GITHUB_URL / GITHUB_API_URL" in (
            shown
        )
        assert "GITHUB_API_URL=https://api.SUBDOMAIN.ghe.com" in shown
        fields = form_fields(html)
        status, _, headers = await post(
            sb, sb.url + "/setup/github", {**fields, "github_url": "http://127.0.0.1:1"}
        )
        assert status == 307
        assert headers["location"].startswith(f"{sb.github_url}/settings/apps/new?state=")


async def test_unset_github_settings_are_named_as_the_default(keys: Keys) -> None:
    setup = SetupSettings(pending=("github",))
    async with serve(create_setup_app(setup)) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/setup") as r:
            html = await r.text()
    assert "<code>https://github.com</code> (API <code>https://api.github.com</code>)" in html
    assert "GITHUB_API_URL</code> are unset" in html


async def test_github_enterprise_cloud_with_data_residency(keys: Keys) -> None:
    """``GITHUB_API_URL=https://api.octo.ghe.com``: the web host is octo.ghe.com, the new-App
    form is there, the code is converted at the API's root and the App installs under
    /apps/ (as on github.com, unlike GitHub Enterprise Server)."""
    setup = load_setup_settings({"GITHUB_API_URL": "https://api.octo.ghe.com"})
    assert setup is not None
    assert (setup.github_url, setup.github_api_url) == (
        "https://octo.ghe.com",
        "https://api.octo.ghe.com",
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        serve(create_setup_app(setup)) as url,
        aiohttp.ClientSession(cookie_jar=jar) as session,
    ):
        async with session.get(url + "/setup") as r:
            html = await r.text()
        assert "<code>https://octo.ghe.com</code> (API <code>https://api.octo.ghe.com</code>)" in (
            html
        )
        async with session.post(
            url + "/setup/github",
            data={**form_fields(html), "organization": "acme"},
            allow_redirects=False,
        ) as r:
            assert r.status == 307
            assert r.headers["location"].startswith(
                "https://octo.ghe.com/organizations/acme/settings/apps/new?state="
            )
    assert web.conversion_url(setup.github_api_url, "c0de") == (
        "https://api.octo.ghe.com/app-manifests/c0de/conversions"
    )
    assert manifests.install_url(setup.github_url, "ro", ghes=False) == (
        "https://octo.ghe.com/apps/ro/installations/new"
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


async def test_a_github_enterprise_server_deployment_is_used_to_the_end(keys: Keys) -> None:
    """GHES set on the deployment (``GITHUB_API_URL=https://HOST/api/v3``): the new-App
    form at its web address, the code exchanged under its /api/v3, the install link under
    /github-apps/, and both URLs in the values to set."""
    async with running(keys, prefix="/api/v3") as sb:
        code, state = await register(sb, organization="acme")
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
        # The same page as for any other failure (see test_the_exchange_...), 502 included.
        assert status == 502 and "already used or has expired" in page
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
        for probe in ("/healthz", "/readyz"):  # a readiness probe must not hide /setup
            status, body, _ = await get(sb, probe)
            assert status == 200 and json.loads(body) == {"status": "setup"}, probe
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


async def test_the_slack_step_offers_socket_mode_for_a_private_network() -> None:
    setup = SetupSettings(pending=("slack",), github_app_id="77", github_app_slug="ro")
    async with serve(create_setup_app(setup)) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/setup") as r:
            html = unescape(await r.text())
    assert "private network" in html and "Socket Mode" in html
    assert "SLACK_APP_TOKEN" in html and "connections:write" in html
    links = re.findall(r'href="(https://api\.slack\.com/apps\?new_app=1[^"]*)"', html)
    sent = [json.loads(unquote(link.split("manifest_json=", 1)[1])) for link in links]
    assert [m["settings"]["socket_mode_enabled"] for m in sent] == [False, True]
    assert sent[1] == manifests.slack_socket_manifest()


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


# -- the public page cannot be turned against the service ---------------------------------


async def start_flow(sb: Running) -> str:
    """GET the page and post its form in ``sb``'s browser; the state sent to GitHub."""
    _, html, _ = await get(sb, "/setup")
    status, _, headers = await post(sb, sb.url + "/setup/github", form_fields(html))
    assert status == 307
    return parse_qs(urlsplit(headers["location"]).query)["state"][0]


@dataclass
class Hostile:
    """A stand-in for GitHub's API that misbehaves, counting what it was asked and sent."""

    mode: str
    requests: list[str]
    sent: int = 0
    finished: bool = False


def hostile_app(h: Hostile, elsewhere: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    async def convert(request: Request) -> Response:
        h.requests.append(request.url.path)
        if h.mode == "redirect":
            return RedirectResponse(f"{elsewhere}/internal/secret", status_code=302)
        if h.mode == "huge-declared":
            return Response(b"{}", status_code=201, headers={"content-length": str(400 << 20)})
        if h.mode == "hang":
            await asyncio.Event().wait()
        if h.mode == "not-an-app":
            return JSONResponse({"id": 1}, status_code=201)
        return JSONResponse({"message": "Not Found"}, status_code=404)

    return Starlette(routes=[Route("/app-manifests/{code}/conversions", convert, methods=["POST"])])


@contextlib.asynccontextmanager
async def huge_answer(h: Hostile) -> AsyncIterator[str]:
    """A server answering 201 with 400 MiB, counting the bytes the socket took (written
    with backpressure, so what the client does not read stops it)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        h.requests.append(request.split(b" ")[1].decode())
        writer.write(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(400 * 16):
                writer.write(chunk)
                await writer.drain()
                h.sent += len(chunk)
            h.finished = True
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_the_exchange_cannot_be_turned_against_the_service(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    """GitHub's API (here a hostile local server) answering a 302 to another local server,
    a 400 MiB body, a huge Content-Length, nothing at all, not an App, or a 404: no redirect
    is followed, at most 1 MiB is read, the deadline holds, the visitor sees one page
    whatever happened, the log names the host, and the state is spent."""
    caplog.set_level(logging.INFO)
    inside: list[str] = []
    pages: set[tuple[int, str]] = set()

    async def internal(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        inside.append(request.url.path)
        return PlainTextResponse("internal")

    from starlette.applications import Starlette
    from starlette.routing import Route

    other = Starlette(routes=[Route("/internal/secret", internal, methods=["GET", "POST"])])
    modes = ["redirect", "huge", "huge-declared", "hang", "not-an-app", "refused", "404"]
    async with serve(other) as elsewhere:
        for mode in modes:
            h = Hostile(mode, [])
            async with contextlib.AsyncExitStack() as stack:
                if mode == "refused":  # nothing listens there
                    api = "http://127.0.0.1:9"
                elif mode == "huge":
                    api = await stack.enter_async_context(huge_answer(h))
                else:
                    api = await stack.enter_async_context(serve(hostile_app(h, elsewhere)))
                sb = await stack.enter_async_context(
                    running(keys, github_api_url=api, exchange_timeout=1.0)
                )
                state = await start_flow(sb)
                caplog.clear()
                status, page, _ = await get(sb, f"/setup/github/callback?code=c0de&state={state}")
                pages.add((status, page))
                host = urlsplit(api).netloc
                assert f"manifest conversion at {host} failed" in caplog.text, mode
                assert f"Exchanging a manifest code with {host}" in caplog.text
                if mode != "refused":
                    assert h.requests == ["/app-manifests/c0de/conversions"], mode
                if mode == "hang":
                    assert "did not answer within 1 s" in caplog.text
                # Spent: the same return again is refused without asking anyone.
                status, page, _ = await get(sb, f"/setup/github/callback?code=c0de&state={state}")
                assert status == 400 and "Refused" in page, mode
                if mode != "refused":
                    assert len(h.requests) == 1, mode
                if mode == "huge":  # 1 MiB read, then the connection closed
                    assert not h.finished and h.sent < 32 * 1024 * 1024, h.sent
    assert inside == []  # the redirect was not followed
    ((status, page),) = pages  # one answer for every cause
    assert status == 502 and "The registration was not finished" in page
    assert "127.0.0.1" not in page and "answered" not in page.lower().replace("answer was", "")


async def test_callback_codes_never_reach_the_log_redactor(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    """A visitor chooses the code: it is no secret of ours, so it is not added to the
    redactor, which keeps its size whatever visitors send."""
    from bot import redact as redaction

    caplog.set_level(logging.INFO)
    word = "ClientConnectorError"
    async with running(keys) as sb:
        before = redaction.redact.size()
        for n in range(40):  # real flows, each spending its state on a chosen code
            state = await start_flow(sb)
            status, _, _ = await get(sb, f"/setup/github/callback?code={word}{n}&state={state}")
            assert status == 502
        for n in range(400):  # and returns with no good state at all
            status, _, _ = await get(sb, f"/setup/github/callback?code={word}{n}&state=x")
            assert status == 400
        assert redaction.redact.size() == before
    logging.getLogger("runnerops.test").warning("seen: %s %s39", word, word)
    assert f"seen: {word} {word}39" in caplog.text


async def test_others_cannot_evict_the_operators_registration(keys: Keys) -> None:
    """The operator posts the form and goes to GitHub; meanwhile 1,200 other browsers load
    the page and post its form. The operator's return still registers."""
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        fields = form_fields(html)
        status, _, headers = await post(sb, sb.url + "/setup/github", fields)
        assert status == 307
        # GitHub's confirm page, in the operator's browser.
        status, page, _ = await post(sb, headers["location"], fields)
        assert status == 200

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
            for _ in range(200):  # and anonymous page loads, without any cookie
                async with others.get(sb.url + "/setup") as r:
                    assert r.status == 200
        status, _, headers = await post(sb, headers["location"], form_fields(page))
        assert status == 302
        status, page, _ = await get(sb, headers["location"].removeprefix(sb.url))
        assert status == 200 and "registered" in page


def test_spent_states_are_bounded_and_never_work_twice() -> None:
    clock = Clock()
    states = web.States(clock, max_spent=50)
    early = states.new("operator-browser-cookie-0123456789abcdef")
    made = []
    for n in range(120):  # making keeps nothing
        clock.advance(0.01)
        made.append(states.new(f"browser-{n:040d}"))
    assert len(states) == 0
    for n, state in enumerate(made):
        assert states.spend(state, f"browser-{n:040d}")
        assert not states.spend(state, f"browser-{n:040d}")  # once
    assert len(states) <= 50
    # A state whose spent record was dropped still never works again (nor does any issued
    # before it: the price of a flood of 50+ returns within the hour).
    assert not states.spend(made[0], f"browser-{0:040d}")
    assert not states.spend(early, "operator-browser-cookie-0123456789abcdef")
    # Bound to its browser, and to the hour.
    clock.advance(1)
    late = states.new("b" * 40)
    assert not states.spend(late, "c" * 40)
    clock.advance(3601)
    assert not states.spend(late, "b" * 40)
    assert len(states) == 50  # expired records go as new ones come
    fresh = states.new("b" * 40)
    assert states.spend(fresh, "b" * 40) and len(states) == 1


# -- one account or several ----------------------------------------------------------------


def test_a_public_manifest_for_several_organizations() -> None:
    assert manifests.github_manifest("https://h.example", public=True)["public"] is True
    assert manifests.github_manifest("https://h.example")["public"] is False


async def test_several_organizations_register_a_public_app(keys: Keys) -> None:
    """ "Several organizations" shows what public means before anything goes to GitHub,
    then posts the public manifest (no script: a plain form); the callback then says to
    install it on each organization and to list them in GITHUB_ALLOWED_ACCOUNTS."""
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        assert 'name="accounts" value="one" id="accounts-one" checked' in html
        assert "GITHUB_ALLOWED_ACCOUNTS" in html and "any GitHub account can install" in html
        fields = {**form_fields(html), "organization": "acme", "accounts": "several"}
        status, page, _ = await post(sb, sb.url + "/setup/github", fields)
        assert status == 200 and "Register a public GitHub App" in page
        assert "grants runnerops nothing on an account that is not allowed" in page
        assert "<script" not in page
        sent = form_fields(page)
        assert json.loads(sent["manifest"])["public"] is True
        found = re.search(r'<form method="post" action="([^"]+)"', page)
        assert found is not None
        action = unescape(found[1])
        assert (
            action == f"{sb.github_url}/organizations/acme/settings/apps/new?state={sent['state']}"
        )
        assert conversions(sb.github) == 0 and not sb.github.manifest_apps
        # The browser posts that form to GitHub, confirms, and comes back.
        status, confirm, _ = await post(sb, action, sent)
        assert status == 200 and "Any account" in confirm
        status, _, headers = await post(sb, action, form_fields(confirm))
        assert status == 302
        back = headers["location"].removeprefix(sb.url)
        status, done, _ = await get(sb, back)
        assert status == 200, done
        (app,) = sb.github.manifest_apps
        assert sb.github.manifest_public[app["id"]] is True
        text = unescape(re.sub(r"<[^>]+>", "", done))
        assert "It is a public App. Install it on each organization" in text
        assert "GITHUB_ALLOWED_ACCOUNTS=ORG1,ORG2,ORG3" in text
        assert f"{sb.github_url}/apps/{app['slug']}/installations/new" in text


async def test_one_account_registers_a_private_app_as_before(keys: Keys) -> None:
    async with running(keys) as sb:
        code, state = await register(sb, organization="acme", accounts="one")
        status, done, _ = await get(sb, f"/setup/github/callback?code={code}&state={state}")
        assert status == 200
        (app,) = sb.github.manifest_apps
        assert sb.github.manifest_public[app["id"]] is False
        text = unescape(re.sub(r"<[^>]+>", "", done))
        assert "It is a private App" in text and "GITHUB_ALLOWED_ACCOUNTS" not in text


async def test_an_unknown_accounts_choice_is_sent_back(keys: Keys) -> None:
    async with running(keys) as sb:
        _, html, _ = await get(sb, "/setup")
        fields = {**form_fields(html), "accounts": "all"}
        status, page, _ = await post(sb, sb.url + "/setup/github", fields)
        assert status == 400 and "one account or several organizations" in page
        assert not sb.github.manifest_apps and conversions(sb.github) == 0


async def test_a_configured_app_says_where_to_install_it() -> None:
    setup = SetupSettings(pending=("slack",), github_app_id="77", github_app_slug="ro")
    async with serve(create_setup_app(setup)) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/setup") as r:
            text = unescape(re.sub(r"<[^>]+>", "", await r.text()))
    assert "Install it on the account that owns it" in text
    assert "on each organization it serves" in text and "GITHUB_ALLOWED_ACCOUNTS" in text
