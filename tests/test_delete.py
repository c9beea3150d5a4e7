"""delete: details and a danger button with a confirm dialog; deletion only on click."""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox.harness import Sandbox, find_button, reply_text
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


async def test_second_click_gets_the_first_outcome(sandbox: Sandbox) -> None:
    ask = await sandbox.run("delete acme mac-offline")
    runner = next(r for r in sandbox.github.runners("/orgs/acme") if r["name"] == "mac-offline")
    first = await sandbox.click(ask, DELETE_ACTION)
    again = await sandbox.click(ask, DELETE_ACTION, user_id="U0ALICE")
    assert "was deleted" in reply_text(first) and reply_text(again) == reply_text(first)
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
