"""Read-only views of the fleet: ``list``, ``get`` and ``downloads``."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import (
    RunnerRef,
    UsageError,
    check_filters,
    choice_flag,
    group_flag,
    no_more,
    parse_runner,
    take_target,
)
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.github.models import RunnerFilter
from bot.github.runners import matching
from bot.slack.blocks import Reply
from bot.slack.views import fleet as fleet_view
from bot.targets import Scope, Target

STATUSES = ("online", "offline")
OSES = ("linux", "osx", "win")
ARCHES = ("x64", "arm", "arm64")

router = Router()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListArgs(Args):
    target: Target
    public: bool = False
    status: str | None = None
    busy: bool | None = None
    labels: tuple[str, ...] = ()
    name: str | None = None
    group: str | None = None  # a group's name or id

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.busy is not None or self.labels or self.name)


def parse_list(w: Words) -> ListArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    flags = w.flags
    if "--busy" in flags and "--idle" in flags:
        raise UsageError("`--busy` and `--idle` exclude each other", "list")
    busy = True if "--busy" in flags else False if "--idle" in flags else None
    name = flags["--name"][-1] if "--name" in flags else None
    labels = tuple(flags.get("--label", ()))
    check_filters((*((name,) if name is not None else ()), *labels), "list")
    group = group_flag(flags, "list")
    if group is not None and target.scope is Scope.REPO:
        raise UsageError(
            "runner groups belong to organizations and enterprises; a repository's runners "
            "are all in its Default group",
            "list",
        )
    status = choice_flag(flags, "--status", STATUSES, "list")
    public = "--public" in flags
    return ListArgs(
        target=target,
        public=public,
        status=status,
        busy=busy,
        labels=labels,
        name=name,
        group=group,
    )


async def list_runners(inv: Invocation[ListArgs]) -> Reply:
    target = inv.command.target
    runners = inv.services.runners
    group = None
    if inv.command.group is not None:
        group = await runners.find_group(target, inv.command.group)
        listed = await runners.group_runners(target, group)
    else:
        listed = await runners.list_runners(target)
    c = inv.command
    shown = matching(RunnerFilter(c.status, c.busy, c.labels, c.name), listed.runners)
    return fleet_view.runner_list(target, listed, shown, inv.command, group=group)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerArgs(Args):
    """A verb on one runner of a target: ``get``, ``labels``, ``delete``."""

    target: Target
    runner: RunnerRef
    public: bool = False


def parse_runner_verb(w: Words) -> RunnerArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target, then="runner")
    if not rest:
        raise UsageError("which runner? give its id or exact name", w.verb)
    runner = parse_runner(rest.pop(0), w.verb)
    no_more(rest, w.verb)
    return RunnerArgs(target=target, runner=runner, public="--public" in w.flags)


async def get_runner(inv: Invocation[RunnerArgs]) -> Reply:
    target, ref = inv.command.target, inv.command.runner
    runner = await inv.services.runners.find_runner(target, ref)
    group = await inv.services.runners.group_name(target, runner.runner_group_id)
    return fleet_view.runner_detail(target, runner, inv.command, group=group)


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadsArgs(Args):
    target: Target
    public: bool = False
    os: str | None = None
    arch: str | None = None


def parse_downloads(w: Words) -> DownloadsArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    return DownloadsArgs(
        target=target,
        public="--public" in w.flags,
        os=choice_flag(w.flags, "--os", OSES, w.verb),
        arch=choice_flag(w.flags, "--arch", ARCHES, w.verb),
    )


async def downloads(inv: Invocation[DownloadsArgs]) -> Reply:
    target = inv.command.target
    found = await inv.services.runners.list_downloads(target)
    return fleet_view.downloads_reply(target, found, inv.command)


LIST = Verb(
    "list",
    "list TARGET [--status online|offline] [--busy|--idle] [--label L]... "
    "[--name TEXT] [--group GROUP] [--public]",
    "fleet status: counts, then each runner with status, busy/idle and labels",
    "read",
    parse_list,
    list_runners,
    aliases=("ls",),
    flags={
        "--status": True,
        "--busy": False,
        "--idle": False,
        "--label": True,
        "--name": True,
        "--group": True,
        "--public": False,
    },
)
GET = Verb(
    "get",
    "get TARGET RUNNER|id:N|name:TEXT [--public]",
    "one runner by id or exact name",
    "read",
    parse_runner_verb,
    get_runner,
    aliases=("show",),
    flags={"--public": False},
    positionals=2,
)
DOWNLOADS = Verb(
    "downloads",
    "downloads TARGET [--os linux|osx|win] [--arch x64|arm|arm64] [--public]",
    "runner application downloads for each OS and architecture",
    "read",
    parse_downloads,
    downloads,
    aliases=("download",),
    flags={"--os": True, "--arch": True, "--public": False},
)
for _verb in (LIST, GET, DOWNLOADS):
    router.add(_verb)
