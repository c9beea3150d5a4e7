"""``help``: the command reference, in Slack."""

from __future__ import annotations

from bot.routing import Invocation, Router
from bot.slack import render

router = Router()


@router.verb("help")
async def show_help(inv: Invocation) -> render.Reply:
    return render.help_reply(inv.caller.command_name, inv.command.name)
