"""``token`` and ``remove-token``: one-hour runner tokens, only ever shown ephemerally."""

from __future__ import annotations

from bot import errors
from bot.routing import Invocation, Router
from bot.slack import render

router = Router()


@router.verb("token", "remove-token")
async def runner_token(inv: Invocation) -> render.Reply:
    target, verb, services = inv.command.target, inv.command.verb, inv.services
    assert target is not None
    try:
        if verb == "token":
            token = await services.runners.registration_token(target)
        else:
            token = await services.runners.remove_token(target)
    except errors.RunnerOpsError as exc:
        await services.audit(inv.caller, verb, target, "failed", type(exc).__name__)
        raise
    await services.audit(
        inv.caller, verb, target, "issued", f"expires {token.expires_at.isoformat()}"
    )
    return render.token_reply(
        target,
        token,
        kind="registration" if verb == "token" else "remove",
        github_url=services.settings.github_url,
        now=services.clock(),
    )
