from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings, web_url_for

PEM = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"
BASE = {
    "GITHUB_APP_ID": "1",
    "GITHUB_PRIVATE_KEY": PEM,
    "GITHUB_WEBHOOK_SECRET": "w",
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_BOT_TOKEN": "xoxb-1",
}


def test_every_missing_variable_named_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({})
    for name in (
        "GITHUB_APP_ID",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
    ):
        assert name in str(err.value)


def test_defaults() -> None:
    s = load_settings(BASE)
    assert (s.github_api_url, s.github_url, s.port) == (
        "https://api.github.com",
        "https://github.com",
        8000,
    )
    assert "PRIVATE KEY" not in repr(s)


def test_ghes_web_url_derived_and_overridable() -> None:
    s = load_settings(BASE | {"GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.github_url == "https://ghe.example.com"
    s = load_settings(
        BASE
        | {
            "GITHUB_API_URL": "https://ghe.example.com/api/v3",
            "GITHUB_URL": "https://code.example.com",
        }
    )
    assert s.github_url == "https://code.example.com"
    assert web_url_for("https://api.octo.ghe.com") == "https://octo.ghe.com"


def test_private_key_from_path_and_escaped_newlines(tmp_path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(PEM)
    env = {k: v for k, v in BASE.items() if k != "GITHUB_PRIVATE_KEY"}
    assert load_settings(env | {"GITHUB_PRIVATE_KEY_PATH": str(path)}).github_private_key == PEM
    assert (
        load_settings(BASE | {"GITHUB_PRIVATE_KEY": PEM.replace("\n", "\\n")}).github_private_key
        == PEM
    )
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(env | {"GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "none.pem")})


def test_bad_values_reported() -> None:
    with pytest.raises(ConfigError, match="PORT must be a number"):
        load_settings(BASE | {"PORT": "eighty"})
    with pytest.raises(ConfigError, match="not a PEM"):
        load_settings(BASE | {"GITHUB_PRIVATE_KEY": "hello"})


@pytest.mark.parametrize(
    ("api_url", "install_url"),
    [
        ("https://api.github.com", "https://github.com/apps/ops-bot/installations/new"),
        ("https://api.github.com/", "https://github.com/apps/ops-bot/installations/new"),
        # GitHub Enterprise Cloud with data residency works like github.com
        ("https://api.octo.ghe.com", "https://octo.ghe.com/apps/ops-bot/installations/new"),
        # GitHub Enterprise Server: its own path
        (
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com/github-apps/ops-bot/installations/new",
        ),
        (
            "https://ghe.example.com/api/v3/",
            "https://ghe.example.com/github-apps/ops-bot/installations/new",
        ),
        (
            "http://10.0.0.5:8080/api/v3",
            "http://10.0.0.5:8080/github-apps/ops-bot/installations/new",
        ),
    ],
)
def test_install_url_on_github_com_and_ghes(api_url: str, install_url: str) -> None:
    env = BASE | {"GITHUB_API_URL": api_url, "GITHUB_APP_SLUG": "ops-bot"}
    assert load_settings(env).install_url == install_url


def test_install_url_without_slug() -> None:
    assert load_settings(BASE).install_url == "https://github.com/settings/installations"
    ghes = load_settings(BASE | {"GITHUB_API_URL": "https://ghe.example.com/api/v3"})
    assert ghes.install_url == "https://ghe.example.com/settings/installations"


def test_ghes_install_url_follows_an_overridden_web_url() -> None:
    env = BASE | {
        "GITHUB_API_URL": "https://ghe.example.com/api/v3",
        "GITHUB_URL": "https://code.example.com",
        "GITHUB_APP_SLUG": "ops-bot",
    }
    expected = "https://code.example.com/github-apps/ops-bot/installations/new"
    assert load_settings(env).install_url == expected


def test_watch_settings() -> None:
    defaults = load_settings(BASE)
    assert (defaults.sweep_seconds, defaults.poll_budget) == (30.0, 0.10)
    chosen = load_settings(BASE | {"RUNNEROPS_SWEEP_SECONDS": "0", "RUNNEROPS_POLL_BUDGET": "25%"})
    assert (chosen.sweep_seconds, chosen.poll_budget) == (0.0, 0.25)
    assert load_settings(BASE | {"RUNNEROPS_POLL_BUDGET": "0.05"}).poll_budget == 0.05
    with pytest.raises(ConfigError) as info:
        load_settings(BASE | {"RUNNEROPS_SWEEP_SECONDS": "-1", "RUNNEROPS_POLL_BUDGET": "150%"})
    assert "RUNNEROPS_SWEEP_SECONDS" in str(info.value)
    assert "RUNNEROPS_POLL_BUDGET" in str(info.value)


def test_audit_retention_days_default_and_set() -> None:
    assert load_settings(BASE).audit_retention_days == 400
    assert load_settings(BASE | {"AUDIT_RETENTION_DAYS": " 30 "}).audit_retention_days == 30


@pytest.mark.parametrize("bad", ["0", "-5", "ten", "1.5", "30d", "\u0663"])
def test_bad_audit_retention_days_refused_with_the_value(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(BASE | {"AUDIT_RETENTION_DAYS": bad})
    assert f"AUDIT_RETENTION_DAYS must be a whole number of days, got {bad!r}" in str(err.value)


def test_database_timeout_default_and_set() -> None:
    assert load_settings(BASE).database_timeout == 5.0
    assert load_settings(BASE | {"DATABASE_TIMEOUT": "2.5"}).database_timeout == 2.5


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "nan", "inf", "601"])
def test_bad_database_timeout_refused_with_the_value(bad: str) -> None:
    with pytest.raises(ConfigError, match=f"DATABASE_TIMEOUT .*{bad!r}"):
        load_settings(BASE | {"DATABASE_TIMEOUT": bad})


def test_socket_mode_takes_an_app_token_instead_of_the_signing_secret() -> None:
    env = {k: v for k, v in BASE.items() if k != "SLACK_SIGNING_SECRET"}
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET") as err:
        load_settings(env)  # HTTP mode: unchanged, the signing secret is required
    assert "(or SLACK_APP_TOKEN, for Socket Mode)" in str(err.value)
    s = load_settings({**env, "SLACK_APP_TOKEN": "xapp-1-A0-123-abc"})
    assert s.socket_mode and s.slack_signing_secret == ""
    assert "xapp-1-A0-123-abc" in s.secrets()  # the log redactor hides it
    assert "xapp-" not in repr(s)
    assert s.chart_secret == "xapp-1-A0-123-abc"  # chart links are still signed with a secret
    assert not load_settings(BASE).socket_mode
    assert load_settings(BASE).chart_secret == "s"


@pytest.mark.parametrize("bad", ["xoxb-1-bot-token", "xoxp-user", "app-token"])
def test_an_app_token_of_another_kind_is_refused_without_its_value(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({**BASE, "SLACK_APP_TOKEN": bad})
    assert "SLACK_APP_TOKEN" in str(err.value) and "xapp-" in str(err.value)
    assert bad not in str(err.value)


def test_socket_mode_slack_variables_end_setup_mode() -> None:
    from bot.config import load_setup_settings

    socket = {k: v for k, v in BASE.items() if k != "SLACK_SIGNING_SECRET"}
    socket["SLACK_APP_TOKEN"] = "xapp-1-A0-123-abc"
    assert load_setup_settings(socket) is None  # both apps set: the service starts
    github_only = {k: v for k, v in socket.items() if not k.startswith("SLACK_")}
    half = {**github_only, "SLACK_APP_TOKEN": "xapp-1-A0-123-abc"}
    assert load_setup_settings(half) is None  # a half-configured Slack app is named...
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN") as err:
        load_settings(half)
    assert "SLACK_SIGNING_SECRET" not in str(err.value)  # ...without the secret it needs not
    assert load_setup_settings(github_only).pending == ("slack",)  # type: ignore[union-attr]
