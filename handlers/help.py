"""``help``: the command reference, in Slack."""

from __future__ import annotations

from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import help as help_view

router = Router()


@router.verb("help")
async def show_help(inv: Invocation) -> Reply:
    return help_view.help_reply(inv.caller.command_name, inv.command.name)
