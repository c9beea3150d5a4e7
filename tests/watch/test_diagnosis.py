"""diagnose(): every reason, the precedence between them, and the facts each carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.watch.diagnosis import (
    Diagnosis,
    Exclusion,
    GroupExclusion,
    IdleRunner,
    NearMiss,
    OfflineRunner,
    Reason,
    diagnose,
    group_exclusions,
    looks_outdated,
    workflow_allowed,
)
from bot.watch.models import Job, RunnerGroup, RunnerInfo

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINUX = ("linux", "self-hosted")
GPU = ("gpu", "linux", "self-hosted")
REF = "acme/api/.github/workflows/ci.yml@refs/heads/main"

JOB = Job(id=1, labels=GPU, repository="acme/api", repository_public=False, workflow_ref=REF)


def runner(
    rid: int,
    name: str,
    labels: tuple[str, ...] = GPU,
    *,
    status: str = "online",
    busy: bool = False,
    group: int | None = 1,
    version: str | None = "2.320.0",
    repo_level: bool = False,
) -> RunnerInfo:
    return RunnerInfo(rid, name, labels, status, busy, group, version, repository_level=repo_level)


DEFAULT = RunnerGroup(1, "Default", "all", default=True, allows_public_repositories=True)
SELECTED = RunnerGroup(2, "gpu-team", "selected", visible_to_repository=False)
RESTRICTED = RunnerGroup(
    3,
    "deploy",
    "all",
    restricted_to_workflows=True,
    selected_workflows=("acme/api/.github/workflows/deploy.yml@main",),
)
GROUPS = (DEFAULT, SELECTED, RESTRICTED)

SEEN = {10: NOW - timedelta(minutes=23), 11: NOW - timedelta(hours=2), 12: None}


def run(
    job: Job = JOB,
    runners: tuple[RunnerInfo, ...] = (),
    groups: tuple[RunnerGroup, ...] = GROUPS,
    latest: str | None = None,
) -> Diagnosis:
    return diagnose(
        job,
        runners,
        groups,
        now=NOW,
        last_seen_online=SEEN,
        queued_same_labels=4,
        latest_runner_version=latest,
    )


# Each case: the job, the runners, and the whole Diagnosis expected.
CASES = [
    pytest.param(
        replace(JOB, status="waiting"),
        (runner(10, "a", status="offline"),),
        Diagnosis(Reason.WAITING_APPROVAL, GPU),
        id="waiting-beats-everything",
    ),
    pytest.param(
        replace(JOB, status="in_progress"),
        (),
        Diagnosis(Reason.NOT_QUEUED, GPU),
        id="in-progress-is-not-stuck",
    ),
    pytest.param(
        replace(JOB, status="completed"),
        (),
        Diagnosis(Reason.NOT_QUEUED, GPU),
        id="completed-is-not-stuck",
    ),
    pytest.param(
        replace(JOB, labels=("ubuntu-latest",)),
        (),
        Diagnosis(Reason.GITHUB_HOSTED, ("ubuntu-latest",)),
        id="hosted-job",
    ),
    pytest.param(
        JOB,
        (),
        Diagnosis(Reason.NO_MATCHING_LABELS, GPU, missing_labels=GPU),
        id="no-runners-at-all",
    ),
    pytest.param(
        JOB,
        (
            runner(10, "lin-b", LINUX),
            runner(11, "lin-a", LINUX, status="offline"),
            runner(12, "win", ("self-hosted", "windows")),
            runner(13, "mac", ("macos", "self-hosted")),
            runner(14, "bare", ()),
        ),
        Diagnosis(
            Reason.NO_MATCHING_LABELS,
            GPU,
            missing_labels=("gpu",),
            closest=(
                NearMiss(11, "lin-a", ("gpu",), online=False),
                NearMiss(10, "lin-b", ("gpu",), online=True),
                NearMiss(13, "mac", ("gpu", "linux"), online=True),
            ),
        ),
        id="no-match-closest-three-fewest-missing-then-name",
    ),
    pytest.param(
        JOB,
        (
            runner(10, "cuda", ("gpu", "self-hosted")),
            runner(11, "cpu", LINUX),
        ),
        Diagnosis(
            Reason.NO_MATCHING_LABELS,
            GPU,
            missing_labels=(),
            closest=(
                NearMiss(11, "cpu", ("gpu",), online=True),
                NearMiss(10, "cuda", ("linux",), online=True),
            ),
        ),
        id="every-label-carried-but-never-all-on-one-runner",
    ),
    pytest.param(
        JOB,
        (runner(10, "other", ("arm64",)),),
        Diagnosis(Reason.NO_MATCHING_LABELS, GPU, missing_labels=GPU),
        id="runner-sharing-no-label-is-not-close",
    ),
    pytest.param(
        JOB,
        (runner(10, "gpu-1", group=2), runner(11, "gpu-2", group=2, status="offline")),
        Diagnosis(
            Reason.GROUP_NOT_ALLOWED,
            GPU,
            matching=2,
            excluded_groups=(
                GroupExclusion(
                    2, "gpu-team", (Exclusion.SELECTED_REPOSITORIES,), ("gpu-1", "gpu-2")
                ),
            ),
        ),
        id="group-not-allowed-beats-offline",
    ),
    pytest.param(
        JOB,
        (runner(10, "deployer", group=3),),
        Diagnosis(
            Reason.GROUP_NOT_ALLOWED,
            GPU,
            matching=1,
            excluded_groups=(
                GroupExclusion(3, "deploy", (Exclusion.WORKFLOW_RESTRICTIONS,), ("deployer",)),
            ),
        ),
        id="workflow-restriction",
    ),
    pytest.param(
        JOB,
        (
            runner(10, "a", status="offline"),
            runner(11, "b", status="offline"),
            runner(12, "c", status="offline"),
            runner(13, "gpu-x", group=2),
        ),
        Diagnosis(
            Reason.ALL_OFFLINE,
            GPU,
            matching=4,
            usable=3,
            offline=(
                OfflineRunner(12, "c", None, None),
                OfflineRunner(11, "b", NOW - timedelta(hours=2), timedelta(hours=2)),
                OfflineRunner(10, "a", NOW - timedelta(minutes=23), timedelta(minutes=23)),
            ),
            excluded_groups=(
                GroupExclusion(2, "gpu-team", (Exclusion.SELECTED_REPOSITORIES,), ("gpu-x",)),
            ),
        ),
        id="all-offline-never-seen-first-then-longest",
    ),
    pytest.param(
        JOB,
        (runner(99, "unknown-status", status="unknown"),),
        Diagnosis(
            Reason.ALL_OFFLINE,
            GPU,
            matching=1,
            usable=1,
            offline=(OfflineRunner(99, "unknown-status", None, None),),
        ),
        id="status-other-than-online-counts-offline",
    ),
    pytest.param(
        JOB,
        (runner(10, "a", busy=True), runner(11, "b", busy=True)),
        Diagnosis(Reason.ALL_BUSY, GPU, matching=2, usable=2, busy=2, queued_same_labels=4),
        id="all-busy",
    ),
    pytest.param(
        JOB,
        (runner(10, "a", busy=True), runner(11, "b", status="offline")),
        Diagnosis(
            Reason.ALL_BUSY,
            GPU,
            matching=2,
            usable=2,
            busy=1,
            queued_same_labels=4,
            offline=(OfflineRunner(11, "b", NOW - timedelta(hours=2), timedelta(hours=2)),),
        ),
        id="mixed-busy-and-offline-is-all-busy-with-counts",
    ),
    pytest.param(
        JOB,
        (runner(10, "a", busy=True), runner(11, "b", version="2.300.0"), runner(12, "c")),
        Diagnosis(
            Reason.IDLE_NOT_TAKING,
            GPU,
            matching=3,
            usable=3,
            busy=1,
            queued_same_labels=4,
            idle=(
                IdleRunner(11, "b", "2.300.0", outdated=True),
                IdleRunner(12, "c", "2.320.0", outdated=False),
            ),
        ),
        id="idle-not-taking-with-outdated-hint",
    ),
    pytest.param(
        replace(JOB, labels=("GPU", "Linux", "Self-Hosted")),
        (runner(10, "a", ("GPU", "linux", "SELF-HOSTED", "x64"), busy=True),),
        Diagnosis(
            Reason.ALL_BUSY,
            GPU,
            matching=1,
            usable=1,
            busy=1,
            queued_same_labels=4,
        ),
        id="label-case-does-not-matter-and-extra-runner-labels-are-fine",
    ),
    pytest.param(
        replace(JOB, repository_public=True),
        (runner(10, "repo-own", group=2, repo_level=True, busy=True),),
        Diagnosis(Reason.ALL_BUSY, GPU, matching=1, usable=1, busy=1, queued_same_labels=4),
        id="repository-runner-ignores-org-group-of-same-id",
    ),
    pytest.param(
        JOB,
        (runner(10, "lost-group", group=77, busy=True), runner(11, "no-group", group=None)),
        Diagnosis(
            Reason.IDLE_NOT_TAKING,
            GPU,
            matching=2,
            usable=2,
            busy=1,
            queued_same_labels=4,
            idle=(IdleRunner(11, "no-group", "2.320.0", outdated=False),),
        ),
        id="unknown-group-counts-usable",
    ),
    pytest.param(
        replace(JOB, workflow_ref=None),
        (runner(10, "deployer", group=3, status="offline"),),
        Diagnosis(
            Reason.ALL_OFFLINE,
            GPU,
            matching=1,
            usable=1,
            offline=(
                OfflineRunner(10, "deployer", NOW - timedelta(minutes=23), timedelta(minutes=23)),
            ),
            unverified_workflow_groups=("deploy",),
        ),
        id="unknown-workflow-admits-but-says-so",
    ),
]


@pytest.mark.parametrize(("job", "runners", "expected"), CASES)
def test_diagnose(job: Job, runners: tuple[RunnerInfo, ...], expected: Diagnosis) -> None:
    assert run(job, runners, latest="2.320.0") == expected


def test_every_reason_is_covered_by_a_case() -> None:
    covered = {case.values[2].reason for case in CASES}  # type: ignore[union-attr]
    assert covered == set(Reason)


def test_last_seen_in_the_future_reads_zero() -> None:
    got = diagnose(
        JOB,
        [runner(10, "a", status="offline")],
        GROUPS,
        now=NOW,
        last_seen_online={10: NOW + timedelta(seconds=5)},
        queued_same_labels=1,
    )
    assert got.offline == (OfflineRunner(10, "a", NOW + timedelta(seconds=5), timedelta(0)),)


def test_without_latest_version_outdated_is_unknown_unless_version_missing() -> None:
    got = run(JOB, (runner(10, "a"), runner(11, "b", version=None)))
    assert got.idle == (IdleRunner(10, "a", "2.320.0", None), IdleRunner(11, "b", None, True))


PUBLIC = replace(JOB, repository_public=True)


@pytest.mark.parametrize(
    ("group", "job", "expected"),
    [
        pytest.param(DEFAULT, JOB, ((), False), id="all-repos-admits"),
        pytest.param(
            RunnerGroup(1, "Default", "all"),
            PUBLIC,
            ((Exclusion.PUBLIC_NOT_ALLOWED,), False),
            id="public-repo-default-setting",
        ),
        pytest.param(
            RunnerGroup(1, "Default", "all"), JOB, ((), False), id="private-repo-default-setting"
        ),
        pytest.param(
            RunnerGroup(1, "p", "private", allows_public_repositories=True),
            PUBLIC,
            ((Exclusion.PRIVATE_ONLY,), False),
            id="private-visibility-public-repo",
        ),
        pytest.param(
            RunnerGroup(2, "s", "selected", selected_repositories=frozenset({"acme/web"})),
            JOB,
            ((Exclusion.SELECTED_REPOSITORIES,), False),
            id="selected-not-listed",
        ),
        pytest.param(
            RunnerGroup(2, "s", "selected", selected_repositories=frozenset({"acme/api"})),
            replace(JOB, repository="ACME/Api"),
            ((), False),
            id="selected-listed-any-case",
        ),
        pytest.param(
            RunnerGroup(2, "s", "selected"), JOB, ((), False), id="selected-unknown-list-admits"
        ),
        pytest.param(
            RunnerGroup(2, "s", "selected", visible_to_repository=True),
            PUBLIC,
            ((), False),
            id="github-says-visible-wins-over-settings",
        ),
        pytest.param(
            RunnerGroup(2, "s", "selected", visible_to_repository=False),
            PUBLIC,
            ((Exclusion.PUBLIC_NOT_ALLOWED,), False),
            id="hidden-explained-by-public-setting",
        ),
        pytest.param(
            RunnerGroup(1, "all", "all", True, visible_to_repository=False),
            JOB,
            ((Exclusion.NOT_VISIBLE,), False),
            id="hidden-without-explanation",
        ),
        pytest.param(
            replace(RESTRICTED, visibility="selected", visible_to_repository=False),
            JOB,
            ((Exclusion.SELECTED_REPOSITORIES, Exclusion.WORKFLOW_RESTRICTIONS), False),
            id="two-settings-both-named",
        ),
        pytest.param(
            RESTRICTED,
            replace(JOB, workflow_ref="acme/api/.github/workflows/deploy.yml@refs/heads/main"),
            ((), False),
            id="workflow-allowed",
        ),
        pytest.param(
            RESTRICTED, replace(JOB, workflow_ref=None), ((), True), id="workflow-unknown"
        ),
    ],
)
def test_group_exclusions(
    group: RunnerGroup, job: Job, expected: tuple[tuple[Exclusion, ...], bool]
) -> None:
    assert group_exclusions(group, job) == expected


DEPLOY = "acme/api/.github/workflows/deploy.yml"


@pytest.mark.parametrize(
    ("ref", "selected", "sha", "expected"),
    [
        pytest.param(f"{DEPLOY}@refs/heads/main", [f"{DEPLOY}@main"], None, True, id="branch"),
        pytest.param(
            f"{DEPLOY}@main",
            [f"{DEPLOY}@refs/heads/main"],
            None,
            True,
            id="refs-prefix-either-side",
        ),
        pytest.param(f"{DEPLOY}@refs/tags/v2", [f"{DEPLOY}@v2"], None, True, id="tag"),
        pytest.param(f"{DEPLOY}@main", [f"{DEPLOY}@ABC123"], "abc123", True, id="pinned-sha"),
        pytest.param(
            "Acme/API/.github/workflows/deploy.yml@main",
            [f"{DEPLOY}@main"],
            None,
            True,
            id="path-case",
        ),
        pytest.param(f"{DEPLOY}@dev", [f"{DEPLOY}@main"], None, False, id="other-branch"),
        pytest.param(
            "acme/api/.github/workflows/ci.yml@main",
            [f"{DEPLOY}@main"],
            None,
            False,
            id="other-workflow",
        ),
        pytest.param(f"{DEPLOY}@main", [], None, False, id="empty-list-admits-nothing"),
        pytest.param(None, [f"{DEPLOY}@main"], None, None, id="job-ref-unknown"),
        pytest.param(DEPLOY, [f"{DEPLOY}@main"], None, None, id="path-without-ref"),
        pytest.param(
            DEPLOY,
            ["acme/api/.github/workflows/ci.yml@main"],
            None,
            False,
            id="path-without-ref-no-such-path",
        ),
        pytest.param(
            f"{DEPLOY}@main",
            ["acme/*/.github/workflows/*.yml@main"],
            None,
            None,
            id="wildcard-undecided",
        ),
        pytest.param(
            f"{DEPLOY}@main", ["acme/*@main", f"{DEPLOY}@main"], None, True, id="wildcard-and-exact"
        ),
    ],
)
def test_workflow_allowed(
    ref: str | None, selected: list[str], sha: str | None, expected: bool | None
) -> None:
    assert workflow_allowed(ref, selected, sha) is expected


@pytest.mark.parametrize(
    ("version", "latest", "expected"),
    [
        pytest.param("2.300.0", "2.320.0", True, id="older"),
        pytest.param("2.320.0", "2.320.0", False, id="same"),
        pytest.param("2.321.0", "2.320.0", False, id="newer"),
        pytest.param("2.320", "2.320.0", False, id="short-equal"),
        pytest.param("2.99.0", "2.100.0", True, id="numeric-not-text-order"),
        pytest.param("v2.320.0", "2.320.1", True, id="v-prefix"),
        pytest.param(None, "2.320.0", True, id="never-reported"),
        pytest.param("", None, True, id="blank-version"),
        pytest.param("2.320.0", None, None, id="no-latest"),
        pytest.param("dev-build", "2.320.0", None, id="unparseable"),
    ],
)
def test_looks_outdated(version: str | None, latest: str | None, expected: bool | None) -> None:
    assert looks_outdated(version, latest) is expected


@pytest.mark.parametrize(
    ("runners", "reason", "unsure"),
    [
        pytest.param((runner(1, "cpu", LINUX),), Reason.NO_MATCHING_LABELS, True, id="no-labels"),
        pytest.param(
            (runner(10, "gpu", status="offline"),), Reason.ALL_OFFLINE, True, id="all-offline"
        ),
        pytest.param((runner(1, "gpu", group=2),), Reason.GROUP_NOT_ALLOWED, True, id="group"),
        pytest.param((runner(1, "gpu", busy=True),), Reason.ALL_BUSY, False, id="busy-found"),
        pytest.param((runner(1, "gpu"),), Reason.IDLE_NOT_TAKING, False, id="idle-found"),
    ],
)
def test_an_incomplete_listing_makes_absence_reasons_unsure(
    runners: tuple[RunnerInfo, ...], reason: Reason, unsure: bool
) -> None:
    """A reason that says no suitable runner was found cannot stand on a listing with a
    page missing; one that found runners (busy, idle) still can."""
    whole = run(runners=runners)
    assert whole.reason is reason and whole.complete and not whole.unsure
    partial = replace(whole, complete=False)  # as FleetView marks a partial listing's
    assert partial.unsure is unsure
