"""The grammar shared by ``/runners`` and ``/runner``: text in, a :class:`Command` out.

Parsing is pure: no I/O, no Slack, no GitHub. Every rejection is a :class:`UsageError`
whose message is safe to echo (the renderer escapes it).

A RUNNER is ``id:N`` (by id only), ``name:TEXT`` (by exact name only) or a bare word. A
bare number stays open (:class:`RunnerRef` ``by="either"``): runners are often named by
number, so only GitHub can say whether ``2`` is an id, a name, or both.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from bot.durations import parse_duration
from bot.targets import SCOPE_WORDS, Scope, Target, TargetError, parse_target

Action = Literal["read", "token", "admin"]

USAGE: dict[str, str] = {
    "help": "help",
    "list": "list TARGET [--status online|offline] [--busy|--idle] [--label L]... "
    "[--name TEXT] [--group GROUP] [--public]",
    "get": "get TARGET RUNNER|id:N|name:TEXT [--public]",
    "labels": "labels TARGET RUNNER|id:N|name:TEXT",
    "label": "label TARGET RUNNER add|remove|set L [L…]",
    "groups": "groups TARGET",
    "jit": "jit TARGET NAME [--label L]... [--group GROUP] [--work-folder DIR]",
    "delete": "delete TARGET RUNNER|id:N|name:TEXT",
    "token": "token TARGET",
    "remove-token": "remove-token TARGET",
    "downloads": "downloads TARGET [--os linux|osx|win] [--arch x64|arm|arm64] [--public]",
    "whoami": "whoami",
    "audit": "audit [TARGET] [--limit N] [--refused]",
}

ACTION_OF: dict[str, Action] = {
    "help": "read",
    "whoami": "read",
    "list": "read",
    "get": "read",
    "downloads": "read",
    "labels": "read",
    "groups": "read",
    "token": "token",
    "remove-token": "token",
    "jit": "token",
    "delete": "admin",
    "label": "admin",
    "audit": "admin",
}

ALIASES = {"ls": "list", "show": "get", "registration-token": "token", "download": "downloads"}
STATUSES = ("online", "offline")
OSES = ("linux", "osx", "win")
ARCHES = ("x64", "arm", "arm64")
MAX_TEXT = 2000  # Slack caps command text near 4000; nothing legitimate comes close.
MAX_LABELS = 100  # GitHub's maxItems for a runner's custom labels (add, set and JIT)
MAX_LABEL_CHARS = 100
LABEL_OPS = ("add", "remove", "set")
MAX_RUNNER_ID = 2**63 - 1  # GitHub's ids are int64: a longer number can only be a name
# Phone keyboards type these for " and ' (iOS and Android "smart punctuation").
DOUBLE_QUOTES = "\u201c\u201d\u201e\u2033"  # left, right, low-9 double quotes; double prime
SINGLE_QUOTES = "\u2018\u2019\u201a\u2032"  # left, right, low-9 single quotes; prime
APOSTROPHES = "\u2018\u2019"  # what a phone types for ' inside a word


RunnerBy = Literal["id", "name", "either"]
# Verbs whose second word (after TARGET) is a RUNNER.
RUNNER_VERBS = ("get", "delete", "labels", "label")


@dataclass(frozen=True, slots=True)
class RunnerRef:
    """Which runner a command names: by id, by exact name, or (a bare number) either."""

    text: str  # the id's digits or the name, without any ``id:``/``name:`` prefix
    by: RunnerBy = "name"

    @property
    def id(self) -> int | None:
        return int(self.text) if self.by != "name" else None

    @property
    def names(self) -> tuple[str, ...]:
        """The names to look up, in order: as typed, then with its apostrophes the other
        way round (a phone types U+2019 in ``ann's-mac``, a runner registered from a
        keyboard has ``'``)."""
        if self.by == "id":
            return ()
        other = _other_apostrophes(self.text)
        return (self.text,) if other is None else (self.text, other)

    def __str__(self) -> str:
        return self.text


def _other_apostrophes(name: str) -> str | None:
    if any(c in APOSTROPHES for c in name):
        return name.translate({ord(c): "'" for c in APOSTROPHES})
    if "'" in name:
        return name.replace("'", "\u2019")
    return None


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
    runner: RunnerRef | None = None
    public: bool = False
    status: str | None = None
    busy: bool | None = None
    labels: tuple[str, ...] = ()
    name: str | None = None
    os: str | None = None
    arch: str | None = None
    limit: int = 20
    refused: bool = False  # ``audit --refused``: the refusals themselves, not their counts
    label_op: str | None = None  # ``label``: add, remove or set
    group: str | None = None  # ``list --group`` and ``jit --group``: a group's name or id
    work_folder: str | None = None  # ``jit --work-folder``
    # The watch's verbs (watch, unwatch, watching, queue, why, stats).
    after: timedelta | None = None
    offline_after: timedelta | None = None
    since: timedelta | None = None
    job_id: int | None = None
    offline_for: timedelta | None = None  # ``prune --offline-for``
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
        "--group": True,
        "--public": False,
    },
    "get": {"--public": False},
    "labels": {},
    "label": {},
    "groups": {},
    "jit": {"--label": True, "--group": True, "--work-folder": True, "--public": False},
    "delete": {},
    "token": {"--public": False},
    "remove-token": {"--public": False},
    "downloads": {"--os": True, "--arch": True, "--public": False},
    "audit": {"--limit": True, "--refused": False},
    "help": {},
    "whoami": {},
}
_POSITIONALS = {
    "get": 2,
    "labels": 2,
    "label": 3 + MAX_LABELS,  # TARGET RUNNER OP L...; the count is checked per operation
    "groups": 1,
    "jit": 2,
    "delete": 2,
    "list": 1,
    "token": 1,
    "remove-token": 1,
    "downloads": 1,
    "audit": 1,
    "help": 1,
    "whoami": 0,
}


# -- the watch's verbs -----------------------------------------------------------------

USAGE.update(
    {
        "watch": "watch TARGET [--after DURATION] [--offline-after DURATION]",
        "unwatch": "unwatch TARGET",
        "watching": "watching",
        "queue": "queue TARGET",
        "why": "why JOB_URL | why OWNER/REPO JOB_ID",
        "stats": "stats TARGET [--since DURATION]",
    }
)
ACTION_OF.update(
    {
        "watch": "admin",
        "unwatch": "admin",
        "watching": "read",
        "queue": "read",
        "why": "read",
        "stats": "read",
    }
)
_FLAGS.update(
    {
        "watch": {"--after": True, "--offline-after": True},
        "unwatch": {},
        "watching": {},
        "queue": {},
        "why": {},
        "stats": {"--since": True},
    }
)
_POSITIONALS.update({"watch": 1, "unwatch": 1, "watching": 0, "queue": 1, "why": 2, "stats": 1})
WATCH_VERBS = ("watch", "unwatch", "watching", "queue", "why", "stats")
DEFAULT_AFTER = timedelta(minutes=5)
DEFAULT_OFFLINE_AFTER = timedelta(minutes=10)
DEFAULT_SINCE = timedelta(days=7)
# A job's page: https://HOST/OWNER/REPO/actions/runs/RUN_ID/job/JOB_ID (Slack may wrap it
# in <...> or <...|label>); an ``/attempts/N`` part, a query or a fragment may follow.
_JOB_URL = re.compile(
    r"(https?)://([^/\s]+)/([^/\s]+)/([^/\s]+)/actions/runs/[0-9]{1,19}(?:/attempts/[0-9]+)?"
    r"/job/([0-9]{1,19})/?(?:[?#]\S*)?",
    re.ASCII,
)


# -- prune ------------------------------------------------------------------------------

USAGE["prune"] = "prune TARGET [--offline-for DURATION] [--label L]... [--name TEXT]"
ACTION_OF["prune"] = "admin"
_FLAGS["prune"] = {"--offline-for": True, "--label": True, "--name": True}
_POSITIONALS["prune"] = 1
DEFAULT_OFFLINE_FOR = timedelta(days=1)


def _prune_options(command: Command, flags: dict[str, list[str]]) -> Command:
    name = flags["--name"][-1] if "--name" in flags else None
    labels = tuple(flags.get("--label", ()))
    for text in (name, *labels):
        if text is not None and (len(text) > 200 or not text.isprintable()):
            raise UsageError("filters take printable text of at most 200 characters", "prune")
    offline_for = _duration(flags, "--offline-for", "prune") or DEFAULT_OFFLINE_FOR
    return _replace(command, offline_for=offline_for, labels=labels, name=name)


def _duration(flags: dict[str, list[str]], flag: str, verb: str) -> timedelta | None:
    if flag not in flags:
        return None
    try:
        return parse_duration(flags[flag][-1])
    except ValueError as exc:
        raise UsageError(f"`{flag}`: {exc}", verb) from None


def web_host(url: str) -> str:
    """``HOST`` or ``HOST:PORT`` of a web URL as a person writes it: lower case, without
    userinfo and without the scheme's default port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return parts.netloc.lower()  # no valid port: compared as written, so never equal
    if parts.username is not None or parts.password is not None:
        return parts.netloc.lower()  # user@host is not the host
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


def _parse_job(
    verb: str, positionals: list[str], github_url: str | None = None
) -> tuple[Target, int]:
    if not positionals:
        raise UsageError("which job? give its URL or `OWNER/REPO JOB_ID`", verb)
    if len(positionals) > 2:
        raise UsageError(f"unexpected `{' '.join(positionals[2:])}`", verb)
    if len(positionals) == 1:
        text = positionals[0].strip("<>").split("|", 1)[0]
        match = _JOB_URL.fullmatch(text)
        if match is None:
            raise UsageError(
                "that is not a job URL (…/OWNER/REPO/actions/runs/RUN_ID/job/JOB_ID);"
                " or give `OWNER/REPO JOB_ID`",
                verb,
            )
        scheme, netloc, owner, repo, job = match.groups()
        if github_url is not None:
            expected, given = web_host(github_url), web_host(f"{scheme}://{netloc}")
            if given != expected:
                raise UsageError(
                    f"that job URL is on `{given}`, but runnerops works with the GitHub at"
                    f" `{expected}`: give a job URL on `{expected}`, or `OWNER/REPO JOB_ID`",
                    verb,
                )
        where, number = f"{owner}/{repo}", job
    else:
        where, number = positionals
    try:
        target = parse_target(where, Scope.REPO if ":" not in where else None)
    except TargetError as exc:
        raise UsageError(str(exc), verb) from None
    if target.scope is not Scope.REPO:
        raise UsageError("a job belongs to a repository: `OWNER/REPO JOB_ID`", verb)
    if not (number.isascii() and number.isdigit() and 0 < int(number) <= MAX_RUNNER_ID):
        raise UsageError("a job id is a number, as at the end of the job's URL", verb)
    return target, int(number)


def _parse_watch_verb(
    verb: str,
    flags: dict[str, list[str]],
    positionals: list[str],
    default_target: str | None,
    github_url: str | None = None,
) -> Command:
    if verb == "watching":
        if positionals:
            raise UsageError("`watching` takes no arguments", verb)
        return Command(verb)
    if verb == "why":
        repository, job_id = _parse_job(verb, positionals, github_url)
        return Command(verb, target=repository, job_id=job_id)
    target, rest = _take_target(verb, positionals, default_target)
    if rest:
        raise UsageError(f"unexpected `{' '.join(rest)}`", verb)
    assert target is not None
    if verb in ("queue", "stats") and target.scope is Scope.ENTERPRISE:
        raise UsageError(
            "jobs belong to organizations and repositories: give `ORG` or `OWNER/REPO`", verb
        )
    if verb == "watch":
        return Command(
            verb,
            target=target,
            after=_duration(flags, "--after", verb) or DEFAULT_AFTER,
            offline_after=_duration(flags, "--offline-after", verb) or DEFAULT_OFFLINE_AFTER,
        )
    if verb == "stats":
        return Command(
            verb, target=target, since=_duration(flags, "--since", verb) or DEFAULT_SINCE
        )
    return Command(verb, target=target)


# -- words -----------------------------------------------------------------------------


def straighten_quotes(text: str) -> str:
    """Curly quotes become straight ones, so that a phone's quoted ``"my runner"`` is one word.

    Double ones always. Single ones only at a word's edge (after a space, ``:`` or ``=``,
    or before a space or the end): inside a word U+2019 is an apostrophe (``bob's-mac``
    typed on a phone), and straightening it would leave shlex an unbalanced quote."""
    out = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if char in DOUBLE_QUOTES:
            char = '"'
        elif char in SINGLE_QUOTES:
            opens = i == 0 or text[i - 1].isspace() or text[i - 1] in ":="
            closes = i == last or text[i + 1].isspace()
            if opens or closes:
                char = "'"
        out.append(char)
    return "".join(out)


def split_words(text: str) -> list[str]:
    """Split like a shell (``--name "a b"``), curly quotes as quotes.

    If the quotes do not balance, curly ones are taken as plain characters, then failing
    that the text is split on spaces: an odd quote is more likely part of a name than a
    typo worth refusing the whole command for."""
    for attempt in (straighten_quotes(text), text):
        try:
            return shlex.split(attempt)
        except ValueError:
            continue
    return text.split()


def parse_runner(word: str, verb: str) -> RunnerRef:
    """``id:N``, ``name:TEXT`` or a bare word (a bare number may be an id or a name)."""
    prefix, colon, rest = word.partition(":")
    kind = prefix.lower() if colon else ""
    if kind == "id":
        if not _is_runner_id(rest):
            raise UsageError(
                f"`id:` takes a runner's numeric id; for a runner named `{word}`, "
                f"say `name:{word}`",
                verb,
            )
        ref = RunnerRef(str(int(rest)), "id")
    elif kind == "name":
        if not rest:
            raise UsageError('`name:` takes the runner\'s exact name: `name:"my runner"`', verb)
        ref = RunnerRef(rest, "name")
    else:
        ref = RunnerRef(word, "either" if _is_runner_id(word) else "name")
    if len(ref.text) > 200 or not ref.text.isprintable():
        raise UsageError("that runner name is not valid", verb)
    return ref


def _is_runner_id(text: str) -> bool:
    # ASCII only: "²".isdigit() is true but int("²") fails
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_RUNNER_ID


def nearest_verb(word: str) -> str | None:
    """The verb (or alias) ``word`` most likely mistypes (``lsit`` -> ``list``), if any."""
    found = difflib.get_close_matches(word.lower(), [*USAGE, *ALIASES], n=1, cutoff=0.6)
    return ALIASES.get(found[0], found[0]) if found else None


def _unknown(what: str, word: str) -> UsageError:
    """A word that is no verb: the nearest verb and its usage, else the list of verbs."""
    shown = word if len(word) <= 40 else word[:40] + "…"
    near = nearest_verb(word)
    if near is None:
        return UsageError(f"{what} `{shown}`")
    return UsageError(f"{what} `{shown}`: did you mean `{near}`?", near)


def parse(
    text: str, default_target: str | None = None, *, github_url: str | None = None
) -> Command:
    """``github_url``: the configured GitHub's web URL; a job URL on another host is
    refused (None: any host, for callers that never read job URLs)."""
    text = text.replace("\u00a0", " ").strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is {len(text)} characters long; the limit is {MAX_TEXT}")
    words = split_words(text)
    if not words:
        return Command("help")
    verb = words[0].lower()
    verb = ALIASES.get(verb, verb)
    if verb not in USAGE:
        raise _unknown("unknown command", words[0])
    flags, positionals = _split_flags(verb, words[1:])
    if verb in WATCH_VERBS:
        return _parse_watch_verb(verb, flags, positionals, default_target, github_url)
    if verb == "help":
        topic = positionals[0].lower() if positionals else None
        topic = ALIASES.get(topic, topic) if topic else None
        if topic is not None and topic not in USAGE:
            raise _unknown("no command", positionals[0])
        return Command("help", name=topic)
    if verb == "whoami":
        if positionals:
            raise UsageError("`whoami` takes no arguments", verb)
        return Command("whoami")

    label_op: str | None = None
    names: tuple[str, ...] = ()
    if verb == "label":
        positionals, label_op, names = _split_label_op(positionals)
    target, rest = _take_target(verb, positionals, default_target)
    runner: RunnerRef | None = None
    if verb in RUNNER_VERBS:
        if not rest:
            raise UsageError("which runner? give its id or exact name", verb)
        runner = parse_runner(rest.pop(0), verb)
    jit_name: str | None = None
    if verb == "jit":
        if not rest:
            raise UsageError("what should the new runner be called? give its name", verb)
        jit_name = _jit_name(rest.pop(0))
    if rest:
        raise UsageError(f"unexpected `{' '.join(rest)}`", verb)
    if verb == "groups" and target is not None and target.scope is Scope.REPO:
        raise UsageError(
            "runner groups belong to organizations and enterprises; a repository's runners "
            f"are all in its Default group. Try `groups {target.owner}`",
            verb,
        )

    command = Command(
        verb, target=target, runner=runner, public="--public" in flags, words=tuple(words)
    )
    if verb == "list":
        return _list_filters(command, flags)
    if verb == "label":
        assert label_op is not None
        return _replace(command, label_op=label_op, labels=_label_names(names, label_op))
    if verb == "jit":
        return _jit_options(command, jit_name, flags)
    if verb == "prune":
        return _prune_options(command, flags)
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
        return _replace(command, limit=limit, refused="--refused" in flags)
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
        # With a default target, a lone word after get/delete is the runner; so is a
        # lone ``id:N`` or ``name:TEXT`` without one (then the target is missing).
        lone_runner = len(rest) == 1 and rest[0].lower().startswith(("id:", "name:"))
        takes_one = verb in RUNNER_VERBS or verb == "jit"
        runner_slots = 1 if takes_one and (default_target or (lone_runner and verb != "jit")) else 0
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
    group = _group_flag(flags, "list")
    if group is not None and command.target is not None and command.target.scope is Scope.REPO:
        raise UsageError(
            "runner groups belong to organizations and enterprises; a repository's runners "
            "are all in its Default group",
            "list",
        )
    return _replace(
        command,
        group=group,
        status=_choice(flags, "--status", STATUSES, "list"),
        busy=busy,
        labels=labels,
        name=name,
    )


def _split_label_op(positionals: list[str]) -> tuple[list[str], str, tuple[str, ...]]:
    """``[TARGET] RUNNER OP L…`` -> the words before OP, OP, and the labels after it.

    OP is the first ``add``, ``remove`` or ``set`` after the first word (a runner named
    ``set`` is written ``name:set``)."""
    for index, word in enumerate(positionals):
        if index >= 1 and word.lower() in LABEL_OPS:
            return positionals[:index], word.lower(), tuple(positionals[index + 1 :])
    raise UsageError("say what to do with the labels: `add`, `remove` or `set`", "label")


def check_label(name: str, verb: str) -> str:
    """A label name GitHub can hold: printable, no comma, at most MAX_LABEL_CHARS."""
    if not name or len(name) > MAX_LABEL_CHARS:
        raise UsageError(f"a label has 1 to {MAX_LABEL_CHARS} characters", verb)
    if not name.isprintable() or any(c.isspace() for c in name):
        raise UsageError("a label has no spaces or control characters", verb)
    if "," in name:
        raise UsageError(
            "a label has no commas; give several labels as separate words: `add gpu cuda`", verb
        )
    if name in (".", ".."):
        raise UsageError("a label is not `.` or `..` (in a URL they mean a directory)", verb)
    return name


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each label once; GitHub compares label names case-insensitively."""
    seen: set[str] = set()
    out = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def _label_names(names: tuple[str, ...], op: str) -> tuple[str, ...]:
    for name in names:
        check_label(name, "label")
    unique = _unique(names)
    if op != "set" and not unique:
        raise UsageError(f"`{op}` needs at least one label: `{op} gpu`", "label")
    if len(unique) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} labels at once ({len(unique)} given)", "label")
    return unique


def _jit_name(name: str) -> str:
    if len(name) > 100 or not name.isprintable() or any(c.isspace() for c in name):
        raise UsageError("a runner name has at most 100 characters, no spaces", "jit")
    if name.lower().startswith(("id:", "name:")):
        raise UsageError("give the new runner's name as it is, without `id:` or `name:`", "jit")
    return name


def _jit_options(command: Command, name: str | None, flags: dict[str, list[str]]) -> Command:
    labels = _unique(tuple(check_label(x, "jit") for x in flags.get("--label", ())))
    if len(labels) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} labels ({len(labels)} given)", "jit")
    group = _group_flag(flags, "jit")
    folder = flags["--work-folder"][-1] if "--work-folder" in flags else None
    if folder is not None and (len(folder) > 200 or not folder.isprintable()):
        raise UsageError("`--work-folder` takes a path of at most 200 characters", "jit")
    return _replace(command, name=name, labels=labels, group=group, work_folder=folder)


def _group_flag(flags: dict[str, list[str]], verb: str) -> str | None:
    if "--group" not in flags:
        return None
    group = flags["--group"][-1]
    if len(group) > 200 or not group.isprintable():
        raise UsageError("`--group` takes a runner group's name or id", verb)
    return group
