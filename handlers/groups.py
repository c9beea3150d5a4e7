"""``groups``: an organization's or enterprise's runner groups, with their runner counts."""

from __future__ import annotations

from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import groups as groups_view

router = Router()


@router.verb("groups")
async def list_groups(inv: Invocation) -> Reply:
    target = inv.command.target
    assert target is not None
    runners = inv.services.runners
    groups = await runners.list_groups(target)
    # Only the groups the reply can show are counted: one request each.
    shown = await runners.count_runners(target, groups[: groups_view.MAX_GROUPS_SHOWN])
    return groups_view.groups_reply(target, [*shown, *groups[groups_view.MAX_GROUPS_SHOWN :]])
