"""The "Add LABELS to RUNNER" fix button of a "no runner has the labels" alert.

The same change as ``label TARGET RUNNER add L…`` (``admin``, checked by the dispatcher on
the scope the runner is registered on, before any GitHub request). At click time the
alert must still be open, the runner still registered and still lacking the labels (a
runner that has them since, or is gone, is said privately and nothing changes). The audit
entry is written before the POST; then the fix is noted on the alert, in place. GitHub's
``POST …/labels`` adds: a second click (on any process) that reads the labels after the
first finds them and says so; two clicks at the very same moment add the same labels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot import errors
from bot.dispatch import Click, Router
from bot.github.models import Label
from bot.slack.blocks import Reply
from bot.slack.views import fix_labels as view
from bot.slack.views import labels as labels_view
from bot.slack.views.fixes import fix_facts
from bot.store.database import StoreUnavailable
from bot.targets import Target, TargetError, parse_target
from bot.watch.alerts import Alert
from bot.watch.label_fixes import can_add, runner_scope
from bot.watch.labels import label_set_key
from handlers.alerts import AlertButton, invalid_value, note_fix, stored_alert

log = logging.getLogger(__name__)
router = Router()


@dataclass(frozen=True, slots=True)
class LabelFixFacts:
    """What the button offers: add ``labels`` to runner ``runner_id`` of ``scope``."""

    scope: Target
    runner_id: int
    runner: str
    labels: tuple[str, ...]

    @classmethod
    def read(cls, value: str) -> LabelFixFacts:
        """The button's facts; a value runnerops did not write is refused, unread."""
        try:
            facts = fix_facts(value)
            runner_id, names = facts["runner_id"], facts["labels"]
            if isinstance(runner_id, bool) or not isinstance(runner_id, int) or runner_id < 1:
                raise ValueError("runner id")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("labels")
            labels = label_set_key(names)
            if not can_add(labels):  # only what label_fixes offers
                raise ValueError("labels")
            scope = parse_target(str(facts["scope"]))
            return cls(scope, runner_id, str(facts["runner"])[:100], labels)
        except (ValueError, KeyError, TypeError, TargetError):
            raise invalid_value() from None

    def belongs_to(self, alert: Alert) -> bool:
        """Labels the alert's jobs ask for, on a runner where its watch may change them."""
        scopes = {
            runner_scope(alert.target, repository_level=level, shared=False)
            for level in (False, True)
        }
        return set(self.labels) <= set(alert.labels) and str(self.scope).lower() in {
            s.lower() for s in scopes if s is not None
        }


async def label_fix_target(click: Click) -> Target:
    """The policy's target: where the runner is registered (what the change changes)."""
    return LabelFixFacts.read(click.value).scope


def _custom(labels: Sequence[Label]) -> str:
    return ", ".join(label.name for label in labels if label.custom) or "none"


async def _add(click: Click, facts: LabelFixFacts, alert: Alert) -> Reply:
    services, caller, scope = click.services, click.caller, facts.scope
    try:
        runner = await services.runners.get_runner(scope, facts.runner_id)
    except errors.RunnerNotFound:
        return view.runner_gone_reply(facts.runner, str(scope))
    have = {label.name.lower() for label in runner.labels}
    lacking = tuple(label for label in facts.labels if label not in have)
    if not lacking:
        return view.already_has_reply(runner.name, facts.labels)
    what = f"add {', '.join(lacking)} on {runner.name} (id {runner.id}): fix of alert {alert.key}"
    async with await services.audit_first(caller, "label", scope, what) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            change = await services.runners.change_labels(scope, runner, "add", lacking)
        except errors.RunnerNotFound:
            await audited.settle("not-done", f"{what}: the runner is gone")
            return view.runner_gone_reply(runner.name, str(scope))
        except errors.OutcomeUnknown as exc:
            await audited.settle("unknown", f"{what}: {exc.detail}")
            return labels_view.label_unknown(scope, runner.name)
        detail = f"{what}; custom labels before: {_custom(change.before)}; after: " + _custom(
            change.after
        )
        if not change.done:
            await audited.settle("not-changed", detail)
            return view.not_added_reply(runner.name, lacking)
        await audited.settle("changed" if change.changed else "unchanged", detail)
    await note_fix(click, alert.channel, alert.key, view.note_text(lacking, runner.name))
    return view.added_reply(runner.name, lacking, str(scope))


async def label_fix_clicked(click: Click) -> Reply:
    facts = LabelFixFacts.read(click.value)
    try:
        _, alert, _ = await stored_alert(click)
    except StoreUnavailable:  # whether the alert is open cannot be told: nothing is done
        raise errors.AuditUnavailable(AlertButton.read(click.value).target) from None
    if not facts.belongs_to(alert):
        raise invalid_value()
    return await _add(click, facts, alert)


for _action in view.FIX_LABELS_ACTIONS:
    router.button(_action, verb="label", action="admin", target=label_fix_target)(label_fix_clicked)
