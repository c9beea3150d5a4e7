"""Settings, read once from the environment (a PaaS gives nothing else).

A missing required setting stops start-up with one message that names every missing
variable, so an operator fixes them in one go rather than one deploy at a time. Each
variable is one row of :data:`SETTINGS`: its name, its parser, its default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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


class _Missing(Exception):
    """A required setting is absent; the argument names it as the message does."""


class _Invalid(Exception):
    """A setting's value is refused; the arguments are the operator's messages."""


class _Required:
    """The default of a setting that must be given."""


REQUIRED = _Required()
Texts = Mapping[str, str | None]  # every variable of the table, as given (None: unset)
Default = str | None | _Required | Callable[[Texts], object]


@dataclass(frozen=True)
class Row:
    """One setting: the variable read, what reads its text, and what an unset one gives:
    a text the parser reads, None, :data:`REQUIRED`, or a function of the other variables
    (whose value is taken as it is). ``setting`` is the Settings field (None: the value is
    only checked, or read by another row); ``raw`` keeps the text's own whitespace."""

    variable: str
    setting: str | None
    parse: Callable[[str], object]
    default: Default = None
    raw: bool = False

    def value(self, texts: Texts) -> object:
        text = texts[self.variable]
        if text is not None:
            return self.parse(text)
        if isinstance(self.default, _Required):
            raise _Missing(self.variable)
        if self.default is None or isinstance(self.default, str):
            return None if self.default is None else self.parse(self.default)
        return self.default(texts)


def _text(text: str) -> str:
    return text


def _app_token(text: str) -> str:
    if not text.startswith("xapp-"):
        # Its value is a secret: the message names its shape, never the value.
        raise _Invalid(
            "SLACK_APP_TOKEN must be the Slack app's app-level token (xapp-…, scope"
            " connections:write), not another kind of token"
        )
    return text


def _signing_secret_unset(texts: Texts) -> str:
    # Socket Mode's envelopes come over runnerops' own connection: nothing to sign.
    if texts["SLACK_APP_TOKEN"]:
        return ""
    raise _Missing("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN, for Socket Mode)")


def _pem_checked(key: str) -> str:
    if "PRIVATE KEY-----" not in key:
        raise _Invalid(
            "GITHUB_PRIVATE_KEY is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)"
        )
    return key


def _private_key(text: str) -> str:
    return _pem_checked(text.replace("\\n", "\n"))  # PaaS dashboards often store it on one line


def _private_key_file(texts: Texts) -> str:
    path = texts["GITHUB_PRIVATE_KEY_PATH"]
    if path is None:
        raise _Missing("GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)")
    try:
        key = Path(path).read_text()
    except OSError as exc:
        raise _Invalid(f"GITHUB_PRIVATE_KEY_PATH={path} cannot be read ({exc.strerror})") from None
    return _pem_checked(key) if key else key


def _api_url(text: str) -> str:
    api_url = text.rstrip("/")
    if urlsplit(api_url).scheme not in {"http", "https"}:
        raise _Invalid(f"GITHUB_API_URL must be an http(s) URL, got {api_url!r}")
    return api_url


def _web_url(texts: Texts) -> str:
    return web_url_for((texts["GITHUB_API_URL"] or DEFAULT_API_URL).rstrip("/")).rstrip("/")


def _no_end_slash(text: str) -> str:
    return text.rstrip("/")


def _end_slash(text: str) -> str:
    return text if text.endswith("/") else text + "/"


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _Invalid(f"PORT must be a number, got {text!r}")
    return int(text)


def _github_timeout(text: str) -> float:
    try:
        timeout = float(text)
        if timeout <= 0:
            raise ValueError
    except ValueError:
        raise _Invalid(
            f"GITHUB_TIMEOUT must be a positive number of seconds, got {text!r}"
        ) from None
    return timeout


def _accounts(text: str) -> tuple[str, ...]:
    allowed = tuple(dict.fromkeys(a.strip().lower() for a in text.split(",") if a.strip()))
    if bad := [account for account in allowed if not _ACCOUNT.fullmatch(account)]:
        raise _Invalid(
            *(
                "GITHUB_ALLOWED_ACCOUNTS holds GitHub logins separated by commas, like"
                f" acme,globex (got {account!r})"
                for account in bad
            )
        )
    return allowed


def _database_timeout(text: str) -> float:
    try:
        seconds = float(text)
        if not 0 < seconds <= 600:
            raise ValueError
    except ValueError:
        raise _Invalid(
            f"DATABASE_TIMEOUT must be a positive number of seconds (600 at most), got {text!r}"
        ) from None
    return seconds


def _url_prefixes(text: str) -> tuple[str, ...]:
    prefixes = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = []
    for prefix in prefixes:
        parts = urlsplit(prefix)
        if parts.scheme not in {"http", "https"} or not parts.netloc or not parts.path:
            bad.append(prefix)
    if bad:
        raise _Invalid(
            *(
                "SLACK_RESPONSE_URL_PREFIXES holds URL prefixes with a path, like"
                f" https://hooks.slack.com/ (got {prefix!r})"
                for prefix in bad
            )
        )
    return prefixes


def _whole_days(variable: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit() and int(text) > 0):
            raise _Invalid(f"{variable} must be a whole number of days, got {text!r}")
        return int(text)

    return parse


def _public_url(text: str) -> str:
    public_url = text.rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query:
        raise _Invalid(
            "RUNNEROPS_PUBLIC_URL is this service's public address, like"
            f" https://runnerops.example.com (got {public_url!r})"
        )
    return public_url


def _yes_or_no(text: str) -> bool:
    text = text.lower()
    if text not in {"0", "1", "true", "false", "yes", "no"}:
        raise _Invalid(f"RUNNEROPS_MIGRATE_ON_START must be 1 or 0, got {text!r}")
    return text in {"1", "true", "yes"}


def _log_format(text: str) -> str:
    text = text.lower()
    if text not in {"text", "json"}:
        raise _Invalid(f"LOG_FORMAT must be text or json, got {text!r}")
    return text


def _sweep_seconds(text: str) -> float:
    try:
        seconds = float(text)
        if not 0 <= seconds <= 86400 or seconds != seconds:
            raise ValueError
    except ValueError:
        raise _Invalid(
            "RUNNEROPS_SWEEP_SECONDS must be a number of seconds (0 turns the watch's sweep"
            f" off), got {text!r}"
        ) from None
    return seconds


def _poll_budget(text: str) -> float:
    try:
        share = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        if not 0 < share <= 1:
            raise ValueError
    except ValueError:
        raise _Invalid(
            "RUNNEROPS_POLL_BUDGET must be a share of the hourly rate limit, like 10% or 0.1,"
            f" got {text!r}"
        ) from None
    return share


# Every setting read from the environment, in the order their problems are reported.
SETTINGS: tuple[Row, ...] = (
    Row("SLACK_APP_TOKEN", "slack_app_token", _app_token),
    Row("GITHUB_APP_ID", "github_app_id", _text, REQUIRED),
    Row("GITHUB_WEBHOOK_SECRET", "github_webhook_secret", _text, REQUIRED),
    Row("SLACK_SIGNING_SECRET", "slack_signing_secret", _text, _signing_secret_unset),
    Row("SLACK_BOT_TOKEN", "slack_bot_token", _text, REQUIRED),
    Row("GITHUB_PRIVATE_KEY", "github_private_key", _private_key, _private_key_file),
    Row("GITHUB_PRIVATE_KEY_PATH", None, _text),  # read by GITHUB_PRIVATE_KEY's default
    Row("GITHUB_API_URL", "github_api_url", _api_url, DEFAULT_API_URL),
    Row("GITHUB_URL", "github_url", _no_end_slash, _web_url),
    Row("GITHUB_ENTERPRISE_TOKEN", "github_enterprise_token", _text),
    Row("SLACK_API_URL", "slack_api_url", _end_slash, DEFAULT_SLACK_API_URL),
    Row("DEFAULT_GITHUB_TARGET", "default_target", _text),
    Row("PORT", "port", _port, "8000"),
    Row("GITHUB_APP_SLUG", "github_app_slug", _text),
    Row("GITHUB_TIMEOUT", "github_timeout", _github_timeout, "10"),
    Row("GITHUB_ALLOWED_ACCOUNTS", "github_allowed_accounts", _accounts, ""),
    Row("RUNNEROPS_POLICY", "policy", _text, raw=True),  # its line numbers are the operator's
    Row("DATABASE_URL", "database_url", _text, "sqlite:///runnerops.db"),
    Row("DATABASE_TIMEOUT", "database_timeout", _database_timeout, "5"),
    Row(
        "SLACK_RESPONSE_URL_PREFIXES",
        "slack_response_url_prefixes",
        _url_prefixes,
        ",".join(DEFAULT_RESPONSE_URL_PREFIXES),
    ),
    Row("AUDIT_RETENTION_DAYS", "audit_retention_days", _whole_days("AUDIT_RETENTION_DAYS"), "400"),
    Row("JOB_RETENTION_DAYS", "job_retention_days", _whole_days("JOB_RETENTION_DAYS"), "90"),
    Row("RUNNEROPS_PUBLIC_URL", "public_url", _public_url),
    Row("RUNNEROPS_MIGRATE_ON_START", "migrate_on_start", _yes_or_no, "1"),
    # Applied before the settings are read (bot.observe.logs), so start-up speaks JSON too;
    # checked here so that a wrong value stops start-up with the others.
    Row("LOG_FORMAT", None, _log_format, "text"),
    Row("RUNNEROPS_SWEEP_SECONDS", "sweep_seconds", _sweep_seconds, "30"),
    Row("RUNNEROPS_POLL_BUDGET", "poll_budget", _poll_budget, "10%"),
    Row("METRICS_TOKEN", "metrics_token", _text),
    Row("AUDIT_SLACK_CHANNEL", "audit_slack_channel", _text),
)


def _given(env: Mapping[str, str], row: Row) -> str | None:
    """The variable's text; unset, empty and (unless ``raw``) blank are all None."""
    text = env.get(row.variable, "")
    return (text if row.raw else text.strip()) or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, or one ConfigError naming every variable missing
    and every value refused."""
    env = os.environ if env is None else env
    texts = {row.variable: _given(env, row) for row in SETTINGS}
    values: dict[str, Any] = {}
    missing: list[str] = []
    problems: list[str] = []
    for row in SETTINGS:
        try:
            value = row.value(texts)
        except _Missing as absent:
            missing.append(str(absent))
        except _Invalid as refused:
            problems += refused.args
        else:
            if row.setting is not None:
                values[row.setting] = value
    if missing or problems:
        lines = []
        if missing:
            lines.append("runnerops cannot start: missing settings: " + ", ".join(missing))
        lines += [f"runnerops cannot start: {p}" for p in problems]
        raise ConfigError("\n".join(lines))
    return Settings(**values)


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
