"""``help VERB`` for the fleet verbs, asked through a signed slash command."""

from __future__ import annotations

import pytest

from bot.sandbox.harness import Sandbox, reply_text


@pytest.mark.parametrize(
    ("verb", "usage", "says"),
    [
        ("labels", "labels TARGET RUNNER|id:N|name:TEXT", "read-only ones apart"),
        ("label", "label TARGET RUNNER add|remove|set L [L…]", "custom labels (admins)"),
        ("groups", "groups TARGET", "runner groups: who may use them"),
        (
            "jit",
            "jit TARGET NAME [--label L]... [--group GROUP] [--work-folder DIR]",
            "one job, then removed",
        ),
        (
            "prune",
            "prune TARGET [--offline-for DURATION] [--label L]... [--name TEXT]",
            "each checked again first (admins)",
        ),
    ],
)
async def test_help_verb(sandbox: Sandbox, verb: str, usage: str, says: str) -> None:
    reply = await sandbox.run(f"help {verb}")
    text = reply_text(reply)
    assert f"`/runners {usage}`" in text
    assert f"*{verb}*:" in text and says in text
    assert "TARGET:" in text  # how to write a target, for every verb that takes one
    assert "Commands:" not in text and "manages GitHub Actions" not in text  # not the index
    assert sandbox.github.requests == []  # help asks GitHub nothing
