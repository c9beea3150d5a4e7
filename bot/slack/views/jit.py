"""``jit``: a just-in-time runner's configuration (a credential: private), or what became of it."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, MarkdownBlock

from bot.github.models import JitConfig, RunnerGroup
from bot.slack.blocks import SECTION_CHARS, Reply, clip, code, context, escape, section
from bot.targets import Target


def jit_reply(
    target: Target, jit: JitConfig, group: RunnerGroup, labels: Sequence[str], work_folder: str
) -> Reply:
    """Always ephemeral: the configuration is a credential, like a registration token.

    The line can be longer than a section's 3,000 characters (the configuration carries
    the runner's keys), so a longer one goes in a markdown block (12,000)."""
    line = f"./run.sh --jitconfig {jit.encoded}"
    name = escape(clip(jit.runner.name, 100))
    shown = " ".join(code(clip(label, 60)) for label in labels[:30])
    if len(labels) > 30:
        shown += f" +{len(labels) - 30} more"
    head = (
        f"*Just-in-time runner* *{name}* (id {jit.runner.id}) is registered in "
        f"*{escape(str(target))}*, group *{escape(clip(group.name, 80))}*, labels {shown}, "
        f"work folder {code(clip(work_folder, 100))}.\n"
        "On the machine, in the runner directory (no `./config.sh` needed), run:"
    )
    fenced = f"```{line}```"
    command: Block = section(fenced) if len(fenced) <= SECTION_CHARS else MarkdownBlock(text=fenced)
    note = (
        "It takes *one job* and is then removed by GitHub. Only you can see this. Treat "
        "the configuration as a password: anyone holding it can run this target's next job."
    )
    if not any(label.lower() == "self-hosted" for label in labels):
        note += (
            " It has no `self-hosted` label: workflows asking for `self-hosted` will not pick it."
        )
    return Reply(
        text=f"Just-in-time runner {escape(jit.runner.name)} for {target}",
        blocks=[section(head), command, context(note)],
        response_type="ephemeral",
    )


def jit_unknown(target: Target, name: str) -> Reply:
    text = (
        f":grey_question: GitHub did not confirm the just-in-time runner {code(name)} for "
        f"*{escape(str(target))}*: it may have registered it before failing. No "
        f"configuration was shown to anyone, so such a runner stays offline; `get "
        f"{escape(str(target))} name:{escape(clip(name, 100))}` shows it, and `delete` removes it."
    )
    return Reply(text=text, blocks=[section(text)], response_type="ephemeral")


def jit_lost(target: Target, name: str, runner_id: int) -> Reply:
    """GitHub registered the runner (a check found it) but its answer, with the only copy
    of the configuration, was lost."""
    t = escape(str(target))
    text = (
        f":warning: GitHub registered the just-in-time runner {code(name)} (id {runner_id})"
        f" on *{t}*, but its answer was lost, and the configuration with it: GitHub gives"
        " it only once, so this runner can never start. Delete it"
        f" (`delete {t} id:{runner_id}`), then ask again (`jit {t} {escape(clip(name, 100))}`;"
        " the name is taken until the runner is deleted)."
    )
    return Reply(text=text, blocks=[section(text)], response_type="ephemeral")
