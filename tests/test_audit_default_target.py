"""A bare ``audit`` means every target the caller administers, whatever the default target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sandbox.harness import reply_text


async def test_bare_audit_ignores_the_default_target(make_sandbox: Callable[..., Any]) -> None:
    async with make_sandbox(default_target="acme/api") as sb:
        await sb.run("token acme")
        await sb.run("token")  # other verbs still use the default: acme/api
        everything = reply_text(await sb.run("audit"))
        assert "Audit trail of" not in everything
        assert "on *acme*" in everything and "on *acme/api*" in everything
        only_api = reply_text(await sb.run("audit acme/api"))
        assert "Audit trail of acme/api" in only_api and "on *acme*:" not in only_api
