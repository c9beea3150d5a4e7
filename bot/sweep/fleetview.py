"""What GitHub says about the runners a job could use, gathered for :func:`diagnose`.

A repository's job may run on the repository's own runners, on its organization's runners
in groups visible to it, and on enterprise runners in groups the enterprise shares with
the organization. One :class:`FleetView` lives for one sweep round or one command and
fetches each listing at most once (the client's ETag cache makes repeats across rounds
304s, which GitHub does not count against the rate limit).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import errors
from bot.github.jobs import JobService
from bot.github.models import RunnerList
from bot.github.transport import charging
from bot.github.versions import newest_offered
from bot.store.database import StoreUnavailable
from bot.store.jobs import JobRecord
from bot.sweep.ingest import record_job
from bot.targets import Scope, Target
from bot.watch.budget import PollBudget
from bot.watch.diagnosis import Diagnosis, Reason, diagnose
from bot.watch.models import Job, RunnerGroup, RunnerInfo, groups_from_github, runners_from_github
from bot.watch.versions import Ends, runner_version

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeRunners:
    runners: list[RunnerInfo]
    complete: bool


MEMO_WORKFLOWS = 10_000


class StaleMiss(Exception):
    """A view made from the last listings lacks one: this job waits for a fresh one."""


OrgPart = tuple[list[RunnerInfo], list[dict[str, Any]]] | None


@dataclass
class FleetMemo:
    """The last fresh listings the sweep made, kept across rounds (in the sweeping
    process's memory) with when each was taken: when the poll budget paces an account, a
    stuck job is diagnosed from them rather than left unalerted until the next listing."""

    scopes: dict[str, tuple[ScopeRunners, datetime]] = field(default_factory=dict)
    orgs: dict[str, tuple[OrgPart, bool, datetime]] = field(default_factory=dict)
    visible: dict[str, tuple[set[int], bool]] = field(default_factory=dict)
    latest: dict[str, str | None] = field(default_factory=dict)
    taken: dict[str, datetime] = field(default_factory=dict)  # when visible/latest were
    workflows: dict[tuple[str, int], str | None] = field(default_factory=dict)

    def expire(self, before: datetime) -> None:
        """Forget listings older than ``before``: too old to stand in for the fleet."""
        for key in [k for k, (_, at) in self.scopes.items() if at < before]:
            del self.scopes[key]
        for key in [k for k, (_, _, at) in self.orgs.items() if at < before]:
            del self.orgs[key]
        if len(self.workflows) > MEMO_WORKFLOWS:  # one per run: start again, not grow
            self.workflows.clear()
        for key in [k for k, at in self.taken.items() if at < before]:
            del self.taken[key]
            self.visible.pop(key, None)
            self.latest.pop(key, None)

    def age(self, target: Target, now: datetime) -> timedelta | None:
        """How old the kept listing of ``target`` is; None when none is kept."""
        kept = self.scopes.get(str(target).lower())
        return now - kept[1] if kept is not None else None


class FleetView:
    def __init__(
        self,
        services: Services,
        *,
        budget: PollBudget | None = None,
        memo: FleetMemo | None = None,
        stale: bool = False,
        now: datetime | None = None,
    ) -> None:
        """With ``memo``, fresh listings are written to it; with ``stale`` too, an
        account's runner listing is read from it instead of GitHub (job confirmations,
        and the small listings not kept yet, a repository's runners or groups, still go
        to GitHub, once, and are kept)."""
        self.services = services
        self.jobs = JobService(services.github)
        self.budget = budget  # None: a person's command, not counted against the poll
        self.memo = memo
        self.stale = stale and memo is not None
        self.now = now
        self._scopes: dict[str, ScopeRunners] = {}
        self._org: dict[str, OrgPart] = {}
        self._visible: dict[str, set[int]] = {}
        self._incomplete: set[str] = set()  # owners and repositories with a page missing
        self._confirmed: dict[int, JobRecord | None] = {}
        self._latest: dict[str, str | None] = {}
        self._workflows: dict[tuple[str, int], str | None] = {}
        self._as_of: dict[str, datetime] = {}  # listings read from the memo: when taken
        if self.stale and memo is not None:
            self._latest = dict(memo.latest)
            self._workflows = dict(memo.workflows)
            for key, (visible, incomplete) in memo.visible.items():
                self._visible[key] = visible
                if incomplete:
                    self._incomplete.add(key)

    def _paying(self, account: str) -> AbstractContextManager[None]:
        """GitHub's answers to what is asked inside, charged to ``account``'s poll budget
        (a person's command pays nothing here)."""
        if self.budget is None:
            return nullcontext()
        return charging(functools.partial(self.budget.answered, account.lower()))

    async def scope_runners(self, target: Target) -> ScopeRunners:
        """Every runner of one scope; repository runners are marked as such."""
        key = str(target).lower()
        if key not in self._scopes and self.stale and self.memo is not None:
            if key in self.memo.scopes:
                kept, at = self.memo.scopes[key]
                self._scopes[key], self._as_of[key] = await self._with_busy(kept), at
            elif target.scope is not Scope.REPO:
                # What the budget saves is an account's large listing; a repository's own
                # runners (a page, usually none) are fetched once and kept like the rest.
                raise StaleMiss
        if key not in self._scopes:
            with self._paying(target.owner):
                listed: RunnerList = await self.services.runners.list_runners(target)
            level = target.scope is Scope.REPO
            infos = [RunnerInfo.from_runner(r, repository_level=level) for r in listed.runners]
            self._scopes[key] = ScopeRunners(infos, listed.complete)
            if self.memo is not None and self.now is not None:
                self.memo.scopes[key] = (self._scopes[key], self.now)
                self.memo.orgs.pop(key, None)  # built again from this listing when needed
        return self._scopes[key]

    async def _with_busy(self, kept: ScopeRunners) -> ScopeRunners:
        """A kept listing with each runner's busy state as job events left it since."""
        known = await self.services.store.fleet.busy_now(r.id for r in kept.runners)
        runners = [
            replace(r, busy=known[r.id][1]) if r.id in known and r.online else r
            for r in kept.runners
        ]
        return ScopeRunners(runners, kept.complete)

    def as_of(self, repository: str) -> datetime | None:
        """When the oldest kept listing this view used for ``repository`` was taken;
        None when every one was fetched now."""
        owner, _, name = repository.partition("/")
        keys = (owner.lower(), str(Target(Scope.REPO, owner, name)).lower())
        times = [self._as_of[k] for k in keys if k in self._as_of]
        return min(times) if times else None

    async def _org_part(self, org: str) -> tuple[list[RunnerInfo], list[dict[str, Any]]] | None:
        """The organization's runners (its own and those of groups its enterprise shares)
        and its runner groups; None when the owner is no organization runnerops sees."""
        key = org.lower()
        if key not in self._org and self.stale and self.memo is not None:
            if key in self.memo.orgs:
                kept, incomplete, at = self.memo.orgs[key]
                if kept is not None:  # busy as job events left it since
                    kept = ((await self._with_busy(ScopeRunners(kept[0], True))).runners, kept[1])
                self._org[key], self._as_of[key] = kept, at
                if incomplete:
                    self._incomplete.add(key)
        if key not in self._org:
            target = Target(Scope.ORG, org)
            try:
                own = await self.scope_runners(target)
                with self._paying(key):
                    groups = await self.jobs.runner_groups(target)
            except (errors.NotInstalled, errors.NotFound):
                self._org[key] = None
                self._remember_org(key)
                return None
            runners = list(own.runners)
            if not (own.complete and groups.complete):
                self._incomplete.add(key)
            for group in groups.items:
                if isinstance(group, dict) and group.get("inherited") is True and "id" in group:
                    with self._paying(key):
                        shared = await self.jobs.group_runners(target, group["id"])
                    runners += runners_from_github(shared.items)[0]
                    if not shared.complete:
                        self._incomplete.add(key)
            self._org[key] = (runners, list(groups.items))
            self._remember_org(key)
        return self._org[key]

    def _remember_org(self, key: str) -> None:
        """Keep the organization's part, dated by its runner listing (a stale view builds
        it from a kept listing: it is as old as that listing, not as this round)."""
        if self.memo is not None and self.now is not None:
            at = self._as_of.get(key, self.now)
            self.memo.orgs[key] = (self._org[key], key in self._incomplete, at)

    async def candidates(self, repository: str) -> tuple[list[RunnerInfo], list[RunnerGroup]]:
        """Every runner ``owner/repo`` could see, and the groups that govern them."""
        owner, _, name = repository.partition("/")
        repo_target = Target(Scope.REPO, owner, name)
        runners = list((await self.scope_runners(repo_target)).runners)
        org = await self._org_part(owner)
        if org is None:
            return runners, []
        org_runners, raw_groups = org
        key = repository.lower()
        if key not in self._visible:
            with self._paying(owner):
                visible = await self.jobs.runner_groups(Target(Scope.ORG, owner), visible_to=name)
            self._visible[key] = {
                int(g["id"]) for g in visible.items if isinstance(g, dict) and "id" in g
            }
            if not visible.complete:
                self._incomplete.add(key)
            if self.memo is not None and self.now is not None:
                self.memo.visible[key] = (self._visible[key], not visible.complete)
                self.memo.taken[key] = self.now
        groups, _ = groups_from_github(raw_groups, visible_ids=self._visible[key])
        return runners + org_runners, groups

    def complete(self, repository: str) -> bool:
        """Whether every listing :meth:`candidates` read for ``repository`` came whole."""
        owner, _, name = repository.partition("/")
        repo_scope = self._scopes.get(str(Target(Scope.REPO, owner, name)).lower())
        return (
            (repo_scope is None or repo_scope.complete)
            and owner.lower() not in self._incomplete
            and repository.lower() not in self._incomplete
        )

    async def latest_version(self, repository: str) -> str | None:
        """The newest runner release GitHub offers (its downloads), to tell an outdated
        idle runner; None when it cannot be read."""
        owner, _, name = repository.partition("/")
        key = owner.lower()
        if key not in self._latest:
            if self.stale:
                return None  # not known: the outdated-runner hint is left out
            try:
                with self._paying(key):
                    found = await self.services.runners.list_downloads(
                        Target(Scope.REPO, owner, name)
                    )
            except errors.RunnerOpsError:
                found = []
            self._latest[key] = newest_offered(found)
            if self.memo is not None and self.now is not None:
                self.memo.latest[key] = self._latest[key]
                self.memo.taken.setdefault(key, self.now)
        return self._latest[key]

    async def version_ends(self, versions: Iterable[str | None]) -> Ends:
        """Each version's ``runtime_deprecates_at`` as stored (asked of GitHub once a day,
        by ``versions`` and the sweep's version alerts): never a request here."""
        wanted = sorted({v for text in versions if (v := runner_version(text)) is not None})
        try:
            dates = await self.services.store.versions.fresh(wanted)
        except StoreUnavailable:
            return {}  # the diagnosis without the dates
        return {v: d.runtime_deprecates_at for v, d in dates.items()}

    async def workflow_ref(self, job: Job) -> str | None:
        """``owner/repo/PATH@BRANCH`` of the job's workflow, from its run (the webhook does
        not carry it): what a group restricted to selected workflows is compared with.
        None when it cannot be read; the restriction is then reported as unchecked."""
        if job.run_id is None or "/" not in job.repository:
            return None
        key = (job.repository.lower(), job.run_id)
        if key not in self._workflows:
            if self.stale:
                return None  # reported as unchecked, as when it cannot be read
            owner = job.repository.partition("/")[0]
            with self._paying(owner):
                ref = await self.jobs.workflow_ref(job.repository, job.run_id)
            self._workflows[key] = ref
            if self.memo is not None:
                self.memo.workflows[key] = ref
        return self._workflows[key]

    async def diagnose(self, job: Job, *, now: datetime, queued_same_labels: int) -> Diagnosis:
        runners, groups = await self.candidates(job.repository)
        if job.workflow_ref is None and any(g.restricted_to_workflows for g in groups):
            job = replace(job, workflow_ref=await self.workflow_ref(job))
        seen = await self.services.store.fleet.last_seen_online(r.id for r in runners)

        complete = self.complete(job.repository)

        def run(latest: str | None, ends: Ends | None = None) -> Diagnosis:
            found = diagnose(
                job,
                runners,
                groups,
                now=now,
                last_seen_online=seen,
                queued_same_labels=queued_same_labels,
                latest_runner_version=latest,
                version_ends=ends,
            )
            # From a listing with a page missing, Diagnosis.unsure says whether it holds.
            return found if complete else replace(found, complete=False)

        found = run(None)
        if found.reason is Reason.IDLE_NOT_TAKING:  # only then do the versions matter
            ends = await self.version_ends(r.version for r in found.idle)
            found = run(await self.latest_version(job.repository), ends)
        as_of = self.as_of(job.repository)
        return replace(found, as_of=as_of) if as_of is not None else found

    async def confirm(self, record: JobRecord) -> JobRecord | None:
        """Ask GitHub for the job now and store its answer (a missed delivery is caught
        here); None when the job is gone or its repository no longer visible. Always
        asked when due: the poll budget decides whether a round looks at an account at
        all, never lets it alert on an unconfirmed record."""
        job = record.job
        assert job.id is not None
        if job.id in self._confirmed:
            return self._confirmed[job.id]
        owner, _, name = job.repository.partition("/")
        target = Target(Scope.REPO, owner, name)
        try:
            with self._paying(owner):
                data = await self.jobs.fetch_job(target, job.id)
        except (errors.NotFound, errors.NotInstalled):
            # That job is gone, or its repository is no longer visible to runnerops
            # (deleted, or removed from the installation): the job, never the whole watch.
            # Whether the target itself is installed is the target's own lookup's business.
            self._confirmed[job.id] = None
            return None
        stored = await record_job(
            self.services.store,
            data,
            repository={"full_name": job.repository},
        )
        self._confirmed[job.id] = stored or record
        return self._confirmed[job.id]
