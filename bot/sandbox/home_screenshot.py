"""Picture the Home tab: ``python -m bot.sandbox.home_screenshot docs/`` writes
``docs/home.png``, the README's picture of the Home tab.

Slack's client cannot run here, so the picture is made the long way round, every step
the real one: a sandbox (runnerops between the GitHub and Slack doubles) lives through a
week of a fleet on an injected clock, an hour at a time (jobs delivered as signed
``workflow_job`` webhooks as they are queued, started and completed; runners busy, idle,
offline and back in the GitHub double; a sweep round every hour, which records the fleet
samples and posts, updates and resolves alerts). Then a signed ``app_home_opened`` event
makes runnerops publish the Home view to the Slack double; the view is drawn as HTML by
:mod:`bot.sandbox.blockkit_html` with its charts fetched from their signed URLs (embedded
as ``data:`` URIs), and headless Chromium takes the full-page screenshot.

Chromium is the system's (``apt-get install chromium``; ``fonts-noto-color-emoji`` for the
emoji), driven by Playwright as in :mod:`bot.sandbox.setup_screenshot`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.blockkit_html import view_html
from bot.sandbox.browser import chromium, picture_main
from bot.sandbox.fleet import seed_demo
from bot.sandbox.harness import PLATFORM_POLICY, Sandbox

HOUR = 3600.0
MINUTE = 60.0
# When the picture's week ends: a fixed moment (a Thursday afternoon, UTC), not the wall
# clock, so re-rendering draws the same week (office hours, days, charts) every time.
END = datetime(2026, 11, 26, 15, 0, tzinfo=UTC).timestamp()
USER = "U0ALICE"
# The watches: target, channel id, channel name (Slack shows the name).
WATCHES = (("acme", "C0ACMECI", "acme-ci"), ("acme/api", "C0APITEAM", "api-team"))
CHANNELS = {channel: name for _, channel, name in WATCHES}
DOCKER = ["self-hosted", "linux", "docker"]
GPU = ["self-hosted", "gpu"]
MAC = ["self-hosted", "macOS", "arm64"]
# Runners of org acme that take each label set's jobs (the double marks them busy).
TAKERS = {tuple(DOCKER): "acme-linux-02", tuple(GPU): "acme-gpu-02", tuple(MAC): "acme-mac-02"}
# Online runners of acme whose busy flag follows the time of day (the rest keep the seed's).
DAY_SHIFT = ("acme-linux-01", "acme-linux-03", "acme-linux-05", "acme-gpu-01", "acme-arm-01")


class Clock:
    """The injected clock the sandbox shares: moved by the script, never slept on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _working(at: float) -> bool:
    """Office hours (UTC, Monday to Friday): when most jobs come."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.weekday() < 5 and 8 <= moment.hour < 19


async def _deliver(sb: Sandbox, job_id: int, action: str) -> None:
    status, body = await sb.deliver("workflow_job", sb.github.workflow_job_payload(job_id, action))
    if status != 200:
        raise RuntimeError(f"workflow_job {action} refused: {status} {body}")


async def _job(
    sb: Sandbox, repo: str, labels: list[str], waited: float, *, name: str, workflow: str
) -> int:
    """A job queued ``waited`` seconds ago, delivered as queued, then started and finished
    by its label set's runner: the queue-time chart's data."""
    github = sb.github
    job = github.add_job(
        "acme",
        repo,
        labels=labels,
        name=name,
        workflow_name=workflow,
        created_at=github.clock() - waited,
    )
    await _deliver(sb, job["id"], "queued")
    github.set_job(job["id"], status="in_progress", runner=TAKERS[tuple(labels)])
    await _deliver(sb, job["id"], "in_progress")
    github.set_job(job["id"], status="completed")
    await _deliver(sb, job["id"], "completed")
    return int(job["id"])


async def _queue(sb: Sandbox, repo: str, labels: list[str], at: float, name: str) -> int:
    """A job queued at ``at`` that no runner has taken (yet)."""
    job = sb.github.add_job(
        "acme", repo, labels=labels, name=name, workflow_name="CI", created_at=at
    )
    await _deliver(sb, job["id"], "queued")
    return int(job["id"])


async def _sweep(sb: Sandbox) -> None:
    assert sb.sweeper is not None
    await sb.sweeper.run_once()


async def live_a_week(sb: Sandbox, clock: Clock, *, days: int = 7) -> None:
    """``days`` of the demo fleet, an hour per step, ending at the clock's time then; the
    sandbox must have been started with ``clock`` set ``days`` before that."""
    for target, channel, _ in WATCHES:
        reply = await sb.run(f"watch {target}", channel_id=channel)
        if "Watching" not in json.dumps(reply):
            raise RuntimeError(f"watch {target} failed: {reply}")
    # Runners the seed has offline were online once: they go away during the week.
    for name in ("acme-linux-04", "acme-gpu-03", "acme-arm-02"):
        sb.github.set_runner("/orgs/acme", name, status="online")
    hours = days * 24 - 1  # then the last hour, in rounds of 5 minutes
    for hour in range(hours):
        await _an_hour(sb, clock, hour, left=hours - hour)
        await _sweep(sb)
        clock.now += HOUR
    await _the_last_hour(sb, clock)


async def _an_hour(sb: Sandbox, clock: Clock, hour: int, *, left: int) -> None:
    """One hour of the week: its jobs, its busy runners, and the events ``left`` hours
    before the last hour."""
    github = sb.github
    working = _working(clock.now)
    # Jobs of the hour: a few by day, one now and then at night.
    count = 4 if working else (1 if hour % 5 == 0 else 0)
    for i in range(count):
        labels = (DOCKER, DOCKER, GPU, MAC)[(hour + i) % 4]
        repo = ("api", "web")[(hour + i) % 2]
        base = {tuple(DOCKER): 40, tuple(GPU): 150, tuple(MAC): 90}[tuple(labels)]
        busier = 1 + ((hour // 24) * 5 % 7) / 6  # some days are busier than others
        wait = base * (1 + (hour * 7 + i * 3) % 5) * (1.6 * busier if working else 0.5)
        await _job(sb, repo, labels, wait, name=f"build-{i}", workflow="CI")
    # Runners: busy by day; one goes away for four hours, two more at the end.
    for n, name in enumerate(DAY_SHIFT):
        busy = (working and (hour + n) % 4 != 0) or (not working and n == 0 and hour % 3 == 0)
        github.set_runner("/orgs/acme", name, busy=busy)
    # A busy afternoon: gpu jobs wait an hour for the gpu runners, long enough to alert.
    if left == 75:
        for name in ("train-small", "train-large"):
            await _queue(sb, "web", GPU, clock.now - 35 * MINUTE, name)
        for name in ("acme-gpu-01", "acme-gpu-02", "acme-gpu-03"):
            github.set_runner("/orgs/acme", name, busy=True)
    if left == 74:
        github.set_runner("/orgs/acme", "acme-gpu-03", busy=False)
        await _gpu_jobs_run(sb)
    if left == 70:
        github.set_runner("/orgs/acme", "acme-arm-02", status="offline")
    if left == 66:
        github.set_runner("/orgs/acme", "acme-arm-02", status="online")
    if left == 3:
        for name in ("acme-linux-04", "acme-gpu-03"):  # one rack, one power cut
            github.set_runner("/orgs/acme", name, status="offline")


async def _gpu_jobs_run(sb: Sandbox) -> None:
    """The afternoon's waiting gpu jobs start on a gpu runner and complete."""
    assert sb.services is not None
    for record in await sb.services.store.jobs.open_jobs("acme", "acme/web"):
        job_id = record.job.id
        assert job_id is not None
        sb.github.set_job(job_id, status="in_progress", runner="acme-gpu-02")
        await _deliver(sb, job_id, "in_progress")
        sb.github.set_job(job_id, status="completed")
        await _deliver(sb, job_id, "completed")


async def _the_last_hour(sb: Sandbox, clock: Clock) -> None:
    """The last hour, a round every 5 minutes as the watch runs: the gpu runners all busy
    and two gpu jobs waiting, a job no runner can take, a docker job just queued."""
    end = clock.now + HOUR
    for name in ("acme-gpu-01", "acme-gpu-02", "acme-linux-01"):
        sb.github.set_runner("/orgs/acme", name, busy=True)
    waiting = [
        ("web", ["self-hosted", "linux", "arm64", "xlarge"], 41, "bench"),
        ("web", GPU, 26, "train-large"),
        ("web", GPU, 14, "train-small"),
        ("api", DOCKER, 2, "test"),
    ]
    while clock.now < end:
        clock.now = min(clock.now + 5 * MINUTE, end)
        while waiting and end - waiting[0][2] * MINUTE <= clock.now:
            repo, labels, ago, name = waiting.pop(0)
            await _queue(sb, repo, labels, end - ago * MINUTE, name)
        await _sweep(sb)


async def chart_images(sb: Sandbox, view: dict[str, Any]) -> dict[str, str]:
    """Each image block's URL -> the PNG it serves now, as a ``data:`` URI (the page then
    needs no server: Slack would fetch the same URLs)."""
    found: dict[str, str] = {}
    for block in view.get("blocks", []):
        url = block.get("image_url") if block.get("type") == "image" else None
        if not url or url in found:
            continue
        where = urlsplit(url)  # the app's public URL; here it listens on loopback
        async with sb.session.get(f"{sb.url}{where.path}?{where.query}") as resp:
            if resp.status != 200 or resp.content_type != "image/png":
                raise RuntimeError(f"chart {url} answered {resp.status} {resp.content_type}")
            png = await resp.read()
        found[url] = "data:image/png;base64," + base64.b64encode(png).decode()
    return found


async def home_html(sb: Sandbox, user: str = USER) -> tuple[dict[str, Any], str]:
    """The published Home view and its HTML, charts embedded."""
    view = await sb.open_home(user)
    page = view_html(
        view, channels=CHANNELS, users=sb.slack.users, images=await chart_images(sb, view)
    )
    return view, page


async def screenshot(page_html: str, target: Path, *, width: int = 860) -> Path:
    """``page_html`` in headless Chromium, the full page saved as ``target``."""
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": width, "height": 900})
        await page.set_content(page_html, wait_until="load")
        await page.screenshot(path=str(target), full_page=True)
    return target


async def render(
    directory: Path,
    *,
    days: int = 7,
    running: Callable[..., Any] = Sandbox.running,
    end: float = END,
) -> Path:
    """Live ``days`` up to ``end`` in a sandbox, open the Home tab and save its picture in
    ``directory``. The same ``end`` gives the same picture."""
    clock = Clock(end - days * 24 * HOUR)
    async with running(seed=seed_demo, policy=PLATFORM_POLICY, clock=clock) as sb:
        await live_a_week(sb, clock, days=days)
        _, page = await home_html(sb)
    return await screenshot(page, directory / "home.png")


def main(argv: list[str] | None = None) -> int:
    return picture_main(argv, "bot.sandbox.home_screenshot", render)


if __name__ == "__main__":
    raise SystemExit(main())
