"""Policy decisions for a Slack caller, with user-group membership looked up in Slack.

Only groups the policy names are looked up (``usergroups.users.list``), and each
membership list is cached a few minutes. If Slack cannot answer, the caller is taken to be
in no group: access fails closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import cachetools
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.policy.rules import Decision, Policy, PolicyError
from bot.policy.visibility import Reader
from bot.targets import Target, TargetError, parse_target

log = logging.getLogger(__name__)
GROUP_TTL = 300.0


class Access:
    def __init__(
        self,
        policy: Policy,
        slack: AsyncWebClient,
        *,
        ttl: float = GROUP_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._slack = slack
        self._members: cachetools.TTLCache[str, frozenset[str]] = cachetools.TTLCache(
            maxsize=1024, ttl=ttl, timer=clock
        )
        self._locks: dict[str, asyncio.Lock] = {}

    async def _members_of(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached is not None:
            return cached
        async with self._locks.setdefault(group, asyncio.Lock()):
            cached = self._members.get(group)
            if cached is None:
                try:
                    response = await self._slack.usergroups_users_list(usergroup=group)
                    cached = frozenset(response.get("users") or ())
                except (TimeoutError, SlackApiError, OSError) as exc:
                    log.warning(
                        "cannot list members of user group %s: %s", group, type(exc).__name__
                    )
                    return frozenset()  # not cached: the next command asks again
                self._members[group] = cached
        return cached

    async def groups_of(self, user_id: str) -> frozenset[str]:
        groups = sorted(self.policy.referenced_groups())
        members = await asyncio.gather(*(self._members_of(g) for g in groups))
        return frozenset(g for g, users in zip(groups, members, strict=True) if user_id in users)

    async def decide(
        self, action: str, *, user_id: str, channel_id: str, target: Target | None
    ) -> Decision:
        return self.policy.decide(
            action,
            user_id=user_id,
            user_groups=await self.groups_of(user_id),
            channel_id=channel_id,
            target=target,
        )

    async def allowed_targets(
        self, action: str, user_id: str, channel_id: str, names: Iterable[str]
    ) -> list[str]:
        """Those of ``names`` (targets as stored) on which ``user_id`` may do ``action``
        from ``channel_id`` ("" for the Home tab); a name that is no valid target is left
        out. For views over many targets: audit's, the Home tab's."""
        groups = await self.groups_of(user_id)
        allowed = []
        for name in names:
            try:
                decision = self.policy.decide(
                    action,
                    user_id=user_id,
                    user_groups=groups,
                    channel_id=channel_id,
                    target=parse_target(name),
                )
            except (TargetError, PolicyError, ValueError):
                continue
            if decision.allowed:
                allowed.append(name)
        return allowed

    async def reader(self, user_id: str, channel_id: str) -> Reader:
        """What ``user_id`` may read from ``channel_id`` ("" for the Home tab), for
        filtering rows of many targets (bot.policy.visibility)."""
        return Reader(self.policy, user_id, await self.groups_of(user_id), channel_id)
