"""``whoami`` and ``audit``: what a user may do, and what has been done."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import UsageError, no_more, optional_target
from bot.dispatch import Args, Invocation, Router, Verb, Words
from bot.slack.blocks import Reply
from bot.slack.views import access as access_view

router = Router()


@dataclass(frozen=True, slots=True, kw_only=True)
class NoArgs(Args):
    """A verb that takes no words (``whoami``, ``watching``)."""


def parse_no_args(w: Words) -> NoArgs:
    if w.positionals:
        raise UsageError(f"`{w.verb}` takes no arguments", w.verb)
    return NoArgs()


async def whoami(inv: Invocation[NoArgs]) -> Reply:
    access, caller = inv.services.access, inv.caller
    groups = await access.groups_of(caller.user_id)
    grants = access.policy.grants_for(user_id=caller.user_id, user_groups=groups, channel_id=None)
    return access_view.whoami(caller.user_id, grants, caller.channel_id, access.policy.is_default)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditArgs(Args):
    limit: int = 20
    refused: bool = False  # the refusals themselves, not their counts


def parse_audit(w: Words) -> AuditArgs:
    target, rest = optional_target(w.verb, w.positionals)
    no_more(rest, w.verb)
    limit = 20
    if "--limit" in w.flags:
        value = w.flags["--limit"][-1]
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 200:
            raise UsageError("`--limit` takes a number from 1 to 200", w.verb)
        limit = int(value)
    return AuditArgs(target=target, limit=limit, refused="--refused" in w.flags)


async def audit(inv: Invocation[AuditArgs]) -> Reply:
    """Recent entries; without a target, only those of targets the caller administers.

    The caller's targets are decided first (policy globs cannot be SQL) and then filtered
    in the query, so no amount of other entries can push theirs out of view."""
    services, caller, target = inv.services, inv.caller, inv.command.target
    if target is not None:
        return await _audit_of(inv, target=str(target))
    names = await services.store.audit.targets()
    administered = await services.access.allowed_targets(
        "admin", caller.user_id, caller.channel_id, names
    )
    return await _audit_of(inv, targets=administered)


async def _audit_of(
    inv: Invocation[AuditArgs], *, target: str | None = None, targets: list[str] | None = None
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


router.add(
    Verb(
        "whoami",
        "whoami",
        "what you may do, and where",
        "read",
        parse_no_args,
        whoami,
        positionals=0,
        local=True,
    )
)
router.add(
    Verb(
        "audit",
        "audit [TARGET] [--limit N] [--refused]",
        "recent tokens, deletes and other changes, refusals counted apart"
        " (`--refused` lists them; admins)",
        "admin",
        parse_audit,
        audit,
        flags={"--limit": True, "--refused": False},
        local=True,
    )
)
