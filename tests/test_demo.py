"""The credential-free demo: the quick start's first command must work on a fresh clone."""

from __future__ import annotations

import subprocess
import sys


def test_tour_runs_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.sandbox", "--tour"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "14 runners · 10 online · 4 busy · 4 offline" in out
    assert "2 match `--status online --label gpu`" in out
    assert "./config.sh --url https://github.com/acme/api --token " in out
    assert "./config.sh remove --token " in out
    assert "Delete this runner?" in out and "was deleted from *acme*" in out
    assert "not installed on *globex*" in out
    assert "Traceback" not in out + done.stderr


def test_commands_from_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.sandbox"],
        input="list acme/api\n/runner get acme/api 15\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 runners" in done.stdout and "Runner api-linux-01" in done.stdout
