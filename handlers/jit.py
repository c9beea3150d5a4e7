"""``jit``: a just-in-time runner, registered by GitHub for one job, then removed.

Its encoded configuration is a credential, handled as a registration token is: redacted
from logs as soon as it arrives, shown only ephemerally, never audited.
"""

from __future__ import annotations

from bot import errors
from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import jit as jit_view

router = Router()

# JIT runners get no implicit labels (GitHub adds none, not even ``self-hosted``); GitHub
# needs at least one, and ``self-hosted`` is what workflows for self-hosted runners ask.
DEFAULT_LABELS = ("self-hosted",)
DEFAULT_WORK_FOLDER = "_work"


@router.verb("jit")
async def jit(inv: Invocation) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, name = command.target, command.name
    assert target is not None and name is not None
    labels = command.labels or DEFAULT_LABELS
    work_folder = command.work_folder or DEFAULT_WORK_FOLDER
    what = f"runner {name}, labels {', '.join(labels)}"
    group = await services.runners.find_group(target, command.group)
    what += f", group {group.name} (id {group.id})"
    async with await services.audit_first(caller, "jit", target, what) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            config = await services.runners.generate_jit(target, name, group, labels, work_folder)
        except errors.OutcomeUnknown as exc:  # GitHub may have registered a runner
            await audited.settle("unknown", f"{what}: {exc.detail}")
            return jit_view.jit_unknown(target, name)
        except errors.JitConfigLost as lost:  # registered (a check found it), never shown
            await audited.settle(
                "issued",
                f"{what}; runner id {lost.runner_id} ({lost.detail}; confirmed by a check,"
                " its configuration lost unseen)",
            )
            return jit_view.jit_lost(target, name, lost.runner_id)
        await audited.settle("issued", f"{what}; runner id {config.runner.id}")
    return jit_view.jit_reply(target, config, group, labels, work_folder)
