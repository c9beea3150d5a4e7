"""``jit``: a just-in-time runner, registered by GitHub for one job, then removed.

Its encoded configuration is a credential, handled as a registration token is: redacted
from logs as soon as it arrives, shown only ephemerally, never audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import errors
from bot.commands import (
    MAX_LABELS,
    UsageError,
    check_label,
    group_flag,
    no_more,
    take_target,
    unique_labels,
)
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.github.models import RunnerGroup
from bot.slack.blocks import Reply
from bot.slack.views import jit as jit_view
from bot.targets import Target

if TYPE_CHECKING:
    from bot.caller import Caller
    from bot.services import Services

router = Router()

# JIT runners get no implicit labels (GitHub adds none, not even ``self-hosted``); GitHub
# needs at least one, and ``self-hosted`` is what workflows for self-hosted runners ask.
DEFAULT_LABELS = ("self-hosted",)
DEFAULT_WORK_FOLDER = "_work"


@dataclass(frozen=True, slots=True, kw_only=True)
class JitArgs(Args):
    target: Target
    name: str
    labels: tuple[str, ...] = ()
    group: str | None = None  # a group's name or id
    work_folder: str | None = None
    public: bool = False


def parse_jit(w: Words) -> JitArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target, then="name")
    if not rest:
        raise UsageError("what should the new runner be called? give its name", w.verb)
    name = jit_name(rest.pop(0))
    no_more(rest, w.verb)
    flags = w.flags
    labels = unique_labels(tuple(check_label(x, "jit") for x in flags.get("--label", ())))
    if len(labels) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} labels ({len(labels)} given)", "jit")
    group = group_flag(flags, "jit")
    folder = flags["--work-folder"][-1] if "--work-folder" in flags else None
    if folder is not None and (len(folder) > 200 or not folder.isprintable()):
        raise UsageError("`--work-folder` takes a path of at most 200 characters", "jit")
    return JitArgs(
        target=target,
        name=name,
        labels=labels,
        group=group,
        work_folder=folder,
        public="--public" in flags,
    )


async def jit(inv: Invocation[JitArgs]) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, name = command.target, command.name
    labels = command.labels or DEFAULT_LABELS
    work_folder = command.work_folder or DEFAULT_WORK_FOLDER
    group = await services.runners.find_group(target, command.group)
    reply, _ = await issue(services, caller, target, name, group, labels, work_folder)
    return reply


async def issue(
    services: Services,
    caller: Caller,
    target: Target,
    name: str,
    group: RunnerGroup,
    labels: Sequence[str],
    work_folder: str,
) -> tuple[Reply, bool]:
    """Register the runner, audited first; the private reply, and whether its configuration
    is in it (the ``jit`` verb and an alert's fix button both issue runners here)."""
    what = f"runner {name}, labels {', '.join(labels)}, group {group.name} (id {group.id})"
    async with await services.audit_first(caller, "jit", target, what) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            config = await services.runners.generate_jit(target, name, group, labels, work_folder)
        except errors.OutcomeUnknown as exc:  # GitHub may have registered a runner
            await audited.settle("unknown", f"{what}: {exc.detail}")
            return jit_view.jit_unknown(target, name), False
        except errors.JitConfigLost as lost:  # registered (a check found it), never shown
            await audited.settle(
                "issued",
                f"{what}; runner id {lost.runner_id} ({lost.detail}; confirmed by a check,"
                " its configuration lost unseen)",
            )
            return jit_view.jit_lost(target, name, lost.runner_id), False
        await audited.settle("issued", f"{what}; runner id {config.runner.id}")
    return jit_view.jit_reply(target, config, group, labels, work_folder), True


router.add(
    Verb(
        "jit",
        "jit TARGET NAME [--label L]... [--group GROUP] [--work-folder DIR]",
        "a just-in-time runner: one job, then removed; the `./run.sh` line to paste",
        "token",
        parse_jit,
        jit,
        flags={"--label": True, "--group": True, "--work-folder": True, "--public": False},
        positionals=2,
    )
)


def jit_name(name: str) -> str:
    if len(name) > 100 or not name.isprintable() or any(c.isspace() for c in name):
        raise UsageError("a runner name has at most 100 characters, no spaces", "jit")
    if name.lower().startswith(("id:", "name:")):
        raise UsageError("give the new runner's name as it is, without `id:` or `name:`", "jit")
    return name
