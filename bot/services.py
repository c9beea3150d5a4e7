"""The long-lived objects a request handler needs, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import errors, redact
from bot.caller import Caller
from bot.config import Settings
from bot.github.client import GitHubClient
from bot.github.runners import RunnerService
from bot.observe.metrics import Metrics
from bot.offload import Offload
from bot.policy.access import Access
from bot.policy.rules import Policy
from bot.slack.audit_channel import AuditChannel
from bot.slack.chart_files import ChartFiles
from bot.store import Store
from bot.store.audit import PENDING, AuditEntry
from bot.store.database import StoreUnavailable
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
    # The database: the audit trail, and what must happen once across processes (Slack
    # redelivers a command it thinks timed out; a delete button can be clicked twice).
    store: Store
    audit_channel: AuditChannel
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = field(default=time.time)
    # Commands being worked on after their ack, each with what to do if a shutdown must
    # abandon it; held here so that none is garbage collected mid-flight and a shutdown
    # can let them finish.
    working: dict[asyncio.Task[Any], Callable[[], Awaitable[None]]] = field(default_factory=dict)
    shutdown_grace: float = SHUTDOWN_GRACE
    # How long work that must wait (a rate-limit pause in a prune) waits; tests inject one.
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    # Charts uploaded to Slack when it cannot fetch them from runnerops, each once.
    chart_files: ChartFiles = field(init=False)
    # The capacity replay, in a worker process of its own (bot/offload.py).
    offload: Offload = field(default_factory=Offload)

    def __post_init__(self) -> None:
        self.chart_files = ChartFiles(self.slack)

    def hold_current_task(self, on_abandon: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.working[task] = on_abandon
            task.add_done_callback(lambda t: self.working.pop(t, None))

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        github_backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> Services:
        """Raises PolicyError or DatabaseConfigError when the configuration cannot work."""
        redact.redact.add_setting(*settings.secrets())
        redact.install()
        policy = Policy.from_setting(settings.policy)
        store = Store.open(
            settings.database_url,
            clock=clock,
            retention_days=settings.audit_retention_days,
            job_retention_days=settings.job_retention_days,
            migrate_now=settings.migrate_on_start,
            timeout=settings.database_timeout,
        )
        metrics = Metrics()
        github = GitHubClient(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            enterprise_token=settings.github_enterprise_token,
            timeout=settings.github_timeout,
            backoff=github_backoff,
            clock=clock,
            observe=metrics.github_answer,
            allowed_accounts=settings.github_allowed_accounts,
        )
        slack = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        return cls(
            settings=settings,
            github=github,
            runners=RunnerService(github),
            slack=slack,
            access=Access(policy, slack),
            store=store,
            audit_channel=AuditChannel(slack, settings.audit_slack_channel, clock),
            metrics=metrics,
            clock=clock,
        )

    def _entry(
        self, caller: Caller, action: str, target: Target | str | None, outcome: str, detail: str
    ) -> AuditEntry:
        return AuditEntry(
            at=datetime.fromtimestamp(self.clock(), UTC),
            user_id=caller.user_id,
            user_name=caller.user_name,
            action=action,
            target=str(target) if target is not None else "",
            outcome=outcome,
            detail=detail,
            channel_id=caller.channel_id,
        )

    async def audit(
        self,
        caller: Caller,
        action: str,
        target: Target | str | None,
        outcome: str,
        detail: str = "",
    ) -> None:
        """Record one entry after the fact (refusals, reads), and post it to
        AUDIT_SLACK_CHANNEL when set. Never a secret. A database failure is logged."""
        entry = self._entry(caller, action, target, outcome, detail)
        try:
            entry = await self.store.audit.record(entry)
        except StoreUnavailable:
            log.error("could not write an audit entry (%s %s)", action, outcome)
        await self.audit_channel.publish(entry)

    async def audit_first(
        self,
        caller: Caller,
        action: str,
        target: Target,
        detail: str = "",
        *,
        publish: bool = True,
    ) -> Audited:
        """Write the entry of an action about to be performed (token, delete).

        Raises :class:`errors.AuditUnavailable` if it cannot be written: such an action is
        not performed. Settle it with :meth:`Audited.settle` once the outcome is known.
        ``publish=False`` keeps its settled entry out of AUDIT_SLACK_CHANNEL: one of many
        (a prune's deletes) whose caller posts one summary entry instead."""
        entry = self._entry(caller, action, target, PENDING, detail)
        try:
            entry = await self.store.audit.record(entry)
        except StoreUnavailable:
            raise errors.AuditUnavailable(target) from None
        return Audited(self, entry, publish=publish)

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
        self.offload.close()
        await self.store.close()


@dataclass
class Audited:
    """An audit entry written before its action; :meth:`settle` records the outcome.

    Used as ``async with``: an action that leaves by an exception without settling is
    settled with what is known (``failed`` for a definite refusal, ``unknown`` when GitHub
    may have acted: its answer never came, or the command was interrupted)."""

    services: Services
    entry: AuditEntry
    settled: bool = False
    publish: bool = True  # posted to AUDIT_SLACK_CHANNEL once settled

    async def __aenter__(self) -> Audited:
        return self

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self.settled or exc is None:
            return
        prefix = f"{self.entry.detail}: " if self.entry.detail else ""
        if isinstance(exc, errors.OutcomeUnknown):
            await self.settle("unknown", prefix + exc.detail)
        elif isinstance(exc, errors.RunnerOpsError):
            await self.settle("failed", prefix + type(exc).__name__)
        else:
            await self.settle("unknown", prefix + "interrupted before GitHub's answer was read")

    async def settle(self, outcome: str, detail: str | None = None) -> None:
        self.settled = True
        entry = replace(self.entry, outcome=outcome)
        if detail is not None:
            entry = replace(entry, detail=detail)
        assert entry.id is not None
        try:
            await self.services.store.audit.settle(entry.id, outcome, detail)
        except StoreUnavailable:
            # The entry stays "pending": it still says who started what, and when.
            log.error("could not settle an audit entry (%s %s)", entry.action, outcome)
        if self.publish:
            await self.services.audit_channel.publish(entry)
