"""Which runners a "no runner has the labels" alert can offer to label: a pure decision.

A runner close to the job (it lacks a few of its labels) can be given the labels it lacks
when every one of them is a custom label: GitHub gives each runner ``self-hosted``, its OS
and its architecture as read-only labels, which no request can add. The change is made
where the runner is registered, which must be a scope the alert's watch names: the
organization's own runners, and for a repository's watch that repository's runners too
(a repository runner under an organization's watch, or a runner an enterprise shares,
is not offered: its scope is not known here, or not the watch's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.commands import MAX_LABELS, UsageError, check_label
from bot.watch.diagnosis import NearMiss
from bot.watch.labels import LabelSetKey, normalise_label

# The labels GitHub itself gives self-hosted runners (``type: read-only``): ``self-hosted``,
# the OS and the architecture, as the runner application registers them.
READ_ONLY_LABELS = frozenset(
    {"self-hosted", "linux", "windows", "macos", "x64", "x86", "arm", "arm64"}
)
MAX_LABEL_FIXES = 3  # choices offered on one alert


def is_read_only(label: str) -> bool:
    """Whether ``label`` is one GitHub gives runners itself (never added by a request)."""
    return normalise_label(label) in READ_ONLY_LABELS


def can_add(labels: Iterable[str]) -> bool:
    """Whether one request can add ``labels``: custom labels only, each one the ``label``
    and ``jit`` commands take (``check_label``: no comma, not ``.`` or ``..``, at most 100
    characters...), and no more than a runner holds. A workflow may ask for any text."""
    names = list(labels)
    if not names or len(names) > MAX_LABELS or any(map(is_read_only, names)):
        return False
    try:
        for name in names:
            check_label(name, "label")
    except UsageError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LabelFix:
    """Give ``runner_name`` (id ``runner_id``, registered on ``scope``) ``labels``."""

    runner_id: int
    runner_name: str
    labels: LabelSetKey
    scope: str  # the target the runner is registered on: ``acme`` or ``acme/api``
    online: bool


def runner_scope(watch_target: str, *, repository_level: bool, shared: bool) -> str | None:
    """The target a runner of ``watch_target``'s alert is changed on; None: not known."""
    if shared or watch_target.lower().startswith("enterprise:"):
        return None
    if repository_level:
        return watch_target if "/" in watch_target else None
    return watch_target.split("/", 1)[0]


def label_fixes(watch_target: str, closest: Iterable[NearMiss]) -> tuple[LabelFix, ...]:
    """The closest runners (in the diagnosis's order) that lack only custom labels GitHub
    would take, and sit where the watch may change them; at most :data:`MAX_LABEL_FIXES`."""
    found: list[LabelFix] = []
    for near in closest:
        if not can_add(near.missing):
            continue
        scope = runner_scope(
            watch_target, repository_level=near.repository_level, shared=near.shared
        )
        if scope is not None:
            found.append(
                LabelFix(near.runner_id, near.runner_name, near.missing, scope, near.online)
            )
    return tuple(found[:MAX_LABEL_FIXES])
