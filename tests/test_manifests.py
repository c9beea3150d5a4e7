"""The app manifests: valid for their platform, and pointing at the routes we serve."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from starlette.routing import Route

from app import create_app
from bot.config import load_settings
from bot.setup import manifests

MANIFESTS = Path(__file__).parent.parent / "manifests"
# Top-level keys each platform accepts (Slack app manifest v1; GitHub App manifest).
SLACK_KEYS = {
    "_metadata",
    "display_information",
    "features",
    "oauth_config",
    "settings",
    "functions",
    "workflows",
    "outgoing_domains",
    "types",
    "datastores",
}
GITHUB_KEYS = {
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
}


def _served_paths() -> set[tuple[str, str]]:
    env = {
        "GITHUB_APP_ID": "1",
        "GITHUB_WEBHOOK_SECRET": "w",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
    }
    # Building the app creates its database: a scratch one, not runnerops.db where pytest runs.
    with tempfile.TemporaryDirectory(prefix="runnerops-manifests-") as scratch:
        app = create_app(load_settings(env | {"DATABASE_URL": f"sqlite:///{scratch}/a.db"}))
        return {(m, r.path) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}


def test_slack_manifest() -> None:
    m = json.loads((MANIFESTS / "slack.json").read_text())
    assert set(m) <= SLACK_KEYS
    assert len(m["display_information"]["name"]) <= 35
    commands = {c["command"]: c for c in m["features"]["slash_commands"]}
    assert set(commands) == {"/runners", "/runner"}
    urls = [c["url"] for c in commands.values()] + [m["settings"]["interactivity"]["request_url"]]
    served = _served_paths()
    for url in urls:
        assert urlsplit(url).scheme == "https" and ("POST", urlsplit(url).path) in served
    for c in commands.values():
        assert len(c["description"]) <= 100 and len(c["usage_hint"]) <= 100
    assert m["settings"]["interactivity"]["is_enabled"] is True
    # The Home tab: enabled, its event subscribed at a URL we serve (the same route as the
    # commands and the buttons), and the Messages tab, read-only, where Home buttons answer.
    home = m["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True and home["messages_tab_read_only_enabled"] is True
    events = m["settings"]["event_subscriptions"]
    assert "app_home_opened" in events["bot_events"]
    for url in (events["request_url"], m["settings"]["interactivity"]["request_url"]):
        assert urlsplit(url).scheme == "https"
        assert ("POST", urlsplit(url).path) in served and urlsplit(url).path == "/slack/events"
    # commands to receive slash commands, usergroups:read for group grants, users:read for
    # audit names, chat:write for the audit channel, files:write to upload the charts where
    # Slack cannot fetch them from runnerops (Socket Mode, no public address).
    assert set(m["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "usergroups:read",
        "users:read",
        "chat:write",
        "files:write",
    }


def test_github_app_manifest() -> None:
    m = json.loads((MANIFESTS / "github-app.json").read_text())
    assert set(m) <= GITHUB_KEYS and "url" in m
    hook = urlsplit(m["hook_attributes"]["url"])
    assert ("POST", hook.path) in _served_paths()
    assert m["default_permissions"] == {
        "organization_self_hosted_runners": "write",
        "administration": "write",
        "actions": "read",
        "metadata": "read",
    }
    # installation and installation_repositories reach every app without subscribing.
    assert m["default_events"] == ["workflow_job"]


def test_slack_socket_mode_manifest_has_no_request_urls() -> None:
    """The same app (commands, scopes, Home tab, events) with Socket Mode on and nothing
    for Slack to call: a private network's deployment has no URL Slack could reach."""
    http = manifests.slack_manifest("https://ops.example.org")
    socket = manifests.slack_socket_manifest()
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    assert "https://" not in json.dumps(socket["features"]["slash_commands"])
    assert "request_url" not in socket["settings"]["interactivity"]
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert socket["settings"]["interactivity"]["is_enabled"] is True
    assert socket["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert socket["oauth_config"] == http["oauth_config"]
    assert [c["command"] for c in socket["features"]["slash_commands"]] == [
        c["command"] for c in http["features"]["slash_commands"]
    ]
    assert set(socket) <= SLACK_KEYS


def test_in_socket_mode_slack_events_is_not_served(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/runnerops.db",
        "GITHUB_APP_ID": "1",
        "GITHUB_WEBHOOK_SECRET": "w",
        "SLACK_APP_TOKEN": "xapp-1-A0-1-x",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
    }
    app = create_app(load_settings(env))
    paths = {r.path for r in app.routes if isinstance(r, Route)}
    assert "/slack/events" not in paths and "/github/webhooks" in paths
