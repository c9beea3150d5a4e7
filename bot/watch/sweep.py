"""The sweep: every ``RUNNEROPS_SWEEP_SECONDS``, turn stored jobs and GitHub's runner lists
into Slack alerts. I/O at the edges; every decision is bot/watch's pure code.

One round (:meth:`Sweeper.run_once`), run by one process at a time (the leader: a lease
row renewed before and after each round, running out ``LEASE_PERIODS`` periods after the
last renewal, so a vanished leader is replaced within two periods on either engine):

1. For each watch, list the target's runners and record when each was last online;
   :func:`plan_offline` decides the offline-runner alerts.
2. For each watch of an organization or repository, take its jobs queued longer than
   ``--after``, confirm each with ``GET /repos/{o}/{r}/actions/jobs/{id}`` (GitHub does not
   redeliver a failed delivery), :func:`diagnose` it, and :func:`plan_stuck` groups them
   into one alert per reason and label set.
3. :func:`pace` spaces the messages per channel; posts, updates and resolutions go out
   (``chat.postMessage``, ``chat.update`` on the same channel and ts). A new alert is
   claimed in the store before it is posted, so two processes never post it twice.

A watch whose facts could not be gathered this round (GitHub down, a permission missing)
keeps its alerts as they are: silence is never taken for "resolved". A missing permission
or installation is said once a day in the watch's channel, not only in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot import errors
from bot.slack.blocks import Reply
from bot.slack.views import alerts as alerts_view
from bot.slack.views.errors import error_text
from bot.store.audit import AuditEntry
from bot.store.database import StoreUnavailable
from bot.store.health import Health, WatchId
from bot.store.jobs import QUEUE_LIMIT, JobRecord
from bot.store.leases import Leader
from bot.store.watches import Watch
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
from bot.watch.fleetview import FleetMemo, FleetView, StaleMiss

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

AlertId = tuple[str, str]  # (channel, key)
ACTOR = "runnerops"  # the audit's actor for what the sweep does by itself
_OUTCOMES = {
    ActionKind.POST: "posted",
    ActionKind.UPDATE: "updated",
    ActionKind.RESOLVE: "resolved",
}


def _id(alert: Alert) -> AlertId:
    return alert.channel, alert.key


def _wid(watch: Watch) -> WatchId:
    return watch.channel, watch.target_key


def _reason(exc: errors.RunnerOpsError) -> str:
    """The metric's reason for a GitHub-side failure: a few fixed words."""
    match exc:
        case errors.Forbidden():
            return "permission"
        case errors.NotInstalled() | errors.NotFound():
            return "installation"
        case errors.BadCredentials() | errors.EnterpriseTokenMissing():
            return "credentials"
        case errors.RateLimited():
            return "rate_limit"
        case _:
            return "github"


def _database(reason: str) -> Failure:
    """Words for the channel: the short reason the store gives (never the driver's full
    message, which may hold SQL or hosts; that is in the log)."""
    return Failure(
        "database",
        f"the database did not answer ({reason}); runnerops tries again every round."
        " An operator can check `/readyz` and the database's own status.",
    )


def _internal(exc: Exception) -> Failure:
    return Failure(
        "internal",
        f"an unexpected error ({type(exc).__name__}); the service log has the details."
        " runnerops tries again every round.",
    )


def _still_there(alerts: list[Alert], unknown: set[int]) -> list[StuckJob]:
    """Members of the watch's open alerts whose job could not be looked at this round:
    kept as they were (silence is never taken for "resolved")."""
    return [
        StuckJob(
            job_id=m.id,
            name=m.name,
            target=alert.target,
            channel=alert.channel,
            reason=alert.reason,
            labels=alert.labels,
            queued_since=m.since,
        )
        for alert in alerts
        for m in alert.members
        if m.id in unknown
    ]


def _words(exc: BaseException) -> str:
    """The error's own message (never only its class), on one line."""
    if isinstance(exc, errors.RunnerOpsError):
        return repr(exc)  # its fields say what failed where; errors never hold a credential
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Round:
    """What one round did, for the log and the tests."""

    leader: bool = True
    stuck: int = 0
    posted: int = 0
    updated: int = 0
    resolved: int = 0
    deferred: int = 0
    skipped: list[str] = field(default_factory=list)  # watches left as they were
    paced: list[str] = field(default_factory=list)  # watched from the last listing
    failed: int = 0  # alerts or jobs that failed alone (logged and counted)
    gone: int = 0  # jobs GitHub no longer knows, closed this round


@dataclass
class Failure:
    """Why one watch could not be swept this round: a metric's reason and the words."""

    reason: str
    text: str


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
        # Each watch's health as last known: kept in memory too, so that a leader whose
        # database is away can still say so in the channels it watched.
        self.health: dict[WatchId, Health] = {}
        self.watches: list[Watch] = []
        self.notice_after = max(NOTICE_AFTER, timedelta(seconds=NOTICE_PERIODS * every))
        # The last listings, for the rounds the poll budget paces an account out of.
        self.memo = FleetMemo()
        self._gauged: set[str] = set()  # targets with a freshness gauge
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
                    await self._database_lost(self.leader.error)
                elif self.leader.error is None and self.health:
                    await self._hand_over()
                return Round(leader=False)
            started = time.perf_counter()
            try:
                done = await self._round(continuing=was_leader)
            except StoreUnavailable as exc:
                await self._database_lost(exc.reason or exc.what)
                raise
            except Exception as exc:  # a bug no watch could isolate: still said and counted
                log.exception("a sweep round failed")
                await self._round_failed(_internal(exc))
                raise
            finally:
                self.metrics.sweep_round_seconds.observe(time.perf_counter() - started)
            await self.leader.acquire()  # renewed: the next round is a period away
            return done

    # -- one round -----------------------------------------------------------------

    async def _round(self, *, continuing: bool = False) -> Round:
        """``continuing``: this process led the last round too, so what it holds in
        memory of the watches' health is the latest (the database may have missed it)."""
        store = self.services.store
        now = self._now()
        done = Round()
        self.budget.new_round()
        watches = self.watches = await store.watches.all()
        try:
            stored_health = await store.health.all()
        except StoreUnavailable:
            stored_health = {}
        if continuing:
            self.health = {**stored_health, **self.health}
        else:  # taken over: the last leader's record is the latest
            self.health = {**self.health, **stored_health}
        before = {_id(a): a for a in await store.alerts.open_alerts()}
        current = dict(before)
        planned: set[AlertId] = set()
        diagnoses: dict[AlertId, Diagnosis] = {}
        self.memo.expire(now - MEMO_KEPT)
        view = FleetView(self.services, budget=self.budget, memo=self.memo, now=now)
        stale = FleetView(self.services, budget=self.budget, memo=self.memo, stale=True, now=now)
        actions: list[AlertAction] = []
        # Each watch's outcome for its health: a Failure, None when swept, absent when
        # neither (paced out with a listing still fresh enough).
        outcomes: dict[WatchId, Failure | None] = {}
        new_alerts: Counter[WatchId] = Counter()  # posts planned, for "N alerts delayed"
        self._forget_unwatched(watches)

        for watch in watches:
            try:
                target = parse_target(watch.target)
            except TargetError:
                continue
            wid = _wid(watch)
            slowed = self._slowed(target)
            kept = self.memo.age(target, now) if self.stale_fallback else None
            if slowed and kept is None:
                done.skipped.append(watch.target)
                outcomes[wid] = self._paced_failure(watch, None)
                continue
            unknown: set[int] = set()  # stuck jobs not known this round: kept as they were
            try:
                if slowed:  # no fresh listing this round: stuck jobs from the last one
                    done.paced.append(watch.target)
                    offline = None
                    stuck = await self._stuck(watch, target, stale, now, diagnoses, done, unknown)
                    if kept is not None and kept >= self.notice_after:
                        outcomes[wid] = self._paced_failure(watch, kept)
                else:
                    offline = await self._offline(watch, target, view, before, now)
                    stuck = await self._stuck(watch, target, view, now, diagnoses, done, unknown)
                    outcomes[wid] = None
                plans = []
                if offline is not None:
                    plans.append((AlertKind.OFFLINE, offline))
                if stuck is not None:
                    done.stuck += len(stuck)
                    mine = self._mine(before, watch, AlertKind.STUCK)
                    stuck += _still_there(mine, unknown)
                    plans.append((AlertKind.STUCK, plan_stuck(mine, stuck, now=now)))
            except Exception as exc:  # this watch alone is left as it was this round
                outcomes[wid] = self._failure(watch, exc)
                done.skipped.append(watch.target)
                continue
            for kind, plan in plans:
                for key, alert in before.items():
                    if self._belongs(alert, watch, kind):
                        planned.add(key)
                        current.pop(key, None)
                for alert in plan.alerts:
                    current[_id(alert)] = alert
                    planned.add(_id(alert))
                actions += plan.actions
                new_alerts[wid] += sum(a.kind is ActionKind.POST for a in plan.actions)

        paced = pace(actions, self.last_post_at, now=now)
        self.last_post_at = dict(paced.last_post_at)
        done.deferred = len(paced.later)
        resolved: list[Alert] = []
        for action in paced.send_now:
            key = _id(action.alert)
            if key not in current:
                continue
            try:
                outcome = await self._send(action, before.get(key), diagnoses.get(key), now)
                if outcome is None:
                    continue
                after = apply_done([current[key]], action, message_ts=outcome or None)
                if after:
                    current[key] = after[0]
                    if action.kind is ActionKind.POST:
                        await store.alerts.posted(after[0])
                else:
                    resolved.append(current.pop(key))
            except Exception as exc:  # this alert alone waits for the next round
                self._failed_alone(done, action.alert.target, "alert", action.alert.key, exc)
                continue
            if action.kind is ActionKind.POST:
                done.posted += 1
            elif action.kind is ActionKind.UPDATE:
                done.updated += 1
            else:
                done.resolved += 1
            try:
                await self._told(action, before.get(key), now)
            except Exception as exc:
                self._failed_alone(done, action.alert.target, "alert", action.alert.key, exc)

        for key in planned:
            try:
                if key in current:
                    await store.alerts.save(current[key])
                elif key in before and all(_id(a) != key for a in resolved):
                    await store.alerts.drop(before[key])  # never posted, nothing left to say
            except Exception as exc:
                alert = current.get(key) or before[key]
                self._failed_alone(done, alert.target, "alert", alert.key, exc)
        for alert in resolved:
            try:
                await store.alerts.resolve(alert)
            except Exception as exc:
                self._failed_alone(done, alert.target, "alert", alert.key, exc)

        for watch in watches:
            wid = _wid(watch)
            if wid not in outcomes:
                continue  # paced, from a listing fresh enough: neither news nor success
            try:
                await self._health(watch, outcomes[wid], now, new_alerts[wid])
            except Exception as exc:
                self._failed_alone(done, watch.target, "health", wid, exc)
        return done

    def _paced_failure(self, watch: Watch, kept: timedelta | None) -> Failure:
        """The poll budget left the account's runner listing out for too long: stuck
        jobs are still alerted from the last listing, offline runners wait for the next."""
        self.metrics.sweep_failed(watch.target, "poll_budget")
        share = self.services.settings.poll_budget
        last = "none is kept" if kept is None else "the last is older than the notice delay"
        return Failure(
            "poll_budget",
            f"the poll budget (`RUNNEROPS_POLL_BUDGET`, {share:.0%} of the hourly rate limit)"
            f" paces how often this account's runners are listed, and {last}. Stuck jobs are"
            " still alerted on; offline runners may be reported late. Raise"
            " `RUNNEROPS_POLL_BUDGET`, or watch fewer or smaller targets per installation.",
        )

    def _forget_unwatched(self, watches: list[Watch]) -> None:
        """Health and the freshness gauge of watches that ended go with them."""
        now_watched = {_wid(w) for w in watches}
        for wid in [w for w in self.health if w not in now_watched]:
            del self.health[wid]
        targets = {w.target_key for w in watches}
        for target in self._gauged - targets:
            self.metrics.unswept(target)
        self._gauged = targets

    async def _hand_over(self) -> None:
        """Another process leads now: what this one knew of the watches' health (a notice
        posted while the database was away) goes to the store for it, then is dropped."""
        for health in list(self.health.values()):
            try:
                await self.services.store.health.put(health)
            except StoreUnavailable:
                return  # kept: handed over on a later round
        self.health.clear()

    async def _round_failed(self, failure: Failure) -> None:
        now = self._now()
        for watch in self.watches:
            self.metrics.sweep_failed(watch.target, failure.reason)
            try:
                await self._health(watch, failure, now, 0)
            except Exception:
                log.exception("could not record the health of %s", watch.target)

    def _failed_alone(
        self, done: Round, target: str, reason: str, key: object, exc: Exception
    ) -> None:
        """One alert or job failed: logged with its key and the error's own words,
        counted, and the round goes on."""
        done.failed += 1
        self.metrics.sweep_failed(target, reason)
        expected = isinstance(exc, StoreUnavailable | errors.RunnerOpsError | SlackApiError)
        log.error("sweep: %s %s failed: %s", reason, key, _words(exc), exc_info=not expected)

    def _failure(self, watch: Watch, exc: Exception) -> Failure:
        """Name what stopped ``watch`` this round; logged and counted here."""
        install_url = self.services.settings.install_url
        if isinstance(exc, errors.RunnerOpsError):
            failure = Failure(_reason(exc), error_text(exc, install_url=install_url))
        elif isinstance(exc, StoreUnavailable):
            failure = _database(exc.reason or exc.what)
        else:
            log.error("sweep of %s failed", watch.target, exc_info=exc)
            failure = _internal(exc)
        if failure.reason != "internal":
            log.warning("sweep of %s (%s) failed: %s", watch.target, watch.channel, _words(exc))
        self.metrics.sweep_failed(watch.target, failure.reason)
        return failure

    async def _health(
        self, watch: Watch, failure: Failure | None, now: datetime, delayed: int
    ) -> None:
        """Record whether ``watch`` was swept; say in its channel when it has not been for
        a while (one message, updated in place), and when it is swept again."""
        wid = _wid(watch)
        old = self.health.get(wid, Health(watch.channel, watch.target_key))
        if failure is None:
            self.metrics.swept(watch.target, now.timestamp())
            new = replace(old, failing_since=None, reason="", detail="", last_success=now)
            if old.failing_since is not None and old.notice_ts is not None:
                reply = alerts_view.watch_recovered(
                    watch.target, since=old.failing_since, now=now, delayed=delayed, was=old.detail
                )
                await self._notice(watch, reply, old.notice_ts)
            new = replace(new, notice_ts=None)
        else:
            since = old.failing_since or now
            new = replace(old, failing_since=since, reason=failure.reason, detail=failure.text)
            due = now - since >= self.notice_after
            changed = (old.reason, old.detail) != (new.reason, new.detail)
            if due and (old.notice_ts is None or changed):
                reply = alerts_view.watch_problem(watch.target, failure.text, since=since)
                ts = await self._notice(watch, reply, old.notice_ts)
                new = replace(new, notice_ts=ts or old.notice_ts)
        self.health[wid] = new
        if new != old:
            try:
                await self.services.store.health.put(new)
            except StoreUnavailable:
                pass  # kept in memory; written on a later round

    async def _database_lost(self, error: str) -> None:
        """The database is away for the whole round: every watch this process swept
        fails alike, and is said once the failure has lasted (the notice's ts is kept in
        memory until the database is back)."""
        await self._round_failed(_database(error))

    async def _notice(self, watch: Watch, reply: Reply, ts: str | None) -> str | None:
        """Post (or update in place) the watch's health message; its ts, None if not sent."""
        blocks = [b.to_dict() for b in reply.blocks]
        slack = self.services.slack
        try:
            if ts is not None:
                await slack.chat_update(
                    channel=watch.channel, ts=ts, text=reply.text, blocks=blocks
                )
                return ts
            answer = await slack.chat_postMessage(
                channel=watch.channel, text=reply.text, blocks=blocks, unfurl_links=False
            )
            return str(answer["ts"])
        except Exception as error:  # Slack away: said on a later round
            log.warning(
                "could not tell %s about the watch of %s: %s",
                watch.channel,
                watch.target,
                _words(error),
            )
            return None

    async def _told(self, action: AlertAction, before: Alert | None, now: datetime) -> None:
        """One log line per alert message sent, with the reason's machine name; posts and
        resolutions also go to the audit (actor ``runnerops``)."""
        alert = action.alert
        members = alert.members or (before.members if before is not None else ())
        reason = alert.reason or str(alert.kind)
        outcome = _OUTCOMES[action.kind]
        counted = "jobs" if alert.kind == AlertKind.STUCK else "runners"
        log.info(
            "alert %s: reason=%s key=%s channel=%s %s=%d",
            outcome,
            reason,
            alert.key,
            alert.channel,
            counted,
            len(members),
        )
        if action.kind is ActionKind.UPDATE:
            return
        entry = AuditEntry(
            at=now,
            user_id=ACTOR,
            user_name=ACTOR,
            action="alert",
            target=alert.target,
            outcome=outcome,
            detail=f"{reason} ({len(members)} {counted}; {alert.key})",
            channel_id=alert.channel,
        )
        try:
            await self.services.store.audit.record(entry)
        except StoreUnavailable:
            log.error("could not write the audit entry of alert %s (%s)", alert.key, outcome)

    def _slowed(self, target: Target) -> bool:
        """Whether the poll budget leaves ``target``'s account out of this round (paced
        through the hour: :func:`bot.watch.budget.admit`)."""
        return not self.budget.admit(target.owner)

    @staticmethod
    def _belongs(alert: Alert, watch: Watch, kind: AlertKind) -> bool:
        return (
            alert.kind == kind
            and alert.channel == watch.channel
            and alert.target.lower() == watch.target_key
        )

    def _mine(self, alerts: dict[AlertId, Alert], watch: Watch, kind: AlertKind) -> list[Alert]:
        return [a for a in alerts.values() if self._belongs(a, watch, kind)]

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
            self._mine(before, watch, AlertKind.OFFLINE),
            target=watch.target,
            channel=watch.channel,
            runners=listed.runners,
            last_seen_online={rid: s.last_seen_online for rid, s in seen.items()},
            now=now,
            after=watch.offline_after,
            window=OFFLINE_WINDOW,
        )

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
                self._failed_alone(done, watch.target, "job", record.job.id, exc)
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

    # -- Slack -----------------------------------------------------------------------

    async def _jobs(self, *alerts: Alert | None) -> dict[int, JobRecord]:
        found: dict[int, JobRecord] = {}
        members = [m for a in alerts if a is not None for m in a.members]
        for member in members:
            record = await self.services.store.jobs.get(member.id)
            if record is not None:
                found[member.id] = record
        return found

    async def _render(
        self, action: AlertAction, before: Alert | None, diagnosis: Diagnosis | None, now: datetime
    ) -> Reply:
        alert = action.alert
        if alert.kind == AlertKind.OFFLINE:
            return alerts_view.offline_alert(
                alert, now=now, resolved=action.kind is ActionKind.RESOLVE
            )
        if action.kind is ActionKind.RESOLVE:
            gone = before if before is not None else alert
            return alerts_view.stuck_resolved(gone, await self._jobs(gone))
        still = {m.id for m in alert.members}
        departed = [m for m in (before.members if before else ()) if m.id not in still]
        return alerts_view.stuck_alert(
            alert, diagnosis, await self._jobs(alert, before), now=now, departed=departed
        )

    async def _send(
        self, action: AlertAction, before: Alert | None, diagnosis: Diagnosis | None, now: datetime
    ) -> str | None:
        """Carry out ``action``; the new message's ts for a post ("" for the others),
        None when it did not happen (it is planned again next round)."""
        alert, slack = action.alert, self.services.slack
        reply = await self._render(action, before, diagnosis, now)
        blocks = [b.to_dict() for b in reply.blocks]
        try:
            if action.kind is ActionKind.POST:
                if not await self.services.store.alerts.claim_post(alert):
                    return None  # another process is posting it
                answer = await slack.chat_postMessage(
                    channel=alert.channel, text=reply.text, blocks=blocks, unfurl_links=False
                )
                return str(answer["ts"])
            assert alert.message_ts is not None
            await slack.chat_update(
                channel=alert.channel, ts=alert.message_ts, text=reply.text, blocks=blocks
            )
            return ""
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error == "message_not_found" and action.kind is ActionKind.RESOLVE:
                return ""  # someone deleted the message: nothing left to resolve
            log.warning(
                "alert %s %s in %s not sent: %s", action.kind, alert.key, alert.channel, error
            )
            self.metrics.sweep_failed(alert.target, "alert")
            return None
