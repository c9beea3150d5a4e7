"""``runnerops-demo``: try every command against a seeded sandbox fleet, no credentials.

Commands are signed and posted to the real Slack endpoint of runnerops, which talks to a
GitHub double on loopback; replies are drawn in the terminal as Slack would show them.
The sandbox runs on an injected clock that starts a week back: :mod:`bot.sandbox.history`
lives that week in seconds (job history, runners gone, jobs stuck now, the real sweep), so
the watch's verbs, the channel's alerts and the Home tab have something to show; ``tick``
moves the clock on and runs the sweep, printing what the channel then shows.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta
from typing import Any

from bot.durations import format_duration, parse_duration
from bot.sandbox.fleet import seed_demo
from bot.sandbox.harness import PLATFORM_POLICY, Sandbox, find_button
from bot.sandbox.history import CHANNEL, DAY, Clock, World, seed_week
from bot.sandbox.terminal import mrkdwn, render
from bot.slack.views.delete import DELETE_ACTION
from bot.slack.views.prune import PRUNE_ACTION

BANNER = """\
runnerops sandbox: GitHub and Slack doubles on loopback, with a seeded fleet:
  org acme (14 runners), repo acme/api (3), repo acme/web (none),
  enterprise:octo-ent (4), org globex (app not installed).
A week of acme's jobs has been lived on the sandbox's clock, and #ops watches acme: jobs
are stuck now (`queue acme`, `why {bench}`; {bench} {deploy} {installer} {ios} {test}
stand for their job URLs), runners long offline (`prune acme`), 7 days of `stats acme`.
Type a command as in Slack, e.g. /runners list acme   (the /runners prefix is optional).
`click` presses the Delete button of the last reply; `channel` shows #ops' alerts;
`tick [DURATION]` moves the clock on (5m unless given) and runs the watch's sweep;
`home` draws the Home tab; `quit` or Ctrl-D leaves.
"""

TOUR = [
    "/runners help",
    "/runners whoami",
    "/runners list acme",
    "/runners list acme --status online --label gpu",
    "/runner get acme/api api-linux-01",
    "/runner token acme/api",
    "/runner remove-token enterprise:octo-ent",
    "/runners downloads acme --os linux",
    "/runners delete acme acme-linux-03",
    "click",
    "/runners list globex",
    "/runners watching",
    "/runners queue acme",
    "/runners why {deploy}",
    "/runners stats acme",
    "channel",
    "/runners prune acme",
    "click",
    "tick 10m",
    "home",
]
CHANNEL_NAMES = {CHANNEL: "#ops"}
MAX_TICK = timedelta(hours=6)  # a round every 5 minutes: 72 rounds at most


def channel_message(channel: str, message: dict[str, Any], said: str, *, color: bool) -> str:
    """A channel message drawn as the channel shows it, under ``said`` (new, updated)."""
    drawn = render(message, color=color).split("\n", 1)
    where = CHANNEL_NAMES.get(channel, channel)
    return f"── {where} · {said} ──" + ("\n" + drawn[1] if len(drawn) > 1 else "")


def channel_text(sandbox: Sandbox, *, color: bool) -> str:
    messages = sandbox.slack.in_channel(CHANNEL)
    if not messages:
        return "#ops has no messages yet"
    return "\n".join(channel_message(CHANNEL, m, "message", color=color) for m in messages)


async def tick(world: World, text: str, *, color: bool) -> str:
    """``tick [DURATION]``: the clock moves on, the sweep runs; what the channel got."""
    try:
        step = parse_duration(text) if text.strip() else timedelta(minutes=5)
    except ValueError as exc:
        return f"tick DURATION, e.g. `tick 10m`: {exc}"
    if step > MAX_TICK:
        return f"tick moves at most {format_duration(MAX_TICK)} at a time"
    slack = world.sb.slack
    before = dict(slack.messages)
    happened = await world.tick(step.total_seconds())
    lines = [f"⏱  {format_duration(step)} later: the watch swept the fleet"]
    lines += [f"   • {said}" for said in happened]
    changed = 0
    for (channel, ts), message in sorted(slack.messages.items()):
        old = before.get((channel, ts))
        if old == message:
            continue
        changed += 1
        said = "new message" if old is None else "message updated"
        lines.append(channel_message(channel, message, said, color=color))
    if not changed:
        lines.append("(no channel message changed)")
    return "\n".join(lines)


async def home(sandbox: Sandbox, *, color: bool) -> str:
    view = await sandbox.open_home("U0ALICE")
    return "── Home tab of runnerops (alice) ──\n" + render(view, color=color).split("\n", 1)[1]


def with_jobs(line: str, world: World) -> str:
    """``{bench}`` and the other stuck jobs' keys in a line stand for their job URLs."""
    for key in world.jobs:
        line = line.replace("{" + key + "}", world.job_url(key))
    return line


async def _session(lines: list[str] | None, color: bool) -> None:
    clock = Clock(time.time() - 7 * DAY)
    async with Sandbox.running(seed=seed_demo, policy=PLATFORM_POLICY, clock=clock) as sandbox:
        print("living a week of the demo fleet on the sandbox's clock…", flush=True)
        world = await seed_week(sandbox, clock)
        print(BANNER)
        last: dict[str, Any] | None = None
        queue = list(lines) if lines is not None else None
        while True:
            line = await _next_line(queue, world)
            if line is None:
                return
            line = with_jobs(line.strip(), world)
            word, _, rest = line.partition(" ")
            if not line:
                continue
            if line in ("quit", "exit"):
                return
            if line == "channel":
                print(channel_text(sandbox, color=color))
                continue
            if word == "tick":
                print(await tick(world, rest, color=color))
                continue
            if line == "home":
                print(await home(sandbox, color=color))
                continue
            if line == "click":
                reply = await _click(sandbox, last, asked=queue is None, color=color)
                if reply is None:
                    continue
            else:
                command, _, text = line.partition(" ")
                if command not in ("/runners", "/runner"):
                    command, text = "/runners", line
                reply = await sandbox.run(text, command=command)
            last = reply
            print(render(reply, color=color))


async def _next_line(queue: list[str] | None, world: World) -> str | None:
    """The next command: from the queue (echoed), else typed; ``None`` once they run out."""
    if queue is not None:
        if not queue:
            return None
        line = with_jobs(queue.pop(0), world)
        print(f"\n> {line}")
        return line
    try:
        return await asyncio.get_running_loop().run_in_executor(None, input, "\n> ")
    except EOFError:
        return None


async def _click(
    sandbox: Sandbox, last: dict[str, Any] | None, *, asked: bool, color: bool
) -> dict[str, Any] | None:
    """Click the last reply's Delete (or Prune) button; ``None`` when nothing was sent."""
    if last is None:
        print("nothing to click yet")
        return None
    action = next((a for a in (DELETE_ACTION, PRUNE_ACTION) if _has_button(last, a)), None)
    if action is None:
        print("the last reply has no Delete button")
        return None
    confirm = find_button(last, action)["confirm"]
    # Slack shows the button's confirm dialog before sending anything.
    print(f"┌ {confirm['title']['text']}\n│ {mrkdwn(confirm['text']['text'], bold=color)}")
    if asked:
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, input, "└ Delete? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("cancelled; nothing was sent")
            return None
    else:
        print(f"└ [{confirm['confirm']['text']}]")
    return await sandbox.click(last, action)


def _has_button(message: dict[str, Any], action_id: str) -> bool:
    try:
        find_button(message, action_id)
    except LookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    """With arguments, run them as commands; on a terminal, read commands; else a tour."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--tour"]:
        lines: list[str] | None = TOUR
    elif args:
        lines = args
    else:
        lines = None if sys.stdin.isatty() else [ln for ln in sys.stdin.read().splitlines()]
    asyncio.run(_session(lines, color=sys.stdout.isatty()))


if __name__ == "__main__":
    main()
