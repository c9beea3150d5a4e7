"""``watch``, ``unwatch`` and ``watching``: which channel gets alerts on which target.

``watch`` is typed in the channel that should receive the alerts. runnerops first checks
that GitHub lets it see the target's runners, then posts a visible confirmation there:
if Slack refuses (the bot was never invited), nothing is stored and the reply says how
to invite it, so a watch never exists that could not deliver its alerts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk.errors import SlackApiError

from bot import errors
from bot.commands import UsageError, duration_flag, no_more, take_target
from bot.dispatch import Args, Invocation, Router, TargetArgs, Verb, Words, parse_target_only
from bot.durations import format_duration
from bot.services import Services
from bot.slack.blocks import Reply
from bot.slack.views import watch as watch_view
from bot.store.database import StoreUnavailable
from bot.store.watches import MENTION_AFTER, VERSION_WARN, Watch
from bot.targets import Target
from bot.watch import digest
from handlers.access import NoArgs, parse_no_args

log = logging.getLogger(__name__)
DEFAULT_AFTER = timedelta(minutes=5)
DEFAULT_OFFLINE_AFTER = timedelta(minutes=10)

router = Router()
CANNOT_POST = ("not_in_channel", "channel_not_found", "is_archived", "restricted_action")


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchArgs(Args):
    target: Target
    after: timedelta = DEFAULT_AFTER
    offline_after: timedelta = DEFAULT_OFFLINE_AFTER
    mentions: tuple[str, ...] = ()
    mention_after: timedelta = MENTION_AFTER
    digest_at: str | None = None  # ``--digest HH:MM``, as typed (checked)
    digest_tz: str = digest.DEFAULT_TZ
    version_warn: timedelta = VERSION_WARN


# A Slack user (``<@U…>``, ``<@U…|name>`` as Slack escapes it) or user group
# (``<!subteam^S…>``, ``<!subteam^S…|@team>``); never ``@channel``, ``@here`` or a name.
_USER = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^<>]{0,100})?>", re.ASCII)
_GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|[^<>]{0,100})?>", re.ASCII)
MAX_MENTIONS = 10
MENTION_USAGE = (
    "`--mention` takes a Slack user (`@someone`) or user group (`@team`), picked from"
    " Slack's suggestions so that Slack sends it as `<@U…>` or `<!subteam^S…>`; repeat it"
    " for more (never `@channel` or `@here`)"
)


def mention(word: str, verb: str) -> str:
    """One ``--mention`` value, normalised to ``<@U…>`` or ``<!subteam^S…>``."""
    if found := _USER.fullmatch(word):
        return f"<@{found.group(1)}>"
    if found := _GROUP.fullmatch(word):
        return f"<!subteam^{found.group(1)}>"
    raise UsageError(MENTION_USAGE, verb)


TZ_ALONE = (
    "`--tz` is the time zone of the daily digest, so it goes with `--digest HH:MM`:"
    " for example `--digest 09:00 --tz Europe/Paris`"
)


def digest_flags(w: Words) -> tuple[str | None, str]:
    """``--digest HH:MM`` (None when not given) and ``--tz ZONE``, checked."""
    at, tz = w.flags.get("--digest"), w.flags.get("--tz")
    if at is None:
        if tz is not None:
            raise UsageError(TZ_ALONE, w.verb)
        return None, digest.DEFAULT_TZ
    try:
        when = digest.parse_hhmm(at[-1])
        zone = digest.parse_zone(tz[-1]) if tz is not None else None
    except ValueError as exc:
        flag = "--digest" if "time of day" in str(exc) else "--tz"
        raise UsageError(f"`{flag}`: {exc}", w.verb) from None
    return f"{when:%H:%M}", zone.key if zone is not None else digest.DEFAULT_TZ


def parse_watch(w: Words) -> WatchArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    mentions = tuple(dict.fromkeys(mention(word, w.verb) for word in w.flags.get("--mention", [])))
    if len(mentions) > MAX_MENTIONS:
        raise UsageError(f"at most {MAX_MENTIONS} `--mention` targets", w.verb)
    digest_at, digest_tz = digest_flags(w)
    return WatchArgs(
        target=target,
        after=duration_flag(w.flags, "--after", w.verb) or DEFAULT_AFTER,
        offline_after=duration_flag(w.flags, "--offline-after", w.verb) or DEFAULT_OFFLINE_AFTER,
        mentions=mentions,
        mention_after=duration_flag(w.flags, "--mention-after", w.verb) or MENTION_AFTER,
        digest_at=digest_at,
        digest_tz=digest_tz,
        version_warn=duration_flag(w.flags, "--version-warn", w.verb) or VERSION_WARN,
    )


async def watch(inv: Invocation[WatchArgs]) -> Reply:
    """Audited first like every change: no watch without its entry, and a save whose
    answer was lost is read back and reported as it is."""
    services, caller, command = inv.services, inv.caller, inv.command
    target = command.target
    await services.runners.list_runners(target)  # installed, and its runners readable
    now = datetime.fromtimestamp(services.clock(), UTC)
    entry = Watch(
        channel=caller.channel_id,
        target=str(target),
        after=command.after,
        offline_after=command.offline_after,
        created_by=caller.user_id,
        created_by_name=caller.user_name,
        created_at=now,
        mentions=command.mentions,
        mention_after=command.mention_after,
        digest_at=command.digest_at,
        digest_tz=command.digest_tz,
        digest_day=_first_claimed(command, now),
        version_warn=command.version_warn,
    )
    detail = (  # in the duration grammar, as the command takes them
        f"after {format_duration(command.after)}, offline after"
        f" {format_duration(command.offline_after)}, in {caller.channel_id}"
    )
    if command.version_warn != VERSION_WARN:
        detail += f", version warn {format_duration(command.version_warn)}"
    if command.mentions:
        detail += (
            f", mention {' '.join(command.mentions)} after {format_duration(command.mention_after)}"
        )
    if command.digest_at:
        detail += f", digest at {command.digest_at} {command.digest_tz}"
    async with await services.audit_first(caller, "watch", target, detail) as audited:
        try:  # only to word the confirmation
            before = await services.store.watches.get(entry.channel, entry.target)
        except StoreUnavailable:
            await audited.settle("failed", f"{detail}: the database did not answer")
            raise
        new = before is None
        confirmation = watch_view.watch_confirmation(entry, new=new)
        try:
            posted = await services.slack.chat_postMessage(
                channel=caller.channel_id,
                text=confirmation.text,
                blocks=[b.to_dict() for b in confirmation.blocks],
                unfurl_links=False,
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            await audited.settle("failed", f"{detail}: Slack refused the confirmation ({error})")
            if error in CANNOT_POST:
                return watch_view.cannot_post(caller.channel_id, error, caller.command_name)
            log.warning("could not post a watch confirmation: %s", error or type(exc).__name__)
            return watch_view.confirmation_refused(error)
        outcome = "watched" if new else "updated"
        try:
            await services.store.watches.put(entry)
        except StoreUnavailable:  # perhaps saved, its answer lost: read it back
            saved = await _read_back(services, entry)
            if saved is None:
                await audited.settle("unknown", f"{detail}: the database's answer was lost")
                reply = watch_view.save_unknown(entry.target)
                await _amend(services, caller.channel_id, posted.get("ts"), reply)
                return reply
            if not saved:
                await audited.settle("failed", f"{detail}: the database did not save it")
                reply = watch_view.save_failed(new=new)
                await _amend(services, caller.channel_id, posted.get("ts"), reply)
                return reply
            detail += " (read back after the database's answer was lost)"
        await audited.settle(outcome, detail)
    return watch_view.watch_done(entry, new=new)


def _first_claimed(command: WatchArgs, now: datetime) -> str | None:
    """The day a new digest counts as already sent: the latest whose time has passed,
    so the first digest is the next one (never one for a day before the watch)."""
    if command.digest_at is None:
        return None
    at, zone = digest.parse_hhmm(command.digest_at), digest.parse_zone(command.digest_tz)
    return digest.last_day(now, at, zone).isoformat()


async def _read_back(services: Services, entry: Watch) -> bool | None:
    """Whether ``entry`` is stored as asked; None when the database cannot say."""
    try:
        stored = await services.store.watches.get(entry.channel, entry.target)
    except StoreUnavailable:
        return None
    return stored is not None and (
        stored.after,
        stored.offline_after,
        stored.mentions,
        stored.mention_after,
        stored.digest_at,
        stored.digest_tz,
        stored.version_warn,
    ) == (
        entry.after,
        entry.offline_after,
        entry.mentions,
        entry.mention_after,
        entry.digest_at,
        entry.digest_tz,
        entry.version_warn,
    )


async def _amend(services: Services, channel: str, ts: object, reply: Reply) -> None:
    """Correct the channel's confirmation when the watch was not (surely) saved."""
    if not ts:
        return
    try:
        await services.slack.chat_update(
            channel=channel,
            ts=str(ts),
            text=reply.text,
            blocks=[b.to_dict() for b in reply.blocks],
        )
    except SlackApiError as exc:
        log.warning("could not correct a watch confirmation: %s", type(exc).__name__)


async def unwatch(inv: Invocation[TargetArgs]) -> Reply:
    """Audited first; the watch and its open alerts go in one transaction, and a removal
    whose answer was lost is read back: the reply says what is true."""
    services, caller, target = inv.services, inv.caller, inv.command.target
    channel = caller.channel_id
    try:
        existed = await services.store.watches.get(channel, str(target)) is not None
    except StoreUnavailable:  # nothing done, and nothing could be recorded
        raise errors.AuditUnavailable(target) from None
    if not existed:
        return watch_view.unwatched(str(target), channel, existed=False)
    detail = f"in {channel}"
    async with await services.audit_first(caller, "unwatch", target, detail) as audited:
        close_alerts = services.store.alerts.drop_watch_statement(channel, str(target))
        forget_health = services.store.health.forget_statement(channel, str(target))
        try:
            # Whatever the answer, no such watch is left once it returns (another
            # process's unwatch, or a first attempt whose answer was lost, may have
            # removed it: with its alerts, in the same transaction).
            await services.store.watches.remove(
                channel, str(target), also=[close_alerts, forget_health]
            )
            gone: bool | None = True
        except StoreUnavailable:
            try:
                gone = await services.store.watches.get(channel, str(target)) is None
            except StoreUnavailable:
                gone = None
        if gone is None:
            await audited.settle("unknown", f"{detail}: the database's answer was lost")
            return watch_view.unwatch_unknown(str(target), channel)
        if not gone:
            await audited.settle("failed", f"{detail}: the database did not remove it")
            return watch_view.unwatch_failed(str(target), channel)
        await audited.settle("unwatched", detail)
    return watch_view.unwatched(str(target), channel, existed=True)


async def watching(inv: Invocation[NoArgs]) -> Reply:
    """Only watches of targets the caller may read (``list`` of the others is refused);
    the rest are counted."""
    caller = inv.caller
    reader = await inv.services.access.reader(caller.user_id, caller.channel_id)
    every = await inv.services.store.watches.all()
    shown = [w for w in every if reader.may_read(w.target)]
    return watch_view.watching(shown, hidden=len(every) - len(shown))


router.add(
    Verb(
        "watch",
        "watch TARGET [--after DURATION] [--offline-after DURATION] [--mention WHO]..."
        " [--mention-after DURATION] [--version-warn DURATION] [--digest HH:MM [--tz ZONE]]",
        "alerts in this channel: jobs queued too long (default 5m), runners offline"
        " (default 10m); `--mention @someone` (a user or user group, repeatable) is told in"
        " the alert's thread when nobody acknowledged it after `--mention-after` (default"
        " 15m); runners on a version GitHub stops giving jobs within `--version-warn`"
        " (default 14d); `--digest HH:MM` posts a daily digest at that time in `--tz` (an"
        " IANA zone, default UTC); watching again changes these (admins)",
        "admin",
        parse_watch,
        watch,
        flags={
            "--after": True,
            "--offline-after": True,
            "--mention": True,
            "--mention-after": True,
            "--digest": True,
            "--tz": True,
            "--version-warn": True,
        },
    )
)
router.add(
    Verb(
        "unwatch",
        "unwatch TARGET",
        "stop this channel's alerts for a target (admins)",
        "admin",
        parse_target_only,
        unwatch,
        local=True,
    )
)
router.add(
    Verb(
        "watching",
        "watching",
        "the watches of targets you may read: channel, target, thresholds, digest, by whom",
        "read",
        parse_no_args,
        watching,
        positionals=0,
        local=True,
    )
)
