"""Declarations: each verb and each button said once, and the router that holds them.

A :class:`Verb` carries everything about a verb: its words, usage and help lines, the
policy action it needs, its flags and positionals, a parse function giving its own typed
arguments, and its handler. A :class:`Button` carries the policy action a click needs
and how to read its target from the click; one without them is refused at start-up.
Each module under ``handlers/`` owns a :class:`Router`; ``handlers/__init__.py`` merges
them, the way gidgethub's ``routing.Router`` merges webhook routers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from bot.caller import Caller
from bot.commands import (
    Action,
    Flags,
    clean_text,
    nearest_verb,
    no_more,
    split_flags,
    split_words,
    take_target,
    unknown_word,
)
from bot.services import Services
from bot.slack.blocks import Reply
from bot.targets import Target

__all__ = [
    "Args",
    "Button",
    "Caller",
    "Click",
    "Invocation",
    "NoTarget",
    "Router",
    "TargetArgs",
    "Verb",
    "parse_target_only",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Args:
    """What every verb's arguments say: the verb, its policy action and its target.

    Each verb subclasses it with its own fields; :meth:`Router.parse` fills ``verb`` and
    ``action`` from the declaration."""

    verb: str = ""
    action: Action = "read"
    target: Target | None = None


A = TypeVar("A", bound=Args)


@dataclass(frozen=True, slots=True)
class Words:
    """One command's words, as a verb's parse function gets them."""

    verb: str
    flags: Flags
    positionals: list[str]
    default_target: str | None
    github_url: str | None
    words: tuple[str, ...]
    # The verb a word names (aliases resolved), or None: for ``help VERB``.
    resolve: Callable[[str], str | None]
    near: Callable[[str], str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetArgs(Args):
    """A verb whose only word is TARGET (``groups``, ``queue``, ``unwatch``, ``versions``)."""

    target: Target


def parse_target_only(w: Words) -> TargetArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    return TargetArgs(target=target)


@dataclass
class Invocation(Generic[A]):
    command: A
    caller: Caller
    services: Services
    router: Router  # every verb, for ``help``


@dataclass(frozen=True)
class Verb(Generic[A]):
    name: str
    usage: str  # after the slash command: ``list TARGET [--busy|--idle]``
    help: str  # one line in ``help``; empty: not listed (``help`` itself)
    action: Action
    parse: Callable[[Words], A]
    handler: Callable[[Invocation[A]], Awaitable[Reply]]
    aliases: tuple[str, ...] = ()
    flags: Mapping[str, bool] = field(default_factory=dict)  # flag -> takes a value
    positionals: int = 1
    # Reads or tidies runnerops' own records only: works on any account's target.
    local: bool = False


@dataclass
class Click:
    """A button press; ``value`` is the button's value as the message carried it."""

    action_id: str
    value: str
    caller: Caller
    services: Services
    # Replaces the clicked message before the final reply (progress of a long action).
    update: Callable[[Reply], Awaitable[None]] | None = None
    target: Target | None = None  # as the route's target reader found it
    # The blocks of the message the button is on (None: not known), for a handler that
    # changes only part of it in place (an alert's marks).
    message_blocks: Sequence[Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class NoTarget:
    """A button that acts on no target; ``reason`` says why no policy check is needed."""

    reason: str


class ClickRefused(Exception):
    """A target reader's answer when the click cannot be acted on (an invalid value, an
    expired plan): the reply says so, and nothing is done."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("click refused")
        self.reply = reply


TargetReader = Callable[[Click], Awaitable[Target]]
Answer = Literal["response_url", "dm", "home"]


@dataclass(frozen=True)
class Button:
    """A button route. ``verb`` names it in audit entries and refusals; ``command``, for
    a button that runs a typed command (``queue acme``), gives its text from the value:
    that command is then parsed and authorized as if typed."""

    action_id: str
    verb: str
    action: Action | None
    target: TargetReader | NoTarget | None
    handler: Callable[[Click], Awaitable[Reply | None]] | None = None
    command: Callable[[str, str], str | None] | None = None
    answer: Answer = "response_url"

    def __post_init__(self) -> None:
        if self.command is not None:
            return  # the command's verb declares its action and target
        if self.action is None or self.target is None or self.handler is None:
            raise ValueError(f"button {self.action_id!r} declares no policy action or target")


class Router:
    def __init__(self, *others: Router) -> None:
        self.verbs: dict[str, Verb[Any]] = {}
        self.aliases: dict[str, str] = {}
        self.buttons: dict[str, Button] = {}
        for other in others:
            for verb in other.verbs.values():
                self.add(verb)
            for button in other.buttons.values():
                self.add_button(button)

    def add(self, verb: Verb[Any]) -> None:
        for word in (verb.name, *verb.aliases):
            if word in self.verbs or word in self.aliases:
                raise ValueError(f"{word!r} is routed twice")
        self.verbs[verb.name] = verb
        self.aliases.update(dict.fromkeys(verb.aliases, verb.name))

    def add_button(self, button: Button) -> None:
        if button.action_id in self.buttons:
            raise ValueError(f"{button.action_id!r} is routed twice")
        self.buttons[button.action_id] = button

    def button(
        self,
        action_id: str,
        *,
        verb: str,
        action: Action | None,
        target: TargetReader | NoTarget | None,
        answer: Answer = "response_url",
    ) -> Callable[[Callable[[Click], Awaitable[Reply | None]]], Any]:
        """Register the decorated handler for ``action_id``, behind ``action`` on the
        target ``target`` reads from the click."""

        def register(handler: Callable[[Click], Awaitable[Reply | None]]) -> Any:
            self.add_button(Button(action_id, verb, action, target, handler, answer=answer))
            return handler

        return register

    # -- the grammar over the declared verbs --------------------------------------------

    def resolve(self, word: str) -> str | None:
        word = word.lower()
        word = self.aliases.get(word, word)
        return word if word in self.verbs else None

    def nearest_verb(self, word: str) -> str | None:
        return nearest_verb(word, list(self.verbs), self.aliases)

    def documented(self) -> Sequence[Verb[Any]]:
        return list(self.verbs.values())

    def parse(
        self, text: str, default_target: str | None = None, *, github_url: str | None = None
    ) -> Args:
        """``github_url``: the configured GitHub's web URL; a job URL on another host is
        refused (None: any host, for callers that never read job URLs)."""
        words = split_words(clean_text(text))
        name = self.resolve(words[0]) if words else "help"
        if name is None:
            raise unknown_word("unknown command", words[0], self.nearest_verb(words[0]))
        verb = self.verbs[name]
        flags, positionals = split_flags(name, words[1:], verb.flags, verb.positionals)
        given = Words(
            name,
            flags,
            positionals,
            default_target,
            github_url,
            tuple(words),
            self.resolve,
            self.nearest_verb,
        )
        args: Args = verb.parse(given)
        return dataclasses.replace(args, verb=name, action=verb.action)
