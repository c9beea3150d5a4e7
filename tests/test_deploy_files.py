"""app.json (one-click deploy) and the README's configuration table name exactly the
variables the code reads: an operator never meets an undocumented or a dead setting."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bot.config import (
    EPHEMERAL_PLATFORMS,
    SETUP_STEPS,
    ephemeral_disk_warning,
    load_settings,
)
from bot.sandbox.harness import Keys

ROOT = Path(__file__).parent.parent
SET_BY_PLATFORM = {"PORT"}  # the PaaS sets it; app.json must not ask for it


class Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must name the variables they read")


def variables_read(keys: Keys) -> set[str]:
    env = Recording(
        {
            "GITHUB_APP_ID": "1",
            "GITHUB_PRIVATE_KEY": keys.private_pem,
            "GITHUB_WEBHOOK_SECRET": "w",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_BOT_TOKEN": "xoxb-1",
        }
    )
    load_settings(env)
    return env.read


def test_app_json_declares_every_setting_and_nothing_else(keys: Keys) -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert set(app["env"]) == variables_read(keys) - SET_BY_PLATFORM
    for name, spec in app["env"].items():
        assert spec.get("description"), name
        assert isinstance(spec.get("required"), bool), name
    # A one-click deploy asks for nothing: it opens on the setup page (success_url), which
    # registers both apps and gives their values.
    assert {name for name, spec in app["env"].items() if spec["required"]} == set()
    assert app["success_url"] == "/setup"
    assert set(SETUP_STEPS["github"]) | set(SETUP_STEPS["slack"]) <= set(app["env"])
    for secret in ("GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN"):
        assert app["env"][secret]["description"].startswith("Secret:")
        assert "value" not in app["env"][secret]  # never a default for a secret
    assert any(a["plan"].startswith("heroku-postgresql") for a in app["addons"])


def test_render_blueprint_matches_app_json_and_the_procfile() -> None:
    """render.yaml deploys the same service as app.json: the same variables (secrets asked
    for, never given a value), the Procfile's commands, and a database for DATABASE_URL."""
    app = json.loads((ROOT / "app.json").read_text())
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    (web,) = blueprint["services"]
    assert web["type"] == "web" and web["runtime"] == "python"
    assert web["buildCommand"] == "pip install ."
    lines = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().strip().splitlines()
    )
    assert web["startCommand"] == lines["web"]
    assert web["preDeployCommand"] == lines["release"]
    assert web["healthCheckPath"] == "/healthz"
    variables = {v["key"]: v for v in web["envVars"]}
    assert len(variables) == len(web["envVars"])  # no key twice
    assert set(variables) == set(app["env"])
    databases = {d["name"] for d in blueprint["databases"]}
    assert variables["DATABASE_URL"]["fromDatabase"]["property"] == "connectionString"
    assert variables["DATABASE_URL"]["fromDatabase"]["name"] in databases
    for name, spec in app["env"].items():
        if name == "DATABASE_URL":
            continue
        if "value" in spec:
            assert variables[name] == {"key": name, "value": spec["value"]}, name
        else:  # asked for in Render's dashboard; secrets among them
            assert variables[name] == {"key": name, "sync": False}, name
    for name, spec in app["env"].items():
        if spec["description"].startswith("Secret:"):
            assert variables[name].get("sync") is False and "value" not in variables[name]


def test_readme_table_lists_every_setting_and_nothing_else(keys: Keys) -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.MULTILINE))
    assert documented == variables_read(keys)


def test_platform_markers_without_a_database_warn_once() -> None:
    for marker, platform in EPHEMERAL_PLATFORMS.items():
        warning = ephemeral_disk_warning({marker: "1"})
        assert warning is not None and platform in warning
        assert "audit trail will be lost" in warning and "DATABASE_URL" in warning
        assert ephemeral_disk_warning({marker: "1", "DATABASE_URL": "postgres://h/d"}) is None
    assert ephemeral_disk_warning({}) is None


def test_a_paas_process_without_a_database_starts_and_warns_once(
    keys: Keys, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "DYNO": "web.1",
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": "w",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import app; app.app"],
        cwd=tmp_path,  # the SQLite file lands in the working directory, as on a dyno
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("audit trail will be lost") == 1
    assert "Heroku" in done.stderr and "heroku-postgresql" in done.stderr
    assert (tmp_path / "runnerops.db").exists()
