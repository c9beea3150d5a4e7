"""Settings, read once from the environment (a PaaS gives nothing else).

A missing required setting stops start-up with one message that names every missing
variable, so an operator fixes them in one go rather than one deploy at a time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://api.github.com"
# A GitHub login (Enterprise Managed Users add ``_shortcode``), as bot.targets reads one.
_ACCOUNT = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,37}[a-z0-9_])?")
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Where Slack's response_url points: its commercial and its GovSlack hosts. Replies (which
# may hold a runner token) go nowhere else, even for a request whose signature checks out.
DEFAULT_RESPONSE_URL_PREFIXES = ("https://hooks.slack.com/", "https://hooks.slack-gov.com/")


class ConfigError(Exception):
    """Start-up cannot go on; the message is meant for the operator's terminal."""


@dataclass(frozen=True)
class Settings:
    github_app_id: str
    github_private_key: str = field(repr=False)
    github_webhook_secret: str = field(repr=False)
    slack_signing_secret: str = field(repr=False)
    slack_bot_token: str = field(repr=False)
    github_api_url: str = DEFAULT_API_URL
    github_url: str = "https://github.com"
    github_enterprise_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    default_target: str | None = None
    port: int = 8000
    github_app_slug: str | None = None
    # GITHUB_ALLOWED_ACCOUNTS, lower-cased: the accounts whose installations are served.
    # Empty: the account that owns the App (asked of GitHub, GET /app). None, which only
    # code building Settings itself gets (the sandbox, tests), checks no account.
    github_allowed_accounts: tuple[str, ...] | None = None
    github_timeout: float = 10.0
    policy: str | None = None
    database_url: str = "sqlite:///runnerops.db"
    database_timeout: float = 5.0  # seconds for a connect, a pool wait, a statement
    audit_retention_days: int = 400
    job_retention_days: int = 90  # stored workflow jobs, whatever their status
    migrate_on_start: bool = True
    metrics_token: str | None = field(default=None, repr=False)
    audit_slack_channel: str | None = None
    slack_response_url_prefixes: tuple[str, ...] = DEFAULT_RESPONSE_URL_PREFIXES
    sweep_seconds: float = 30.0  # the watch's sweep; 0 turns it off
    # Bytes of webhook bodies read but not yet signature-checked, across all requests.
    webhook_unverified_bytes: int = 64 * 1024 * 1024
    # The same for Slack's requests (1 MiB each at most; a command is a few KB): a flood
    # of unsigned 1 MiB bodies holds at most this much, while commands still fit beside.
    slack_unverified_bytes: int = 16 * 1024 * 1024
    poll_budget: float = 0.10  # share of each installation's hourly rate limit for polling
    public_url: str | None = None
    # Socket Mode's app-level token (xapp-…): with it runnerops connects out to Slack
    # instead of answering /slack/events, and SLACK_SIGNING_SECRET is not needed.
    slack_app_token: str | None = field(default=None, repr=False)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def chart_secret(self) -> str:
        """What chart links are signed with: the signing secret, or in Socket Mode (where
        there may be none) the app-level token; a secret either way."""
        return self.slack_signing_secret or self.slack_app_token or ""

    @property
    def install_url(self) -> str:
        """Where an admin installs the app on another account.

        GitHub Enterprise Server serves the page under ``/github-apps/``; github.com and
        GHE.com under ``/apps/``."""
        if self.github_app_slug:
            apps = "github-apps" if is_ghes(self.github_api_url) else "apps"
            return f"{self.github_url}/{apps}/{self.github_app_slug}/installations/new"
        return f"{self.github_url}/settings/installations"

    def secrets(self) -> list[str]:
        """Every configured secret, for the log redaction filter."""
        values = [
            self.github_private_key,
            self.github_webhook_secret,
            self.slack_signing_secret,
            self.slack_bot_token,
            self.github_enterprise_token or "",
            self.metrics_token or "",
            self.slack_app_token or "",
        ]
        return [v for v in values if v]


def is_ghes(api_url: str) -> bool:
    """GitHub Enterprise Server serves its REST API under ``/api/v3``; github.com
    (``api.github.com``) and GHE.com data residency (``api.SUBDOMAIN.ghe.com``) at the root."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host == "api.github.com" or (host.startswith("api.") and host.endswith(".ghe.com")):
        return False
    return parts.path.rstrip("/").lower().endswith("/api/v3")


def web_url_for(api_url: str) -> str:
    """``https://api.github.com`` -> ``https://github.com``; ``https://HOST/api/v3`` -> ``https://HOST``."""
    parts = urlsplit(api_url.rstrip("/"))
    host = parts.netloc
    if host == "api.github.com":
        return "https://github.com"
    if host.startswith("api.") and host.endswith(
        ".ghe.com"
    ):  # GitHub Enterprise Cloud with data residency
        return f"{parts.scheme}://{host.removeprefix('api.')}"
    return f"{parts.scheme}://{host}"


# Platforms whose disk is wiped on restart, and the variable each sets in its processes.
EPHEMERAL_PLATFORMS = {
    "DYNO": "Heroku",
    "RENDER": "Render",
    "FLY_APP_NAME": "Fly.io",
    "RAILWAY_ENVIRONMENT": "Railway",
    "K_SERVICE": "Cloud Run",
}


def ephemeral_disk_warning(env: Mapping[str, str] | None = None) -> str | None:
    """One warning when a PaaS process runs without ``DATABASE_URL``: its SQLite file (the
    audit trail) will be gone at the next restart."""
    env = os.environ if env is None else env
    if env.get("DATABASE_URL", "").strip():
        return None
    for variable, platform in EPHEMERAL_PLATFORMS.items():
        if env.get(variable):
            return (
                f"DATABASE_URL is not set and this looks like {platform} ({variable} is set):"
                " runnerops is using a SQLite file on the process's ephemeral disk, and the"
                " audit trail will be lost at the next restart. Attach a PostgreSQL database"
                " (on Heroku: heroku addons:create heroku-postgresql) so that DATABASE_URL is set."
            )
    return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    missing: list[str] = []
    problems: list[str] = []
    required = {}
    app_token = get("SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        # Its value is a secret: the message names its shape, never the value.
        problems.append(
            "SLACK_APP_TOKEN must be the Slack app's app-level token (xapp-…, scope"
            " connections:write), not another kind of token"
        )
    for name in (
        "GITHUB_APP_ID",
        "GITHUB_WEBHOOK_SECRET",
        # Socket Mode's envelopes come over runnerops' own connection: nothing to sign.
        *(() if app_token else ("SLACK_SIGNING_SECRET",)),
        "SLACK_BOT_TOKEN",
    ):
        value = get(name)
        if value is None:
            hint = (
                " (or SLACK_APP_TOKEN, for Socket Mode)" if name == "SLACK_SIGNING_SECRET" else ""
            )
            missing.append(name + hint)
        required[name] = value or ""

    key = env.get("GITHUB_PRIVATE_KEY", "").strip()
    key_path = get("GITHUB_PRIVATE_KEY_PATH")
    if key:
        key = key.replace("\\n", "\n")  # PaaS dashboards often store the PEM on one line
    elif key_path:
        try:
            key = Path(key_path).read_text()
        except OSError as exc:
            problems.append(f"GITHUB_PRIVATE_KEY_PATH={key_path} cannot be read ({exc.strerror})")
    else:
        missing.append("GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)")
    if key and "PRIVATE KEY-----" not in key:
        problems.append(
            "GITHUB_PRIVATE_KEY is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)"
        )

    api_url = (get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if urlsplit(api_url).scheme not in {"http", "https"}:
        problems.append(f"GITHUB_API_URL must be an http(s) URL, got {api_url!r}")
    port_text = get("PORT") or "8000"
    if not (port_text.isascii() and port_text.isdigit()):
        problems.append(f"PORT must be a number, got {port_text!r}")
    timeout_text = get("GITHUB_TIMEOUT") or "10"
    try:
        timeout = float(timeout_text)
        if timeout <= 0:
            raise ValueError
    except ValueError:
        problems.append(
            f"GITHUB_TIMEOUT must be a positive number of seconds, got {timeout_text!r}"
        )
        timeout = 10.0

    allowed_text = get("GITHUB_ALLOWED_ACCOUNTS") or ""
    allowed = tuple(dict.fromkeys(a.strip().lower() for a in allowed_text.split(",") if a.strip()))
    for account in allowed:
        if not _ACCOUNT.fullmatch(account):
            problems.append(
                "GITHUB_ALLOWED_ACCOUNTS holds GitHub logins separated by commas, like"
                f" acme,globex (got {account!r})"
            )

    database_timeout_text = get("DATABASE_TIMEOUT") or "5"
    try:
        database_timeout = float(database_timeout_text)
        if not 0 < database_timeout <= 600:
            raise ValueError
    except ValueError:
        problems.append(
            "DATABASE_TIMEOUT must be a positive number of seconds (600 at most), got"
            f" {database_timeout_text!r}"
        )
        database_timeout = 5.0

    prefixes: tuple[str, ...] = DEFAULT_RESPONSE_URL_PREFIXES
    if prefixes_text := get("SLACK_RESPONSE_URL_PREFIXES"):
        prefixes = tuple(p.strip() for p in prefixes_text.split(",") if p.strip())
        for prefix in prefixes:
            parts = urlsplit(prefix)
            if parts.scheme not in {"http", "https"} or not parts.netloc or not parts.path:
                problems.append(
                    "SLACK_RESPONSE_URL_PREFIXES holds URL prefixes with a path, like"
                    f" https://hooks.slack.com/ (got {prefix!r})"
                )

    retention_text = get("AUDIT_RETENTION_DAYS") or "400"
    if not (retention_text.isascii() and retention_text.isdigit() and int(retention_text) > 0):
        problems.append(
            f"AUDIT_RETENTION_DAYS must be a whole number of days, got {retention_text!r}"
        )
        retention_text = "400"
    job_retention_text = get("JOB_RETENTION_DAYS") or "90"
    if not (
        job_retention_text.isascii()
        and job_retention_text.isdigit()
        and int(job_retention_text) > 0
    ):
        problems.append(
            f"JOB_RETENTION_DAYS must be a whole number of days, got {job_retention_text!r}"
        )
        job_retention_text = "90"
    public_url = get("RUNNEROPS_PUBLIC_URL")
    if public_url is not None:
        public_url = public_url.rstrip("/")
        parts = urlsplit(public_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query:
            problems.append(
                "RUNNEROPS_PUBLIC_URL is this service's public address, like"
                f" https://runnerops.example.com (got {public_url!r})"
            )
    migrate_text = (get("RUNNEROPS_MIGRATE_ON_START") or "1").lower()
    if migrate_text not in {"0", "1", "true", "false", "yes", "no"}:
        problems.append(f"RUNNEROPS_MIGRATE_ON_START must be 1 or 0, got {migrate_text!r}")

    # Applied before the settings are read (bot.observe.logs), so start-up speaks JSON too;
    # checked here so that a wrong value stops start-up with the others.
    log_format = (get("LOG_FORMAT") or "text").lower()
    if log_format not in {"text", "json"}:
        problems.append(f"LOG_FORMAT must be text or json, got {log_format!r}")
    sweep_text = get("RUNNEROPS_SWEEP_SECONDS") or "30"
    try:
        sweep_seconds = float(sweep_text)
        if not 0 <= sweep_seconds <= 86400 or sweep_seconds != sweep_seconds:
            raise ValueError
    except ValueError:
        problems.append(
            "RUNNEROPS_SWEEP_SECONDS must be a number of seconds (0 turns the watch's sweep"
            f" off), got {sweep_text!r}"
        )
        sweep_seconds = 30.0
    budget_text = get("RUNNEROPS_POLL_BUDGET") or "10%"
    try:
        percent = budget_text.endswith("%")
        poll_budget = float(budget_text.rstrip("%")) / (100 if percent else 1)
        if not 0 < poll_budget <= 1:
            raise ValueError
    except ValueError:
        problems.append(
            "RUNNEROPS_POLL_BUDGET must be a share of the hourly rate limit, like 10% or 0.1,"
            f" got {budget_text!r}"
        )
        poll_budget = 0.10

    if missing or problems:
        lines = []
        if missing:
            lines.append("runnerops cannot start: missing settings: " + ", ".join(missing))
        lines += [f"runnerops cannot start: {p}" for p in problems]
        raise ConfigError("\n".join(lines))

    slack_api = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    return Settings(
        github_app_id=required["GITHUB_APP_ID"],
        github_private_key=key,
        github_webhook_secret=required["GITHUB_WEBHOOK_SECRET"],
        slack_signing_secret=get("SLACK_SIGNING_SECRET") or "",
        slack_bot_token=required["SLACK_BOT_TOKEN"],
        github_api_url=api_url,
        github_url=(get("GITHUB_URL") or web_url_for(api_url)).rstrip("/"),
        github_enterprise_token=get("GITHUB_ENTERPRISE_TOKEN"),
        slack_api_url=slack_api if slack_api.endswith("/") else slack_api + "/",
        default_target=get("DEFAULT_GITHUB_TARGET"),
        port=int(port_text),
        github_app_slug=get("GITHUB_APP_SLUG"),
        github_allowed_accounts=allowed,
        github_timeout=timeout,
        policy=env.get("RUNNEROPS_POLICY") or None,
        database_url=get("DATABASE_URL") or "sqlite:///runnerops.db",
        database_timeout=database_timeout,
        audit_retention_days=int(retention_text),
        job_retention_days=int(job_retention_text),
        migrate_on_start=migrate_text in {"1", "true", "yes"},
        metrics_token=get("METRICS_TOKEN"),
        audit_slack_channel=get("AUDIT_SLACK_CHANNEL"),
        slack_response_url_prefixes=prefixes,
        sweep_seconds=sweep_seconds,
        poll_budget=poll_budget,
        public_url=public_url,
        slack_app_token=app_token,
    )


# The two apps runnerops is, and the variables each one's registration gives. A deployment
# without any of one app's variables starts in setup mode (see bot.setup) rather than exit.
SETUP_STEPS: dict[str, tuple[str, ...]] = {
    "github": (
        "GITHUB_APP_ID",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_PRIVATE_KEY_PATH",
        "GITHUB_WEBHOOK_SECRET",
    ),
    "slack": ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"),
}
# Stand-ins for a pending step's variables, so that load_settings still checks every other
# setting (a bad PORT or GITHUB_API_URL stops a setup-mode start-up as it stops any other).
_STAND_INS = {
    "github": {
        "GITHUB_APP_ID": "0",
        "GITHUB_PRIVATE_KEY": "(no key yet: setup mode) PRIVATE KEY-----",
        "GITHUB_WEBHOOK_SECRET": "setup-mode",
    },
    "slack": {"SLACK_SIGNING_SECRET": "setup-mode", "SLACK_BOT_TOKEN": "setup-mode"},
}


class _Overlay(Mapping[str, str]):
    """``first`` over ``then``, without copying ``then`` (whose reads may be recorded)."""

    def __init__(self, first: Mapping[str, str], then: Mapping[str, str]) -> None:
        self.first, self.then = first, then

    def __getitem__(self, key: str) -> str:
        return self.first[key] if key in self.first else self.then[key]

    def __iter__(self) -> Iterator[str]:
        return iter({*self.first, *self.then})

    def __len__(self) -> int:
        return len({*self.first, *self.then})


@dataclass(frozen=True)
class SetupSettings:
    """What setup mode needs: which steps are pending, where GitHub is, where we are."""

    pending: tuple[str, ...]  # "github" and/or "slack"
    github_url: str = "https://github.com"
    github_api_url: str = DEFAULT_API_URL
    github_configured: bool = False  # GITHUB_URL or GITHUB_API_URL set: no GHES field
    public_url: str | None = None
    port: int = 8000
    github_app_id: str | None = None  # set once step 1 is done
    github_app_slug: str | None = None
    policy: str | None = None  # checked at start-up in setup mode too, not used by it


def load_setup_settings(env: Mapping[str, str] | None = None) -> SetupSettings | None:
    """Setup mode's settings when every variable of the GitHub App or of the Slack app is
    absent; None when neither is (the full service then starts, and load_settings names any
    variable still missing: a half-configured app is a mistake to name, not a reason to
    register a new one).

    Every other setting is checked as load_settings checks it, so a bad value still stops
    start-up with the usual message."""
    env = os.environ if env is None else env
    pending = tuple(
        step
        for step, names in SETUP_STEPS.items()
        if not any(env.get(name, "").strip() for name in names)
    )
    if not pending:
        return None
    stand_ins = {name: value for step in pending for name, value in _STAND_INS[step].items()}
    settings = load_settings(_Overlay(stand_ins, env))
    return SetupSettings(
        pending=pending,
        github_url=settings.github_url,
        github_api_url=settings.github_api_url,
        github_configured=bool(
            env.get("GITHUB_URL", "").strip() or env.get("GITHUB_API_URL", "").strip()
        ),
        public_url=settings.public_url,
        port=settings.port,
        github_app_id=None if "github" in pending else settings.github_app_id,
        github_app_slug=settings.github_app_slug,
        policy=settings.policy,
    )
