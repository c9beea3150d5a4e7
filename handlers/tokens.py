"""``token`` and ``remove-token``: one-hour runner tokens, only ever shown ephemerally."""

from __future__ import annotations

from datetime import UTC
from typing import Literal

from bot import errors
from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import tokens as tokens_view

router = Router()


@router.verb("token", "remove-token")
async def runner_token(inv: Invocation) -> Reply:
    target, verb, services = inv.command.target, inv.command.verb, inv.services
    assert target is not None
    kind: Literal["registration", "remove"] = "registration" if verb == "token" else "remove"
    async with await services.audit_first(inv.caller, verb, target) as audited:
        try:  # the entry is written first: an action that cannot be audited is not done
            if verb == "token":
                token = await services.runners.registration_token(target)
            else:
                token = await services.runners.remove_token(target)
        except errors.OutcomeUnknown as exc:  # GitHub may have issued one nobody was shown
            await audited.settle("unknown", exc.detail)
            return tokens_view.token_unknown(target, kind)
        expiry = (
            f"{token.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if token.expires_at
            else "an unreadable time"
        )
        await audited.settle("issued", f"expires {expiry}")
    return tokens_view.token_reply(
        target,
        token,
        kind=kind,
        github_url=services.settings.github_url,
        now=services.clock(),
    )
