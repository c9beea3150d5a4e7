"""Headless Chromium for the repository's pictures (docs/*.png) and browser tests.

Chromium is the system's (Debian's ``chromium`` package), driven by Playwright for Python
(a test extra); Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system Chromium: RUNNEROPS_CHROMIUM, else /usr/bin/chromium, else on PATH."""
    for candidate in (os.environ.get("RUNNEROPS_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (Playwright's ``Browser``)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium not found: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def picture_main(
    argv: list[str] | None, module: str, render: Callable[[Path], Coroutine[Any, Any, Path]]
) -> int:
    """``python -m MODULE DIRECTORY``: render a picture into DIRECTORY, print its path."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {module} DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(args[0])
    directory.mkdir(parents=True, exist_ok=True)
    try:
        target = asyncio.run(render(directory))
    except (ImportError, RuntimeError) as exc:
        print(
            f"cannot render: {exc} (pip install -e '.[test]'; apt-get install chromium)",
            file=sys.stderr,
        )
        return 1
    print(target)
    return 0
