"""The grammar shared by ``/runners`` and ``/runner``: text in, a :class:`Command` out.

Parsing is pure: no I/O, no Slack, no GitHub. Every rejection is a :class:`UsageError`
whose message is safe to echo (the renderer escapes it).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

from bot.targets import SCOPE_WORDS, Target, TargetError, parse_target

Action = Literal["read", "token", "admin"]

USAGE: dict[str, str] = {
    "help": "help",
    "list": "list TARGET [--status online|offline] [--busy|--idle] [--label L]... "
    "[--name TEXT] [--public]",
    "get": "get TARGET RUNNER [--public]",
    "delete": "delete TARGET RUNNER",
    "token": "token TARGET",
    "remove-token": "remove-token TARGET",
    "downloads": "downloads TARGET [--os linux|osx|win] [--arch x64|arm|arm64] [--public]",
    "whoami": "whoami",
    "audit": "audit [TARGET] [--limit N]",
}

ACTION_OF: dict[str, Action] = {
    "help": "read",
    "whoami": "read",
    "list": "read",
    "get": "read",
    "downloads": "read",
    "token": "token",
    "remove-token": "token",
    "delete": "admin",
    "audit": "admin",
}

ALIASES = {"ls": "list", "show": "get", "registration-token": "token", "download": "downloads"}
STATUSES = ("online", "offline")
OSES = ("linux", "osx", "win")
ARCHES = ("x64", "arm", "arm64")
MAX_TEXT = 2000  # Slack caps command text near 4000; nothing legitimate comes close.


class UsageError(ValueError):
    """The text does not fit the grammar; ``verb`` picks which usage line to show."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.verb = verb


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    target: Target | None = None
    runner: str | None = None
    public: bool = False
    status: str | None = None
    busy: bool | None = None
    labels: tuple[str, ...] = ()
    name: str | None = None
    os: str | None = None
    arch: str | None = None
    limit: int = 20
    words: tuple[str, ...] = field(default=(), repr=False)

    @property
    def action(self) -> Action:
        return ACTION_OF[self.verb]

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.busy is not None or self.labels or self.name)


# Flags each verb accepts: flag -> takes a value?
_FLAGS: dict[str, dict[str, bool]] = {
    "list": {
        "--status": True,
        "--busy": False,
        "--idle": False,
        "--label": True,
        "--name": True,
        "--public": False,
    },
    "get": {"--public": False},
    "delete": {},
    "token": {"--public": False},
    "remove-token": {"--public": False},
    "downloads": {"--os": True, "--arch": True, "--public": False},
    "audit": {"--limit": True},
    "help": {},
    "whoami": {},
}
_POSITIONALS = {
    "get": 2,
    "delete": 2,
    "list": 1,
    "token": 1,
    "remove-token": 1,
    "downloads": 1,
    "audit": 1,
    "help": 1,
    "whoami": 0,
}


def split_words(text: str) -> list[str]:
    """Split like a shell (``--name "a b"``); unbalanced quotes fall back to spaces."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse(text: str, default_target: str | None = None) -> Command:
    text = text.replace("\u00a0", " ").strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is {len(text)} characters long; the limit is {MAX_TEXT}")
    words = split_words(text)
    if not words:
        return Command("help")
    verb = words[0].lower()
    verb = ALIASES.get(verb, verb)
    if verb not in USAGE:
        raise UsageError(f"unknown command `{words[0]}`")
    flags, positionals = _split_flags(verb, words[1:])
    if verb == "help":
        topic = positionals[0].lower() if positionals else None
        return Command("help", name=ALIASES.get(topic, topic) if topic else None)
    if verb == "whoami":
        if positionals:
            raise UsageError("`whoami` takes no arguments", verb)
        return Command("whoami")

    target, rest = _take_target(verb, positionals, default_target)
    runner: str | None = None
    if verb in ("get", "delete"):
        if not rest:
            raise UsageError("which runner? give its id or exact name", verb)
        runner = rest.pop(0)
        if len(runner) > 200 or not runner.isprintable():
            raise UsageError("that runner name is not valid", verb)
    if rest:
        raise UsageError(f"unexpected `{' '.join(rest)}`", verb)

    command = Command(
        verb, target=target, runner=runner, public="--public" in flags, words=tuple(words)
    )
    if verb == "list":
        return _list_filters(command, flags)
    if verb == "downloads":
        os_ = _choice(flags, "--os", OSES, verb)
        arch = _choice(flags, "--arch", ARCHES, verb)
        return _replace(command, os=os_, arch=arch)
    if verb == "audit":
        limit = 20
        if "--limit" in flags:
            value = flags["--limit"][-1]
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 200:
                raise UsageError("`--limit` takes a number from 1 to 200", verb)
            limit = int(value)
        return _replace(command, limit=limit)
    return command


def _replace(command: Command, **changes: object) -> Command:
    from dataclasses import replace

    return replace(command, **changes)  # type: ignore[arg-type]


def _split_flags(verb: str, words: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    allowed = _FLAGS[verb]
    flags: dict[str, list[str]] = {}
    positionals: list[str] = []
    it = iter(words)
    for word in it:
        if not word.startswith("--"):
            positionals.append(word)
            continue
        flag, eq, value = word.partition("=")
        flag = flag.lower()
        if flag not in allowed:
            known = ", ".join(f"`{f}`" for f in allowed) or "none"
            raise UsageError(f"`{verb}` does not take `{flag}` (flags: {known})", verb)
        if allowed[flag]:
            if not eq:
                value = next(it, "")
            if not value or value.startswith("--"):
                raise UsageError(f"`{flag}` needs a value", verb)
            flags.setdefault(flag, []).append(value)
        else:
            if eq:
                raise UsageError(f"`{flag}` takes no value", verb)
            flags.setdefault(flag, []).append("")
    if len(positionals) > _POSITIONALS[verb] + 1:  # +1: a scope word standing apart
        raise UsageError(f"too many words for `{verb}`", verb)
    return flags, positionals


def _take_target(
    verb: str, positionals: list[str], default_target: str | None
) -> tuple[Target | None, list[str]]:
    rest = list(positionals)
    needs_target = verb != "audit"
    try:
        if rest and rest[0].lower() in SCOPE_WORDS and len(rest) >= 2:
            scope = SCOPE_WORDS[rest.pop(0).lower()]
            return parse_target(rest.pop(0), scope), rest
        # With a default target, a lone word after get/delete is the runner.
        runner_slots = 1 if verb in ("get", "delete") and default_target else 0
        if len(rest) > runner_slots:
            return parse_target(rest.pop(0)), rest
    except TargetError as exc:
        raise UsageError(str(exc), verb) from None
    # A bare ``audit`` means every target the caller administers: the default target
    # must not narrow it silently.
    if default_target and verb != "audit":
        try:
            return parse_target(default_target), rest
        except TargetError as exc:
            raise UsageError(f"DEFAULT_GITHUB_TARGET is not valid: {exc}", verb) from None
    if needs_target:
        raise UsageError("which target? give `ORG`, `OWNER/REPO` or `enterprise:SLUG`", verb)
    return None, rest


def _choice(
    flags: dict[str, list[str]], flag: str, choices: tuple[str, ...], verb: str
) -> str | None:
    if flag not in flags:
        return None
    value = flags[flag][-1].lower()
    if value not in choices:
        raise UsageError(f"`{flag}` is one of {', '.join(choices)}", verb)
    return value


def _list_filters(command: Command, flags: dict[str, list[str]]) -> Command:
    if "--busy" in flags and "--idle" in flags:
        raise UsageError("`--busy` and `--idle` exclude each other", "list")
    busy = True if "--busy" in flags else False if "--idle" in flags else None
    name = flags["--name"][-1] if "--name" in flags else None
    labels = tuple(flags.get("--label", ()))
    for text in (name, *labels):
        if text is not None and (len(text) > 200 or not text.isprintable()):
            raise UsageError("filters take printable text of at most 200 characters", "list")
    return _replace(
        command,
        status=_choice(flags, "--status", STATUSES, "list"),
        busy=busy,
        labels=labels,
        name=name,
    )
