"""What the runner service returns: plain data, free of Slack and of HTTP.

GitHub's answers are validated here, at the boundary, by pydantic: a runner without an
``id``, labels sent as plain strings or a body that is not the documented shape becomes
either a readable model or a counted, skipped item, never a crash deeper in the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from bot.timestamps import parse_time

T = TypeVar("T")


class Unreadable(ValueError):
    """GitHub answered with a body that is not the documented shape."""


def _label(value: Any) -> Any:
    # The spec says objects; a plain string still names a label, so keep it readable.
    if isinstance(value, str):
        return {"id": None, "name": value, "type": "custom"}
    return value


def _text_or(default: str) -> Any:
    return BeforeValidator(lambda v: default if v is None or v == "" else v)


@dataclass(frozen=True, slots=True)
class Label:
    id: int | None
    name: str
    type: Annotated[str, _text_or("read-only")] = "read-only"  # "read-only" or "custom"

    @property
    def custom(self) -> bool:
        return self.type == "custom"


@dataclass(frozen=True, slots=True)
class Runner:
    id: int
    name: str
    os: Annotated[str, _text_or("unknown")] = "unknown"
    status: Annotated[str, _text_or("unknown")] = "unknown"
    busy: Annotated[bool, BeforeValidator(lambda v: False if v is None else v)] = False
    labels: Annotated[
        tuple[Annotated[Label, BeforeValidator(_label)], ...],
        BeforeValidator(lambda v: () if v is None else v),
    ] = ()
    runner_group_id: int | None = None
    ephemeral: bool | None = None
    version: str | None = None

    @property
    def online(self) -> bool:
        return self.status == "online"

    @classmethod
    def from_api(cls, data: Any) -> Runner:
        return read(_RUNNER, data)


@dataclass(frozen=True, slots=True)
class RunnerToken:
    """A registration or remove token. An admin secret: never log or post it in channel.

    ``expires_at`` is None when GitHub's time cannot be read: the token was still issued
    (and is audited as such), it just cannot say when it ends."""

    token: str = field(repr=False)
    expires_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Any) -> RunnerToken:
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise Unreadable("a token response without a token")
        if not data["token"]:
            raise Unreadable("an empty token")
        try:
            expires: datetime | None = parse_time(str(data.get("expires_at")))
        except ValueError:
            expires = None
        return cls(token=data["token"], expires_at=expires)


@dataclass(frozen=True, slots=True)
class RunnerGroup:
    """A runner group as its organization or enterprise sees it.

    ``visibility``: ``all``, ``selected`` (repositories of an organization, organizations
    of an enterprise) or ``private`` (an organization's private repositories only).
    ``inherited``: shared with the organization by its enterprise."""

    id: int
    name: str
    visibility: Annotated[str, _text_or("all")] = "all"
    default: Annotated[bool, BeforeValidator(lambda v: bool(v))] = False
    allows_public_repositories: Annotated[bool, BeforeValidator(lambda v: bool(v))] = False
    restricted_to_workflows: Annotated[bool, BeforeValidator(lambda v: bool(v))] = False
    selected_workflows: Annotated[
        tuple[str, ...], BeforeValidator(lambda v: () if v is None else v)
    ] = ()
    inherited: Annotated[bool, BeforeValidator(lambda v: bool(v))] = False
    runner_count: int | None = None  # ours, not GitHub's: filled in when counted

    @classmethod
    def from_api(cls, data: Any) -> RunnerGroup:
        return read(_GROUP, data)


@dataclass(frozen=True, slots=True)
class JitConfig:
    """A just-in-time runner's configuration. ``encoded`` is a credential, like a runner
    registration token: never log it, never post it in channel."""

    runner: Runner
    encoded: str = field(repr=False)

    @classmethod
    def from_api(cls, data: Any) -> JitConfig:
        if not isinstance(data, dict):
            raise Unreadable("a JIT answer that is not an object")
        encoded = data.get("encoded_jit_config")
        if not isinstance(encoded, str) or not encoded:
            raise Unreadable("a JIT answer without its configuration")
        return cls(runner=Runner.from_api(data.get("runner")), encoded=encoded)


@dataclass(frozen=True, slots=True)
class Download:
    os: str
    architecture: str
    download_url: str
    filename: str
    sha256_checksum: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> Download:
        return read(_DOWNLOAD, data)


@dataclass(frozen=True, slots=True)
class RunnerFilter:
    """Which listed runners to keep (``list``'s flags, built by its caller): every label
    must match, a name partly; None and () keep all."""

    status: str | None = None
    busy: bool | None = None
    labels: tuple[str, ...] = ()
    name: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.busy is not None or self.labels or self.name)


class RunnerKey(Protocol):
    """Which runner a request names: by id, by exact name, or (``either``) a bare number
    that may be both. :class:`bot.commands.RunnerRef` is one; the GitHub layer needs only
    these facts of it."""

    @property
    def by(self) -> str: ...
    @property
    def id(self) -> int | None: ...
    @property
    def names(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class RunnerList:
    """A target's runners as listed, with what makes the list less than whole.

    ``failed_pages``: pages GitHub did not give; ``total_count``: what GitHub counted (it
    can differ when runners come and go while the pages are fetched); ``skipped``: items
    GitHub listed that could not be read; ``duplicates``: runners a later page repeated
    (shown once); ``page_counts``: each page's ``total_count``, which differ when the fleet
    changed between pages."""

    runners: list[Runner]
    total_count: int | None = None
    failed_pages: tuple[int, ...] = ()
    skipped: int = 0
    pages: int = 1  # GitHub requests the listing took (one a page)
    duplicates: int = 0
    page_counts: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed_pages

    @property
    def count_differs(self) -> bool:
        return self.total_count is not None and self.total_count != len(self.runners) + (
            self.skipped
        )

    @property
    def changed(self) -> bool:
        """Runners came or went while the pages were fetched: a page repeated another's
        runner, the pages' counts disagree, or GitHub's count is not what was gathered."""
        return self.duplicates > 0 or len(set(self.page_counts)) > 1 or self.count_differs

    @property
    def drift(self) -> int:
        """How far the counts shown may be off, at least: the most of the repeats dropped,
        the spread of the pages' counts, and GitHub's count against what was gathered."""
        spread = max(self.page_counts) - min(self.page_counts) if self.page_counts else 0
        gathered = len(self.runners) + self.skipped
        off = abs(self.total_count - gathered) if self.total_count is not None else 0
        return max(self.duplicates, spread, off)


_RUNNER: TypeAdapter[Runner] = TypeAdapter(Runner)
_DOWNLOAD: TypeAdapter[Download] = TypeAdapter(Download)
_GROUP: TypeAdapter[RunnerGroup] = TypeAdapter(RunnerGroup)
_LABEL: TypeAdapter[Label] = TypeAdapter(Annotated[Label, BeforeValidator(_label)])


def read(adapter: TypeAdapter[T], data: Any) -> T:
    """Validate one item of GitHub's answer; :class:`Unreadable` when it does not fit."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = exc.errors()
        if not problems:
            raise Unreadable("not the documented shape") from None
        where = ".".join(str(p) for p in problems[0]["loc"]) or "the body"
        raise Unreadable(f"{where}: {problems[0]['msg']}") from None


def read_each(adapter: TypeAdapter[T], items: Iterable[Any]) -> tuple[list[T], int]:
    """Validate every item; return the readable ones and how many were skipped."""
    good: list[T] = []
    skipped = 0
    for item in items:
        try:
            good.append(adapter.validate_python(item))
        except ValidationError:
            skipped += 1
    return good, skipped


def runners_of(items: Iterable[Any]) -> tuple[list[Runner], int]:
    return read_each(_RUNNER, items)


def groups_of(items: Iterable[Any]) -> tuple[list[RunnerGroup], int]:
    return read_each(_GROUP, items)


def labels_of(data: Any) -> tuple[Label, ...]:
    """The labels of a ``{total_count, labels}`` answer; :class:`Unreadable` otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise Unreadable("a labels answer without labels")
    labels, skipped = read_each(_LABEL, data["labels"])
    if skipped:
        raise Unreadable(f"{skipped} unreadable labels")
    return tuple(labels)


def downloads_of(items: Iterable[Any]) -> tuple[list[Download], int]:
    return read_each(_DOWNLOAD, items)
