"""app.json (one-click deploy) and the README's configuration table name exactly the
variables the code reads: an operator never meets an undocumented or a dead setting."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.config import EPHEMERAL_PLATFORMS, ephemeral_disk_warning, load_settings
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
    required = {name for name, spec in app["env"].items() if spec["required"]}
    assert required == {
        "GITHUB_APP_ID",
        "GITHUB_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
    }
    for secret in ("GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN"):
        assert app["env"][secret]["description"].startswith("Secret:")
        assert "value" not in app["env"][secret]  # never a default for a secret
    assert any(a["plan"].startswith("heroku-postgresql") for a in app["addons"])


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
