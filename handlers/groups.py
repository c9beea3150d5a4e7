"""``groups``: an organization's or enterprise's runner groups, with their runner counts."""

from __future__ import annotations

from bot.commands import UsageError, no_more, take_target
from bot.dispatch import Invocation, Router, TargetArgs, Verb, Words
from bot.slack.blocks import Reply
from bot.slack.views import groups as groups_view
from bot.targets import Scope

router = Router()


def parse_groups(w: Words) -> TargetArgs:
    target, rest = take_target(w.verb, w.positionals, w.default_target)
    no_more(rest, w.verb)
    if target.scope is Scope.REPO:
        raise UsageError(
            "runner groups belong to organizations and enterprises; a repository's runners "
            f"are all in its Default group. Try `groups {target.owner}`",
            w.verb,
        )
    return TargetArgs(target=target)


async def list_groups(inv: Invocation[TargetArgs]) -> Reply:
    target = inv.command.target
    runners = inv.services.runners
    groups = await runners.list_groups(target)
    # Only the groups the reply can show are counted: one request each.
    shown = await runners.count_runners(target, groups[: groups_view.MAX_GROUPS_SHOWN])
    return groups_view.groups_reply(target, [*shown, *groups[groups_view.MAX_GROUPS_SHOWN :]])


router.add(
    Verb(
        "groups",
        "groups TARGET",
        "runner groups: who may use them, which workflows, how many runners",
        "read",
        parse_groups,
        list_groups,
    )
)
