"""Render the setup page in headless Chromium: ``python -m bot.sandbox.setup_screenshot docs/``
writes ``docs/setup.png`` (the README's picture), from the page a fresh deploy shows.

Chromium: :mod:`bot.sandbox.browser`. It lives in the sandbox, beside the Home tab's
picture, so that the product's setup mode never imports the test doubles (issue 18).
"""

from __future__ import annotations

from pathlib import Path

from bot.config import SetupSettings
from bot.sandbox.browser import chromium, picture_main
from bot.sandbox.serve import serve
from bot.setup.web import create_setup_app

# How the README's picture shows the deployment: as on Heroku, before anything is set.
EXAMPLE_PUBLIC_URL = "https://runnerops-acme.herokuapp.com"


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
    return picture_main(argv, "bot.sandbox.setup_screenshot", render)


if __name__ == "__main__":
    raise SystemExit(main())
