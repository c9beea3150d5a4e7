"""``prune``: delete many dead runners at once, safely.

First a dry run (what would go, and why each qualifies), kept as a plan for its danger
button; on a confirmed click each runner is checked again and deleted unless it came
back or is busy. Deletes run a few at a time; a rate limit pauses the work (and says so)
rather than failing the rest; a click on two processes, or twice, prunes once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from bot import errors
from bot.commands import check_filters, duration_flag, no_more, take_target
from bot.dispatch import Args, Click, ClickRefused, Invocation, Router, Verb, Words
from bot.durations import format_duration
from bot.fleet.prune import Reporter, Skip, Tally, recheck, select, still_due
from bot.github.models import Runner
from bot.slack.blocks import Reply, replacement
from bot.slack.views import errors as errors_view
from bot.slack.views import prune as view
from bot.store.database import StoreUnavailable
from bot.store.once import Heartbeat
from bot.store.plans import PrunePlan
from bot.targets import Target, TargetError, parse_target
from bot.watch.models import RunnerInfo
from handlers.fix_prune import say_pruned

if TYPE_CHECKING:
    from bot.services import Services

DEFAULT_OFFLINE_FOR = timedelta(days=1)

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


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneArgs(Args):
    target: Target
    offline_for: timedelta = DEFAULT_OFFLINE_FOR
    labels: tuple[str, ...] = ()
    name: str | None = None


def parse_prune(w: Words) -> PruneArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    name = w.flags["--name"][-1] if "--name" in w.flags else None
    labels = tuple(w.flags.get("--label", ()))
    check_filters((*((name,) if name is not None else ()), *labels), "prune")
    offline_for = duration_flag(w.flags, "--offline-for", "prune") or DEFAULT_OFFLINE_FOR
    return PruneArgs(target=target, offline_for=offline_for, labels=labels, name=name)


async def dry_run(inv: Invocation[PruneArgs]) -> Reply:
    command, services, caller = inv.command, inv.services, inv.caller
    target, offline_for = command.target, command.offline_for
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


async def _plan(click: Click) -> tuple[PrunePlan, Target]:
    """The stored dry run a prune button names, and its target."""
    try:
        plan = await click.services.store.plans.get(click.value[:64])
    except StoreUnavailable:  # the change cannot be recorded either: it is not made
        raise ClickRefused(errors_view.audit_unavailable_reply()) from None
    if plan is None:
        raise ClickRefused(
            replacement(
                ":hourglass: This dry run has expired (plans last a day) or is unknown;"
                " run `prune` again. Nothing was deleted."
            )
        )
    try:
        return plan, parse_target(plan.target)
    except TargetError:
        raise ClickRefused(errors_view.button_invalid_reply()) from None


async def _plan_target(click: Click) -> Target:
    _, target = await _plan(click)
    return target


@router.button(view.PRUNE_ACTION, verb="prune", action="admin", target=_plan_target)
async def prune_clicked(click: Click) -> Reply:
    services = click.services
    plan, target = await _plan(click)  # read again: the route's check read it first

    key = f"prune:{plan.id}"
    # A prune may run far longer than the claim's lease (hundreds of runners, rate-limit
    # pauses): it beats as it goes, so a second click is told to wait, not let in.
    heartbeat = services.store.once.heartbeat(key)

    async def work() -> dict[str, Any]:
        return await _Round(click, target, plan, heartbeat).run()

    try:
        ran = await services.store.once.run(
            key, work, keep=lambda _o: True, encode=dict, decode=dict
        )
    except StoreUnavailable:
        raise errors.AuditUnavailable(target) from None
    if ran is None:
        return view.already_pruning(target)
    outcome, ran_here = ran
    tally = Tally(
        total=int(outcome["total"]),
        deleted=list(outcome["deleted"]),
        skipped={k: list(v) for k, v in outcome["skipped"].items()},
        failed={k: list(v) for k, v in outcome["failed"].items()},
    )
    if ran_here and plan.alert is not None and tally.deleted:  # from an alert's Prune these
        await say_pruned(click, plan.alert, len(tally.deleted))
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


class _Round:
    """One confirmed prune: each planned runner checked again, then deleted, a few at a
    time; the tally says what became of each."""

    def __init__(self, click: Click, target: Target, plan: PrunePlan, heartbeat: Heartbeat) -> None:
        self.click, self.target, self.plan, self.heartbeat = click, target, plan, heartbeat
        self.services = click.services
        self.tally = Tally(total=len(plan.runners))
        self.reporter = Reporter(started=self.services.clock())
        self.pause = _Pause(click, target, self.tally, heartbeat, self.reporter)
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.not_attempted = 0

    def reason(self, exc: errors.RunnerOpsError) -> str:
        return errors_view.error_reason(exc, install_url=self.services.settings.install_url)

    async def run(self) -> dict[str, Any]:
        await asyncio.gather(*(self.one(rid, name) for rid, name in self.plan.runners))
        caller, tally = self.click.caller, self.tally
        detail = _summary_detail(tally, self.not_attempted)
        await self.services.audit(caller, "prune", self.target, "pruned", detail)
        return _encode(tally, caller.user_id, self.not_attempted)

    async def one(self, rid: int, name: str) -> None:
        async with self.slots:
            if await self._due(rid, name):
                await self._delete(rid, name)
        await self.heartbeat.beat()
        now = self.services.clock()
        if self.click.update is not None and self.reporter.due(self.tally, now):
            self.reporter.reported(now)
            await self.click.update(view.progress(self.target, self.tally))

    async def _current(self, rid: int) -> Runner | None:
        try:
            return await self.services.runners.get_runner(self.target, rid)
        except errors.RunnerNotFound:
            return None

    async def _due(self, rid: int, name: str) -> bool:
        """Whether the runner is still to be deleted; if not, it is counted as skipped,
        failed or not attempted."""
        tally, plan = self.tally, self.plan
        if self.pause.stopped:
            self.not_attempted += 1
            return False
        try:
            skip = recheck(await self.pause.call(lambda: self._current(rid)))
        except errors.RateLimited:
            self.not_attempted += 1
            return False
        except errors.RunnerOpsError as exc:
            tally.fail(name, f"check failed: {self.reason(exc)}")
            return False
        if skip is None and plan.offline_for is not None:
            try:
                skip = await _still_due(self.services, self.target, rid, plan, plan.offline_for)
            except StoreUnavailable:
                tally.fail(name, "check failed: runnerops' database did not answer")
                return False
        if skip is not None:
            tally.skip(name, skip)
            return False
        return True

    async def _delete(self, rid: int, name: str) -> None:
        services, target, tally = self.services, self.target, self.tally
        try:
            audited = await services.audit_first(  # the channel gets one summary
                self.click.caller, "prune", target, f"{name} (id {rid})", publish=False
            )
        except errors.AuditUnavailable:
            tally.fail(name, "could not be audited, so not deleted")
            return
        async with audited:
            try:
                result = await self.pause.call(
                    lambda: services.runners.delete_runner(target, rid, name)
                )
            except errors.RunnerNotFound:
                await audited.settle("not-deleted", f"{name}: already gone")
                tally.skip(name, Skip.GONE)
            except errors.RunnerBusy:
                await audited.settle("not-deleted", f"{name}: busy")
                tally.skip(name, Skip.BUSY)
            except errors.RateLimited:
                await audited.settle("not-deleted", f"{name}: rate limited")
                self.not_attempted += 1
            except errors.OutcomeUnknown as exc:
                await audited.settle("unknown", f"{name}: {exc.detail}")
                tally.fail(name, "GitHub did not confirm")
            except errors.RunnerOpsError as exc:
                await audited.settle("failed", f"{name}: {self.reason(exc)}")
                tally.fail(name, self.reason(exc))
            else:
                checked = ", confirmed by a check" if result == "deleted-confirmed" else ""
                await audited.settle("deleted", f"{name} (id {rid}){checked}")
                tally.deleted.append(name)


async def _still_due(
    services: Services, target: Target, rid: int, plan: PrunePlan, offline_for: timedelta
) -> Skip | None:
    """The dry run's rule by runnerops' records at this moment: a runner the watch saw
    online since (even if offline again now) is no longer due."""
    sighting = await services.store.fleet.sighting(str(target), rid)
    now = datetime.fromtimestamp(services.clock(), UTC)
    return still_due(sighting, now=now, offline_for=offline_for, planned_at=plan.created_at)


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


router.add(
    Verb(
        "prune",
        "prune TARGET [--offline-for DURATION] [--label L]... [--name TEXT]",
        "a dry run of the dead runners to delete (offline 1d+ by default), then a"
        " button that deletes them, each checked again first (admins)",
        "admin",
        parse_prune,
        dry_run,
        flags={"--offline-for": True, "--label": True, "--name": True},
    )
)
