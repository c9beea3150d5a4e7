"""The two app manifests of ``manifests/``, filled in for one deployment's public address.

The files stay the single source of the apps' permissions, events and commands; only their
URLs (written for ``runnerops.example.com``) are replaced here.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

PLACEHOLDER = "https://runnerops.example.com"
SLACK_NEW_APP = "https://api.slack.com/apps?new_app=1&manifest_json="
# GitHub App names: at most 34 characters, unique on the GitHub host.
MAX_APP_NAME = 34
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


def manifests_dir() -> Path:
    """``manifests/`` beside the code (a checkout, as on every PaaS), else in the working
    directory (``pip install .`` puts the code elsewhere but runs from the checkout)."""
    beside = Path(__file__).resolve().parents[2] / "manifests"
    return beside if beside.is_dir() else Path.cwd() / "manifests"


def _load(name: str) -> dict[str, Any]:
    data = json.loads((manifests_dir() / name).read_text())
    assert isinstance(data, dict)
    return data


def _replace_placeholder(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, base_url)
    if isinstance(value, list):
        return [_replace_placeholder(v, base_url) for v in value]
    if isinstance(value, dict):
        return {k: _replace_placeholder(v, base_url) for k, v in value.items()}
    return value


def app_name(base_url: str) -> str:
    """A GitHub App name likely free on GitHub: names are unique there, and a PaaS host's
    first label (the PaaS app's own unique name) tells deployments apart."""
    host = urlsplit(base_url).hostname or ""
    label = host.split(".", 1)[0].lower()
    try:
        ipaddress.ip_address(host)
        label = ""
    except ValueError:
        pass
    if not label or label == "localhost":
        return "runnerops"
    name = label if "runnerops" in label else f"runnerops-{label}"
    return name[:MAX_APP_NAME].rstrip("-")


def github_manifest(base_url: str, *, public: bool = False) -> dict[str, Any]:
    """``manifests/github-app.json`` for this deployment: its webhook, and the callback
    GitHub sends the browser back to with the one-hour code. ``public`` for a deployment
    serving several organizations: GitHub lets a private App be installed only on the
    account that owns it, a public one on any (``GITHUB_ALLOWED_ACCOUNTS`` says which are
    served)."""
    manifest: dict[str, Any] = _replace_placeholder(_load("github-app.json"), base_url)
    manifest["name"] = app_name(base_url)
    manifest["url"] = base_url
    manifest.setdefault("hook_attributes", {})["url"] = f"{base_url}/github/webhooks"
    manifest["redirect_url"] = f"{base_url}/setup/github/callback"
    manifest["public"] = public
    return manifest


def slack_manifest(base_url: str) -> dict[str, Any]:
    """``manifests/slack.json`` with every request URL pointing at this deployment."""
    return dict(_replace_placeholder(_load("slack.json"), base_url))


def slack_socket_manifest() -> dict[str, Any]:
    """``manifests/slack.json`` for Socket Mode: runnerops connects out to Slack, so there
    are no request URLs (a private network's deployment has none Slack could reach)."""
    manifest = _load("slack.json")
    for command in manifest["features"]["slash_commands"]:
        command.pop("url", None)
    settings = manifest["settings"]
    settings["socket_mode_enabled"] = True
    settings["interactivity"].pop("request_url", None)
    settings["event_subscriptions"].pop("request_url", None)
    return manifest


def slack_create_url(base_url: str, *, socket_mode: bool = False) -> str:
    """Slack's "create an app from this manifest" link (the manifest travels in the URL)."""
    manifest = slack_socket_manifest() if socket_mode else slack_manifest(base_url)
    text = json.dumps(manifest, separators=(",", ":"))
    return SLACK_NEW_APP + quote(text, safe="")


def is_login(text: str) -> bool:
    """A GitHub organization login: letters, digits and single inner hyphens, 1-39."""
    return bool(_LOGIN.fullmatch(text))


def new_app_url(github_url: str, organization: str | None, state: str | None = None) -> str:
    """Where GitHub's manifest flow starts: a user's or an organization's new-App form (the
    same paths on GitHub Enterprise Server), with ``state`` in the query as GitHub's docs
    show it (the form carries it too)."""
    if organization:
        url = f"{github_url}/organizations/{quote(organization, safe='')}/settings/apps/new"
    else:
        url = f"{github_url}/settings/apps/new"
    return f"{url}?state={quote(state, safe='')}" if state else url


def install_url(github_url: str, slug: str, *, ghes: bool) -> str:
    """The page that installs the App on an account: ``/apps/`` on github.com and GHE.com,
    ``/github-apps/`` on GitHub Enterprise Server."""
    apps = "github-apps" if ghes else "apps"
    return f"{github_url}/{apps}/{quote(slug, safe='')}/installations/new"
