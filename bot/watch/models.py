"""The watch's inputs: a job, the runners it could use, their groups. Small and frozen.

Built from GitHub's JSON with ``from_github``, which never trusts the shape: a missing or
odd field becomes a default (``None``, ``()``, ``"unknown"``) rather than an exception,
so one strange delivery cannot stop a sweep. Only an object without an ``id`` cannot be
a runner or a group; the ``*_from_github`` list readers skip and count those.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from bot.timestamps import time_or_none
from bot.watch.labels import LabelSetKey, label_set_key

QUEUED = "queued"
WAITING = "waiting"


def _int(value: Any) -> int | None:
    # bool is an int to Python, never an id to GitHub.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _label_names(value: Any) -> list[str]:
    # Objects per the spec ({"name": ...}); plain strings are still names.
    if not isinstance(value, list | tuple):
        return []
    names: list[str] = []
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return names


def _items(data: Any, key: str) -> list[Any]:
    # A list, or GitHub's page object {"total_count": N, key: [...]}.
    if isinstance(data, Mapping):
        data = data.get(key)
    return list(data) if isinstance(data, list | tuple) else []


@dataclass(frozen=True, slots=True)
class Job:
    """One ``workflow_job``, as far as the watch needs it.

    ``repository`` is ``owner/repo``; ``repository_public`` is None when unknown.
    ``workflow_ref`` is ``owner/repo/.github/workflows/file.yml@ref`` (the form runner
    groups' ``selected_workflows`` use), or without ``@ref`` when only the path is known;
    the webhook does not carry it, the caller adds it from the run when it has it.
    """

    id: int | None
    labels: LabelSetKey
    status: str = QUEUED
    repository: str = ""
    repository_public: bool | None = None
    workflow_ref: str | None = None
    head_sha: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    run_id: int | None = None
    name: str | None = None
    workflow_name: str | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    html_url: str | None = None

    def __post_init__(self) -> None:
        # Built by hand or from JSON, the labels are always the canonical key.
        object.__setattr__(self, "labels", label_set_key(self.labels))

    @property
    def queued(self) -> bool:
        return self.status == QUEUED

    @property
    def waiting(self) -> bool:
        """Held by an environment protection rule: not a runner problem."""
        return self.status == WAITING

    @classmethod
    def from_github(
        cls,
        data: Any,
        *,
        repository: Mapping[str, Any] | None = None,
        workflow_ref: str | None = None,
    ) -> Job:
        """Read a ``workflow_job`` object, or a whole webhook body holding one.

        From a whole body the ``repository`` comes along; a status that is missing reads
        ``queued`` (the first state of every job).
        """
        if isinstance(data, Mapping) and isinstance(data.get("workflow_job"), Mapping):
            if repository is None and isinstance(data.get("repository"), Mapping):
                repository = data["repository"]
            data = data["workflow_job"]
        job: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        repo: Mapping[str, Any] = repository if isinstance(repository, Mapping) else {}
        status = _text(job.get("status"))
        return cls(
            id=_int(job.get("id")),
            labels=label_set_key(_label_names(job.get("labels"))),
            status=status.lower() if status else QUEUED,
            repository=_text(repo.get("full_name")) or "",
            repository_public=_public(repo),
            workflow_ref=_text(workflow_ref),
            head_sha=_text(job.get("head_sha")),
            created_at=time_or_none(job.get("created_at")),
            started_at=time_or_none(job.get("started_at")),
            completed_at=time_or_none(job.get("completed_at")),
            run_id=_int(job.get("run_id")),
            name=_text(job.get("name")),
            workflow_name=_text(job.get("workflow_name")),
            runner_id=_int(job.get("runner_id")),
            runner_name=_text(job.get("runner_name")),
            html_url=_text(job.get("html_url")),
        )


def _public(repo: Mapping[str, Any]) -> bool | None:
    visibility = repo.get("visibility")
    if isinstance(visibility, str) and visibility:
        return visibility.lower() == "public"  # "internal" is not public
    private = repo.get("private")
    return (not private) if isinstance(private, bool) else None


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class RunnerFacts(Protocol):
    """What :meth:`RunnerInfo.from_runner` reads of a runner: the fields of the runner
    service's model, named here so that the pure core needs nothing of the GitHub layer."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Iterable[_Named]: ...
    @property
    def status(self) -> str: ...
    @property
    def busy(self) -> bool: ...
    @property
    def runner_group_id(self) -> int | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def ephemeral(self) -> bool | None: ...
    @property
    def os(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RunnerInfo:
    """A runner the job's repository could see.

    ``repository_level``: registered on the repository itself, so no runner group
    governs it (its ``runner_group_id`` would otherwise be mistaken for the
    organization's group of the same id).
    """

    id: int
    name: str
    labels: LabelSetKey = ()
    status: str = "unknown"
    busy: bool = False
    group_id: int | None = None
    version: str | None = None
    ephemeral: bool | None = None
    os: str = "unknown"
    repository_level: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", label_set_key(self.labels))

    @property
    def online(self) -> bool:
        return self.status == "online"

    @classmethod
    def from_github(cls, data: Any, *, repository_level: bool = False) -> RunnerInfo:
        """Read a runner object; :class:`ValueError` only when it has no usable ``id``."""
        item: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        runner_id = _int(item.get("id"))
        if runner_id is None:
            raise ValueError("a runner without an id")
        status = _text(item.get("status"))
        ephemeral = item.get("ephemeral")
        return cls(
            id=runner_id,
            name=_text(item.get("name")) or f"runner {runner_id}",
            labels=label_set_key(_label_names(item.get("labels"))),
            status=status.lower() if status else "unknown",
            busy=item.get("busy") is True,
            group_id=_int(item.get("runner_group_id")),
            version=_text(item.get("version")),
            ephemeral=ephemeral if isinstance(ephemeral, bool) else None,
            os=_text(item.get("os")) or "unknown",
            repository_level=repository_level,
        )

    @classmethod
    def from_runner(cls, runner: RunnerFacts, *, repository_level: bool = False) -> RunnerInfo:
        """From the runner service's validated model (:class:`bot.github.models.Runner`)."""
        return cls(
            id=runner.id,
            name=runner.name,
            labels=label_set_key(label.name for label in runner.labels),
            status=runner.status.lower(),
            busy=runner.busy,
            group_id=runner.runner_group_id,
            version=runner.version,
            ephemeral=runner.ephemeral,
            os=runner.os,
            repository_level=repository_level,
        )


@dataclass(frozen=True, slots=True)
class RunnerGroup:
    """A runner group's access settings, and whether the job's repository may use it.

    ``visible_to_repository`` is filled by the caller from ``GET /orgs/{org}/actions/
    runner-groups?visible_to_repository=REPO`` (None: not asked); the raw settings are
    kept to *explain* an exclusion. ``selected_repositories`` (full names) is filled only
    when the caller fetched ``selected_repositories_url``.
    """

    id: int
    name: str
    visibility: str = "unknown"  # "all", "selected" or "private"
    default: bool = False
    inherited: bool = False
    allows_public_repositories: bool = False
    restricted_to_workflows: bool = False
    selected_workflows: tuple[str, ...] = ()
    visible_to_repository: bool | None = None
    selected_repositories: frozenset[str] | None = None

    @classmethod
    def from_github(
        cls,
        data: Any,
        *,
        visible_to_repository: bool | None = None,
        selected_repositories: Iterable[str] | None = None,
    ) -> RunnerGroup:
        """Read a runner-group object; :class:`ValueError` only when it has no ``id``.

        Booleans GitHub leaves out take GitHub's defaults (``allows_public_repositories``
        false, ``restricted_to_workflows`` false).
        """
        item: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        group_id = _int(item.get("id"))
        if group_id is None:
            raise ValueError("a runner group without an id")
        visibility = _text(item.get("visibility"))
        workflows = item.get("selected_workflows")
        return cls(
            id=group_id,
            name=_text(item.get("name")) or f"group {group_id}",
            visibility=visibility.lower() if visibility else "unknown",
            default=item.get("default") is True,
            inherited=item.get("inherited") is True,
            allows_public_repositories=item.get("allows_public_repositories") is True,
            restricted_to_workflows=item.get("restricted_to_workflows") is True,
            selected_workflows=tuple(
                w for w in (workflows if isinstance(workflows, list) else []) if _text(w)
            ),
            visible_to_repository=visible_to_repository,
            selected_repositories=(
                None
                if selected_repositories is None
                else frozenset(r.lower() for r in selected_repositories if isinstance(r, str))
            ),
        )


def runners_from_github(
    data: Any, *, repository_level: bool = False
) -> tuple[list[RunnerInfo], int]:
    """Every readable runner of a list (or of a ``{"runners": [...]}`` page); and how many
    were skipped."""
    runners: list[RunnerInfo] = []
    skipped = 0
    for item in _items(data, "runners"):
        try:
            runners.append(RunnerInfo.from_github(item, repository_level=repository_level))
        except ValueError:
            skipped += 1
    return runners, skipped


def groups_from_github(
    data: Any, *, visible_ids: Collection[int] | None = None
) -> tuple[list[RunnerGroup], int]:
    """Every readable group of a list (or a ``{"runner_groups": [...]}`` page).

    ``visible_ids``: the ids the ``visible_to_repository`` query returned; each group's
    ``visible_to_repository`` is then its membership (None when not given).
    """
    groups: list[RunnerGroup] = []
    skipped = 0
    for item in _items(data, "runner_groups"):
        try:
            group = RunnerGroup.from_github(item)
        except ValueError:
            skipped += 1
            continue
        if visible_ids is not None:
            group = replace(group, visible_to_repository=group.id in visible_ids)
        groups.append(group)
    return groups, skipped
