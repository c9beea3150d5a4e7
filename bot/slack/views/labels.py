"""``labels`` and ``label``: a runner's labels, custom ones apart from GitHub's read-only ones."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.github.models import Label, Runner
from bot.github.runners import LabelChange
from bot.slack.blocks import SECTION_CHARS, Reply, clip, code, context, escape, header, section
from bot.targets import Target


def _label_words(labels: Sequence[Label]) -> tuple[list[str], list[str]]:
    """Custom labels in code style, read-only ones plain (as ``list`` shows them)."""
    custom = [code(clip(lab.name, 100)) for lab in labels if lab.custom]
    fixed = [escape(clip(lab.name, 100)) for lab in labels if not lab.custom]
    return custom, fixed


def _word_sections(head: str, words: Sequence[str], budget: int) -> tuple[list[Block], int]:
    """``head`` then ``words`` joined by spaces, over as many sections as Slack needs,
    within ``budget`` characters in all; words that do not fit become "+N more"."""
    blocks: list[Block] = []
    line = head
    used = len(head)
    for shown, word in enumerate(words):
        if used + len(word) + 20 > budget:
            line += f" +{len(words) - shown} more"
            break
        if len(line) + len(word) + 1 > SECTION_CHARS - 20:
            blocks.append(section(line))
            line = ""
        line = f"{line} {word}" if line else word
        used += len(word) + 1
    blocks.append(section(line))
    return blocks, used


def _labels_blocks(labels: Sequence[Label], budget: int = 9000) -> list[Block]:
    custom, fixed = _label_words(labels)
    blocks, used = _word_sections(
        f"*Custom labels* ({len(custom)}):", custom or ["_none_"], budget - 600
    )
    more, _ = _word_sections(
        f"*Read-only labels* ({len(fixed)}, given by GitHub):", fixed or ["_none_"], budget - used
    )
    return blocks + more


def labels_reply(target: Target, runner: Runner, labels: Sequence[Label]) -> Reply:
    custom = sum(lab.custom for lab in labels)
    return Reply(
        text=f"Labels of {escape(runner.name)} ({target}): {custom} custom, "
        f"{len(labels) - custom} "
        "read-only",
        blocks=[
            header(f"Labels of {runner.name}"),
            context(f"Runner id {runner.id} in *{escape(str(target))}*"),
            *_labels_blocks(labels),
        ],
    )


_DONE = {"add": "added", "remove": "removed", "set": "set"}


def label_change_reply(target: Target, change: LabelChange) -> Reply:
    """The labels after the change, and what changed."""
    name = escape(clip(change.runner.name, 100))
    before = {lab.name.lower(): lab.name for lab in change.before}
    after = {lab.name.lower(): lab.name for lab in change.after}
    added = [code(clip(after[k], 100)) for k in after if k not in before]
    removed = [code(clip(before[k], 100)) for k in before if k not in after]
    parts = []
    if change.changed:
        if added:
            parts.append(f"added {' '.join(added[:20])}{' …' if len(added) > 20 else ''}")
        if removed:
            parts.append(f"removed {' '.join(removed[:20])}{' …' if len(removed) > 20 else ''}")
    where = f"*{name}* in *{escape(str(target))}*"
    if not change.done:
        happened = f" Only this was done: {'; '.join(parts)}." if parts else " Nothing changed."
        head = (
            f":warning: GitHub failed to answer the label change on {where}, and reading the "
            f"labels back shows it was not made as asked.{happened} Try again if it is "
            "still wanted."
        )
    elif change.changed:
        head = f":label: Labels of {where}: {'; '.join(parts)}."
    else:
        head = (
            f":label: Labels of *{name}* in *{escape(str(target))}* are unchanged: "
            "it already had what was asked."
        )
    if change.confirmed and change.done:
        head += "\n_GitHub did not answer the change in full; the labels below were read back._"
    if change.op == "set":
        head += "\n_`set` replaces the custom labels; read-only labels always stay._"
    return Reply(
        text=f"Labels of {escape(change.runner.name)} ({target}) {_DONE[change.op]}",
        blocks=[section(head), *_labels_blocks(change.after, budget=8000)],
    )


def label_unknown(target: Target, runner_name: str) -> Reply:
    text = (
        f":grey_question: GitHub did not confirm the label change on {code(runner_name)}, "
        f"and could not be asked what its labels are now. `labels {escape(str(target))} "
        f"{escape(clip(runner_name, 100))}` shows them."
    )
    return Reply(text=text, blocks=[section(text)])
