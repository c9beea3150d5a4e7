"""The database goes down while runnerops runs: writes that must be audited are refused,
reads go on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sandbox.harness import reply_text
from bot.slack.views.delete import DELETE_ACTION
from bot.slack.views.prune import PRUNE_ACTION
from tests.conftest import Clock
from tests.postgres import running_server

TOKEN_PATH = "/orgs/acme/actions/runners/registration-token"


async def test_an_action_that_cannot_be_audited_is_not_performed(
    make_sandbox: Callable[..., Any],
) -> None:
    with running_server() as server:  # its own server: this test stops it
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url) as sb:
            ask = await sb.run("delete acme linux-idle")
            assert "linux-idle" in reply_text(await sb.run("list acme"))
            server.stop()

            token = reply_text(await sb.run("token acme"))
            assert "could not record this action; nothing was done" in token
            assert sb.github.count("POST", TOKEN_PATH) == 0

            click = reply_text(await sb.click(ask, DELETE_ACTION))
            assert "could not record this action; nothing was done" in click
            assert sb.github.count("DELETE", "/orgs/acme/actions/runners/.*") == 0
            assert any(r["name"] == "linux-idle" for r in sb.github.runners("/orgs/acme"))

            # The fleet's writes are audited first too: a label change, a JIT config.
            label = reply_text(await sb.run("label acme linux-idle add gpu"))
            assert "could not record this action; nothing was done" in label
            assert sb.github.count("POST", "/orgs/acme/actions/runners/.*/labels") == 0
            jit = reply_text(await sb.run("jit acme one-shot"))
            assert "could not record this action; nothing was done" in jit
            assert sb.github.count("POST", ".*/generate-jitconfig") == 0

            listing = reply_text(await sb.run("list acme"))  # reads still work
            assert "linux-idle" in listing and "Traceback" not in listing


async def test_a_database_restart_costs_no_command(make_sandbox: Callable[..., Any]) -> None:
    with running_server() as server:
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url) as sb:
            await sb.run("token acme")
            assert "issued" in reply_text(await sb.run("audit acme"))  # connections pooled
            server.stop()  # pooled connections die with it (a failover looks the same)
            server.start()
            assert "issued" in reply_text(await sb.run("audit acme"))  # a read, retried once
            assert "could not record" not in reply_text(await sb.run("token acme"))
            entries = await sb.services.store.audit.recent(target="acme")
            assert [e.outcome for e in entries] == ["issued", "issued"]


async def test_a_prune_is_neither_planned_nor_carried_out_without_the_database(
    make_sandbox: Callable[..., Any], clock: Clock
) -> None:
    with running_server() as server:
        url = server.url(server.create_database(), scheme="postgres")
        async with make_sandbox(database_url=url, clock=clock) as sb:
            await sb.run("prune acme --offline-for 1m")  # runnerops first sees it offline
            clock.advance(3600)
            ask = await sb.run("prune acme --offline-for 1m")
            assert "mac-offline" in reply_text(ask)  # planned while the database was up
            server.stop()

            again = reply_text(await sb.run("prune acme --offline-for 1m"))
            assert "database did not answer; nothing was changed" in again
            click = reply_text(await sb.click(ask, PRUNE_ACTION))  # the change: refused
            assert "could not record this action; nothing was done" in click
            assert sb.github.count("DELETE", "/orgs/acme/actions/runners/.*") == 0
            assert any(r["name"] == "mac-offline" for r in sb.github.runners("/orgs/acme"))
