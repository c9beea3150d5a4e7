"""``watch``, ``unwatch`` and ``watching``: which channel gets alerts on which target, and
what the reply says when Slack or the database did not do what was asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.slack.blocks import Reply, context, escape, header, section, slack_date
from bot.slack.views.reasons import hidden_note
from bot.store.watches import Watch


def _what(watch: Watch) -> str:
    offline = f"runners offline longer than {format_duration(watch.offline_after)}"
    if watch.target.startswith("enterprise:"):
        return offline
    return f"jobs queued longer than {format_duration(watch.after)} and {offline}"


def mentions_text(watch: Watch) -> str:
    """Whom an unacknowledged alert mentions, and when; empty for none. The mentions were
    checked to be ``<@U…>`` or ``<!subteam^S…>`` when the watch was made."""
    if not watch.mentions:
        return ""
    return (
        f"mentions {' '.join(watch.mentions)} in the thread of an alert nobody acknowledged"
        f" after {format_duration(watch.mention_after)}"
    )


def digest_text(watch: Watch) -> str:
    """When the daily digest is posted; empty for none."""
    if watch.digest_at is None:
        return ""
    return f"a daily digest at {escape(watch.digest_at)} {escape(watch.digest_tz)}"


def watch_confirmation(watch: Watch, *, new: bool) -> Reply:
    verb = "now watches" if new else "now watches, with new thresholds,"
    text = (
        f":eyes: runnerops {verb} *{escape(watch.target)}* for this channel (asked by"
        f" <@{escape(watch.created_by)}>): {_what(watch)} are reported here."
    )
    if watch.digest_at is not None:
        text += f" It gets {digest_text(watch)}."
    return Reply(text=text, blocks=[section(text)], response_type="in_channel")


def watch_done(watch: Watch, *, new: bool) -> Reply:
    text = (
        f":eyes: {'Watching' if new else 'Still watching'} *{escape(watch.target)}* in"
        f" <#{escape(watch.channel)}>: {_what(watch)}. `unwatch {escape(watch.target)}` stops it."
    )
    if watch.mentions:
        text += f" It {mentions_text(watch)}."
    text += (
        " Runners on a version GitHub stops giving jobs within"
        f" {format_duration(watch.version_warn)} are reported too (`--version-warn`)."
    )
    if watch.digest_at is not None:
        text += f" It posts {digest_text(watch)}."
    return Reply(text=text, blocks=[section(text)])


def cannot_post(channel: str, error: str, command_name: str) -> Reply:
    text = (
        f":mailbox_closed: runnerops cannot post in <#{escape(channel)}> ({escape(error)}),"
        f" so nothing was set up. Invite it first: type `/invite @runnerops` in the channel,"
        f" then `{command_name} watch` again."
    )
    return Reply(text=text, blocks=[section(text)])


def unwatched(target: str, channel: str, *, existed: bool) -> Reply:
    if existed:
        text = f":see_no_evil: This channel no longer watches *{escape(target)}*."
    else:
        text = (
            f":grey_question: <#{escape(channel)}> does not watch *{escape(target)}*; nothing"
            " was changed. `watching` lists the watches you may read."
        )
    return Reply(text=text, blocks=[section(text)])


def watching(watches: Sequence[Watch], *, hidden: int = 0) -> Reply:
    """``hidden``: watches of targets the caller may not read, counted only."""
    note = hidden_note(hidden, "watch", "of targets") if hidden else ""
    if not watches:
        text = (
            "Nothing you may read is watched."
            if hidden
            else "Nothing is watched yet. In the channel that should get alerts: `watch TARGET`."
        )
        empty: list[Block] = [section(text)]
        if note:
            empty.append(context(note))
        return Reply(text=text, blocks=empty)
    lines = [
        f"• *{escape(w.target)}* in <#{escape(w.channel)}>: queued > {format_duration(w.after)},"
        f" offline > {format_duration(w.offline_after)}, version ends within"
        f" {format_duration(w.version_warn)} · since {slack_date(w.created_at)}"
        f" by <@{escape(w.created_by)}>"
        + (f" · {mentions_text(w)}" if w.mentions else "")
        + (f" · {digest_text(w)}" if w.digest_at is not None else "")
        for w in watches
    ]
    blocks: list[Block] = [header("Watches")]
    for start in range(0, len(lines), 20):
        blocks.append(section("\n".join(lines[start : start + 20])))
    blocks = blocks[:49]
    if note:
        blocks.append(context(note))
    return Reply(text=f"{len(watches)} watches", blocks=blocks)


def confirmation_refused(error: str) -> Reply:
    """Slack refused the channel's confirmation for a reason an invitation would not fix."""
    text = (
        f":warning: Slack refused the confirmation ({escape(error or 'no answer')});"
        " nothing was set up. Try again shortly."
    )
    return Reply(text=text, blocks=[section(text)])


def save_unknown(target: str) -> Reply:
    """The database's answer to saving the watch was lost, and reading it back failed."""
    text = (
        f":floppy_disk: runnerops could not tell whether the watch of"
        f" *{escape(target)}* was saved: the database did not answer."
        " `watching` shows it once the database is back; `unwatch` stops it."
    )
    return Reply(text=text, blocks=[section(text)])


def save_failed(*, new: bool) -> Reply:
    """Read back, the watch is not stored as asked."""
    text = (
        ":floppy_disk: The watch could not be saved; nothing is watched. Try again."
        if new
        else ":floppy_disk: The new thresholds could not be saved; the watch keeps"
        " its earlier ones. Try again."
    )
    return Reply(text=text, blocks=[section(text)])


def unwatch_unknown(target: str, channel: str) -> Reply:
    """The removal's answer was lost, and reading it back failed."""
    text = (
        f":floppy_disk: runnerops could not tell whether <#{escape(channel)}>"
        f" still watches *{escape(target)}*: the database did not answer."
        " `watching` shows it once the database is back."
    )
    return Reply(text=text, blocks=[section(text)])


def unwatch_failed(target: str, channel: str) -> Reply:
    """Read back, the watch is still there."""
    text = (
        f":floppy_disk: runnerops' database did not answer; <#{escape(channel)}>"
        f" still watches *{escape(target)}*. Try again shortly."
    )
    return Reply(text=text, blocks=[section(text)])
