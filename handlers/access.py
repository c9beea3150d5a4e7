"""``whoami`` and ``audit``: what a user may do, and what has been done."""

from __future__ import annotations

from bot.policy.rules import PolicyError
from bot.routing import Invocation, Router
from bot.slack.blocks import Reply
from bot.slack.views import access as access_view
from bot.targets import TargetError, parse_target

router = Router()


@router.verb("whoami")
async def whoami(inv: Invocation) -> Reply:
    access, caller = inv.services.access, inv.caller
    groups = await access.groups_of(caller.user_id)
    grants = access.policy.grants_for(user_id=caller.user_id, user_groups=groups, channel_id=None)
    return access_view.whoami(caller.user_id, grants, caller.channel_id, access.policy.is_default)


@router.verb("audit")
async def audit(inv: Invocation) -> Reply:
    """Recent entries; without a target, only those of targets the caller administers.

    The caller's targets are decided first (policy globs cannot be SQL) and then filtered
    in the query, so no amount of other entries can push theirs out of view."""
    services, caller, target = inv.services, inv.caller, inv.command.target
    store = services.store.audit
    if target is not None:
        return await _audit_of(inv, target=str(target))
    groups = await services.access.groups_of(caller.user_id)
    administered = []
    for name in await store.targets():
        try:
            allowed = services.access.policy.decide(
                "admin",
                user_id=caller.user_id,
                user_groups=groups,
                channel_id=caller.channel_id,
                target=parse_target(name),
            ).allowed
        except (TargetError, PolicyError, ValueError):
            continue
        if allowed:
            administered.append(name)
    return await _audit_of(inv, targets=administered)


async def _audit_of(
    inv: Invocation, *, target: str | None = None, targets: list[str] | None = None
) -> Reply:
    """Refusals are counted per user, command and target rather than listed among the
    rest: a user's thousand refused commands cannot push an admin's entries out of view
    (``--refused`` lists them one by one)."""
    store, command = inv.services.store.audit, inv.command
    if command.refused:
        entries = await store.recent(
            target=target, targets=targets, limit=command.limit, refused=True
        )
        return access_view.audit_list(entries, command.target, refused_only=True)
    entries = await store.recent(target=target, targets=targets, limit=command.limit, refused=False)
    counts = await store.refusal_counts(target=target, targets=targets)
    return access_view.audit_list(entries, command.target, refusals=counts)
