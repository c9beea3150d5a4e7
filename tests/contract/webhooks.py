"""Real webhook deliveries published in ``@octokit/webhooks-examples``.

The package collects payloads captured from GitHub for every event. ``examples(event)``
returns deep copies, so a test may change one freely.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from .cut_spec import NODE_MODULES

EXAMPLES_DIR = NODE_MODULES / "@octokit" / "webhooks-examples"
# The events runnerops subscribes to, with the actions it must handle.
EVENTS: dict[str, tuple[str, ...]] = {
    "workflow_job": ("queued", "in_progress", "completed", "waiting"),
    "installation": ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"),
    "installation_repositories": ("added", "removed"),
}
# Every (event, action) pair runnerops handles; each has at least one published example.
EVENT_ACTIONS: list[tuple[str, str]] = [
    (event, action) for event, actions in EVENTS.items() for action in actions
]


@cache
def _definitions(flavour: str) -> dict[str, dict[str, Any]]:
    path: Path = EXAMPLES_DIR / flavour / "index.json"
    with path.open(encoding="utf-8") as fh:
        return {definition["name"]: definition for definition in json.load(fh)}


def flavours() -> list[str]:
    """The example sets shipped: ``api.github.com`` and ``ghes-3x`` directories."""
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "index.json").is_file())


def published_actions(event: str, flavour: str = "api.github.com") -> list[str]:
    """The actions the package documents for ``event``."""
    return list(_definitions(flavour)[event]["actions"])


def examples(event: str, action: str | None = None, flavour: str = "api.github.com") -> list[dict]:
    """Example deliveries (payload bodies) for ``event``, optionally only one ``action``."""
    try:
        definition = _definitions(flavour)[event]
    except KeyError:
        raise KeyError(f"no webhook examples for event {event!r} in {flavour}") from None
    found = [
        copy.deepcopy(example)
        for example in definition["examples"]
        if action is None or example.get("action") == action
    ]
    return found


def example(event: str, action: str, flavour: str = "api.github.com") -> dict:
    """The first example delivery for ``event``/``action``; KeyError when none is published."""
    found = examples(event, action, flavour)
    if not found:
        raise KeyError(f"no {event}.{action} example in {flavour}")
    return found[0]


def present_pairs(flavour: str = "api.github.com") -> list[tuple[str, str]]:
    """Every (event, action) of ``EVENTS`` for which at least one example is published."""
    pairs = {
        (event, payload["action"])
        for event in EVENTS
        for payload in _definitions(flavour).get(event, {}).get("examples", [])
        if "action" in payload
    }
    return sorted(pairs)
