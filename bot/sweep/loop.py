"""The sweep: every ``RUNNEROPS_SWEEP_SECONDS``, turn stored jobs and GitHub's runner lists
into Slack alerts. I/O at the edges; every decision is bot/watch's pure code.

One round (:meth:`Sweeper.run_once`), run by one process at a time (the leader: a lease
row renewed before and after each round, running out ``LEASE_PERIODS`` periods after the
last renewal, so a vanished leader is replaced within two periods on either engine):

1. For each watch, list the target's runners and record when each was last online;
   :func:`plan_offline` decides the offline-runner alerts, and
   :func:`bot.watch.versions.plan_versions` the version alerts (from each version's
   dates as stored, asked of GitHub once a day: bot/sweep/versions.py).
2. For each watch of an organization or repository, take its jobs queued longer than
   ``--after``, confirm each with ``GET /repos/{o}/{r}/actions/jobs/{id}`` (GitHub does not
   redeliver a failed delivery), :func:`diagnose` it, and :func:`plan_stuck` groups them
   into one alert per reason and label set.
3. :func:`pace` spaces the messages per channel; posts, updates and resolutions go out
   (``chat.postMessage``, ``chat.update`` on the same channel and ts: bot/sweep/messages.py).
   A new alert is claimed in the store before it is posted, so two processes never post it
   twice.

A watch whose facts could not be gathered this round (GitHub down, a permission missing)
keeps its alerts as they are: silence is never taken for "resolved". A missing permission
or installation is said once a day in the watch's channel, not only in the log
(bot/sweep/health.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import errors
from bot.github.transport import charging
from bot.store.database import StoreUnavailable
from bot.store.health import WatchId
from bot.store.jobs import QUEUE_LIMIT, JobRecord
from bot.store.leases import Leader
from bot.store.watches import Watch
from bot.sweep.digest import Digests
from bot.sweep.failures import (
    AlertId,
    Failure,
    Round,
    alert_id,
    database_failure,
    failed_alone,
    internal_failure,
    still_there,
    watch_id,
)
from bot.sweep.fleetview import FleetMemo, FleetView, StaleMiss
from bot.sweep.health import WatchHealth
from bot.sweep.messages import AlertMessages
from bot.sweep.versions import VersionAlerts
from bot.targets import Scope, Target, TargetError, parse_target
from bot.watch.alerts import (
    ActionKind,
    Alert,
    AlertAction,
    AlertKind,
    AlertPlan,
    StuckJob,
    apply_done,
    is_stuck,
    pace,
    plan_offline,
    plan_stuck,
    stuck_alert_key,
)
from bot.watch.budget import PollBudget
from bot.watch.diagnosis import Diagnosis, Reason

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

QUIET = {Reason.WAITING_APPROVAL, Reason.NOT_QUEUED, Reason.GITHUB_HOSTED}
LEASE_PERIODS = 1.5  # more than one period (a live leader keeps it), less than two
OFFLINE_WINDOW = timedelta(minutes=5)  # runners going offline within it share one message
# A watch that cannot be swept is said in its channel once it has failed this long (or
# three periods, whichever is longer): a GitHub hiccup of one round is not news.
NOTICE_AFTER = timedelta(minutes=5)
# A listing older than this no longer stands in for the fleet (the budget's window).
MEMO_KEPT = timedelta(hours=1)
NOTICE_PERIODS = 3

Plans = list[tuple[AlertKind, AlertPlan]]


def _belongs(alert: Alert, watch: Watch, kind: AlertKind) -> bool:
    return (
        alert.kind == kind
        and alert.channel == watch.channel
        and alert.target.lower() == watch.target_key
    )


def _mine(alerts: dict[AlertId, Alert], watch: Watch, kind: AlertKind) -> list[Alert]:
    return [a for a in alerts.values() if _belongs(a, watch, kind)]


@dataclass
class _Plan:
    """What one round has planned so far, across its watches."""

    before: dict[AlertId, Alert]  # the open alerts as the round found them
    current: dict[AlertId, Alert]  # as they will be once the round is done
    planned: set[AlertId] = field(default_factory=set)
    diagnoses: dict[AlertId, Diagnosis] = field(default_factory=dict)
    actions: list[AlertAction] = field(default_factory=list)
    # Each watch's outcome for its health: a Failure, None when swept, absent when
    # neither (paced out with a listing still fresh enough).
    outcomes: dict[WatchId, Failure | None] = field(default_factory=dict)
    new_alerts: Counter[WatchId] = field(default_factory=Counter)  # for "N alerts delayed"

    def take(self, watch: Watch, plans: Plans) -> None:
        """A watch's plans replace its alerts of the same kinds."""
        for kind, plan in plans:
            for key, alert in self.before.items():
                if _belongs(alert, watch, kind):
                    self.planned.add(key)
                    self.current.pop(key, None)
            for alert in plan.alerts:
                self.current[alert_id(alert)] = alert
                self.planned.add(alert_id(alert))
            self.actions += plan.actions
            self.new_alerts[watch_id(watch)] += sum(a.kind is ActionKind.POST for a in plan.actions)


class Sweeper:
    def __init__(self, services: Services, *, holder: str | None = None) -> None:
        self.services = services
        self.clock = services.clock
        every = self.period = max(services.settings.sweep_seconds, 1.0)
        self.leader = Leader(
            services.store.db,
            "sweep",
            holder or uuid.uuid4().hex,
            ttl=timedelta(seconds=LEASE_PERIODS * every),
            clock=self.clock,
        )
        self.budget = PollBudget(
            services.settings.poll_budget, self.clock, services.github.rate_limit_seen
        )
        self.last_post_at: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self.metrics = services.metrics
        notice_after = max(NOTICE_AFTER, timedelta(seconds=NOTICE_PERIODS * every))
        self.health = WatchHealth(services, notice_after=notice_after)
        self.messages = AlertMessages(services)
        self.digests = Digests(services)
        self.versions = VersionAlerts(services)
        self.watches: list[Watch] = []
        # The last listings, for the rounds the poll budget paces an account out of.
        self.memo = FleetMemo()
        self.stale_fallback = True  # the benchmark turns it off for its baseline

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def run_forever(self, every: float) -> None:
        """The background task: a round every ``every`` seconds, never raising."""
        while True:
            await asyncio.sleep(every)
            try:
                done = await self.run_once()
                if done is not None and (done.posted or done.updated or done.resolved):
                    log.info(
                        "sweep: %d posted, %d updated, %d resolved",
                        done.posted,
                        done.updated,
                        done.resolved,
                    )
            except StoreUnavailable:
                pass  # logged by the store; the next round tries again
            except Exception:
                log.exception("a sweep round failed")

    async def close(self) -> None:
        await self.leader.release()

    async def run_once(self) -> Round:
        async with self._lock:  # the background task and a test never overlap
            was_leader = self.leader.held
            if not await self.leader.acquire():
                if self.leader.error is not None and was_leader:
                    await self._round_failed(database_failure(self.leader.error))
                elif self.leader.error is None and self.health.known:
                    await self.health.hand_over()
                return Round(leader=False)
            started = time.perf_counter()
            try:
                done = await self._round(continuing=was_leader)
            except StoreUnavailable as exc:
                # The database is away for the whole round: every watch this process
                # swept fails alike, and is said once the failure has lasted (the
                # notice's ts is kept in memory until the database is back).
                await self._round_failed(database_failure(exc.reason or exc.what))
                raise
            except Exception as exc:  # a bug no watch could isolate: still said and counted
                log.exception("a sweep round failed")
                await self._round_failed(internal_failure(exc))
                raise
            finally:
                self.metrics.sweep_round_seconds.observe(time.perf_counter() - started)
            await self.leader.acquire()  # renewed: the next round is a period away
            return done

    async def _round_failed(self, failure: Failure) -> None:
        await self.health.round_failed(self.watches, failure, self._now())

    # -- one round -----------------------------------------------------------------

    async def _round(self, *, continuing: bool = False) -> Round:
        """``continuing``: this process led the last round too, so what it holds in
        memory of the watches' health is the latest (the database may have missed it)."""
        store = self.services.store
        now = self._now()
        done = Round()
        self.budget.new_round()
        watches = self.watches = await store.watches.all()
        await self.health.load(continuing=continuing)
        before = {alert_id(a): a for a in await store.alerts.open_alerts()}
        plan = _Plan(before=before, current=dict(before))
        self.memo.expire(now - MEMO_KEPT)
        view = FleetView(self.services, budget=self.budget, memo=self.memo, now=now)
        stale = FleetView(self.services, budget=self.budget, memo=self.memo, stale=True, now=now)
        self.health.forget_unwatched(watches)
        for watch in watches:
            await self._sweep_watch(watch, view, stale, plan, done, now)
        resolved = await self._send_all(plan, done, now)
        await self._save_all(plan, resolved, done)
        await self._escalate_all(plan, watches, done, now)
        for watch in watches:
            wid = watch_id(watch)
            if wid not in plan.outcomes:
                continue  # paced, from a listing fresh enough: neither news nor success
            try:
                await self.health.record(watch, plan.outcomes[wid], now, plan.new_alerts[wid])
            except Exception as exc:
                failed_alone(self.metrics, done, watch.target, "health", wid, exc)
        await self.digests.run(watches, self.memo, now, done)  # after the alerts, never before
        return done

    async def _sweep_watch(
        self,
        watch: Watch,
        view: FleetView,
        stale: FleetView,
        plan: _Plan,
        done: Round,
        now: datetime,
    ) -> None:
        """Plan one watch's alerts; a watch that fails is left as it was this round."""
        try:
            target = parse_target(watch.target)
        except TargetError:
            return
        wid = watch_id(watch)
        slowed = self._slowed(target)
        kept = self.memo.age(target, now) if self.stale_fallback else None
        if slowed and kept is None:
            done.skipped.append(watch.target)
            plan.outcomes[wid] = self.health.paced_failure(watch, None)
            return
        unknown: set[int] = set()  # stuck jobs not known this round: kept as they were
        try:
            if slowed:  # no fresh listing this round: stuck jobs from the last one
                done.paced.append(watch.target)
                offline = versions = None
                stuck = await self._stuck(watch, target, stale, now, plan.diagnoses, done, unknown)
                if kept is not None and kept >= self.health.notice_after:
                    plan.outcomes[wid] = self.health.paced_failure(watch, kept)
            else:
                offline = await self._offline(watch, target, view, plan.before, now)
                versions = await self._versions(watch, target, view, plan.before, now)
                stuck = await self._stuck(watch, target, view, now, plan.diagnoses, done, unknown)
                plan.outcomes[wid] = None
            plans: Plans = []
            if offline is not None:
                plans.append((AlertKind.OFFLINE, offline))
            if versions is not None:
                plans.append((AlertKind.VERSION, versions))
            if stuck is not None:
                done.stuck += len(stuck)
                mine = _mine(plan.before, watch, AlertKind.STUCK)
                stuck += still_there(mine, unknown)
                plans.append((AlertKind.STUCK, plan_stuck(mine, stuck, now=now)))
        except Exception as exc:  # this watch alone is left as it was this round
            plan.outcomes[wid] = self.health.failure(watch, exc)
            done.skipped.append(watch.target)
            return
        plan.take(watch, plans)

    async def _send_all(self, plan: _Plan, done: Round, now: datetime) -> list[Alert]:
        """Send what pacing lets out now; the alerts resolved."""
        paced = pace(plan.actions, self.last_post_at, now=now)
        self.last_post_at = dict(paced.last_post_at)
        done.deferred = len(paced.later)
        resolved: list[Alert] = []
        for action in paced.send_now:
            await self._send_one(action, plan, done, resolved, now)
        return resolved

    async def _send_one(
        self, action: AlertAction, plan: _Plan, done: Round, resolved: list[Alert], now: datetime
    ) -> None:
        """One alert message; it alone waits for the next round when it fails."""
        key = alert_id(action.alert)
        if key not in plan.current:
            return
        before = plan.before.get(key)
        try:
            outcome = await self.messages.send(action, before, plan.diagnoses.get(key), now)
            if outcome is None:
                return
            after = apply_done([plan.current[key]], action, message_ts=outcome or None)
            if after:
                plan.current[key] = after[0]
                if action.kind is ActionKind.POST:
                    await self.services.store.alerts.posted(after[0])
            else:
                resolved.append(plan.current.pop(key))
        except Exception as exc:  # this alert alone waits for the next round
            failed_alone(self.metrics, done, action.alert.target, "alert", action.alert.key, exc)
            return
        if action.kind is ActionKind.POST:
            done.posted += 1
        elif action.kind is ActionKind.UPDATE:
            done.updated += 1
        else:
            done.resolved += 1
        try:
            await self.messages.told(action, before, now)
        except Exception as exc:
            failed_alone(self.metrics, done, action.alert.target, "alert", action.alert.key, exc)

    async def _save_all(self, plan: _Plan, resolved: list[Alert], done: Round) -> None:
        """Store the round's alerts: each alone, so one failing waits for the next round."""
        store = self.services.store
        for key in plan.planned:
            try:
                if key in plan.current:
                    await store.alerts.save(plan.current[key])
                elif key in plan.before and all(alert_id(a) != key for a in resolved):
                    await store.alerts.drop(plan.before[key])  # never posted, nothing to say
            except Exception as exc:
                alert = plan.current.get(key) or plan.before[key]
                failed_alone(self.metrics, done, alert.target, "alert", alert.key, exc)
        for alert in resolved:
            try:
                await store.alerts.resolve(alert)
            except Exception as exc:
                failed_alone(self.metrics, done, alert.target, "alert", alert.key, exc)

    async def _escalate_all(
        self, plan: _Plan, watches: list[Watch], done: Round, now: datetime
    ) -> None:
        """Each open alert nobody acknowledged past its watch's ``--mention-after`` gets
        its one thread reply; one that fails fails alone (logged, counted)."""
        by_id = {(w.channel, w.target_key): w for w in watches if w.mentions}
        for alert in plan.current.values():
            watch = by_id.get((alert.channel, alert.target.lower()))
            if watch is None:
                continue
            try:
                if await self.messages.escalate(alert, watch, now):
                    done.escalated += 1
            except Exception as exc:
                failed_alone(self.metrics, done, alert.target, "escalation", alert.key, exc)

    def _slowed(self, target: Target) -> bool:
        """Whether the poll budget leaves ``target``'s account out of this round (paced
        through the hour: :func:`bot.watch.budget.admit`)."""
        return not self.budget.admit(target.owner)

    async def _offline(
        self,
        watch: Watch,
        target: Target,
        view: FleetView,
        before: dict[AlertId, Alert],
        now: datetime,
    ) -> AlertPlan | None:
        """Record the target's runners; plan its offline alerts (None: listing partial)."""
        listed = await view.scope_runners(target)
        seen = await self.services.store.fleet.observe(
            watch.target, listed.runners, complete=listed.complete
        )
        if not listed.complete:
            return None
        return plan_offline(
            _mine(before, watch, AlertKind.OFFLINE),
            target=watch.target,
            channel=watch.channel,
            runners=listed.runners,
            last_seen_online={rid: s.last_seen_online for rid, s in seen.items()},
            now=now,
            after=watch.offline_after,
            window=OFFLINE_WINDOW,
        )

    async def _versions(
        self,
        watch: Watch,
        target: Target,
        view: FleetView,
        before: dict[AlertId, Alert],
        now: datetime,
    ) -> AlertPlan | None:
        """Plan the target's version alerts (None: listing partial). The listing is the
        one :meth:`_offline` made; the dates are stored ones, asked once a day."""
        listed = await view.scope_runners(target)
        if not listed.complete:
            return None
        mine = _mine(before, watch, AlertKind.VERSION)
        # A version's dates asked of GitHub (once a day) are charged like the listings.
        with charging(functools.partial(self.budget.answered, target.owner.lower())):
            return await self.versions.plan(watch, target, listed.runners, mine, now)

    async def _stuck(
        self,
        watch: Watch,
        target: Target,
        view: FleetView,
        now: datetime,
        diagnoses: dict[AlertId, Diagnosis],
        done: Round,
        unknown: set[int],
    ) -> list[StuckJob] | None:
        """The watch's jobs stuck now, each with its reason; enterprises have none.

        One job that cannot be read, confirmed or diagnosed fails alone (logged, counted);
        what stops the whole watch (a permission, GitHub away) still raises."""
        if target.scope is Scope.ENTERPRISE:
            return None
        repository = str(target) if target.scope is Scope.REPO else None
        records = [
            r
            for r in await self.services.store.jobs.open_jobs(target.owner, repository)
            if not r.hosted
        ]
        same_labels = Counter(r.job.labels for r in records if r.job.queued)
        stuck: list[StuckJob] = []
        for record in records:
            if not is_stuck(record.job, now=now, after=watch.after):
                continue
            try:
                found = await self._stuck_job(watch, record, view, now, same_labels, diagnoses)
            except StaleMiss:  # a listing this job needs was never kept: the next round
                unknown.add(record.job.id or 0)
                continue
            except (errors.RunnerOpsError, StoreUnavailable):
                raise  # the watch's, not the job's: GitHub or the database away
            except Exception as exc:
                failed_alone(self.metrics, done, watch.target, "job", record.job.id, exc)
                unknown.add(record.job.id or 0)
                continue
            if found is None:
                continue
            if isinstance(found, str):  # gone
                done.gone += 1
                continue
            stuck.append(found)
        return stuck

    async def _stuck_job(
        self,
        watch: Watch,
        record: JobRecord,
        view: FleetView,
        now: datetime,
        same_labels: Counter[tuple[str, ...]],
        diagnoses: dict[AlertId, Diagnosis],
    ) -> StuckJob | str | None:
        """One job past ``--after``: confirmed with GitHub when due, then diagnosed.
        A StuckJob to alert on, "gone" for a job GitHub no longer knows, or None."""
        if self._confirm_due(record, watch, now):
            confirmed = await view.confirm(record)
            if confirmed is None:  # 404: that job is gone or no longer visible
                await self.services.store.jobs.gone(record.job.id or 0)
                return "gone"
            await self.services.store.jobs.confirmed(record.job.id or 0)
            record = confirmed
        if not is_stuck(record.job, now=now, after=watch.after):
            return None
        job = record.job
        diagnosis = await view.diagnose(job, now=now, queued_same_labels=same_labels[job.labels])
        if diagnosis.reason in QUIET:
            return None
        if diagnosis.unsure:  # a page missing: the runner that refutes it may be there
            raise errors.GitHubUnavailable(
                parse_target(watch.target), "an incomplete runner listing"
            )
        assert job.id is not None and job.created_at is not None
        key = stuck_alert_key(watch.target, diagnosis.reason, job.labels)
        diagnoses.setdefault((watch.channel, key), diagnosis)
        return StuckJob(
            job_id=job.id,
            name=job.name or str(job.id),
            target=watch.target,
            channel=watch.channel,
            reason=diagnosis.reason.value,
            labels=job.labels,
            queued_since=job.created_at,
        )

    @staticmethod
    def _confirm_due(record: JobRecord, watch: Watch, now: datetime) -> bool:
        """Whether to ask GitHub about a stuck job this round: never asked yet, asked
        more than ``--after`` ago, or not asked since GitHub's 24-hour limit passed (a job
        still open then is confirmed once more, and closed if gone or finished)."""
        last = record.confirmed_at
        if last is None or now - last >= watch.after:
            return True
        created = record.job.created_at
        return created is not None and now - created >= QUEUE_LIMIT and last - created < QUEUE_LIMIT
