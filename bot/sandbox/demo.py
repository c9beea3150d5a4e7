"""``runnerops-demo``: try every command against a seeded sandbox fleet, no credentials.

Commands are signed and posted to the real Slack endpoint of runnerops, which talks to a
GitHub double on loopback; replies are drawn in the terminal as Slack would show them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bot.sandbox.fleet import seed_demo
from bot.sandbox.harness import PLATFORM_POLICY, Sandbox, find_button
from bot.sandbox.terminal import mrkdwn, render
from bot.slack.render import DELETE_ACTION

BANNER = """\
runnerops sandbox: GitHub and Slack doubles on loopback, with a seeded fleet:
  org acme (14 runners), repo acme/api (3), repo acme/web (none),
  enterprise:octo-ent (4), org globex (app not installed).
Type a command as in Slack, e.g. /runners list acme   (the /runners prefix is optional).
`click` presses the Delete button of the last reply; `quit` or Ctrl-D leaves.
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
]


async def _session(lines: list[str] | None, color: bool) -> None:
    async with Sandbox.running(seed=seed_demo, policy=PLATFORM_POLICY) as sandbox:
        print(BANNER)
        last: dict[str, Any] | None = None
        loop = asyncio.get_running_loop()
        queue = list(lines) if lines is not None else None
        while True:
            if queue is not None:
                if not queue:
                    return
                line = queue.pop(0)
                print(f"\n> {line}")
            else:
                try:
                    line = await loop.run_in_executor(None, input, "\n> ")
                except EOFError:
                    return
            line = line.strip()
            if not line:
                continue
            if line in ("quit", "exit"):
                return
            if line == "click":
                if last is None:
                    print("nothing to click yet")
                    continue
                try:
                    confirm = find_button(last, DELETE_ACTION)["confirm"]
                except LookupError:
                    print("the last reply has no Delete button")
                    continue
                # Slack shows the button's confirm dialog before sending anything.
                print(
                    f"┌ {confirm['title']['text']}\n│ {mrkdwn(confirm['text']['text'], bold=color)}"
                )
                if queue is None:
                    answer = await loop.run_in_executor(None, input, "└ Delete? [y/N] ")
                    if answer.strip().lower() not in ("y", "yes"):
                        print("cancelled; nothing was sent")
                        continue
                else:
                    print(f"└ [{confirm['confirm']['text']}]")
                reply = await sandbox.click(last, DELETE_ACTION)
            else:
                command, _, text = line.partition(" ")
                if command not in ("/runners", "/runner"):
                    command, text = "/runners", line
                reply = await sandbox.run(text, command=command)
            last = reply
            print(render(reply, color=color))


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
