"""Every capability's router, merged: the whole surface of runnerops in one place.

Slack verbs and buttons go through :data:`commands` (each module declares its own verbs
and buttons once, bot.dispatch.Verb and Button); GitHub webhooks through
:data:`webhooks`. A new capability is a new module here, added to the list below.
"""

from __future__ import annotations

from gidgethub import routing

from bot.dispatch import Args, Router
from handlers import (
    access,
    alerts,
    delete,
    fleet,
    groups,
    help,
    home,
    installations,
    jit,
    labels,
    prune,
    queue,
    stats,
    tokens,
    versions,
    watch,
)

commands = Router(
    help.router,
    fleet.router,
    labels.router,
    groups.router,
    jit.router,
    delete.router,
    tokens.router,
    access.router,
    watch.router,
    queue.router,
    stats.router,
    versions.router,
    prune.router,
    home.router,
    alerts.router,
)
# workflow_job deliveries are written in batches: app.py hands them to jobs.receive.
webhooks = routing.Router(installations.router)


def parse(text: str, default_target: str | None = None, *, github_url: str | None = None) -> Args:
    """A command's text as its verb's typed arguments (bot.dispatch.Router.parse)."""
    return commands.parse(text, default_target, github_url=github_url)


def nearest_verb(word: str) -> str | None:
    """The verb (or alias) ``word`` most likely mistypes (``lsit`` -> ``list``), if any."""
    return commands.nearest_verb(word)
