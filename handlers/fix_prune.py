"""The fix button "Prune these", on an offline alert (issue 20 §1).

``admin``, as ``prune`` is. The click changes nothing: it answers the clicker, privately,
with ``prune``'s dry run for exactly the alert's runners, each checked with GitHub first
(one back online, busy or deleted since is left out, and the reply says so), stored as a
plan for ``prune``'s own Delete button, which checks each again and deletes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot import errors
from bot.dispatch import Click, Router
from bot.fleet.prune import select
from bot.github.models import Runner
from bot.slack.blocks import Reply
from bot.slack.views import fix_prune as view
from bot.slack.views import prune as prune_view
from bot.watch.alerts import AlertKind
from bot.watch.models import RunnerInfo
from handlers.alerts import alert_button_target, invalid_value, note_fix, stored_fix

log = logging.getLogger(__name__)
router = Router()


@router.button(view.PRUNE_FIX_ACTION, verb="prune", action="admin", target=alert_button_target)
async def prune_fix_clicked(click: Click) -> Reply:
    services, caller = click.services, click.caller
    now = datetime.fromtimestamp(services.clock(), UTC)
    button, alert, _ = await stored_fix(click)
    if alert.kind is not AlertKind.OFFLINE:
        raise invalid_value()
    target = button.target
    listing = await services.runners.list_runners(target)
    # Recorded as ``prune`` records its listing: what the watch knows of each runner.
    seen = await services.store.fleet.observe(
        str(target),
        [RunnerInfo.from_runner(r) for r in listing.runners],
        complete=listing.complete,
    )
    by_id = {r.id: r for r in listing.runners}
    listed: list[Runner] = []
    gone: list[str] = []
    for member in alert.members:
        runner = by_id.get(member.id)
        if runner is None and not listing.complete:  # on a page GitHub did not give?
            try:
                runner = await services.runners.get_runner(target, member.id)
            except errors.RunnerNotFound:
                runner = None
        if runner is None:
            gone.append(member.name)
        else:
            listed.append(runner)
    # Offline at all: the alert's threshold said they were offline long enough.
    selection = select(listed, seen, now=now, offline_for=timedelta(0))
    plan_id = ""
    if selection.candidates:
        plan = await services.store.plans.create(
            str(target),
            [(c.runner.id, c.runner.name) for c in selection.candidates],
            view.CRITERIA,
            caller.user_id,
            alert=(button.channel, button.key),
        )
        plan_id = plan.id
    n = len(selection.candidates)
    await services.audit(caller, "prune", target, "planned", f"{n} runners ({view.CRITERIA})")
    reply = prune_view.plan(
        target, selection, plan_id, criteria=view.CRITERIA, now=now, incomplete=False
    )
    return view.with_left_out(
        reply,
        back=[r.name for r in listed if r.online and not r.busy],
        busy=[r.name for r in listed if r.busy],
        gone=gone,
    )


async def say_pruned(click: Click, alert: tuple[str, str], deleted: int) -> None:
    """After the Delete of a plan an alert's Prune these made: the fix note on that alert,
    in place (drawn again from the stored alert: the click was on the private dry run)."""
    note = f"pruned {deleted} runner{'s' * (deleted != 1)}"
    await note_fix(click, alert[0], alert[1], note, on_alert=False)
