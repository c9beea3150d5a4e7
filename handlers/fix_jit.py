"""The fix button "Register a JIT runner for these labels", on a stuck-job alert whose
matching runners are all busy or all offline (issue 20 §1).

A JIT runner from an alert is ``token``, as the ``jit`` verb is, and it is issued by that
verb's own code (``handlers.jit.issue``): audited before GitHub is asked, the
configuration redacted from logs at once and sent only to the clicker, privately. At the
click the alert must still be open, its labels ones GitHub accepts for a runner, and no
usable runner with them idle; the group is one the job's repository may use: that of its
matching runners, else the default group. Registering is not idempotent: the click first
claims the alert's JIT fix in the database (the once-store, for :data:`CLAIM_FOR`; who,
which runner, when: no secret), so a double click, on any process, registers one runner
and the other is told who registered which; a call that fails lets the claim go.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import errors
from bot.commands import MAX_LABELS, UsageError, check_label
from bot.dispatch import Click, Router
from bot.github.jobs import JobService
from bot.github.models import Runner, RunnerGroup
from bot.slack.blocks import Reply
from bot.slack.views import fix_jit as view
from bot.store.database import StoreUnavailable
from bot.store.once import DONE
from bot.targets import Scope, Target
from bot.watch.alerts import Alert
from bot.watch.labels import carries_all
from handlers.alerts import AlertButton, alert_button_target, note_fix, stored_fix
from handlers.jit import DEFAULT_WORK_FOLDER, issue, jit_name

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
router = Router()

_NAME_PART = re.compile(r"[^a-z0-9]+")
MEMBERS_READ = 5  # jobs of the alert looked up for their repository, at most
# One JIT runner per alert per this long, whoever clicks on whichever process: a double
# click registers one. Later, the jobs may still wait: another click may add one more.
CLAIM_FOR = timedelta(minutes=10)


def runner_name(labels: Sequence[str]) -> str:
    """A fresh name GitHub will take (``jit``'s rule): ``jit-`` and the first custom
    label's letters and digits, then a random part, so two clicks never collide."""
    custom = [label for label in labels if label != "self-hosted"] or ["runner"]
    part = _NAME_PART.sub("-", custom[0].lower()).strip("-")[:30] or "runner"
    return jit_name(f"jit-{part}-{secrets.token_hex(3)}")


class LabelRefused(ValueError):
    """A label of the alert (None: their number) GitHub would refuse for a runner."""

    def __init__(self, label: str | None, why: str) -> None:
        super().__init__(why)
        self.label, self.why = label, why


def jit_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """The alert's labels as ``generate-jitconfig`` takes them (``jit``'s checks): workflow
    files may ask for any text; the first label GitHub would refuse raises
    :class:`LabelRefused`."""
    if len(labels) > MAX_LABELS:
        raise LabelRefused(None, f"a runner takes at most {MAX_LABELS}, the jobs ask {len(labels)}")
    for label in labels:
        try:
            check_label(label, "jit")
        except UsageError as bad:
            raise LabelRefused(label, bad.message) from None
    return tuple(labels)


def choose(
    labels: Sequence[str],
    runners: Sequence[Runner],
    groups: Sequence[RunnerGroup],
    visible: frozenset[int] | None,
) -> tuple[RunnerGroup, Runner | None]:
    """The group for the new runner, and a usable runner with the labels idle now, if any.

    ``visible``: the ids of the groups the job's repository may use (None: not known,
    every group counts). The group most of the usable matching runners are in wins; with
    none, the default group."""
    usable = [
        r
        for r in runners
        if carries_all([label.name for label in r.labels], labels)
        and (visible is None or r.runner_group_id in visible)
    ]
    idle = next((r for r in usable if r.online and not r.busy), None)
    by_id = {g.id: g for g in groups}
    counted = Counter(r.runner_group_id for r in usable if r.runner_group_id in by_id)
    for group_id, _ in counted.most_common(1):
        return by_id[group_id], idle
    default = next((g for g in groups if g.default), RunnerGroup(1, "Default", default=True))
    return default, idle


async def _repository(services: Services, target: Target, alert: Alert) -> str | None:
    """The repository name (no owner) of the alert's jobs, as stored; None if not known."""
    if target.scope is Scope.REPO:
        return target.repo
    for member in alert.members[:MEMBERS_READ]:
        record = await services.store.jobs.get(member.id)
        if record is not None and "/" in record.job.repository:
            return record.job.repository.partition("/")[2]
    return None


async def _visible(services: Services, target: Target, alert: Alert) -> frozenset[int] | None:
    """The ids of the organization's groups the jobs' repository may use (GitHub's own
    answer); None for other targets, or when the repository or the answer is not known."""
    if target.scope is not Scope.ORG:
        return None
    repository = await _repository(services, target, alert)
    if repository is None:
        return None
    listing = await JobService(services.github).runner_groups(target, visible_to=repository)
    if not listing.complete:
        return None
    ids = (g.get("id") for g in listing.items if isinstance(g, dict))
    return frozenset(i for i in ids if isinstance(i, int))


async def _group(
    services: Services, target: Target, alert: Alert, labels: Sequence[str]
) -> tuple[RunnerGroup, Runner | None]:
    """The group to register in, and an idle usable runner if one is there now."""
    listing = await services.runners.list_runners(target)
    if target.scope is Scope.REPO:
        groups = [await services.runners.find_group(target, None)]
        visible: frozenset[int] | None = None
    else:
        groups = await services.runners.list_groups(target)
        visible = await _visible(services, target, alert)
    return choose(labels, listing.runners, groups, visible)


def claim_key(button: AlertButton) -> str:
    """The once-store key of an alert's JIT fix (hashed: an alert's key holds its labels,
    which may be long)."""
    digest = hashlib.sha256(f"{button.channel}\n{button.key}".encode()).hexdigest()
    return f"alert-fix-jit:{digest}"


async def _let_go(services: Services, key: str, claim: dict[str, Any], issued: bool) -> None:
    """Keep the claim for its period once the runner is issued; free it otherwise (a
    failed call, or nothing to register), so that a retry works."""
    once = services.store.once
    try:
        await asyncio.shield(once.done(key, claim) if issued else once.forget(key))
    except StoreUnavailable:  # the lease (a minute) frees it later
        log.warning("could not settle the JIT fix claim %s", key)


@router.button(view.JIT_FIX_ACTION, verb="jit", action="token", target=alert_button_target)
async def jit_fix_clicked(click: Click) -> Reply:
    services, caller = click.services, click.caller
    now = datetime.fromtimestamp(services.clock(), UTC)
    button, alert, _ = await stored_fix(click)
    if not view.applies(alert):
        return view.no_longer_applies()
    try:
        labels = jit_labels(alert.labels)
    except LabelRefused as bad:
        return view.label_refused(bad.label, bad.why)
    target, name, key = button.target, runner_name(labels), claim_key(button)
    # Claimed before GitHub is asked: a second click, on any process, asks GitHub nothing.
    claim = {"by": caller.user_id, "runner": name, "at": now.isoformat()}
    try:
        held = await services.store.once.hold(key, claim, ttl=CLAIM_FOR)
    except StoreUnavailable:
        raise errors.AuditUnavailable(target) from None
    if held is not None:
        return view.registered_already(held.outcome, done=held.state == DONE)
    issued = False
    try:
        group, idle = await _group(services, target, alert, labels)
        if idle is not None:
            return view.runner_idle_now(target, idle.name)
        reply, issued = await issue(
            services, caller, target, name, group, labels, DEFAULT_WORK_FOLDER
        )
    finally:
        await _let_go(services, key, claim, issued)
    if issued:
        await note_fix(click, button.channel, button.key, view.fix_note(name, labels))
    return reply
