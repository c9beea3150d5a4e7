"""``delete``: a runner is removed only after a confirmed click on a danger button.

The clicker is checked against the policy again (they need not be who asked), and a
double click deletes once: the second click gets the first one's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot import errors
from bot.routing import Click, Invocation, Router
from bot.slack import render
from bot.targets import Target, TargetError, parse_target

router = Router()


@router.verb("delete")
async def ask_to_delete(inv: Invocation) -> render.Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    return render.delete_confirm(target, runner)


@dataclass(frozen=True)
class _Outcome:
    reply: render.Reply
    deleted: bool


@router.action(render.DELETE_ACTION)
async def delete_clicked(click: Click) -> render.Reply:
    try:
        value = json.loads(click.value)
        target = parse_target(str(value["target"]))
        runner_id = int(value["id"])
        name = str(value.get("name") or runner_id)
    except (ValueError, KeyError, TypeError, TargetError):
        return render.replacement(":warning: That button is not valid; nothing was changed.")
    services, caller = click.services, click.caller
    decision = await services.access.decide(
        "admin", user_id=caller.user_id, channel_id=caller.channel_id, target=target
    )
    if not decision.allowed:
        await services.audit(caller, "delete", target, "refused", decision.reason)
        return render.refusal("admin", "delete", target, decision.reason)
    outcome, _ = await services.once.run(
        ("delete", str(target).lower(), runner_id),
        lambda: _delete(click, target, runner_id, name),
        keep=lambda o: o.deleted,
    )
    return outcome.reply


async def _delete(click: Click, target: Target, runner_id: int, name: str) -> _Outcome:
    """One DELETE: the button carries the id and name shown when it was asked for, and
    GitHub's own answer (404, busy 422) says whether the runner is still there."""
    services, caller = click.services, click.caller
    try:
        result = await services.runners.delete_runner(target, runner_id, name)
    except errors.OutcomeUnknown as exc:
        await services.audit(caller, "delete", target, "unknown", f"{name}: {exc.detail}")
        text = render.delete_unknown_text(target, name)
        return _Outcome(render.delete_outcome(target, name, caller.user_id, text), False)
    except errors.RunnerOpsError as exc:
        outcome = "not-deleted" if isinstance(exc, errors.RunnerBusy) else "failed"
        await services.audit(caller, "delete", target, outcome, f"{name}: {type(exc).__name__}")
        text = render.error_text(exc, install_url=services.settings.install_url)
        return _Outcome(render.delete_outcome(target, name, caller.user_id, text), False)
    checked = result == "deleted-confirmed"
    detail = f"{name} (id {runner_id})" + (", confirmed by a check" if checked else "")
    await services.audit(caller, "delete", target, "deleted", detail)
    return _Outcome(render.deleted(target, name, caller.user_id, checked=checked), True)
