"""``delete``: a runner is removed only after a confirmed click on a danger button.

The clicker is checked against the policy again (they need not be who asked), and a
double click deletes once: the second click gets the first one's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot import errors
from bot.routing import Click, Invocation, Router
from bot.slack.blocks import Reply, replacement
from bot.slack.views import delete as delete_view
from bot.slack.views import errors as errors_view
from bot.store.database import StoreUnavailable
from bot.targets import Target, TargetError, parse_target

router = Router()


@router.verb("delete")
async def ask_to_delete(inv: Invocation) -> Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    return delete_view.delete_confirm(target, runner)


@dataclass(frozen=True)
class _Outcome:
    """What a click did, stored so a click on another process can be answered with it."""

    text: str
    deleted: bool
    by: str  # the Slack user whose click acted

    def kept(self) -> bool:
        """A deleted runner stays deleted; a failure may be clicked again."""
        return self.deleted

    def encode(self) -> dict[str, object]:
        return {"text": self.text, "deleted": self.deleted, "by": self.by}

    @classmethod
    def decode(cls, data: object) -> _Outcome:
        if not isinstance(data, dict):
            raise ValueError("not a delete outcome")
        return cls(str(data["text"]), bool(data["deleted"]), str(data["by"]))


@router.action(delete_view.DELETE_ACTION)
async def delete_clicked(click: Click) -> Reply:
    try:
        value = json.loads(click.value)
        target = parse_target(str(value["target"]))
        runner_id = int(value["id"])
        name = str(value.get("name") or runner_id)
    except (ValueError, KeyError, TypeError, TargetError):
        return replacement(":warning: That button is not valid; nothing was changed.")
    services, caller = click.services, click.caller
    decision = await services.access.decide(
        "admin", user_id=caller.user_id, channel_id=caller.channel_id, target=target
    )
    if not decision.allowed:
        await services.audit(caller, "delete", target, "refused", decision.reason)
        return errors_view.refusal("admin", "delete", target, decision.reason)

    async def work() -> _Outcome:
        return await _delete(click, target, runner_id, name)

    try:
        ran = await services.store.once.run(
            f"delete:{str(target).lower()}:{runner_id}",
            work,
            keep=_Outcome.kept,
            encode=_Outcome.encode,
            decode=_Outcome.decode,
        )
    except StoreUnavailable:  # without the database, once-only cannot be promised
        raise errors.AuditUnavailable(target) from None
    if ran is None:
        return delete_view.delete_in_progress(target, name)
    outcome, _ = ran
    return delete_view.delete_outcome(target, name, outcome.by, outcome.text)


async def _delete(click: Click, target: Target, runner_id: int, name: str) -> _Outcome:
    """One DELETE: the button carries the id and name shown when it was asked for, and
    GitHub's own answer (404, busy 422) says whether the runner is still there."""
    services, caller = click.services, click.caller
    try:
        audited = await services.audit_first(caller, "delete", target, f"{name} (id {runner_id})")
    except errors.AuditUnavailable as exc:
        return _Outcome(errors_view.error_text(exc, install_url=""), False, caller.user_id)
    async with audited:
        try:
            result = await services.runners.delete_runner(target, runner_id, name)
        except errors.OutcomeUnknown as exc:
            await audited.settle("unknown", f"{name}: {exc.detail}")
            return _Outcome(delete_view.delete_unknown_text(target, name), False, caller.user_id)
        except errors.RunnerOpsError as exc:
            outcome = "not-deleted" if isinstance(exc, errors.RunnerBusy) else "failed"
            await audited.settle(outcome, f"{name}: {type(exc).__name__}")
            text = errors_view.error_text(exc, install_url=services.settings.install_url)
            return _Outcome(text, False, caller.user_id)
    checked = result == "deleted-confirmed"
    detail = f"{name} (id {runner_id})" + (", confirmed by a check" if checked else "")
    await audited.settle("deleted", detail)
    return _Outcome(delete_view.deleted_text(target, name, checked=checked), True, caller.user_id)
