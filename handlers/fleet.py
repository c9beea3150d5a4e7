"""Read-only views of the fleet: ``list``, ``get`` and ``downloads``."""

from __future__ import annotations

from bot.github.models import RunnerFilter
from bot.github.runners import matching
from bot.routing import Invocation, Router
from bot.slack import render

router = Router()


@router.verb("list")
async def list_runners(inv: Invocation) -> render.Reply:
    target = inv.command.target
    assert target is not None
    runners = inv.services.runners
    group = None
    if inv.command.group is not None:
        group = await runners.find_group(target, inv.command.group)
        listed = await runners.group_runners(target, group)
    else:
        listed = await runners.list_runners(target)
    c = inv.command
    shown = matching(RunnerFilter(c.status, c.busy, c.labels, c.name), listed.runners)
    return render.runner_list(target, listed, shown, inv.command, group=group)


@router.verb("get")
async def get_runner(inv: Invocation) -> render.Reply:
    target, ref = inv.command.target, inv.command.runner
    assert target is not None and ref is not None
    runner = await inv.services.runners.find_runner(target, ref)
    group = await inv.services.runners.group_name(target, runner.runner_group_id)
    return render.runner_detail(target, runner, inv.command, group=group)


@router.verb("downloads")
async def downloads(inv: Invocation) -> render.Reply:
    target = inv.command.target
    assert target is not None
    found = await inv.services.runners.list_downloads(target)
    return render.downloads_reply(target, found, inv.command)
