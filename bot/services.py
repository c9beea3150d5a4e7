"""The long-lived objects a request handler needs, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import redact
from bot.config import Settings
from bot.github.client import GitHubClient
from bot.github.runners import RunnerService
from bot.policy.access import Access
from bot.policy.rules import Policy
from bot.routing import Caller
from bot.slack.render import audit_line
from bot.store.audit import AuditEntry, AuditStore, open_store
from bot.store.once import Once
from bot.targets import Target

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 20.0  # PaaS platforms commonly allow 30 s between SIGTERM and SIGKILL


@dataclass
class Services:
    settings: Settings
    github: GitHubClient
    runners: RunnerService
    slack: AsyncWebClient
    access: Access
    audit_store: AuditStore
    clock: Callable[[], float] = field(default=time.time)
    # Slack redelivers a command it thinks timed out; a delete button can be clicked twice.
    once: Once = field(default_factory=Once)
    # Commands being worked on after their ack, each with what to do if a shutdown must
    # abandon it; held here so that none is garbage collected mid-flight and a shutdown
    # can let them finish.
    working: dict[asyncio.Task[Any], Callable[[], Awaitable[None]]] = field(default_factory=dict)
    shutdown_grace: float = SHUTDOWN_GRACE

    def hold_current_task(self, on_abandon: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.working[task] = on_abandon
            task.add_done_callback(lambda t: self.working.pop(t, None))

    @classmethod
    def build(cls, settings: Settings, *, github_backoff: float = 0.5) -> Services:
        """Raises PolicyError or AuditConfigError when the configuration cannot work."""
        redact.redact.add_setting(*settings.secrets())
        redact.install()
        policy = Policy.from_setting(settings.policy)
        audit_store = open_store(settings.database_url)
        github = GitHubClient(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            enterprise_token=settings.github_enterprise_token,
            timeout=settings.github_timeout,
            backoff=github_backoff,
        )
        slack = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        return cls(
            settings=settings,
            github=github,
            runners=RunnerService(github),
            slack=slack,
            access=Access(policy, slack),
            audit_store=audit_store,
        )

    async def audit(
        self,
        caller: Caller,
        action: str,
        target: Target | str | None,
        outcome: str,
        detail: str = "",
    ) -> None:
        """Record one entry, and post it to AUDIT_SLACK_CHANNEL when set. Never a secret."""
        entry = AuditEntry(
            at=datetime.fromtimestamp(self.clock(), UTC),
            user_id=caller.user_id,
            user_name=caller.user_name,
            action=action,
            target=str(target) if target is not None else "",
            outcome=outcome,
            detail=detail,
            channel_id=caller.channel_id,
        )
        try:
            await self.audit_store.record(entry)
        except Exception:
            log.exception("could not write an audit entry")
        channel = self.settings.audit_slack_channel
        if channel:
            try:
                await self.slack.chat_postMessage(
                    channel=channel, text=audit_line(entry), unfurl_links=False
                )
            except Exception as exc:
                log.warning("could not post to the audit channel: %s", type(exc).__name__)

    async def close(self) -> None:
        """Let acknowledged commands finish (a deploy must not swallow replies); those
        still running after the grace are stopped and told so. Then release connections."""
        if self.working:
            await asyncio.wait(set(self.working), timeout=self.shutdown_grace)
        abandoned = list(self.working.items())
        for task, _ in abandoned:
            task.cancel()
        if abandoned:
            log.warning("shutting down: %d command(s) stopped unfinished", len(abandoned))
            await asyncio.wait([t for t, _ in abandoned], timeout=1.0)
            await asyncio.gather(*(tell() for _, tell in abandoned), return_exceptions=True)
        await self.github.close()
        await self.audit_store.close()
