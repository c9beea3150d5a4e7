"""Why a job waits, in words with what to do; and the job lines the watch's alerts,
``queue`` and ``why`` share.

Every name that comes from GitHub or a user (runner, job, workflow, repository, label)
goes through :func:`bot.slack.blocks.escape` or :func:`bot.slack.blocks.code`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.durations import format_duration
from bot.slack.blocks import clip, code, escape, slack_date
from bot.store.jobs import JobRecord
from bot.watch.diagnosis import Diagnosis, Exclusion, IdleRunner, Reason

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


def names(names: Sequence[str], limit: int = MAX_NAMES) -> str:
    shown = ", ".join(f"*{escape(clip(n, 60))}*" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


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
                f" {names(group.runners)} in group *{escape(clip(group.group_name, 60))}*"
                f" may not take it ({_exclusions(group.exclusions)})."
            )
        if d.unverified_workflow_groups:
            groups = names(d.unverified_workflow_groups)
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
                f" holds {names(g.runners)}"
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
            offline = f", {plural(len(d.offline), 'more')} offline" if d.offline else ""
            return (
                f":hourglass_flowing_sand: All {plural(d.busy, 'runner')} that could take it"
                f" {'is' if d.busy == 1 else 'are'} busy{offline};"
                f" {plural(d.queued_same_labels, 'job')} queued for these labels. Wait, or add"
                " runners with these labels."
            )
        case Reason.IDLE_NOT_TAKING:
            idle = ", ".join(_idle(r) for r in d.idle[:MAX_NAMES])
            shown = d.idle[:MAX_NAMES]
            if shown and all(r.jobs_ended is not None for r in shown):
                return (
                    f":no_entry: Idle runners could take it but do not: {idle}. GitHub no"
                    " longer dispatches jobs to their runner version: upgrade them (a runner"
                    " updates itself unless started with `--disableupdate`)."
                )
            return (
                f":zzz: Idle runners could take it but do not: {idle}. The runner process may"
                " be unhealthy or out of date; GitHub stops sending jobs to runners not"
                " updated within 30 days of a release. Update it, or restart its service."
            )
    return escape(str(d.reason))


def _idle(runner: IdleRunner) -> str:
    """An idle runner named, with why its version may keep jobs from it."""
    name = f"*{escape(clip(runner.runner_name, 60))}*"
    version = escape(runner.version or "unknown")
    if runner.jobs_ended is not None:
        ended = f"{runner.jobs_ended.day} {runner.jobs_ended:%b %Y}"
        return f"{name} (version {version}: no longer receives jobs since {ended})"
    return name + (f" (version {version}, outdated)" if runner.outdated else "")


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


def job_line(
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


def hidden_note(count: int, what: str, where: str) -> str:
    """``…and 4 jobs in repositories you may not read``: rows left out by the policy."""
    noun = what if count == 1 else what + ("es" if what.endswith("ch") else "s")
    return f"…and {count} {noun} {where} you may not read."
