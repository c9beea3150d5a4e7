"""Why a queued self-hosted job is not running: one reason, and the facts behind it.

GitHub gives a queued job to an idle, online runner that carries *all* its ``runs-on``
labels (case-insensitively) and sits where the repository may use it (a repository
runner, or an organization/enterprise runner in a group whose settings admit the
repository and the workflow). :func:`diagnose` walks that rule backwards and stops at the
first condition that fails, so the alert names the fix that is needed first.

Precedence (first match wins):

1. ``waiting_approval``: the job is ``waiting`` on an environment protection rule.
2. ``not_queued``: in progress, completed or another non-queued state; nothing is stuck.
3. ``github_hosted``: every label is a documented GitHub-hosted family.
4. ``no_matching_labels``: no runner carries all the labels (offline ones included).
5. ``group_not_allowed``: every runner with all the labels is in a group the repository
   or this workflow may not use.
6. ``all_offline``: every usable matching runner is offline.
7. ``all_busy``: none is online and idle, and at least one is online and busy (some may
   be offline too: ``offline`` and ``busy`` give the counts).
8. ``idle_not_taking``: some usable matching runner is online and idle, yet the job
   waits (outdated runner, a runner mid-update, GitHub's own delay).

Facts are data, not Slack text: rendering lives in ``bot/slack``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.watch.labels import LabelSetKey, is_github_hosted
from bot.watch.models import Job, RunnerGroup, RunnerInfo
from bot.watch.versions import Ends, jobs_ended

CLOSEST_MAX = 3


class Reason(StrEnum):
    """Short machine names: stored, grouped on and rendered by the I/O layer."""

    WAITING_APPROVAL = "waiting_approval"
    NOT_QUEUED = "not_queued"
    GITHUB_HOSTED = "github_hosted"
    NO_MATCHING_LABELS = "no_matching_labels"
    GROUP_NOT_ALLOWED = "group_not_allowed"
    ALL_OFFLINE = "all_offline"
    ALL_BUSY = "all_busy"
    IDLE_NOT_TAKING = "idle_not_taking"


# The reasons a missing page can make false: each says no suitable runner was *found*.
UNSURE_WHEN_INCOMPLETE = frozenset(
    {Reason.NO_MATCHING_LABELS, Reason.ALL_OFFLINE, Reason.GROUP_NOT_ALLOWED}
)


class Exclusion(StrEnum):
    """The runner-group setting that keeps a repository or workflow out of a group."""

    SELECTED_REPOSITORIES = "selected repositories"  # visibility "selected", repo not in it
    PUBLIC_NOT_ALLOWED = "public repositories not allowed"  # public repo, the default false
    PRIVATE_ONLY = "private repositories only"  # visibility "private", public repo
    WORKFLOW_RESTRICTIONS = "workflow restrictions"  # workflow not in selected_workflows
    NOT_VISIBLE = "not visible to the repository"  # GitHub says so; no setting explains it


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A runner that carries some of the job's labels, and the ones it lacks."""

    runner_id: int
    runner_name: str
    missing: LabelSetKey
    online: bool
    # Where it is registered, for a fix that changes it: on the job's repository itself,
    # or in a group an enterprise shares with the organization (neither: the org's own).
    repository_level: bool = False
    shared: bool = False


@dataclass(frozen=True, slots=True)
class GroupExclusion:
    """A group holding matching runners the job may not use, and why."""

    group_id: int
    group_name: str
    exclusions: tuple[Exclusion, ...]
    runners: tuple[str, ...]  # names of the matching runners in it


@dataclass(frozen=True, slots=True)
class OfflineRunner:
    """``offline_for`` is None when the runner was never seen online."""

    runner_id: int
    runner_name: str
    last_seen_online: datetime | None
    offline_for: timedelta | None


@dataclass(frozen=True, slots=True)
class IdleRunner:
    """An online, idle, usable runner; ``outdated`` True/False, or None when unknowable;
    ``jobs_ended``: when GitHub stopped giving its version jobs, if that is known and past."""

    runner_id: int
    runner_name: str
    version: str | None
    outdated: bool | None
    jobs_ended: datetime | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The reason a job waits and the facts that support it.

    Which facts are filled depends on ``reason``:

    - ``no_matching_labels``: ``missing_labels`` (labels no runner carries) and
      ``closest`` (up to 3 runners missing the fewest labels).
    - ``group_not_allowed``: ``excluded_groups``.
    - ``all_offline``: ``offline`` (every usable matching runner: never seen online first,
      then longest offline).
    - ``all_busy``: ``busy`` (count), ``offline`` (any offline ones), ``queued_same_labels``.
    - ``idle_not_taking``: ``idle``.

    ``excluded_groups`` is also filled for the runner reasons when some matching runners
    sit in groups the job may not use ("3 more runners in `gpu` are not allowed here").
    ``unverified_workflow_groups`` names restricted groups that were counted as usable
    because the job's workflow ref is unknown or could not be compared.
    """

    reason: Reason
    labels: LabelSetKey
    matching: int = 0
    usable: int = 0
    missing_labels: LabelSetKey = ()
    closest: tuple[NearMiss, ...] = ()
    excluded_groups: tuple[GroupExclusion, ...] = ()
    offline: tuple[OfflineRunner, ...] = ()
    busy: int = 0
    queued_same_labels: int = 0
    idle: tuple[IdleRunner, ...] = ()
    unverified_workflow_groups: tuple[str, ...] = ()
    # When the runner listing it was made from was taken; None: listed just now. Set when
    # the poll budget paces the account and the last listing stands in for a fresh one.
    as_of: datetime | None = None
    complete: bool = True  # False: a page of the runner or group listings failed
    # The job's repository (``owner/repo``): whom a group's settings keep out, for the fix
    # buttons. Not a fact of the reason: left out of comparisons.
    repository: str = field(default="", compare=False)

    @property
    def unsure(self) -> bool:
        """A reason that absence proves ("no runner carries the labels", "all offline", "in
        a group it may not use"), drawn from a listing with a page missing: the runner that
        would refute it may be on that page. Not to be alerted on."""
        return not self.complete and self.reason in UNSURE_WHEN_INCOMPLETE


def diagnose(
    job: Job,
    runners: Sequence[RunnerInfo],
    groups: Iterable[RunnerGroup],
    *,
    now: datetime,
    last_seen_online: Mapping[int, datetime | None],
    queued_same_labels: int,
    latest_runner_version: str | None = None,
    version_ends: Ends | None = None,
) -> Diagnosis:
    """Why ``job`` waits, given every runner its repository could see and their groups.

    ``runners``: the repository's own runners (``repository_level=True``) and the
    organization's (and enterprise's) runners. A runner whose group is not in ``groups``
    counts as usable: exclusion is only claimed on evidence. ``last_seen_online`` maps
    runner id to when the watch last saw it online (absent or None: never).
    ``queued_same_labels``: jobs queued for the same label set, this one included.
    ``version_ends``: each version's ``runtime_deprecates_at`` where known (stored): an
    idle runner on a version past it no longer receives jobs.
    """
    labels = job.labels
    if job.waiting:
        return Diagnosis(Reason.WAITING_APPROVAL, labels)
    if not job.queued:
        return Diagnosis(Reason.NOT_QUEUED, labels)
    if is_github_hosted(labels):
        return Diagnosis(Reason.GITHUB_HOSTED, labels)

    ordered = sorted(runners, key=lambda r: (r.name.lower(), r.id))
    # Job and RunnerInfo hold their labels as canonical keys already (models.py): compared
    # as they are, not normalised again per runner (that was ~70 ms a job at 1,000 runners).
    wanted = frozenset(labels)
    matching = [r for r in ordered if wanted.issubset(r.labels)]
    if not matching:
        return _no_matching_labels(labels, ordered, groups)
    base, usable = _by_group(job, matching, groups)
    if not usable:
        return base
    return _by_state(
        base,
        usable,
        now=now,
        last_seen_online=last_seen_online,
        queued_same_labels=queued_same_labels,
        latest_runner_version=latest_runner_version,
        version_ends=version_ends or {},
    )


def _no_matching_labels(
    labels: LabelSetKey, ordered: Sequence[RunnerInfo], groups: Iterable[RunnerGroup]
) -> Diagnosis:
    """No runner carries every label: which labels none carries, and the closest runners."""
    carried = {label for r in ordered for label in r.labels}
    shared = {g.id for g in groups if g.inherited}

    def lacks(runner: RunnerInfo) -> LabelSetKey:
        have = frozenset(runner.labels)
        return tuple(label for label in labels if label not in have)

    near = sorted(
        (
            NearMiss(
                r.id,
                r.name,
                lacks(r),
                r.online,
                repository_level=r.repository_level,
                shared=not r.repository_level and r.group_id in shared,
            )
            for r in ordered
        ),
        key=lambda m: len(m.missing),
    )
    return Diagnosis(
        Reason.NO_MATCHING_LABELS,
        labels,
        missing_labels=tuple(label for label in labels if label not in carried),
        closest=tuple(m for m in near if len(m.missing) < len(labels))[:CLOSEST_MAX],
    )


def _by_group(
    job: Job, matching: Sequence[RunnerInfo], groups: Iterable[RunnerGroup]
) -> tuple[Diagnosis, list[RunnerInfo]]:
    """The matching runners the job may use (their groups allow it), and a diagnosis of
    ``group_not_allowed`` naming the groups that keep the others out: the reason when
    none is usable, the base of the runner reasons otherwise."""
    by_id = {g.id: g for g in groups}
    usable: list[RunnerInfo] = []
    excluded: dict[int, tuple[RunnerGroup, tuple[Exclusion, ...], list[str]]] = {}
    unverified: dict[int, str] = {}
    for runner in matching:
        group = (
            None
            if runner.repository_level or runner.group_id is None
            else by_id.get(runner.group_id)
        )
        if group is None:
            usable.append(runner)
            continue
        reasons, workflow_unknown = group_exclusions(group, job)
        if reasons:
            excluded.setdefault(group.id, (group, reasons, []))[2].append(runner.name)
            continue
        if workflow_unknown:
            unverified[group.id] = group.name
        usable.append(runner)
    base = Diagnosis(
        Reason.GROUP_NOT_ALLOWED,
        job.labels,
        matching=len(matching),
        usable=len(usable),
        excluded_groups=tuple(
            GroupExclusion(g.id, g.name, why, tuple(names))
            for g, why, names in sorted(excluded.values(), key=lambda e: e[0].name.lower())
        ),
        unverified_workflow_groups=tuple(sorted(unverified.values(), key=str.lower)),
        repository=job.repository,
    )
    return base, usable


def _by_state(
    base: Diagnosis,
    usable: Sequence[RunnerInfo],
    *,
    now: datetime,
    last_seen_online: Mapping[int, datetime | None],
    queued_same_labels: int,
    latest_runner_version: str | None,
    version_ends: Ends,
) -> Diagnosis:
    """Usable runners exist: all offline, all busy, or some idle and not taking it."""
    offline = tuple(
        sorted(
            (_offline(r, now, last_seen_online) for r in usable if not r.online),
            key=_longest_offline_first,
        )
    )
    online = [r for r in usable if r.online]
    if not online:
        return replace(base, reason=Reason.ALL_OFFLINE, offline=offline)
    idle = [r for r in online if not r.busy]
    if not idle:
        return replace(
            base,
            reason=Reason.ALL_BUSY,
            offline=offline,
            busy=len(online),
            queued_same_labels=queued_same_labels,
        )
    return replace(
        base,
        reason=Reason.IDLE_NOT_TAKING,
        busy=len(online) - len(idle),
        queued_same_labels=queued_same_labels,
        idle=tuple(
            IdleRunner(
                r.id,
                r.name,
                r.version,
                looks_outdated(r.version, latest_runner_version),
                jobs_ended(r.version, version_ends, now),
            )
            for r in idle
        ),
    )


def _offline(
    runner: RunnerInfo, now: datetime, last_seen_online: Mapping[int, datetime | None]
) -> OfflineRunner:
    seen = last_seen_online.get(runner.id)
    return OfflineRunner(
        runner.id, runner.name, seen, None if seen is None else max(now - seen, timedelta(0))
    )


def _longest_offline_first(runner: OfflineRunner) -> tuple[int, timedelta]:
    # Never seen online first (the likeliest broken machines), then longest offline.
    if runner.offline_for is None:
        return (0, timedelta(0))
    return (1, -runner.offline_for)


def group_exclusions(group: RunnerGroup, job: Job) -> tuple[tuple[Exclusion, ...], bool]:
    """The settings of ``group`` that keep ``job`` out, and whether the workflow check was
    left unverified (restricted group, job's workflow ref unknown or not comparable).

    ``visible_to_repository`` (GitHub's own answer) decides the repository side when set;
    the settings then only explain it. When it is None the settings decide, and an
    unknown (selected repositories not fetched, public-ness unknown) admits.
    """
    from_settings: list[Exclusion] = []
    if job.repository_public is True:
        if not group.allows_public_repositories:
            from_settings.append(Exclusion.PUBLIC_NOT_ALLOWED)
        if group.visibility == "private":
            from_settings.append(Exclusion.PRIVATE_ONLY)
    if (
        group.visibility == "selected"
        and group.selected_repositories is not None
        and job.repository.lower() not in group.selected_repositories
    ):
        from_settings.append(Exclusion.SELECTED_REPOSITORIES)

    if group.visible_to_repository is True:
        reasons: list[Exclusion] = []
    elif group.visible_to_repository is False:
        if from_settings:
            reasons = from_settings
        elif group.visibility == "selected":
            reasons = [Exclusion.SELECTED_REPOSITORIES]
        else:
            reasons = [Exclusion.NOT_VISIBLE]
    else:
        reasons = from_settings

    unverified = False
    if group.restricted_to_workflows:
        allowed = workflow_allowed(job.workflow_ref, group.selected_workflows, job.head_sha)
        if allowed is False:
            reasons.append(Exclusion.WORKFLOW_RESTRICTIONS)
        unverified = allowed is None
    return tuple(reasons), unverified


_REF_PREFIXES = ("refs/heads/", "refs/tags/")


def _split_ref(text: str) -> tuple[str, str | None]:
    path, at, ref = text.strip().rpartition("@")
    if not at:
        return text.strip().lower(), None
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    return path.lower(), ref or None


def workflow_allowed(
    workflow_ref: str | None, selected_workflows: Iterable[str], head_sha: str | None = None
) -> bool | None:
    """Whether a workflow restricted group admits this workflow: True, False, or None when
    it cannot be told.

    Entries are ``owner/repo/.github/workflows/file.yml@ref`` with a branch, tag or full
    SHA; ``refs/heads/`` and ``refs/tags/`` are ignored on both sides and paths compare
    case-insensitively. A job ref without ``@ref`` or an entry with ``*`` can only give
    None (or True through another entry); an empty list admits nothing.
    """
    entries = [e for e in selected_workflows if isinstance(e, str) and e.strip()]
    if not entries:
        return False
    if not workflow_ref:
        return None
    path, ref = _split_ref(workflow_ref)
    accepted = {ref} if ref else set()
    if head_sha:
        accepted.add(head_sha.lower())
    undecided = False
    for entry in entries:
        if "*" in entry:
            undecided = True
            continue
        entry_path, entry_ref = _split_ref(entry)
        if entry_path != path:
            continue
        if ref is None:
            undecided = True
        elif entry_ref is not None and (entry_ref in accepted or entry_ref.lower() in accepted):
            return True
    return None if undecided else False


_VERSION = re.compile(r"v?([0-9]+(?:\.[0-9]+)*)", re.ASCII)


def _version(text: str | None) -> tuple[int, ...] | None:
    match = _VERSION.fullmatch(text.strip()) if text else None
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def looks_outdated(version: str | None, latest: str | None) -> bool | None:
    """True when the runner's version is unknown (never reported one) or older than
    ``latest``; False when at or past it; None when there is nothing to compare with.

    A runner more than 30 days behind a release gets no jobs when auto-update is off, so
    an idle runner that does not take jobs is most often this."""
    if version is None or not version.strip():
        return True
    mine, newest = _version(version), _version(latest)
    if mine is None or newest is None:
        return None
    width = max(len(mine), len(newest))
    return mine + (0,) * (width - len(mine)) < newest + (0,) * (width - len(newest))
