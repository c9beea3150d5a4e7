"""Every capability's router, merged: the whole surface of runnerops in one place.

Slack verbs and buttons go through :data:`commands`; GitHub webhooks through
:data:`webhooks`. A new capability is a new module here, added to both lists below.
"""

from __future__ import annotations

from gidgethub import routing

from bot.routing import Router
from handlers import (
    access,
    delete,
    fleet,
    groups,
    help,
    installations,
    jit,
    labels,
    prune,
    queue,
    stats,
    tokens,
    watch,
)

commands = Router(
    help.router,
    access.router,
    fleet.router,
    tokens.router,
    delete.router,
    labels.router,
    groups.router,
    jit.router,
    prune.router,
    watch.router,
    queue.router,
    stats.router,
)
# workflow_job deliveries are written in batches: app.py hands them to jobs.receive.
webhooks = routing.Router(installations.router)
