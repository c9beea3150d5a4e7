"""The grammar every verb shares: words, quotes, flags, targets, runners, durations.

Each verb's own grammar is declared with the verb (bot.dispatch.Verb, in handlers/).

Parsing is pure: no I/O, no Slack, no GitHub. Every rejection is a :class:`UsageError`
whose message is safe to echo (the renderer escapes it).

A RUNNER is ``id:N`` (by id only), ``name:TEXT`` (by exact name only) or a bare word. A
bare number stays open (:class:`RunnerRef` ``by="either"``): runners are often named by
number, so only GitHub can say whether ``2`` is an id, a name, or both.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from bot.durations import parse_duration
from bot.targets import SCOPE_WORDS, Scope, Target, TargetError, parse_target

Action = Literal["read", "token", "admin"]

MAX_TEXT = 2000  # Slack caps command text near 4000; nothing legitimate comes close.
MAX_LABELS = 100  # GitHub's maxItems for a runner's custom labels (add, set and JIT)
MAX_LABEL_CHARS = 100
MAX_RUNNER_ID = 2**63 - 1  # GitHub's ids are int64: a longer number can only be a name
# Phone keyboards type these for " and ' (iOS and Android "smart punctuation").
DOUBLE_QUOTES = "\u201c\u201d\u201e\u2033"  # left, right, low-9 double quotes; double prime
SINGLE_QUOTES = "\u2018\u2019\u201a\u2032"  # left, right, low-9 single quotes; prime
APOSTROPHES = "\u2018\u2019"  # what a phone types for ' inside a word


RunnerBy = Literal["id", "name", "either"]
Flags = dict[str, list[str]]


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


class Visibility(Protocol):
    """What a reply needs to know of the command it answers: shown to all or not."""

    @property
    def public(self) -> bool: ...


class RunnerFilters(Visibility, Protocol):
    """``list``'s filters, as the reply and the filtering read them."""

    @property
    def status(self) -> str | None: ...
    @property
    def busy(self) -> bool | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def name(self) -> str | None: ...
    @property
    def filtered(self) -> bool: ...


class DownloadChoice(Visibility, Protocol):
    @property
    def os(self) -> str | None: ...
    @property
    def arch(self) -> str | None: ...


class UsageError(ValueError):
    """The text does not fit the grammar; ``verb`` picks which usage line to show."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.verb = verb


def duration_flag(flags: Flags, flag: str, verb: str) -> timedelta | None:
    if flag not in flags:
        return None
    try:
        return parse_duration(flags[flag][-1])
    except ValueError as exc:
        raise UsageError(f"`{flag}`: {exc}", verb) from None


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


def choice_flag(
    flags: dict[str, list[str]], flag: str, choices: tuple[str, ...], verb: str
) -> str | None:
    if flag not in flags:
        return None
    value = flags[flag][-1].lower()
    if value not in choices:
        raise UsageError(f"`{flag}` is one of {', '.join(choices)}", verb)
    return value


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


def unique_labels(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each label once; GitHub compares label names case-insensitively."""
    seen: set[str] = set()
    out = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def group_flag(flags: dict[str, list[str]], verb: str) -> str | None:
    if "--group" not in flags:
        return None
    group = flags["--group"][-1]
    if len(group) > 200 or not group.isprintable():
        raise UsageError("`--group` takes a runner group's name or id", verb)
    return group


def check_filters(texts: Sequence[str], verb: str) -> None:
    for text in texts:
        if len(text) > 200 or not text.isprintable():
            raise UsageError("filters take printable text of at most 200 characters", verb)


def clean_text(text: str) -> str:
    """The command's text as parsed: no-break spaces as spaces, trimmed, within MAX_TEXT."""
    text = text.replace("\u00a0", " ").strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is {len(text)} characters long; the limit is {MAX_TEXT}")
    return text


def nearest_verb(word: str, words: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    """The verb (or alias) ``word`` most likely mistypes (``lsit`` -> ``list``), if any."""
    found = difflib.get_close_matches(word.lower(), [*words, *aliases], n=1, cutoff=0.6)
    return aliases.get(found[0], found[0]) if found else None


def unknown_word(what: str, word: str, near: str | None) -> UsageError:
    """A word that is no verb: the nearest verb and its usage, else the list of verbs."""
    shown = word if len(word) <= 40 else word[:40] + "…"
    if near is None:
        return UsageError(f"{what} `{shown}`")
    return UsageError(f"{what} `{shown}`: did you mean `{near}`?", near)


def split_flags(
    verb: str, words: Sequence[str], allowed: Mapping[str, bool], positionals: int
) -> tuple[Flags, list[str]]:
    """Flags (each with its values, in order) apart from the positional words.
    ``allowed``: flag -> takes a value; at most ``positionals`` (+1 scope word) words."""
    flags: Flags = {}
    rest: list[str] = []
    it = iter(words)
    for word in it:
        if not word.startswith("--"):
            rest.append(word)
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
    if len(rest) > positionals + 1:  # +1: a scope word standing apart
        raise UsageError(f"too many words for `{verb}`", verb)
    return flags, rest


TargetSlot = Literal["none", "runner", "name"]


def take_target(
    verb: str, positionals: Sequence[str], default_target: str | None, *, then: TargetSlot = "none"
) -> tuple[Target, list[str]]:
    """TARGET (or a scope word and TARGET) off the front of ``positionals``, else the
    default target. ``then``: what word follows TARGET (a RUNNER, a new runner's name),
    so that a lone word is that one when there is a default."""
    rest = list(positionals)
    given = _given_target(verb, rest, default_target, then)
    if given is not None:
        return given, rest
    if default_target:
        try:
            return parse_target(default_target), rest
        except TargetError as exc:
            raise UsageError(f"DEFAULT_GITHUB_TARGET is not valid: {exc}", verb) from None
    raise UsageError("which target? give `ORG`, `OWNER/REPO` or `enterprise:SLUG`", verb)


def optional_target(verb: str, positionals: Sequence[str]) -> tuple[Target | None, list[str]]:
    """TARGET if given; none means none (``audit``: every target the caller administers),
    never the default target, which must not narrow it silently."""
    rest = list(positionals)
    return _given_target(verb, rest, None, "none"), rest


def _given_target(
    verb: str, rest: list[str], default_target: str | None, then: TargetSlot
) -> Target | None:
    try:
        if rest and rest[0].lower() in SCOPE_WORDS and len(rest) >= 2:
            scope = SCOPE_WORDS[rest.pop(0).lower()]
            return parse_target(rest.pop(0), scope)
        # With a default target, a lone word after get/delete is the runner; so is a
        # lone ``id:N`` or ``name:TEXT`` without one (then the target is missing).
        lone_runner = len(rest) == 1 and rest[0].lower().startswith(("id:", "name:"))
        slots = (
            1 if then != "none" and (default_target or (lone_runner and then == "runner")) else 0
        )
        if len(rest) > slots:
            return parse_target(rest.pop(0))
    except TargetError as exc:
        raise UsageError(str(exc), verb) from None
    return None


def no_more(rest: Sequence[str], verb: str) -> None:
    if rest:
        raise UsageError(f"unexpected `{' '.join(rest)}`", verb)


def not_enterprise(target: Target, verb: str) -> None:
    """Jobs (``queue``, ``stats``) belong to organizations and repositories."""
    if target.scope is Scope.ENTERPRISE:
        raise UsageError(
            "jobs belong to organizations and repositories: give `ORG` or `OWNER/REPO`", verb
        )
