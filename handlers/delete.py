"""``delete``: a runner is removed only after a confirmed click on a danger button."""

from __future__ import annotations

import json

from bot import errors, render
from bot.routing import Click, Invocation, Router
from bot.targets import TargetError, parse_target

router = Router()


@router.verb("delete")
async def ask_to_delete(inv: Invocation) -> render.Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    return render.delete_confirm(target, runner)


@router.action(render.DELETE_ACTION)
async def delete_clicked(click: Click) -> render.Reply:
    try:
        value = json.loads(click.value)
        target = parse_target(str(value["target"]))
        runner_id = int(value["id"])
    except (ValueError, KeyError, TypeError, TargetError):
        return render.delete_outcome_text(
            ":warning: That button is not valid; nothing was changed."
        )
    runner = await click.services.runners.get_runner(target, runner_id)
    try:
        await click.services.runners.delete_runner(target, runner)
    except errors.RunnerOpsError as exc:
        text = render.error_text(exc, install_url=click.services.settings.install_url)
        return render.delete_outcome(target, runner.name, click.caller.user_id, text)
    return render.deleted(target, runner.name, click.caller.user_id)
