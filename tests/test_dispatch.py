"""Every button goes through the one dispatcher's policy check (issue 18 §2).

Each registered button route is pressed, by a signed Slack request, by a user the policy
grants nothing: a button on a target is refused (the refusal reply, a ``refused`` audit
entry on that target) before any GitHub request; a button on no target shows only what
needs no grant. A route that declares no policy action or target is refused at start-up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import handlers
from bot.dispatch import Button, Click, NoTarget, Router
from bot.sandbox.harness import Keys, Sandbox, reply_text
from bot.slack.blocks import Reply
from bot.slack.views.fix_groups import ALLOW_PUBLIC_ACTIONS, ALLOW_REPO_ACTIONS
from bot.targets import Target
from tests.conftest import seed_basic
from tests.test_home import press, texts

MALLORY = "U0MALLORY"  # no grant at all: not even read
POLICY = """
[[grant]]
name = "platform team"
actions = ["read", "token", "admin"]
users = ["U0ALICE"]
targets = ["*"]
"""
REFUSED = "You may not"


@pytest.fixture
async def sb(keys: Keys) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed_basic, policy=POLICY) as sandbox:
        yield sandbox


async def _values(sb: Sandbox) -> dict[str, str]:
    """A valid value for each button on a target, as runnerops' own messages carry it."""
    runner = next(r for r in sb.github.runners("/orgs/acme") if r["name"] == "linux-idle")
    plan = await sb.services.store.plans.create(
        "acme", [(runner["id"], runner["name"])], "offline", "U0ALICE", offline_for=timedelta(1)
    )
    fix_labels = {"scope": "acme", "runner_id": 7, "runner": "gpu-box-3", "labels": ["gpu"]}
    return {
        "runner_delete": json.dumps({"target": "acme", "id": runner["id"], "name": "linux-idle"}),
        "runners_prune": plan.id,
        "home_run_queue": "acme",
        "home_run_stats": "acme",
        "home_run_list": "acme",
        "home_focus": "acme",
        "home_refresh": "",
        "home_run_whoami": "",
        "home_run_help": "",
        # An alert's buttons name its target, channel and key (the alert need not exist:
        # the policy refuses before the store is read).
        "alert_ack": json.dumps({"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s="}),
        "alert_snooze": json.dumps({"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s="}),
        **{
            f"alert_fix_labels_{n}": json.dumps(
                {"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s=", "fix": fix_labels}
            )
            for n in (1, 2, 3)
        },
        "alert_fix_jit": json.dumps(
            {"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s=", "fix": {"fix": "jit"}}
        ),
        "alert_fix_prune": json.dumps(
            {"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s=", "fix": {"fix": "prune"}}
        ),
        **{
            action: json.dumps(
                {"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s="}
                | {"fix": {"group_id": 2, "group": "gpu", "repo": "acme/api"}}
            )
            for action in ALLOW_REPO_ACTIONS
        },
        **{
            action: json.dumps(
                {"target": "acme", "channel": "C0ALERTS", "key": "c3R1Y2s="}
                | {"fix": {"group_id": 2, "group": "gpu"}}
            )
            for action in ALLOW_PUBLIC_ACTIONS
        },
    }


def _message(action_id: str, value: str) -> dict[str, Any]:
    button = {"action_id": action_id, "value": value, "text": {"type": "plain_text", "text": "x"}}
    return {"blocks": [{"type": "actions", "elements": [button]}]}


async def _press(sb: Sandbox, button: Button, value: str) -> str:
    """Press ``button`` as MALLORY; the text of the answer (reply, DM or Home view)."""
    if button.answer == "response_url":
        reply = await sb.click(_message(button.action_id, value), button.action_id, user_id=MALLORY)
        return reply_text(reply)
    await press(sb, MALLORY, button.action_id, value)
    if button.answer == "dm":
        return reply_text(await sb.slack.next_post(MALLORY))
    return texts((await sb.slack.next_publish())["view"])


async def test_every_button_refuses_a_user_without_the_grant(sb: Sandbox) -> None:
    values = await _values(sb)
    routes = handlers.commands.buttons
    assert set(routes) == set(values), "a new button: give it a case here"
    for action_id, button in routes.items():
        before = len(await sb.services.store.audit.recent(refused=True, limit=200))
        shown = await _press(sb, button, values[action_id])
        refusals = await sb.services.store.audit.recent(refused=True, limit=200)
        assert sb.github.requests == [], action_id  # refused before any GitHub request
        if isinstance(button.target, NoTarget):
            # Refresh and focus: the view holds only targets the clicker may read.
            assert button.target.reason
            assert "You may not see any target yet" in shown, action_id
            assert len(refusals) == before, action_id
        elif values[action_id] or button.command is None:  # a button on a target
            assert REFUSED in shown, (action_id, shown)
            assert len(refusals) == before + 1, action_id
            assert (refusals[0].user_id, refusals[0].target) == (MALLORY, "acme"), action_id
        else:  # whoami and help name no target: read needs no grant
            assert REFUSED not in shown and len(refusals) == before, (action_id, shown)
    assert {r["name"] for r in sb.github.runners("/orgs/acme")} >= {"linux-idle"}


async def _handler(click: Click) -> Reply:
    return Reply(text="done")


async def _reader(click: Click) -> Target:
    raise AssertionError("never read")


@pytest.mark.parametrize(
    ("action", "target"),
    [(None, _reader), ("admin", None), (None, NoTarget("none"))],
    ids=["no-action", "no-target", "no-action-no-target"],
)
def test_a_button_without_an_action_or_target_is_refused_at_start_up(
    action: Any, target: Any
) -> None:
    router = Router()
    with pytest.raises(ValueError, match="declares no policy action or target"):
        router.button("runner_new", verb="new", action=action, target=target)(_handler)
    with pytest.raises(ValueError, match="declares no policy action or target"):
        Button("runner_new", "new", action, target, _handler)
    assert router.buttons == {}


def test_every_registered_button_declares_its_check() -> None:
    for button in handlers.commands.buttons.values():
        if button.command is None:  # a command button is checked as its command is
            assert button.action in ("read", "token", "admin")
            assert button.target is not None and button.handler is not None


NEW_CAPABILITY = """
from dataclasses import dataclass

from bot.commands import no_more, take_target
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.slack.blocks import Reply
from bot.slack.views.fix_groups import ALLOW_PUBLIC_ACTIONS, ALLOW_REPO_ACTIONS
from bot.targets import Target

router = Router()


@dataclass(frozen=True, slots=True, kw_only=True)
class CountArgs(Args):
    target: Target


def parse_count(w: Words) -> CountArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    return CountArgs(target=target)


async def count(inv: Invocation[CountArgs]) -> Reply:
    listed = await inv.services.runners.list_runners(inv.command.target)
    return Reply(text=f"{len(listed.runners)} runners")


router.add(Verb("count", "count TARGET", "how many runners", "read", parse_count, count))
"""


def test_a_new_module_under_handlers_is_a_new_verb(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a read-only verb is one module: nothing else names it (issue 18 §1)."""
    (tmp_path / "zz_count.py").write_text(NEW_CAPABILITY)
    monkeypatch.setattr(handlers, "__path__", [*handlers.__path__, str(tmp_path)])
    try:
        merged = Router(*handlers.capability_routers())
        parsed = merged.parse("count acme")
        assert parsed.verb == "count" and parsed.action == "read"
        assert str(parsed.target) == "acme"
        shown = [v.name for v in merged.documented()]
        assert shown[-1] == "count"  # after the modules help orders
        assert shown[:-1] == [v.name for v in handlers.commands.documented()]
    finally:
        import sys

        sys.modules.pop("handlers.zz_count", None)
