"""Routing of command verbs and button actions to capability handlers.

Each module under ``handlers/`` owns a :class:`Router`; ``handlers/__init__.py`` merges
them, the way gidgethub's ``routing.Router`` merges webhook routers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.commands import Command

if TYPE_CHECKING:
    from bot.services import Services
    from bot.slack.blocks import Reply


@dataclass
class Caller:
    """Who acts, and from where: what policy and audit need about a Slack request."""

    user_id: str
    user_name: str
    channel_id: str
    command_name: str = "/runners"
    base_url: str = ""  # runnerops' public URL as Slack reached it (for chart links)


@dataclass
class Invocation:
    command: Command
    caller: Caller
    services: Services


@dataclass
class Click:
    """A button press; ``value`` is the button's value as the message carried it."""

    action_id: str
    value: str
    caller: Caller
    services: Services
    # Replaces the clicked message before the final reply (progress of a long action).
    update: Callable[[Reply], Awaitable[None]] | None = None


VerbHandler = Callable[[Invocation], Awaitable["Reply"]]
ClickHandler = Callable[[Click], Awaitable["Reply"]]


class Router:
    def __init__(self, *others: Router) -> None:
        self.verbs: dict[str, VerbHandler] = {}
        self.actions: dict[str, ClickHandler] = {}
        for other in others:
            for verb, handler in other.verbs.items():
                self._add(self.verbs, verb, handler)
            for action, click_handler in other.actions.items():
                self._add(self.actions, action, click_handler)

    @staticmethod
    def _add(table: dict[str, Any], key: str, handler: Any) -> None:
        if key in table:
            raise ValueError(f"{key!r} is routed twice")
        table[key] = handler

    def verb(self, *verbs: str) -> Callable[[VerbHandler], VerbHandler]:
        def register(handler: VerbHandler) -> VerbHandler:
            for verb in verbs:
                self._add(self.verbs, verb, handler)
            return handler

        return register

    def action(self, action_id: str) -> Callable[[ClickHandler], ClickHandler]:
        def register(handler: ClickHandler) -> ClickHandler:
            self._add(self.actions, action_id, handler)
            return handler

        return register
