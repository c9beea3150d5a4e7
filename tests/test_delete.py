"""delete: details and a danger button with a confirm dialog; deletion only on click."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.sandbox.harness import PLATFORM_POLICY, Sandbox, find_button, reply_text
from bot.slack.render import DELETE_ACTION
from tests.conftest import SCOPES


@pytest.mark.parametrize("scope", SCOPES)
async def test_delete_asks_then_deletes_on_click(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    runner = next(r for r in sandbox.github.runners(path) if r["name"] == "linux-idle")
    ask = await sandbox.run(f"delete {target} linux-idle")
    assert "Delete runner *linux-idle*" in reply_text(ask)
    button = find_button(ask, DELETE_ACTION)
    assert button["style"] == "danger"
    assert (
        button["confirm"]["style"] == "danger" and "linux-idle" in button["confirm"]["text"]["text"]
    )
    # Asking deleted nothing.
    assert sandbox.github.count("DELETE", f"{path}/actions/runners/.*") == 0
    assert any(r["name"] == "linux-idle" for r in sandbox.github.runners(path))

    done = await sandbox.click(ask, DELETE_ACTION)
    assert done["replace_original"] is True
    assert "was deleted" in reply_text(done) and "<@U0ALICE>" in reply_text(done)
    assert sandbox.github.count("DELETE", f"{path}/actions/runners/{runner['id']}") == 1
    assert not any(r["name"] == "linux-idle" for r in sandbox.github.runners(path))


async def test_busy_runner_is_not_deleted(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme linux-busy")
    assert "running a job now" in reply_text(ask)
    done = await sandbox.click(ask, DELETE_ACTION)
    text = reply_text(done)
    assert "is running a job; not deleted" in text
    assert any(r["name"] == "linux-busy" for r in sandbox.github.runners("/orgs/acme"))
    assert sandbox.github.requests[-1].status == 422


async def test_delete_unknown_runner(sandbox: Sandbox) -> None:
    reply = await sandbox.run("delete acme ghost")
    assert "No runner `ghost` in *acme*" in reply_text(reply)
    with pytest.raises(LookupError):
        find_button(reply, DELETE_ACTION)


ON_CALL_POLICY = (
    PLATFORM_POLICY
    + """
[[grant]]
name = "on call"
actions = ["read", "admin"]
users = ["U0BOB"]
targets = ["*"]
"""
)


async def test_second_click_gets_the_first_outcome(make_sandbox: Callable[..., Any]) -> None:
    async with make_sandbox(policy=ON_CALL_POLICY) as sandbox:
        ask = await sandbox.run("delete acme mac-offline")
        runners = sandbox.github.runners("/orgs/acme")
        runner = next(r for r in runners if r["name"] == "mac-offline")
        first = await sandbox.click(ask, DELETE_ACTION)
        # Bob, another admin, clicks the same button later: he is told Alice deleted it.
        again = await sandbox.click(ask, DELETE_ACTION, user_id="U0BOB", user_name="bob")
        assert "was deleted" in reply_text(first) and reply_text(again) == reply_text(first)
        assert "<@U0ALICE>" in reply_text(again) and "U0BOB" not in reply_text(again)
        assert sandbox.github.count("DELETE", f"/orgs/acme/actions/runners/{runner['id']}") == 1


async def test_concurrent_double_click_deletes_once(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme/api linux-idle")
    sandbox.github.add_fault("DELETE", "/repos/acme/api/actions/runners/.*", delay=0.3)
    first, second = await asyncio.gather(
        sandbox.click(ask, DELETE_ACTION), sandbox.click(ask, DELETE_ACTION)
    )
    assert "was deleted" in reply_text(first) and "was deleted" in reply_text(second)
    assert sandbox.github.count("DELETE", "/repos/acme/api/actions/runners/.*") == 1


async def test_busy_then_idle_can_be_retried(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme linux-busy")
    assert "not deleted" in reply_text(await sandbox.click(ask, DELETE_ACTION))
    sandbox.github.set_runner("/orgs/acme", "linux-busy", busy=False)  # the job ended
    assert "was deleted" in reply_text(await sandbox.click(ask, DELETE_ACTION))


async def _ask(sandbox: Sandbox, name: str) -> tuple[dict, int]:
    runner = next(r for r in sandbox.github.runners("/orgs/acme") if r["name"] == name)
    return await sandbox.run(f"delete acme {name}"), runner["id"]


async def test_delete_that_github_did_then_failed_is_confirmed(sandbox: Sandbox) -> None:
    ask, rid = await _ask(sandbox, "linux-idle")
    sandbox.github.add_fault(
        "DELETE", f"/orgs/acme/actions/runners/{rid}", status=502, act_first=True
    )
    text = reply_text(await sandbox.click(ask, DELETE_ACTION))
    assert "was deleted" in text and "a check found the runner gone" in text
    assert sandbox.github.count("GET", f"/orgs/acme/actions/runners/{rid}") == 1
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "deleted" and "confirmed by a check" in entry.detail


async def test_delete_that_timed_out_after_github_acted_is_confirmed(make_sandbox) -> None:
    """GitHub deletes the runner, then stalls past GITHUB_TIMEOUT: the GET finds it gone,
    so the reply says it was deleted, never "nothing was changed"."""
    async with make_sandbox(github_timeout=0.3) as sb:
        ask, rid = await _ask(sb, "linux-idle")
        sb.github.add_fault(
            "DELETE", f"/orgs/acme/actions/runners/{rid}", delay=1.0, act_first=True
        )
        text = reply_text(await sb.click(ask, DELETE_ACTION))
        assert "was deleted" in text and "a check found the runner gone" in text
        assert "nothing was changed" not in text
        assert not any(r["id"] == rid for r in sb.github.runners("/orgs/acme"))
        assert sb.github.count("GET", f"/orgs/acme/actions/runners/{rid}") == 1
        (entry,) = await sb.services.store.audit.recent()
        assert entry.outcome == "deleted" and "confirmed by a check" in entry.detail


async def test_delete_that_timed_out_before_github_acted_changed_nothing(make_sandbox) -> None:
    async with make_sandbox(github_timeout=0.3) as sb:
        ask, rid = await _ask(sb, "linux-idle")
        sb.github.add_fault("DELETE", f"/orgs/acme/actions/runners/{rid}", delay=1.0, status=504)
        text = reply_text(await sb.click(ask, DELETE_ACTION))
        assert "nothing was changed" in text
        assert any(r["id"] == rid for r in sb.github.runners("/orgs/acme"))
        (entry,) = await sb.services.store.audit.recent()
        assert entry.outcome == "failed"


async def test_delete_whose_outcome_cannot_be_checked_is_unknown(sandbox: Sandbox) -> None:
    ask, rid = await _ask(sandbox, "linux-idle")
    path = f"/orgs/acme/actions/runners/{rid}"
    sandbox.github.add_fault("DELETE", path, status=500, act_first=True)
    sandbox.github.add_fault("GET", path, status=503, times=None)
    text = reply_text(await sandbox.click(ask, DELETE_ACTION))
    assert "did not confirm the delete" in text and "nothing was changed" not in text
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "unknown"
