"""``prune``: delete many dead runners at once, safely.

First a dry run (what would go, and why each qualifies), kept as a plan for its danger
button; on a confirmed click each runner is checked again and deleted unless it came
back or is busy. Deletes run a few at a time; a rate limit pauses the work (and says so)
rather than failing the rest; a click on two processes, or twice, prunes once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot import errors
from bot.durations import format_duration
from bot.fleet.prune import Reporter, Skip, Tally, recheck, select, still_due
from bot.github.models import Runner
from bot.routing import Click, Invocation, Router
from bot.slack.blocks import Reply, replacement
from bot.slack.views import errors as errors_view
from bot.slack.views import prune as view
from bot.store.database import StoreUnavailable
from bot.store.once import Heartbeat
from bot.store.plans import PrunePlan
from bot.targets import Target, TargetError, parse_target
from bot.watch.models import RunnerInfo

if TYPE_CHECKING:
    from bot.services import Services

router = Router()
T = TypeVar("T")

# Deletes at once. GitHub asks for mutations to be made one after another and counts them
# five points each against 900 a minute per endpoint: four keep a prune well inside that
# while taking hundreds of runners in a fraction of the serial time; a secondary limit
# that still strikes is waited out like any rate limit.
CONCURRENCY = 4
MAX_PAUSE = 900.0  # a rate-limit wait longer than this ends the round (run prune again later)
NAMED = 10  # deleted runners named in the audit channel's summary line


def _criteria(offline_for: str, labels: tuple[str, ...], name: str | None) -> str:
    words = [f"offline for {offline_for} or more"]
    if labels:
        words.append("labels " + ", ".join(labels))
    if name:
        words.append(f"name containing {name}")
    return "; ".join(words)


@router.verb("prune")
async def dry_run(inv: Invocation) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, offline_for = command.target, command.offline_for
    assert target is not None and offline_for is not None
    listing = await services.runners.list_runners(target)
    # Recorded as the watch records it: a runner never seen before counts from now.
    seen = await services.store.fleet.observe(
        str(target),
        [RunnerInfo.from_runner(r) for r in listing.runners],
        complete=listing.complete,
    )
    now = datetime.fromtimestamp(services.clock(), UTC)
    selection = select(
        listing.runners,
        seen,
        now=now,
        offline_for=offline_for,
        labels=command.labels,
        name=command.name,
    )
    criteria = _criteria(format_duration(offline_for), command.labels, command.name)
    plan_id = ""
    if selection.candidates:
        plan = await services.store.plans.create(
            str(target),
            [(c.runner.id, c.runner.name) for c in selection.candidates],
            criteria,
            caller.user_id,
            offline_for=offline_for,
        )
        plan_id = plan.id
    n = len(selection.candidates)
    await services.audit(caller, "prune", target, "planned", f"{n} runners ({criteria})")
    return view.plan(
        target, selection, plan_id, criteria=criteria, now=now, incomplete=not listing.complete
    )


def _encode(tally: Tally, by: str, not_attempted: int) -> dict[str, Any]:
    return {
        "total": tally.total,
        "deleted": tally.deleted,
        "skipped": tally.skipped,
        "failed": tally.failed,
        "by": by,
        "not_attempted": not_attempted,
    }


@router.action(view.PRUNE_ACTION)
async def prune_clicked(click: Click) -> Reply:
    services, caller = click.services, click.caller
    try:
        plan = await services.store.plans.get(click.value[:64])
    except StoreUnavailable:  # the change cannot be recorded either: it is not made
        return errors_view.audit_unavailable_reply()
    if plan is None:
        return replacement(
            ":hourglass: This dry run has expired (plans last a day) or is unknown;"
            " run `prune` again. Nothing was deleted."
        )
    try:
        target = parse_target(plan.target)
    except TargetError:
        return replacement(":warning: That button is not valid; nothing was changed.")
    decision = await services.access.decide(
        "admin", user_id=caller.user_id, channel_id=caller.channel_id, target=target
    )
    if not decision.allowed:
        await services.audit(caller, "prune", target, "refused", decision.reason)
        return errors_view.refusal("admin", "prune", target, decision.reason)

    key = f"prune:{plan.id}"
    # A prune may run far longer than the claim's lease (hundreds of runners, rate-limit
    # pauses): it beats as it goes, so a second click is told to wait, not let in.
    heartbeat = services.store.once.heartbeat(key)

    async def work() -> dict[str, Any]:
        return await _prune(click, target, plan, heartbeat)

    try:
        ran = await services.store.once.run(
            key, work, keep=lambda _o: True, encode=dict, decode=dict
        )
    except StoreUnavailable:
        raise errors.AuditUnavailable(target) from None
    if ran is None:
        return view.already_pruning(target)
    outcome, _ = ran
    tally = Tally(
        total=int(outcome["total"]),
        deleted=list(outcome["deleted"]),
        skipped={k: list(v) for k, v in outcome["skipped"].items()},
        failed={k: list(v) for k, v in outcome["failed"].items()},
    )
    return view.summary(
        target, tally, str(outcome["by"]), not_attempted=int(outcome["not_attempted"])
    )


class _Pause:
    """One rate-limit pause shared by every worker: one waits and says so, the others
    queue behind it; a wait longer than MAX_PAUSE stops the round instead."""

    def __init__(
        self, click: Click, target: Target, tally: Tally, heartbeat: Heartbeat, reporter: Reporter
    ) -> None:
        self.click, self.target, self.tally = click, target, tally
        self.heartbeat, self.reporter = heartbeat, reporter
        self.lock = asyncio.Lock()
        self.stopped = False

    async def call(self, work: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                return await work()
            except errors.RateLimited as limited:
                if not await self._wait(limited.retry_at):
                    raise

    async def _wait(self, retry_at: float) -> bool:
        services = self.click.services
        async with self.lock:
            wait = retry_at - services.clock()
            if self.stopped or wait > MAX_PAUSE:
                self.stopped = True
                return False
            if wait > 0:
                self.tally.paused_until = retry_at
                # Within the updates' budget: past it the pause goes unannounced, so
                # that the summary is not the sixth post Slack refuses.
                if self.click.update is not None and self.reporter.spare(services.clock()):
                    await self.click.update(view.progress(self.target, self.tally))
                await self.heartbeat.sleep(wait, services.sleep)
                self.tally.paused_until = None
        return True


async def _prune(
    click: Click, target: Target, plan: PrunePlan, heartbeat: Heartbeat
) -> dict[str, Any]:
    services, caller = click.services, click.caller
    runners = services.runners
    planned = plan.runners
    tally = Tally(total=len(planned))
    reporter = Reporter(started=services.clock())
    pause = _Pause(click, target, tally, heartbeat, reporter)
    slots = asyncio.Semaphore(CONCURRENCY)
    not_attempted = 0

    def reason(exc: errors.RunnerOpsError) -> str:
        return errors_view.error_reason(exc, install_url=services.settings.install_url)

    async def current(rid: int) -> Runner | None:
        try:
            return await runners.get_runner(target, rid)
        except errors.RunnerNotFound:
            return None

    async def one(rid: int, name: str) -> None:
        nonlocal not_attempted
        async with slots:
            if pause.stopped:
                not_attempted += 1
                return
            try:
                skip = recheck(await pause.call(lambda: current(rid)))
            except errors.RateLimited:
                not_attempted += 1
                return
            except errors.RunnerOpsError as exc:
                tally.fail(name, f"check failed: {reason(exc)}")
                return
            if skip is None and plan.offline_for is not None:
                try:
                    skip = await _still_due(services, target, rid, plan)
                except StoreUnavailable:
                    tally.fail(name, "check failed: runnerops' database did not answer")
                    return
            if skip is not None:
                tally.skip(name, skip)
                return
            try:
                audited = await services.audit_first(  # the channel gets one summary
                    caller, "prune", target, f"{name} (id {rid})", publish=False
                )
            except errors.AuditUnavailable:
                tally.fail(name, "could not be audited, so not deleted")
                return
            async with audited:
                try:
                    result = await pause.call(lambda: runners.delete_runner(target, rid, name))
                except errors.RunnerNotFound:
                    await audited.settle("not-deleted", f"{name}: already gone")
                    tally.skip(name, Skip.GONE)
                except errors.RunnerBusy:
                    await audited.settle("not-deleted", f"{name}: busy")
                    tally.skip(name, Skip.BUSY)
                except errors.RateLimited:
                    await audited.settle("not-deleted", f"{name}: rate limited")
                    not_attempted += 1
                except errors.OutcomeUnknown as exc:
                    await audited.settle("unknown", f"{name}: {exc.detail}")
                    tally.fail(name, "GitHub did not confirm")
                except errors.RunnerOpsError as exc:
                    await audited.settle("failed", f"{name}: {reason(exc)}")
                    tally.fail(name, reason(exc))
                else:
                    checked = ", confirmed by a check" if result == "deleted-confirmed" else ""
                    await audited.settle("deleted", f"{name} (id {rid}){checked}")
                    tally.deleted.append(name)
        await heartbeat.beat()
        now = services.clock()
        if click.update is not None and reporter.due(tally, now):
            reporter.reported(now)
            await click.update(view.progress(target, tally))

    await asyncio.gather(*(one(rid, name) for rid, name in planned))
    await services.audit(caller, "prune", target, "pruned", _summary_detail(tally, not_attempted))
    return _encode(tally, caller.user_id, not_attempted)


async def _still_due(services: Services, target: Target, rid: int, plan: PrunePlan) -> Skip | None:
    """The dry run's rule by runnerops' records at this moment: a runner the watch saw
    online since (even if offline again now) is no longer due."""
    assert plan.offline_for is not None
    sighting = await services.store.fleet.sighting(str(target), rid)
    now = datetime.fromtimestamp(services.clock(), UTC)
    return still_due(sighting, now=now, offline_for=plan.offline_for, planned_at=plan.created_at)


def _summary_detail(tally: Tally, not_attempted: int) -> str:
    """The prune's one audit-channel line: counts first, then as many names as fit."""
    head = (
        f"{len(tally.deleted)} of {tally.total} runners deleted,"
        f" {sum(map(len, tally.skipped.values()))} skipped,"
        f" {sum(map(len, tally.failed.values()))} failed"
        + (f", {not_attempted} not attempted" if not_attempted else "")
    )
    if not tally.deleted:
        return head
    names = ", ".join(tally.deleted[:NAMED])
    more = f" and {len(tally.deleted) - NAMED} more" if len(tally.deleted) > NAMED else ""
    return f"{head}: {names}{more}"
