"""A real headless Chromium for the tests (Debian's ``chromium``, driven by Playwright).

Where Chromium or Playwright is missing the browser tests skip, saying why; with
``RUNNEROPS_BROWSER_REQUIRED=1`` (set by ``.ci/run``) or ``CI=true`` that is a failure,
as for PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from bot.sandbox.browser import chromium_path


def required() -> bool:
    flag = os.environ.get("RUNNEROPS_BROWSER_REQUIRED", "") or os.environ.get("CI", "")
    return flag.lower() in {"1", "true", "yes"}


def need_browser() -> None:
    """Skip (or fail, where required) unless Chromium and Playwright are both here."""
    reason = None
    if chromium_path() is None:
        reason = "Chromium not found at /usr/bin/chromium: apt-get install chromium"
    elif importlib.util.find_spec("playwright") is None:
        reason = "Playwright for Python not installed: pip install -e '.[test]'"
    if reason is None:
        return
    if required():
        pytest.fail(reason + " (required here: RUNNEROPS_BROWSER_REQUIRED or CI is set)")
    pytest.skip(reason)
