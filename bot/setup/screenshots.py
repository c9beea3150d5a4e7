"""Render the setup page in headless Chromium: ``python -m bot.setup.screenshots docs/``
writes ``docs/setup.png`` (the README's picture), from the page a fresh deploy shows.

Chromium is the system's (Debian's ``chromium`` package), driven by Playwright for Python
(a test extra); Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.config import SetupSettings
from bot.sandbox.serve import serve
from bot.setup.web import create_setup_app

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# How the README's picture shows the deployment: as on Heroku, before anything is set.
EXAMPLE_PUBLIC_URL = "https://runnerops-acme.herokuapp.com"


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


async def render(directory: Path) -> Path:
    """Serve a fresh deploy's setup page on loopback and save its picture in ``directory``
    (which exists)."""
    target = directory / "setup.png"
    setup = SetupSettings(pending=("github", "slack"), public_url=EXAMPLE_PUBLIC_URL)
    async with serve(create_setup_app(setup)) as url, chromium() as browser:
        page = await browser.new_page(viewport={"width": 960, "height": 900})
        await page.goto(url + "/setup")
        await page.fill("#organization", "acme")
        await page.screenshot(path=str(target), full_page=True)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bot.setup.screenshots DIRECTORY", file=sys.stderr)
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


if __name__ == "__main__":
    raise SystemExit(main())
