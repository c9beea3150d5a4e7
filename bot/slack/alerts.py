"""Slack text for the watch: alerts (posted, updated, resolved in place), the reasons a
job waits in words with what to do, and the replies of ``watch``, ``watching``,
``queue``, ``why`` and ``stats``.

Every name that comes from GitHub or a user (runner, job, workflow, repository, label)
goes through :func:`bot.slack.render.escape` or :func:`bot.slack.render.code`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from slack_sdk.models.blocks import Block

from bot.durations import format_duration
from bot.slack.render import Reply, _context, _header, _section, clip, code, escape, slack_date
from bot.store.jobs import JobRecord
from bot.store.watches import Watch
from bot.watch.alerts import Alert, Departure, Member
from bot.watch.diagnosis import Diagnosis, Exclusion, Reason
from bot.watch.stats import QueueStats, RunnerUsage

MAX_JOBS_SHOWN = 10
# A link Slack shows as given: no space, no <, >, | that would end or re-target it.
_SAFE_URL = re.compile(r"https?://[^\s<>|]+")
MAX_NAMES = 5


def labels_text(labels: Sequence[str]) -> str:
    return " ".join(code(clip(label, 60)) for label in labels) or "_no labels_"


def wanted_labels(labels: Sequence[str]) -> str:
    """The labels that tell queues apart: ``self-hosted`` goes without saying when there
    are others ("12 jobs waiting for `gpu`")."""
    shown = [label for label in labels if label != "self-hosted"] or list(labels)
    return labels_text(shown)


def _names(names: Sequence[str], limit: int = MAX_NAMES) -> str:
    shown = ", ".join(f"*{escape(clip(n, 60))}*" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- reasons -------------------------------------------------------------------------


def reason_text(diagnosis: Diagnosis) -> str:
    """Why a job waits, and what to do, in a sentence or two; then, for the runner
    reasons, matching runners it may not use and groups whose workflow rule went
    unchecked."""
    text = _reason(diagnosis)
    d = diagnosis
    if not d.complete:
        text = (
            ":warning: GitHub's runner listing came back incomplete (a page failed), so this"
            f" may be wrong{'' if d.unsure else ' in its details'}: ask again in a minute. " + text
        )
    if d.reason in (Reason.ALL_OFFLINE, Reason.ALL_BUSY, Reason.IDLE_NOT_TAKING):
        for group in d.excluded_groups[:MAX_NAMES]:
            text += (
                f" {_names(group.runners)} in group *{escape(clip(group.group_name, 60))}*"
                f" may not take it ({_exclusions(group.exclusions)})."
            )
        if d.unverified_workflow_groups:
            groups = _names(d.unverified_workflow_groups)
            text += (
                f" Group {groups} admits only selected workflows, which runnerops could not"
                " check for this job."
            )
    return text


def _reason(diagnosis: Diagnosis) -> str:
    d = diagnosis
    match d.reason:
        case Reason.WAITING_APPROVAL:
            return (
                ":raised_hand: It waits for an approval (an environment protection rule), not"
                " for a runner. A required reviewer can approve it on the run's page."
            )
        case Reason.NOT_QUEUED:
            return ":white_check_mark: It is not waiting: a runner has it, or it has ended."
        case Reason.GITHUB_HOSTED:
            return (
                f":cloud: It asks for GitHub-hosted runners ({labels_text(d.labels)}): GitHub"
                " runs those, not your fleet."
            )
        case Reason.NO_MATCHING_LABELS:
            text = (
                f":label: No runner has every label it asks for: none carries"
                f" {labels_text(d.missing_labels or d.labels)}."
            )
            if d.closest:
                near = "; ".join(
                    f"*{escape(clip(m.runner_name, 60))}* lacks {labels_text(m.missing)}"
                    for m in d.closest
                )
                text += f" Closest: {near}."
            return text + " Add the labels to a runner, or fix the job's `runs-on`."
        case Reason.GROUP_NOT_ALLOWED:
            groups = "; ".join(
                f"group *{escape(clip(g.group_name, 60))}* ({_exclusions(g.exclusions)})"
                f" holds {_names(g.runners)}"
                for g in d.excluded_groups
            )
            return (
                f":no_entry: Every runner with these labels is in a runner group this"
                f" repository or workflow may not use: {groups}. Let it use the group"
                " (organization settings → Actions → Runner groups), or register a runner"
                " it may use."
            )
        case Reason.ALL_OFFLINE:
            runners = ", ".join(
                f"*{escape(clip(r.runner_name, 60))}*"
                + (
                    f" (offline {format_duration(r.offline_for)})"
                    if r.offline_for is not None
                    else " (never seen online)"
                )
                for r in d.offline[:MAX_NAMES]
            )
            more = len(d.offline) - MAX_NAMES
            return (
                f":red_circle: Every runner that could take it is offline: {runners}"
                f"{f' and {more} more' if more > 0 else ''}. Start the runner service on"
                " those machines (`./run.sh`, or `sudo ./svc.sh start`)."
            )
        case Reason.ALL_BUSY:
            offline = f", {_plural(len(d.offline), 'more')} offline" if d.offline else ""
            return (
                f":hourglass_flowing_sand: All {_plural(d.busy, 'runner')} that could take it"
                f" {'is' if d.busy == 1 else 'are'} busy{offline};"
                f" {_plural(d.queued_same_labels, 'job')} queued for these labels. Wait, or add"
                " runners with these labels."
            )
        case Reason.IDLE_NOT_TAKING:
            idle = ", ".join(
                f"*{escape(clip(r.runner_name, 60))}*"
                + (f" (version {escape(r.version or 'unknown')}, outdated)" if r.outdated else "")
                for r in d.idle[:MAX_NAMES]
            )
            return (
                f":zzz: Idle runners could take it but do not: {idle}. The runner process may"
                " be unhealthy or out of date; GitHub stops sending jobs to runners not"
                " updated within 30 days of a release. Update it, or restart its service."
            )
    return escape(str(d.reason))


def _exclusions(exclusions: Sequence[Exclusion]) -> str:
    return ", ".join(str(e) for e in exclusions) or "not allowed"


REASON_TITLES = {
    Reason.NO_MATCHING_LABELS: "no runner has the labels",
    Reason.GROUP_NOT_ALLOWED: "runner group not allowed",
    Reason.ALL_OFFLINE: "runners offline",
    Reason.ALL_BUSY: "runners busy",
    Reason.IDLE_NOT_TAKING: "idle runners not taking it",
    Reason.WAITING_APPROVAL: "waiting for approval",
    Reason.NOT_QUEUED: "not queued",
    Reason.GITHUB_HOSTED: "GitHub-hosted",
}


def _job_line(
    record: JobRecord | None, fallback: str, now: datetime, *, lasting: bool = False
) -> str:
    """One job. ``lasting``: for a message kept and updated only when its jobs change,
    the time it was queued (which Slack shows in each reader's zone) rather than an age
    that would go stale."""
    if record is None:
        return f"• {escape(clip(fallback, 100))}"
    job = record.job
    name = escape(clip(job.name or fallback, 80))
    url = job.html_url
    title = f"<{url}|{name}>" if url and _SAFE_URL.fullmatch(url) else name
    if job.created_at is None:
        age = "?"
    elif lasting:
        age = f"since {slack_date(job.created_at)}"
    else:
        age = format_duration(now - job.created_at)
    workflow = escape(clip(job.workflow_name or "?", 60))
    return f"• {title} · {escape(job.repository)} · {workflow} · queued {age}"


# -- alerts --------------------------------------------------------------------------


def stuck_alert(
    alert: Alert,
    diagnosis: Diagnosis | None,
    jobs: Mapping[int, JobRecord],
    *,
    now: datetime,
    departed: Sequence[Member] = (),
) -> Reply:
    """The open alert: how many jobs wait for which labels, why, and the jobs; and what
    became of the jobs ``departed`` since the message was last written."""
    count = len(alert.members)
    head = (
        f":rotating_light: *{_plural(count, 'job')} waiting for {wanted_labels(alert.labels)}*"
        f" in *{escape(alert.target)}*"
    )
    why = reason_text(diagnosis) if diagnosis is not None else escape(alert.reason)
    lines = [
        _job_line(jobs.get(m.id), m.name, now, lasting=True) for m in alert.members[:MAX_JOBS_SHOWN]
    ]
    if count > MAX_JOBS_SHOWN:
        lines.append(f"…and {count - MAX_JOBS_SHOWN} more")
    blocks: list[Block] = [_section(head), _section(why), _section("\n".join(lines))]
    if departed:
        fates = [f"• {_fate(jobs.get(m.id), m.name)}" for m in departed[:MAX_JOBS_SHOWN]]
        blocks.append(_section("*Since the last update*\n" + "\n".join(fates)))
    if diagnosis is not None and diagnosis.as_of is not None:
        blocks.append(
            _context(
                f"Runners as listed {format_duration(max(now - diagnosis.as_of, timedelta(0)))}"
                " ago (with busy runners kept from job events): the poll budget paces how"
                " often this account's runners are listed. Each job is checked with GitHub"
                " at least once per the watch's threshold."
            )
        )
    blocks.append(_context(f"Open since {slack_date(alert.opened_at)} · updated in place"))
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
    return Reply(text=text, blocks=[_section(head), _section(body)], response_type="in_channel")


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


def offline_alert(alert: Alert, *, now: datetime, resolved: bool = False) -> Reply:
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
        head = f":red_circle: *{_plural(count, 'runner')} of {escape(alert.target)} offline*"
        text = f"{count} runner{'s' if count != 1 else ''} of {alert.target} offline"
    blocks: list[Block] = [_section(head)]
    if lines:
        blocks.append(_section("\n".join(lines)))
    if count and not resolved:
        blocks.append(
            _context("Start the runner service on those machines, or delete runners retired.")
        )
    return Reply(text=text, blocks=blocks, response_type="in_channel")


def watch_problem(target: str, problem: str, *, since: datetime | None = None) -> Reply:
    """The one message that says a watch cannot be swept (updated in place while it
    lasts): what fails, since when, what to do."""
    when = f" since {slack_date(since)}" if since is not None else ""
    text = f":warning: runnerops cannot fully watch *{escape(target)}*{when}: {problem}"
    context = (
        "Alerts for this target may be late or missing until this is fixed; this message"
        " is updated when it changes and says when watching works again."
    )
    return Reply(text=text, blocks=[_section(text), _context(context)], response_type="in_channel")


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
        blocks=[_section(text), _context(f"What had failed: {was}")],
        response_type="in_channel",
    )


# -- watch, unwatch, watching -----------------------------------------------------------


def _what(watch: Watch) -> str:
    offline = f"runners offline longer than {format_duration(watch.offline_after)}"
    if watch.target.startswith("enterprise:"):
        return offline
    return f"jobs queued longer than {format_duration(watch.after)} and {offline}"


def watch_confirmation(watch: Watch, *, new: bool) -> Reply:
    verb = "now watches" if new else "now watches, with new thresholds,"
    text = (
        f":eyes: runnerops {verb} *{escape(watch.target)}* for this channel (asked by"
        f" <@{escape(watch.created_by)}>): {_what(watch)} are reported here."
    )
    return Reply(text=text, blocks=[_section(text)], response_type="in_channel")


def watch_done(watch: Watch, *, new: bool) -> Reply:
    text = (
        f":eyes: {'Watching' if new else 'Still watching'} *{escape(watch.target)}* in"
        f" <#{escape(watch.channel)}>: {_what(watch)}. `unwatch {escape(watch.target)}` stops it."
    )
    return Reply(text=text, blocks=[_section(text)])


def cannot_post(channel: str, error: str, command_name: str) -> Reply:
    text = (
        f":mailbox_closed: runnerops cannot post in <#{escape(channel)}> ({escape(error)}),"
        f" so nothing was set up. Invite it first: type `/invite @runnerops` in the channel,"
        f" then `{command_name} watch` again."
    )
    return Reply(text=text, blocks=[_section(text)])


def unwatched(target: str, channel: str, *, existed: bool) -> Reply:
    if existed:
        text = f":see_no_evil: This channel no longer watches *{escape(target)}*."
    else:
        text = (
            f":grey_question: <#{escape(channel)}> does not watch *{escape(target)}*; nothing"
            " was changed. `watching` lists the watches you may read."
        )
    return Reply(text=text, blocks=[_section(text)])


def hidden_note(count: int, what: str, where: str) -> str:
    """``…and 4 jobs in repositories you may not read``: rows left out by the policy."""
    noun = what if count == 1 else what + ("es" if what.endswith("ch") else "s")
    return f"…and {count} {noun} {where} you may not read."


def watching(watches: Sequence[Watch], *, hidden: int = 0) -> Reply:
    """``hidden``: watches of targets the caller may not read, counted only."""
    note = hidden_note(hidden, "watch", "of targets") if hidden else ""
    if not watches:
        text = (
            "Nothing you may read is watched."
            if hidden
            else "Nothing is watched yet. In the channel that should get alerts: `watch TARGET`."
        )
        empty: list[Block] = [_section(text)]
        if note:
            empty.append(_context(note))
        return Reply(text=text, blocks=empty)
    lines = [
        f"• *{escape(w.target)}* in <#{escape(w.channel)}>: queued > {format_duration(w.after)},"
        f" offline > {format_duration(w.offline_after)} · since {slack_date(w.created_at)}"
        f" by <@{escape(w.created_by)}>"
        for w in watches
    ]
    blocks: list[Block] = [_header("Watches")]
    for start in range(0, len(lines), 20):
        blocks.append(_section("\n".join(lines[start : start + 20])))
    blocks = blocks[:49]
    if note:
        blocks.append(_context(note))
    return Reply(text=f"{len(watches)} watches", blocks=blocks)


# -- queue, why, stats ------------------------------------------------------------------


QUEUE_ROWS = 20  # with the header and two notes, well within a message's 50 blocks


def queue_reply(
    target: str,
    rows: Sequence[tuple[JobRecord, Diagnosis | None]],
    *,
    now: datetime,
    hidden: int = 0,
    total: int | None = None,
    passed: int = 0,
) -> Reply:
    """The oldest queued jobs, ``total`` (default: the rows) counted in all; ``passed``
    rows were looked at and found no longer queued; ``hidden``: queued jobs of
    repositories the caller may not read, counted only."""
    note: list[Block] = [_context(hidden_note(hidden, "job", "in repositories"))] if hidden else []
    total = len(rows) if total is None else max(total, len(rows))
    if not rows and total:
        text = (
            f"None of the {passed} oldest jobs of *{escape(target)}* recorded as queued is"
            f" queued on GitHub now; {_plural(total, 'newer one')} were not checked."
        )
        return Reply(text=text, blocks=[_section(text), *note])
    if not rows:
        text = f"No job of *{escape(target)}* is queued now (as far as runnerops has heard)."
        if hidden:
            text = f"No job you may read in *{escape(target)}* is queued now."
        return Reply(text=text, blocks=[_section(text), *note])
    counted = f"{_plural(total, 'job')} queued"
    blocks: list[Block] = [
        _header(f"Queued jobs of {target}"),
        _context(f"{counted}, oldest first"),
    ]
    for record, diagnosis in rows[:QUEUE_ROWS]:
        job = record.job
        line = _job_line(record, str(job.id), now) + f" · {labels_text(job.labels)}"
        why = reason_text(diagnosis) if diagnosis is not None else "_reason unknown_"
        blocks.append(_section(f"{line}\n{why}"))
    shown = min(len(rows), QUEUE_ROWS)
    if total > shown:
        blocks.append(_context(f"…and {total - shown} more, newer ones."))
    return Reply(text=f"{counted} in {target}", blocks=blocks + note)


def why_reply(record: JobRecord, diagnosis: Diagnosis, *, now: datetime) -> Reply:
    job = record.job
    head = _job_line(record, str(job.id), now).removeprefix("• ")
    if job.status != "queued":
        head = head.rsplit(" · queued", 1)[0] + f" · {escape(job.status)}"
    text = f"{head}\nLabels: {labels_text(job.labels)}\n{reason_text(diagnosis)}"
    return Reply(text=f"Why job {job.id} waits", blocks=[_section(text)])


def stats_reply(
    target: str,
    since: timedelta,
    threshold: timedelta,
    queues: Mapping[tuple[str, ...], QueueStats],
    usage: Mapping[str, RunnerUsage],
) -> Reply:
    window = format_duration(since)
    blocks: list[Block] = [_header(f"{target}: the last {window}")]
    if not queues:
        blocks.append(_section("No jobs in this window (as far as runnerops has heard)."))
    lines = []
    for labels, q in queues.items():
        if q.count:
            times = (
                f"p50 {format_duration(q.p50 or timedelta(0))}, p95"
                f" {format_duration(q.p95 or timedelta(0))}, max"
                f" {format_duration(q.max or timedelta(0))}"
            )
        else:
            times = "none started"
        share = f"{round(q.share_over * 100)}% waited {format_duration(threshold)} or more"
        unstarted = f", {q.unstarted} not started" if q.unstarted else ""
        lines.append(
            f"• {labels_text(labels)}: {_plural(q.count, 'job')}{unstarted} · {times} · {share}"
        )
    for start in range(0, len(lines), 20):
        blocks.append(_section("\n".join(lines[start : start + 20])))
    if usage:
        runner_lines = [
            f"• *{escape(clip(u.runner, 60))}*: {_plural(u.jobs, 'job')},"
            f" busy {round(u.busy_share * 100)}%"
            for u in usage.values()
        ]
        blocks.append(_section("*Runners*\n" + "\n".join(runner_lines[:40])))
    return Reply(text=f"Stats of {target} over {window}", blocks=blocks[:50])
