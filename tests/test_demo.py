"""The credential-free demo: the quick start's first command must work on a fresh clone."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from bot.sandbox.fleet import seed_demo
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox
from bot.sandbox.history import DAY, STUCK, Clock, seed_week
from bot.watch.alerts import AlertKind
from bot.watch.diagnosis import Reason


def _tour() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.sandbox", "--tour"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def _answers(out: str) -> dict[str, str]:
    """Each tour line (``> line``) -> what was printed after it; the last answer of a line
    given twice."""
    answers = {}
    for part in out.split("\n> ")[1:]:
        line, _, answer = part.partition("\n")
        answers[line] = answer
    return answers


def test_tour_runs_every_command_and_shows_the_watch() -> None:
    done = _tour()
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in out + done.stderr
    assert "14 runners · 10 online · 4 busy · 4 offline" in out
    assert "2 match `--status online --label gpu`" in out
    assert "./config.sh --url https://github.com/acme/api --token " in out
    assert "./config.sh remove --token " in out
    assert "Delete this runner?" in out and "was deleted from *acme*" in out
    assert "not installed on *globex*" in out
    said = _answers(out)

    # The week lived before the prompt: the channel watches acme.
    assert "*acme* in <#C0OPS>: queued > 5m, offline > 10m" in said["/runners watching"]

    # A job stuck now for each reason the diagnosis knows, each with its reason.
    queue = said["/runners queue acme"]
    assert "5 jobs queued, oldest first" in queue
    for job, reason in (
        ("bench", "No runner has every label it asks for: none carries `xlarge`"),
        ("deploy-staging", "group *deploy* (selected repositories) holds *acme-linux-05*"),
        ("installer", "Every runner that could take it is offline: *acme-win-01*"),
        ("ios-build", "All 1 runner that could take it is busy"),
        ("test", "Idle runners could take it but do not: *acme-gpu-02*, *acme-linux-02*"),
    ):
        assert re.search(rf"• {job} \(https://github\.com/acme/\w+/actions/runs/\d+/job/\d+\)"
                         rf"[^\n]*\n[^\n]*{re.escape(reason)}", queue), (job, queue)  # fmt: skip
    why = next(text for line, text in said.items() if line.startswith("/runners why https://"))
    assert "deploy-staging" in why and "runner group this repository or workflow may not use" in why

    # A week of history: jobs by label set with their percentiles, and the runners' share.
    stats = said["/runners stats acme"]
    assert "*acme: the last 7d*" in stats
    for labels in ("`docker` `linux` `self-hosted`", "`gpu` `self-hosted`", "`arm64` `macos`"):
        assert re.search(rf"{labels}[^\n]*: [1-9]\d* jobs[^\n]* · p50 [^\n]+, p95 [^\n]+, max ",
                         stats), (labels, stats)  # fmt: skip
    assert re.search(r"\*acme-gpu-01\*: [1-9]\d* jobs, busy \d+%", stats), stats

    # The channel shows the alerts as posted: a stuck-job alert with its reason.
    channel = said["channel"]
    assert re.search(
        r"── #ops · message ──\n:rotating_light: \*1 job waiting for `deploy` `linux`\* in"
        r" \*acme\*\n⛔ Every runner with these labels is in a runner group",
        channel,
    ), channel
    assert re.search(
        r"🔴 \*\d runners? of acme offline\*\n(• [^\n]*\n)*• \*acme-linux-04\* offline, last seen",
        channel,
    ), channel

    # prune: a dry run names the runners offline for days; the click deletes them.
    prune = said["/runners prune acme"]
    assert "*Prune acme: 3 runners*" in prune and "[Delete 3 runners]" in prune
    for name in ("acme-win-01", "acme-linux-04", "acme-gpu-03"):
        assert f"`{name}`" in prune
    assert "1 offline for less long" in prune  # acme-arm-02, away for half a day
    pressed = out.split("> /runners prune acme", 1)[1].split("\n> click\n", 1)[1]
    pressed = pressed.split("\n> ", 1)[0]
    assert "Delete 3 runners?" in pressed and "3 deleted, 0 skipped, 0 failed" in pressed

    # tick: the clock moves on and the sweep updates and resolves the channel's alerts.
    tick = said["tick 10m"]
    assert "acme-mac-01 finished its job and took ios-build" in tick
    assert re.search(
        r"── #ops · message updated ──\n✅ \*Resolved\*: jobs waiting for `build` `macos`"
        r" in \*acme\*\n• ios-build: picked up by \*acme-mac-01\*",
        tick,
    ), tick
    assert "• *acme-linux-04* was deleted" in tick
    assert "• *acme-arm-02* back after " in tick

    # The Home tab, drawn in the terminal.
    home = said["home"]
    assert home.startswith("── Home tab of runnerops (alice) ──")
    assert "[chart: Queue time of acme, 7 days]" in home
    assert "[chart: Runners of acme, 7 days]" in home
    assert re.search(r"\*acme\*  🟢 \d+ idle · 🟠 \d+ busy · 🔴 \d+ offline", home), home
    assert "1 job waiting for `deploy, linux, self-hosted`: runner group not allowed" in home


def test_commands_from_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.sandbox"],
        input="list acme/api\n/runner get acme/api 15\nwhy {ios}\ntick 0m\ntick\n",
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "3 runners" in done.stdout and "Runner api-linux-01" in done.stdout
    assert "ios-build" in done.stdout and "All 1 runner that could take it is busy" in done.stdout
    assert "tick DURATION, e.g. `tick 10m`: `0m` is zero" in done.stdout  # said, not raised
    assert "5m later: the watch swept the fleet" in done.stdout


async def test_the_week_leaves_a_posted_alert_for_each_stuck_job_with_its_reason(
    keys: Keys,
) -> None:
    """The seed is built so that the real sweep finds each reason the diagnosis knows."""
    clock = Clock(time.time() - 7 * DAY)
    async with Sandbox.running(
        seed=seed_demo, policy=PLATFORM_POLICY, clock=clock, keys=keys
    ) as sb:
        world = await seed_week(sb, clock)
        assert sb.services is not None
        alerts = await sb.services.store.alerts.open_alerts()
    found = {
        (a.reason, m.id) for a in alerts if a.kind is AlertKind.STUCK and a.message_ts
        for m in a.members
    }  # fmt: skip
    assert {s.reason for s in STUCK} == set(Reason) - {
        Reason.WAITING_APPROVAL,  # held by an environment: not a runner problem
        Reason.NOT_QUEUED,
        Reason.GITHUB_HOSTED,
    }
    for stuck in STUCK:
        assert (stuck.reason, world.jobs[stuck.key]) in found, (stuck, found)
