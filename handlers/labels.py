"""``labels`` (read) and ``label`` (admin): a runner's labels, and changing its custom ones.

Read-only labels (``self-hosted``, the OS, the architecture) are GitHub's: a change that
would remove one is refused from the runner's current labels before anything is written.
Every change is audited with the custom labels before and after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import errors
from bot.github.models import Label
from bot.github.runners import LabelOp
from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import labels as labels_view

router = Router()


@router.verb("labels")
async def show_labels(inv: Invocation) -> Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    labels = await inv.services.runners.list_labels(target, runner.id, runner.name)
    return labels_view.labels_reply(target, runner, labels)


def _custom(labels: Sequence[Label]) -> str:
    return ", ".join(label.name for label in labels if label.custom) or "none"


@router.verb("label")
async def change_labels(inv: Invocation) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, ref, op = command.target, command.runner, command.label_op
    assert target is not None and ref is not None and op in ("add", "remove", "set")
    label_op: LabelOp = op  # type: ignore[assignment]
    runner = await services.runners.find_runner(target, ref)
    what = f"{op} {', '.join(command.labels) or '(none)'} on {runner.name} (id {runner.id})"
    async with await services.audit_first(caller, "label", target, what) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            change = await services.runners.change_labels(target, runner, label_op, command.labels)
        except (errors.ReadOnlyLabels, errors.LabelsMissing) as exc:
            await audited.settle("refused", f"{what}: {type(exc).__name__}")
            raise
        except errors.OutcomeUnknown as exc:
            await audited.settle("unknown", f"{what}: {exc.detail}")
            return labels_view.label_unknown(target, runner.name)
        if not change.done:
            outcome = "partial" if change.changed else "not-changed"
        else:
            outcome = "changed" if change.changed else "unchanged"
        detail = (
            f"{what}; custom labels before: {_custom(change.before)}; "
            f"after: {_custom(change.after)}"
            + ("; read back after a failed answer" if change.confirmed else "")
        )
        await audited.settle(outcome, detail)
    return labels_view.label_change_reply(target, change)
