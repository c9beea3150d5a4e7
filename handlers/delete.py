"""``delete``: a runner is removed only after a confirmed click on a danger button.

The clicker is checked against the policy again by the dispatcher (they need not be who
asked: the button's route declares ``admin`` on the target its value names), and a
double click deletes once: the second click gets the first one's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot import errors
from bot.dispatch import Click, ClickRefused, Invocation, Router, Verb
from bot.slack.blocks import Reply
from bot.slack.views import delete as delete_view
from bot.slack.views import errors as errors_view
from bot.store.database import StoreUnavailable
from bot.targets import Target, TargetError, parse_target
from handlers.fleet import RunnerArgs, parse_runner_verb

router = Router()


async def ask_to_delete(inv: Invocation[RunnerArgs]) -> Reply:
    target, ref = inv.command.target, inv.command.runner
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


@dataclass(frozen=True)
class _Button:
    """What a delete button's value carries: the runner shown when it was asked for."""

    target: Target
    runner_id: int
    name: str

    @classmethod
    def read(cls, value: str) -> _Button:
        try:
            found = json.loads(value)
            target = parse_target(str(found["target"]))
            runner_id = int(found["id"])
            return cls(target, runner_id, str(found.get("name") or runner_id))
        except (ValueError, KeyError, TypeError, TargetError):
            raise ClickRefused(errors_view.button_invalid_reply()) from None


async def _button_target(click: Click) -> Target:
    return _Button.read(click.value).target


@router.button(delete_view.DELETE_ACTION, verb="delete", action="admin", target=_button_target)
async def delete_clicked(click: Click) -> Reply:
    services = click.services
    button = _Button.read(click.value)
    target, runner_id, name = button.target, button.runner_id, button.name

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


router.add(
    Verb(
        "delete",
        "delete TARGET RUNNER|id:N|name:TEXT",
        "remove a runner (asks for confirmation with a button)",
        "admin",
        parse_runner_verb,
        ask_to_delete,
        positionals=2,
    )
)
