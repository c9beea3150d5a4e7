"""The watch's alerts in a channel: posted, updated and resolved in place; and the one
message that says a watch cannot be swept, and when it works again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
)

from bot.durations import format_duration
from bot.slack.blocks import Reply, clip, context, escape, section, slack_date, slack_time
from bot.slack.views.fix_groups import group_fixes, group_links
from bot.slack.views.fix_jit import jit_fix_buttons
from bot.slack.views.fix_labels import label_fix_buttons
from bot.slack.views.fix_prune import prune_fix_buttons
from bot.slack.views.fixes import (
    FixBuilder,
    alert_button_value,
    fixes_block,
)
from bot.slack.views.reasons import MAX_JOBS_SHOWN, job_line, plural, reason_text, wanted_labels
from bot.store.jobs import JobRecord
from bot.watch.alerts import Alert, AlertKind, Departure, Marks, Member
from bot.watch.diagnosis import Diagnosis

ACK_ACTION = "alert_ack"
SNOOZE_ACTION = "alert_snooze"
# The fix builders each alert kind offers (bot.slack.views.fixes), in the order shown.
STUCK_BUILDERS: tuple[FixBuilder, ...] = (label_fix_buttons, group_fixes, jit_fix_buttons)
OFFLINE_BUILDERS: tuple[FixBuilder, ...] = (prune_fix_buttons,)


def marks_text(marks: Marks, now: datetime) -> str:
    """'Acknowledged by @who at TIME', 'Snoozed by @who until TIME'; empty for neither."""
    said = []
    if marks.acknowledged_at is not None and marks.acknowledged_by:
        said.append(
            f":ballot_box_with_check: Acknowledged by <@{escape(marks.acknowledged_by)}>"
            f" at {slack_time(marks.acknowledged_at)}"
        )
    if marks.snoozed_until is not None and marks.snoozed(now) and marks.snoozed_by:
        said.append(
            f":zzz: Snoozed by <@{escape(marks.snoozed_by)}> until"
            f" {slack_time(marks.snoozed_until)}: no escalation until then"
        )
    if marks.fixed_at is not None and marks.fixed_by and marks.fix_note:
        said.append(
            f":wrench: Fixed by <@{escape(marks.fixed_by)}> at {slack_time(marks.fixed_at)}:"
            f" {escape(clip(marks.fix_note, 300))}"
        )
    return " · ".join(said)


MARKS_BLOCK = "alert_marks"
BUTTONS_BLOCK = "alert_buttons"


def marked_blocks(blocks: list[Block], alert: Alert, marks: Marks | None, now: datetime) -> None:
    """An open alert's marks, then its Acknowledge and Snooze 1h buttons."""
    said = marks_text(marks, now) if marks is not None else ""
    if said:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=said)], block_id=MARKS_BLOCK))
    value = alert_button_value(alert)
    buttons = []
    if marks is None or not marks.acknowledged:
        buttons.append(
            ButtonElement(text="Acknowledge", action_id=ACK_ACTION, value=value, style="primary")
        )
    buttons.append(ButtonElement(text="Snooze 1h", action_id=SNOOZE_ACTION, value=value))
    blocks.append(ActionsBlock(elements=buttons, block_id=BUTTONS_BLOCK))


def remarked(
    shown: Sequence[Mapping[str, object]], alert: Alert, marks: Marks, now: datetime
) -> list[dict[str, object]]:
    """The alert's message as Slack shows it (``shown``: its blocks), with its marks and
    buttons said anew: the rest (the diagnosis, the jobs) stays as the sweep wrote it."""
    kept = [dict(b) for b in shown if b.get("block_id") not in (MARKS_BLOCK, BUTTONS_BLOCK)]
    added: list[Block] = []
    marked_blocks(added, alert, marks, now)
    return kept + [b.to_dict() for b in added]


def stuck_alert(
    alert: Alert,
    diagnosis: Diagnosis | None,
    jobs: Mapping[int, JobRecord],
    *,
    now: datetime,
    departed: Sequence[Member] = (),
    marks: Marks | None = None,
    github_url: str | None = None,
) -> Reply:
    """The open alert: how many jobs wait for which labels, why, and the jobs; and what
    became of the jobs ``departed`` since the message was last written. ``github_url``:
    the configured GitHub's web address, for links to its settings pages."""
    count = len(alert.members)
    head = (
        f":rotating_light: *{plural(count, 'job')} waiting for {wanted_labels(alert.labels)}*"
        f" in *{escape(alert.target)}*"
    )
    why = reason_text(diagnosis) if diagnosis is not None else escape(alert.reason)
    lines = [
        job_line(jobs.get(m.id), m.name, now, lasting=True) for m in alert.members[:MAX_JOBS_SHOWN]
    ]
    if count > MAX_JOBS_SHOWN:
        lines.append(f"…and {count - MAX_JOBS_SHOWN} more")
    blocks: list[Block] = [section(head), section(why), section("\n".join(lines))]
    if departed:
        fates = [f"• {_fate(jobs.get(m.id), m.name)}" for m in departed[:MAX_JOBS_SHOWN]]
        blocks.append(section("*Since the last update*\n" + "\n".join(fates)))
    if diagnosis is not None and diagnosis.as_of is not None:
        blocks.append(
            context(
                f"Runners as listed {format_duration(max(now - diagnosis.as_of, timedelta(0)))}"
                " ago (with busy runners kept from job events): the poll budget paces how"
                " often this account's runners are listed. Each job is checked with GitHub"
                " at least once per the watch's threshold."
            )
        )
    if github_url and (links := group_links(alert, diagnosis, github_url)) is not None:
        blocks.append(links)
    blocks.append(context(f"Open since {slack_date(alert.opened_at)} · updated in place"))
    if alert.active:
        blocks.extend(fixes_block(alert, diagnosis, STUCK_BUILDERS))
    marked_blocks(blocks, alert, marks, now)
    # The fallback text notifies too: labels come from workflow files, so escaped (and cut:
    # a job may ask for a thousand labels).
    text = (
        f"{count} job{'s' if count != 1 else ''} waiting for"
        f" {escape(clip(', '.join(alert.labels), 300))}"
    )
    return Reply(text=text, blocks=blocks, response_type="in_channel")


def stuck_resolved(alert: Alert, jobs: Mapping[int, JobRecord]) -> Reply:
    """The alert is over: what became of each job it held."""
    fates = []
    for member in alert.members[:MAX_JOBS_SHOWN]:
        record = jobs.get(member.id)
        fates.append("• " + _fate(record, member.name))
    head = (
        f":white_check_mark: *Resolved*: jobs waiting for {wanted_labels(alert.labels)}"
        f" in *{escape(alert.target)}*"
    )
    body = "\n".join(fates) or "No job waits for this reason any more."
    text = f"Resolved: jobs waiting for {escape(', '.join(alert.labels))}"
    return Reply(text=text, blocks=[section(head), section(body)], response_type="in_channel")


def _fate(record: JobRecord | None, name: str) -> str:
    if record is None:
        return f"{escape(clip(name, 80))}: no longer waiting"
    job = record.job
    title = escape(clip(job.name or name, 80))
    if job.started_at is not None and job.created_at is not None:
        runner = escape(clip(job.runner_name or "a runner", 60))
        waited = format_duration(job.started_at - job.created_at)
        return f"{title}: picked up by *{runner}* after {waited}"
    if job.status == "completed":
        outcome = escape(record.conclusion or "ended")
        waited = (
            f" after {format_duration(job.completed_at - job.created_at)}"
            if job.completed_at and job.created_at
            else ""
        )
        return f"{title}: {outcome}{waited} without starting"
    if job.status == "gone":
        return f"{title}: gone from GitHub (deleted, or its repository no longer visible)"
    return f"{title}: no longer waiting for this reason"


def offline_alert(
    alert: Alert, *, now: datetime, resolved: bool = False, marks: Marks | None = None
) -> Reply:
    """Runners offline past the threshold, and those back or deleted since."""
    lines = [
        f"• *{escape(clip(m.name, 60))}* offline, last seen online {format_duration(now - m.since)}"
        " ago"
        for m in alert.members[:MAX_JOBS_SHOWN]
    ]
    if len(alert.members) > MAX_JOBS_SHOWN:
        lines.append(f"…and {len(alert.members) - MAX_JOBS_SHOWN} more")
    for left in alert.left[:MAX_JOBS_SHOWN]:
        name = escape(clip(left.name, 60))
        if left.how is Departure.BACK:
            lines.append(f"• *{name}* back after {format_duration(left.away)}")
        else:
            lines.append(f"• *{name}* was deleted")
    count = len(alert.members)
    if resolved or not count:
        head = f":large_green_circle: *Resolved*: runners of *{escape(alert.target)}* offline"
        text = f"Resolved: runners of {alert.target} offline"
    else:
        head = f":red_circle: *{plural(count, 'runner')} of {escape(alert.target)} offline*"
        text = f"{count} runner{'s' if count != 1 else ''} of {alert.target} offline"
    blocks: list[Block] = [section(head)]
    if lines:
        blocks.append(section("\n".join(lines)))
    if count and not resolved:
        blocks.append(
            context("Start the runner service on those machines, or delete runners retired.")
        )
        blocks.extend(fixes_block(alert, None, OFFLINE_BUILDERS))
        marked_blocks(blocks, alert, marks, now)
    return Reply(text=text, blocks=blocks, response_type="in_channel")


def watch_problem(target: str, problem: str, *, since: datetime | None = None) -> Reply:
    """The one message that says a watch cannot be swept (updated in place while it
    lasts): what fails, since when, what to do."""
    when = f" since {slack_date(since)}" if since is not None else ""
    text = f":warning: runnerops cannot fully watch *{escape(target)}*{when}: {problem}"
    note = (
        "Alerts for this target may be late or missing until this is fixed; this message"
        " is updated when it changes and says when watching works again."
    )
    return Reply(text=text, blocks=[section(text), context(note)], response_type="in_channel")


def watch_recovered(
    target: str, *, since: datetime, now: datetime, delayed: int, was: str
) -> Reply:
    """The same message once the watch sweeps again: for how long it could not, and how
    many alerts that delayed."""
    lasted = format_duration(max(now - since, timedelta(0)))
    if delayed:
        late = f"{delayed} alert{'s' if delayed != 1 else ''} {'was' if delayed == 1 else 'were'}"
        late += f" delayed by up to {lasted}."
    else:
        late = "no alert was delayed."
    text = (
        f":white_check_mark: runnerops is watching *{escape(target)}* again"
        f" (since {slack_date(now)}; it could not for {lasted}); {late}"
    )
    return Reply(
        text=text,
        blocks=[section(text), context(f"What had failed: {was}")],
        response_type="in_channel",
    )


def escalation(alert: Alert, mentions: Sequence[str], after: timedelta) -> Reply:
    """The one thread reply of an alert nobody acknowledged: the watch's ``--mention``
    targets (checked to be ``<@U…>`` or ``<!subteam^S…>``) and the alert's summary."""
    count = len(alert.members)
    if alert.kind is AlertKind.OFFLINE:
        what = f"{plural(count, 'runner')} of *{escape(alert.target)}* offline"
    elif alert.kind is AlertKind.VERSION:
        version = escape(alert.labels[0] if alert.labels else "?")
        what = (
            f"{plural(count, 'runner')} of *{escape(alert.target)}* on `{version}`, a version"
            " GitHub stops giving jobs"
        )
    else:
        what = (
            f"{plural(count, 'job')} waiting for {wanted_labels(alert.labels)}"
            f" in *{escape(alert.target)}*"
        )
    waited = f"after {format_duration(after)}"
    if alert.kind is AlertKind.VERSION:  # it escalates only when its date is near
        waited = "and its date is a day away or past"
    text = f"{' '.join(mentions)} :rotating_light: nobody acknowledged this alert {waited}: {what}."
    return Reply(text=text, blocks=[section(text)], response_type="in_channel")


def alert_message(alert: Alert, marks: Marks, now: datetime) -> Reply:
    """An open alert drawn again from what is stored (no diagnosis, no job records): for
    a click whose message Slack did not send along."""
    if alert.kind is AlertKind.OFFLINE:
        return offline_alert(alert, now=now, marks=marks)
    return stuck_alert(alert, None, {}, now=now, marks=marks)


def alert_gone_reply() -> Reply:
    """For any button of an alert that is over: Acknowledge, Snooze, every fix."""
    text = (
        ":white_check_mark: This alert is over (resolved, or its watch removed): nothing was done."
    )
    return Reply(text=text, blocks=[section(text)])


def already_acknowledged(marks: Marks) -> Reply:
    who = f"<@{escape(marks.acknowledged_by)}>" if marks.acknowledged_by else "someone"
    when = f" at {slack_time(marks.acknowledged_at)}" if marks.acknowledged_at else ""
    text = f":ballot_box_with_check: {who} acknowledged this alert already{when}."
    return Reply(text=text, blocks=[section(text)])


def marked_reply(verb: str, marks: Marks, now: datetime) -> Reply:
    """Privately, to the clicker: what the click did."""
    if verb == "acknowledge":
        text = (
            ":ballot_box_with_check: You acknowledged this alert: it will not mention anyone;"
            " the channel's message says so."
        )
    else:
        until = slack_time(marks.snoozed_until) if marks.snoozed_until else "an hour from now"
        text = (
            f":zzz: You snoozed this alert until {until}: no escalation and not among the"
            " Home tab's open alerts until then."
        )
    return Reply(text=text, blocks=[section(text)])
