"""``queue`` and ``why``: the jobs queued now with the reason each waits, and one job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block

from bot.slack.blocks import Reply, context, escape, header, section
from bot.slack.views.reasons import hidden_note, job_line, labels_text, plural, reason_text
from bot.store.jobs import JobRecord
from bot.watch.diagnosis import Diagnosis

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
    note: list[Block] = [context(hidden_note(hidden, "job", "in repositories"))] if hidden else []
    total = len(rows) if total is None else max(total, len(rows))
    if not rows and total:
        text = (
            f"None of the {passed} oldest jobs of *{escape(target)}* recorded as queued is"
            f" queued on GitHub now; {plural(total, 'newer one')} were not checked."
        )
        return Reply(text=text, blocks=[section(text), *note])
    if not rows:
        text = f"No job of *{escape(target)}* is queued now (as far as runnerops has heard)."
        if hidden:
            text = f"No job you may read in *{escape(target)}* is queued now."
        return Reply(text=text, blocks=[section(text), *note])
    counted = f"{plural(total, 'job')} queued"
    blocks: list[Block] = [
        header(f"Queued jobs of {target}"),
        context(f"{counted}, oldest first"),
    ]
    for record, diagnosis in rows[:QUEUE_ROWS]:
        job = record.job
        line = job_line(record, str(job.id), now) + f" · {labels_text(job.labels)}"
        why = reason_text(diagnosis) if diagnosis is not None else "_reason unknown_"
        blocks.append(section(f"{line}\n{why}"))
    shown = min(len(rows), QUEUE_ROWS)
    if total > shown:
        blocks.append(context(f"…and {total - shown} more, newer ones."))
    return Reply(text=f"{counted} in {target}", blocks=blocks + note)


def why_reply(record: JobRecord, diagnosis: Diagnosis, *, now: datetime) -> Reply:
    job = record.job
    head = job_line(record, str(job.id), now).removeprefix("• ")
    if job.status != "queued":
        head = head.rsplit(" · queued", 1)[0] + f" · {escape(job.status)}"
    text = f"{head}\nLabels: {labels_text(job.labels)}\n{reason_text(diagnosis)}"
    return Reply(text=f"Why job {job.id} waits", blocks=[section(text)])


def job_not_found(target: str, job_id: int) -> Reply:
    text = (
        f":mag: GitHub knows no job {job_id} in *{escape(target)}* (or"
        " runnerops may not see it). Check the URL or the id."
    )
    return Reply(text=text, blocks=[section(text)])
