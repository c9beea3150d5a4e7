"""``token`` and ``remove-token``: one-hour runner tokens, only ever shown ephemerally."""

from __future__ import annotations

from bot import render
from bot.routing import Invocation, Router

router = Router()


@router.verb("token", "remove-token")
async def runner_token(inv: Invocation) -> render.Reply:
    target = inv.command.target
    assert target is not None
    services = inv.services
    if inv.command.verb == "token":
        token = await services.runners.registration_token(target)
        kind = "registration"
    else:
        token = await services.runners.remove_token(target)
        kind = "remove"
    return render.token_reply(
        target, token, kind=kind, github_url=services.settings.github_url, now=services.clock()
    )
