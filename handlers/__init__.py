"""Every capability's router, merged: the whole surface of runnerops in one place.

Slack verbs and buttons go through :data:`commands` (each module declares its own verbs
and buttons once, bot.dispatch.Verb and Button); GitHub webhooks through
:data:`webhooks`. A new capability is a new module here and nothing else: every module
with a ``bot.dispatch.Router`` named ``router`` joins :data:`commands`.
"""

from __future__ import annotations

import importlib
import pkgutil

from gidgethub import routing

from bot.dispatch import Args, Router
from handlers import installations

# Help lists verbs in this order of modules; a module not named here (a new capability)
# joins after them, in the order of its name.
ORDER = (
    "help",
    "fleet",
    "labels",
    "groups",
    "jit",
    "delete",
    "tokens",
    "access",
    "watch",
    "queue",
    "stats",
    "versions",
    "prune",
    "home",
    "alerts",
)


def capability_routers() -> list[Router]:
    """The command routers of every module in this package, in help's order."""
    names = sorted(
        (info.name for info in pkgutil.iter_modules(__path__)),
        key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name),
    )
    found = []
    for name in names:
        router = getattr(importlib.import_module(f"{__name__}.{name}"), "router", None)
        if isinstance(router, Router):
            found.append(router)
    return found


commands = Router(*capability_routers())
# workflow_job deliveries are written in batches: app.py hands them to jobs.receive.
webhooks = routing.Router(installations.router)


def parse(text: str, default_target: str | None = None, *, github_url: str | None = None) -> Args:
    """A command's text as its verb's typed arguments (bot.dispatch.Router.parse)."""
    return commands.parse(text, default_target, github_url=github_url)


def nearest_verb(word: str) -> str | None:
    """The verb (or alias) ``word`` most likely mistypes (``lsit`` -> ``list``), if any."""
    return commands.nearest_verb(word)
