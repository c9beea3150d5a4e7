"""from_github: GitHub's JSON into the watch's inputs, tolerant of missing and odd fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.github.models import Runner
from bot.watch.models import (
    Job,
    RunnerGroup,
    RunnerInfo,
    groups_from_github,
    runners_from_github,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

WORKFLOW_JOB = {
    "id": 29679449,
    "run_id": 10592302,
    "workflow_name": "CI",
    "head_sha": "abc123",
    "status": "queued",
    "created_at": "2024-05-01T12:00:00Z",
    "started_at": "2024-05-01T12:00:00Z",
    "completed_at": None,
    "name": "build",
    "labels": ["self-hosted", "Linux", "GPU"],
    "runner_id": None,
    "runner_name": None,
    "html_url": "https://github.com/acme/api/actions/runs/10592302/job/29679449",
}


@pytest.mark.parametrize(
    ("payload", "repository", "expected"),
    [
        pytest.param(
            WORKFLOW_JOB,
            {"full_name": "acme/api", "private": True},
            {
                "id": 29679449,
                "labels": ("gpu", "linux", "self-hosted"),
                "status": "queued",
                "repository": "acme/api",
                "repository_public": False,
                "created_at": T0,
                "completed_at": None,
                "run_id": 10592302,
            },
            id="documented-shape",
        ),
        pytest.param(
            {
                "action": "queued",
                "workflow_job": WORKFLOW_JOB,
                "repository": {"full_name": "acme/web", "visibility": "public"},
            },
            None,
            {"id": 29679449, "repository": "acme/web", "repository_public": True},
            id="whole-webhook-body",
        ),
        pytest.param(
            WORKFLOW_JOB,
            {"full_name": "acme/api", "visibility": "internal", "private": False},
            {"repository_public": False},
            id="internal-is-not-public",
        ),
        pytest.param(
            {},
            None,
            {
                "id": None,
                "labels": (),
                "status": "queued",
                "repository": "",
                "repository_public": None,
                "created_at": None,
            },
            id="empty-object",
        ),
        pytest.param(
            "not a job",
            None,
            {"id": None, "labels": (), "status": "queued"},
            id="not-an-object",
        ),
        pytest.param(
            {
                "id": "42",
                "status": "WAITING",
                "labels": "self-hosted",
                "created_at": "yesterday",
                "run_id": True,
            },
            {"private": "yes"},
            {
                "id": 42,
                "status": "waiting",
                "labels": (),
                "created_at": None,
                "run_id": None,
                "repository_public": None,
            },
            id="odd-field-types",
        ),
        pytest.param(
            {"labels": [{"name": "Linux"}, "x64", None, 7]},
            None,
            {"labels": ("linux", "x64")},
            id="label-objects-and-junk",
        ),
        pytest.param(
            {"created_at": "2024-05-01T14:00:00+02:00"},
            None,
            {"created_at": T0},
            id="offset-timestamp",
        ),
    ],
)
def test_job_from_github(
    payload: Any, repository: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    job = Job.from_github(payload, repository=repository)
    assert {name: getattr(job, name) for name in expected} == expected


def test_job_workflow_ref_is_the_callers() -> None:
    ref = "acme/api/.github/workflows/ci.yml@refs/heads/main"
    assert Job.from_github(WORKFLOW_JOB, workflow_ref=ref).workflow_ref == ref


RUNNER = {
    "id": 23,
    "name": "MBP",
    "os": "macos",
    "status": "online",
    "busy": True,
    "labels": [
        {"id": 5, "name": "self-hosted", "type": "read-only"},
        {"id": 7, "name": "macOS", "type": "read-only"},
        {"id": 20, "name": "no-gpu", "type": "custom"},
    ],
    "runner_group_id": 4,
    "ephemeral": False,
    "version": "2.319.1",
}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            RUNNER,
            RunnerInfo(
                23,
                "MBP",
                ("macos", "no-gpu", "self-hosted"),
                "online",
                True,
                4,
                "2.319.1",
                False,
                "macos",
            ),
            id="documented-shape",
        ),
        pytest.param(
            {"id": 9},
            RunnerInfo(9, "runner 9"),
            id="only-an-id",
        ),
        pytest.param(
            {
                "id": 9,
                "name": "",
                "status": "Offline",
                "busy": "yes",
                "labels": None,
                "runner_group_id": "x",
                "version": None,
                "ephemeral": "no",
                "os": None,
            },
            RunnerInfo(9, "runner 9", (), "offline", False, None, None, None, "unknown"),
            id="odd-fields-default",
        ),
    ],
)
def test_runner_from_github(payload: dict[str, Any], expected: RunnerInfo) -> None:
    assert RunnerInfo.from_github(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"name": "no-id"}, id="no-id"),
        pytest.param({"id": True}, id="bool-id"),
        pytest.param(None, id="none"),
    ],
)
def test_runner_without_id_is_refused(payload: Any) -> None:
    with pytest.raises(ValueError, match="without an id"):
        RunnerInfo.from_github(payload)


def test_runner_from_the_runner_service_model() -> None:
    model = Runner.from_api(RUNNER)
    assert RunnerInfo.from_runner(model, repository_level=True) == RunnerInfo(
        23,
        "MBP",
        ("macos", "no-gpu", "self-hosted"),
        "online",
        True,
        4,
        "2.319.1",
        False,
        "macos",
        repository_level=True,
    )


@pytest.mark.parametrize(
    ("data", "names", "skipped"),
    [
        pytest.param(
            {"total_count": 2, "runners": [RUNNER, {"id": 1}]},
            ["MBP", "runner 1"],
            0,
            id="page-object",
        ),
        pytest.param([RUNNER, {"name": "x"}, "junk"], ["MBP"], 2, id="list-with-unreadable"),
        pytest.param({"total_count": 0}, [], 0, id="page-without-list"),
        pytest.param(None, [], 0, id="nothing"),
    ],
)
def test_runners_from_github(data: Any, names: list[str], skipped: int) -> None:
    runners, count = runners_from_github(data)
    assert ([r.name for r in runners], count) == (names, skipped)


GROUP = {
    "id": 2,
    "name": "octo-runner-group",
    "visibility": "selected",
    "default": False,
    "selected_repositories_url": "https://api.github.com/orgs/octo-org/actions/runner-groups/2/repositories",
    "runners_url": "https://api.github.com/orgs/octo-org/actions/runner-groups/2/runners",
    "inherited": False,
    "allows_public_repositories": True,
    "restricted_to_workflows": True,
    "selected_workflows": ["octo-org/octo-repo/.github/workflows/deploy.yaml@refs/heads/main"],
    "workflow_restrictions_read_only": False,
}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            GROUP,
            RunnerGroup(
                2,
                "octo-runner-group",
                "selected",
                False,
                False,
                True,
                True,
                ("octo-org/octo-repo/.github/workflows/deploy.yaml@refs/heads/main",),
            ),
            id="documented-shape",
        ),
        pytest.param(
            {"id": 1},
            RunnerGroup(1, "group 1"),  # GitHub's defaults: no public repos, no restriction
            id="only-an-id",
        ),
        pytest.param(
            {
                "id": 3,
                "name": "g",
                "visibility": "ALL",
                "allows_public_repositories": "true",
                "selected_workflows": "x.yml",
                "restricted_to_workflows": None,
            },
            RunnerGroup(3, "g", "all"),
            id="odd-fields-default",
        ),
        pytest.param(
            {"id": 3, "name": "g", "selected_workflows": ["a.yml@main", "", None]},
            RunnerGroup(3, "g", selected_workflows=("a.yml@main",)),
            id="blank-workflows-dropped",
        ),
    ],
)
def test_group_from_github(payload: dict[str, Any], expected: RunnerGroup) -> None:
    assert RunnerGroup.from_github(payload) == expected


def test_group_selected_repositories_compare_lowercased() -> None:
    group = RunnerGroup.from_github(GROUP, selected_repositories=["Acme/API", None])  # type: ignore[list-item]
    assert group.selected_repositories == frozenset({"acme/api"})


def test_groups_from_github_marks_visibility_from_the_query() -> None:
    page = {"total_count": 3, "runner_groups": [GROUP, {"id": 1, "name": "Default"}, {}]}
    groups, skipped = groups_from_github(page, visible_ids={1})
    assert [(g.name, g.visible_to_repository) for g in groups] == [
        ("octo-runner-group", False),
        ("Default", True),
    ]
    assert skipped == 1


def test_groups_from_github_without_the_query_leaves_visibility_unknown() -> None:
    groups, _ = groups_from_github([GROUP])
    assert groups[0].visible_to_repository is None


def test_labels_are_canonical_however_built() -> None:
    assert Job(1, ("Linux", "self-hosted", "LINUX")).labels == ("linux", "self-hosted")
    assert RunnerInfo(1, "r", ("X64", "Linux")).labels == ("linux", "x64")
