"""``queue`` and ``why``: which jobs wait now, and why one job waits.

Both diagnose with the same code as the sweep's alerts (bot/watch/diagnosis.py) from what
GitHub says at the time of asking, so a reply and an alert never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot import errors
from bot.commands import MAX_RUNNER_ID, UsageError, no_more, not_enterprise, take_target
from bot.dispatch import Args, Invocation, Router, TargetArgs, Verb, Words
from bot.github.jobs import JobService
from bot.policy.visibility import split_by_repository
from bot.slack.blocks import Reply
from bot.slack.views import queue as queue_view
from bot.store.database import StoreUnavailable
from bot.store.jobs import JobRecord
from bot.sweep.fleetview import FleetView
from bot.sweep.ingest import record_job
from bot.targets import Scope, Target, TargetError, parse_target

# A job's page: https://HOST/OWNER/REPO/actions/runs/RUN_ID/job/JOB_ID (Slack may wrap it
# in <...> or <...|label>); an ``/attempts/N`` part, a query or a fragment may follow.
_JOB_URL = re.compile(
    r"(https?)://([^/\s]+)/([^/\s]+)/([^/\s]+)/actions/runs/[0-9]{1,19}(?:/attempts/[0-9]+)?"
    r"/job/([0-9]{1,19})/?(?:[?#]\S*)?",
    re.ASCII,
)

router = Router()
MAX_SHOWN = 20  # rows in a reply: each is a section, and a message holds 50 blocks
MAX_CONFIRMED = 60  # GitHub job GETs one reply may spend passing over ghost rows


def parse_queue(w: Words) -> TargetArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    not_enterprise(target, w.verb)
    return TargetArgs(target=target)


async def queue(inv: Invocation[TargetArgs]) -> Reply:
    """Every open job of the target, counted, oldest first; the oldest confirmed with
    GitHub and shown. A job GitHub no longer knows (or that started) is passed over and
    the next one taken, so stale rows never hide a real job; the GETs are bounded."""
    services, target = inv.services, inv.command.target
    now = datetime.fromtimestamp(services.clock(), UTC)
    repository = str(target) if target.scope is Scope.REPO else None
    store = services.store.jobs
    # Every open job of the target, then only those of repositories the caller may read
    # (the rest are counted): open jobs are the queue now, a bounded set.
    records, hidden = await readable_jobs(inv, await store.open_jobs(target.owner, repository))
    total = len(records)
    records = records[:MAX_CONFIRMED]
    view = FleetView(services)
    shown: list[JobRecord] = []
    passed = 0  # rows looked at that are not queued any more
    looked = 0
    while len(shown) < MAX_SHOWN and looked < len(records):
        batch = records[looked : looked + MAX_SHOWN - len(shown)]
        looked += len(batch)
        # A missed delivery must not show as queued: ask GitHub, a batch at a time.
        for record, confirmed in zip(
            batch, await asyncio.gather(*(view.confirm(r) for r in batch)), strict=True
        ):
            if confirmed is None:  # GitHub no longer knows it: closed, as the sweep does
                with contextlib.suppress(StoreUnavailable):  # a read goes on regardless
                    await store.gone(record.job.id or 0)
            if confirmed is None or confirmed.job.status not in ("queued", "waiting"):
                passed += 1
            else:
                shown.append(confirmed)
    same = await store.queued_with_labels(
        target.owner, repository, {r.job.labels for r in shown if r.job.queued}
    )
    rows = []
    for record in shown:
        job = record.job
        count = same.get(job.labels, 0) if job.queued else 0
        rows.append((record, await view.diagnose(job, now=now, queued_same_labels=count)))
    left = max(total - passed, len(rows))
    return queue_view.queue_reply(
        str(target), rows, now=now, total=left, passed=passed, hidden=hidden
    )


async def readable_jobs(
    inv: Invocation[Any], records: list[JobRecord]
) -> tuple[list[JobRecord], int]:
    """The records of repositories the caller may read, and how many queued ones are left
    out: a grant on ``acme`` alone shows no job of an ``acme/*`` repository."""
    caller = inv.caller
    reader = await inv.services.access.reader(caller.user_id, caller.channel_id)
    shown, hidden = split_by_repository(reader, records, lambda r: r.job.repository)
    return shown, sum(1 for r in hidden if r.job.queued)


@dataclass(frozen=True, slots=True, kw_only=True)
class WhyArgs(Args):
    target: Target  # the job's repository
    job_id: int


def parse_why(w: Words) -> WhyArgs:
    repository, job_id = parse_job(w.verb, w.positionals, w.github_url)
    return WhyArgs(target=repository, job_id=job_id)


async def why(inv: Invocation[WhyArgs]) -> Reply:
    services, target, job_id = inv.services, inv.command.target, inv.command.job_id
    now = datetime.fromtimestamp(services.clock(), UTC)
    try:
        data = await JobService(services.github).fetch_job(target, job_id)
    except errors.NotFound:
        return queue_view.job_not_found(str(target), job_id)
    record = await record_job(services.store, data, repository={"full_name": str(target)})
    if record is None:
        raise errors.GitHubUnavailable(target, "an unreadable job")
    job = record.job
    same = (
        await services.store.jobs.queued_with_labels(target.owner, str(target), [job.labels])
    ).get(job.labels, 0)
    diagnosis = await FleetView(services).diagnose(job, now=now, queued_same_labels=same)
    return queue_view.why_reply(record, diagnosis, now=now)


router.add(
    Verb(
        "queue",
        "queue TARGET",
        "jobs queued now, oldest first, each with the reason it waits",
        "read",
        parse_queue,
        queue,
    )
)
router.add(
    Verb(
        "why",
        "why JOB_URL | why OWNER/REPO JOB_ID",
        "why one job waits, and what to do (its URL, or OWNER/REPO JOB_ID)",
        "read",
        parse_why,
        why,
        positionals=2,
    )
)


def web_host(url: str) -> str:
    """``HOST`` or ``HOST:PORT`` of a web URL as a person writes it: lower case, without
    userinfo and without the scheme's default port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return parts.netloc.lower()  # no valid port: compared as written, so never equal
    if parts.username is not None or parts.password is not None:
        return parts.netloc.lower()  # user@host is not the host
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


def parse_job(
    verb: str, positionals: list[str], github_url: str | None = None
) -> tuple[Target, int]:
    if not positionals:
        raise UsageError("which job? give its URL or `OWNER/REPO JOB_ID`", verb)
    if len(positionals) > 2:
        raise UsageError(f"unexpected `{' '.join(positionals[2:])}`", verb)
    if len(positionals) == 1:
        text = positionals[0].strip("<>").split("|", 1)[0]
        match = _JOB_URL.fullmatch(text)
        if match is None:
            raise UsageError(
                "that is not a job URL (…/OWNER/REPO/actions/runs/RUN_ID/job/JOB_ID);"
                " or give `OWNER/REPO JOB_ID`",
                verb,
            )
        scheme, netloc, owner, repo, job = match.groups()
        if github_url is not None:
            expected, given = web_host(github_url), web_host(f"{scheme}://{netloc}")
            if given != expected:
                raise UsageError(
                    f"that job URL is on `{given}`, but runnerops works with the GitHub at"
                    f" `{expected}`: give a job URL on `{expected}`, or `OWNER/REPO JOB_ID`",
                    verb,
                )
        where, number = f"{owner}/{repo}", job
    else:
        where, number = positionals
    try:
        target = parse_target(where, Scope.REPO if ":" not in where else None)
    except TargetError as exc:
        raise UsageError(str(exc), verb) from None
    if target.scope is not Scope.REPO:
        raise UsageError("a job belongs to a repository: `OWNER/REPO JOB_ID`", verb)
    if not (number.isascii() and number.isdigit() and 0 < int(number) <= MAX_RUNNER_ID):
        raise UsageError("a job id is a number, as at the end of the job's URL", verb)
    return target, int(number)
