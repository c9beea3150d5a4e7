"""``watch``, ``unwatch`` and ``watching``: which channel gets alerts on which target.

``watch`` is typed in the channel that should receive the alerts. runnerops first checks
that GitHub lets it see the target's runners, then posts a visible confirmation there:
if Slack refuses (the bot was never invited), nothing is stored and the reply says how
to invite it, so a watch never exists that could not deliver its alerts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.routing import Invocation, Router
from bot.slack import alerts as alert_render
from bot.slack import render
from bot.store.database import StoreUnavailable
from bot.store.watches import Watch

log = logging.getLogger(__name__)
router = Router()
CANNOT_POST = ("not_in_channel", "channel_not_found", "is_archived", "restricted_action")


@router.verb("watch")
async def watch(inv: Invocation) -> render.Reply:
    services, caller, command = inv.services, inv.caller, inv.command
    target = command.target
    assert target is not None and command.after and command.offline_after
    await services.runners.list_runners(target)  # installed, and its runners readable
    entry = Watch(
        channel=caller.channel_id,
        target=str(target),
        after=command.after,
        offline_after=command.offline_after,
        created_by=caller.user_id,
        created_by_name=caller.user_name,
        created_at=datetime.fromtimestamp(services.clock(), UTC),
    )
    existing = {
        (w.channel, w.target_key) for w in await services.store.watches.all()
    }  # only to word the confirmation
    new = (entry.channel, entry.target_key) not in existing
    confirmation = alert_render.watch_confirmation(entry, new=new)
    try:
        posted = await services.slack.chat_postMessage(
            channel=caller.channel_id,
            text=confirmation.text,
            blocks=[b.to_dict() for b in confirmation.blocks],
            unfurl_links=False,
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error", "")) if exc.response is not None else ""
        if error in CANNOT_POST:
            return alert_render.cannot_post(caller.channel_id, error, caller.command_name)
        log.warning("could not post a watch confirmation: %s", error or type(exc).__name__)
        text = (
            f":warning: Slack refused the confirmation ({render.escape(error or 'no answer')});"
            " nothing was set up. Try again shortly."
        )
        return render.Reply(text=text, blocks=[render._section(text)])
    try:
        await services.store.watches.put(entry)
    except StoreUnavailable:
        text = ":floppy_disk: The watch could not be saved; nothing is watched. Try again."
        ts = posted.get("ts")
        if ts:
            try:
                await services.slack.chat_update(channel=caller.channel_id, ts=ts, text=text)
            except SlackApiError:
                pass
        return render.Reply(text=text, blocks=[render._section(text)])
    detail = (
        f"after {command.after.total_seconds():.0f}s, offline after"
        f" {command.offline_after.total_seconds():.0f}s, in {caller.channel_id}"
    )
    await services.audit(caller, "watch", target, "watched" if new else "updated", detail)
    return alert_render.watch_done(entry, new=new)


@router.verb("unwatch")
async def unwatch(inv: Invocation) -> render.Reply:
    services, caller, target = inv.services, inv.caller, inv.command.target
    assert target is not None
    existed = await services.store.watches.remove(caller.channel_id, str(target))
    if existed:
        await services.store.alerts.drop_watch(caller.channel_id, str(target))
        await services.audit(caller, "unwatch", target, "unwatched", f"in {caller.channel_id}")
    return alert_render.unwatched(str(target), caller.channel_id, existed=existed)


@router.verb("watching")
async def watching(inv: Invocation) -> render.Reply:
    """Only watches of targets the caller may read (``list`` of the others is refused);
    the rest are counted."""
    caller = inv.caller
    reader = await inv.services.access.reader(caller.user_id, caller.channel_id)
    every = await inv.services.store.watches.all()
    shown = [w for w in every if reader.may_read(w.target)]
    return alert_render.watching(shown, hidden=len(every) - len(shown))
