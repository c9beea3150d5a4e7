"""``labels`` (read) and ``label`` (admin): a runner's labels, and changing its custom ones.

Read-only labels (``self-hosted``, the OS, the architecture) are GitHub's: a change that
would remove one is refused from the runner's current labels before anything is written.
Every change is audited with the custom labels before and after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from bot import errors
from bot.commands import (
    MAX_LABELS,
    RunnerRef,
    UsageError,
    check_label,
    no_more,
    parse_runner,
    take_target,
    unique_labels,
)
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.github.models import Label
from bot.github.runners import LabelOp
from bot.slack.blocks import Reply
from bot.slack.views import labels as labels_view
from bot.targets import Target
from handlers.fleet import RunnerArgs, parse_runner_verb

LABEL_OPS = ("add", "remove", "set")

router = Router()


async def show_labels(inv: Invocation[RunnerArgs]) -> Reply:
    target, ref = inv.command.target, inv.command.runner
    runner = await inv.services.runners.find_runner(target, ref)
    labels = await inv.services.runners.list_labels(target, runner.id, runner.name)
    return labels_view.labels_reply(target, runner, labels)


def _custom(labels: Sequence[Label]) -> str:
    return ", ".join(label.name for label in labels if label.custom) or "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelArgs(Args):
    target: Target
    runner: RunnerRef
    label_op: LabelOp
    labels: tuple[str, ...]


def parse_label(w: Words) -> LabelArgs:
    positionals, op, names = split_label_op(w.positionals)
    target, rest = take_target(w.verb, positionals, w.default_target, then="runner")
    if not rest:
        raise UsageError("which runner? give its id or exact name", w.verb)
    runner = parse_runner(rest.pop(0), w.verb)
    no_more(rest, w.verb)
    labels = label_names(names, op)
    return LabelArgs(target=target, runner=runner, label_op=cast(LabelOp, op), labels=labels)


async def change_labels(inv: Invocation[LabelArgs]) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, ref, op = command.target, command.runner, command.label_op
    label_op = op
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


router.add(
    Verb(
        "labels",
        "labels TARGET RUNNER|id:N|name:TEXT",
        "a runner's labels: custom ones, and GitHub's read-only ones apart",
        "read",
        parse_runner_verb,
        show_labels,
        positionals=2,
    )
)
router.add(
    Verb(
        "label",
        "label TARGET RUNNER add|remove|set L [L…]",
        "add, remove or set a runner's custom labels (admins)",
        "admin",
        parse_label,
        change_labels,
        positionals=3 + MAX_LABELS,  # TARGET RUNNER OP L...; the count is checked per op
    )
)


def split_label_op(positionals: list[str]) -> tuple[list[str], str, tuple[str, ...]]:
    """``[TARGET] RUNNER OP L…`` -> the words before OP, OP, and the labels after it.

    OP is the first ``add``, ``remove`` or ``set`` after the first word (a runner named
    ``set`` is written ``name:set``)."""
    for index, word in enumerate(positionals):
        if index >= 1 and word.lower() in LABEL_OPS:
            return positionals[:index], word.lower(), tuple(positionals[index + 1 :])
    raise UsageError("say what to do with the labels: `add`, `remove` or `set`", "label")


def label_names(names: tuple[str, ...], op: str) -> tuple[str, ...]:
    for name in names:
        check_label(name, "label")
    unique = unique_labels(names)
    if op != "set" and not unique:
        raise UsageError(f"`{op}` needs at least one label: `{op} gpu`", "label")
    if len(unique) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} labels at once ({len(unique)} given)", "label")
    return unique
