"""Read-only views of the fleet: ``list``, ``get`` and ``downloads``."""

from __future__ import annotations

from bot.github.runners import matching
from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import fleet as fleet_view

router = Router()


@router.verb("list")
async def list_runners(inv: Invocation) -> Reply:
    target = inv.command.target
    assert target is not None
    runners = inv.services.runners
    group = None
    if inv.command.group is not None:
        group = await runners.find_group(target, inv.command.group)
        listed = await runners.group_runners(target, group)
    else:
        listed = await runners.list_runners(target)
    shown = matching(inv.command, listed.runners)
    return fleet_view.runner_list(target, listed, shown, inv.command, group=group)


@router.verb("get")
async def get_runner(inv: Invocation) -> Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    group = await inv.services.runners.group_name(target, runner.runner_group_id)
    return fleet_view.runner_detail(target, runner, inv.command, group=group)


@router.verb("downloads")
async def downloads(inv: Invocation) -> Reply:
    target = inv.command.target
    assert target is not None
    found = await inv.services.runners.list_downloads(target)
    return fleet_view.downloads_reply(target, found, inv.command)
