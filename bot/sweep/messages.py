"""The sweep's alert messages: rendered (bot/slack/alerts.py), posted or updated in their
channel, then logged and audited (actor ``runnerops``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot import errors
from bot.github.models import Download
from bot.slack.blocks import Reply
from bot.slack.views import alerts as alerts_view
from bot.slack.views.version_alerts import preferred_download, version_alert
from bot.store.audit import AuditEntry
from bot.store.database import StoreUnavailable
from bot.store.jobs import JobRecord
from bot.store.watches import Watch
from bot.targets import TargetError, parse_target
from bot.watch.alerts import ActionKind, Alert, AlertAction, AlertKind, Marks, escalation_due
from bot.watch.diagnosis import Diagnosis

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

ACTOR = "runnerops"  # the audit's actor for what the sweep does by itself
_OUTCOMES = {
    ActionKind.POST: "posted",
    ActionKind.UPDATE: "updated",
    ActionKind.RESOLVE: "resolved",
}


class AlertMessages:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _jobs(self, *alerts: Alert | None) -> dict[int, JobRecord]:
        found: dict[int, JobRecord] = {}
        members = [m for a in alerts if a is not None for m in a.members]
        for member in members:
            record = await self.services.store.jobs.get(member.id)
            if record is not None:
                found[member.id] = record
        return found

    async def _render(
        self, action: AlertAction, before: Alert | None, diagnosis: Diagnosis | None, now: datetime
    ) -> Reply:
        alert = action.alert
        # An update keeps saying who acknowledged or snoozed it: read now, not at the
        # round's start, so a click during the round is not written over.
        marks = (
            await self.services.store.alerts.marks(alert.channel, alert.key)
            if action.kind is ActionKind.UPDATE
            else Marks()
        )
        if alert.kind == AlertKind.OFFLINE:
            return alerts_view.offline_alert(
                alert, now=now, resolved=action.kind is ActionKind.RESOLVE, marks=marks
            )
        if alert.kind == AlertKind.VERSION:
            resolved = action.kind is ActionKind.RESOLVE
            download = None if resolved else await self._download(alert.target)
            return version_alert(alert, now=now, resolved=resolved, marks=marks, download=download)
        if action.kind is ActionKind.RESOLVE:
            gone = before if before is not None else alert
            return alerts_view.stuck_resolved(gone, await self._jobs(gone))
        still = {m.id for m in alert.members}
        departed = [m for m in (before.members if before else ()) if m.id not in still]
        return alerts_view.stuck_alert(
            alert,
            diagnosis,
            await self._jobs(alert, before),
            now=now,
            departed=departed,
            marks=marks,
            github_url=self.services.settings.github_url,
        )

    async def _download(self, target: str) -> Download | None:
        """The newest release to pin, from GitHub's downloads (asked only when a version
        alert is posted or updated); None when it cannot be read."""
        try:
            found = await self.services.runners.list_downloads(parse_target(target))
        except (errors.RunnerOpsError, TargetError) as exc:
            log.warning(
                "downloads of %s not read for a version alert: %s", target, type(exc).__name__
            )
            return None
        return preferred_download(found)

    async def send(
        self, action: AlertAction, before: Alert | None, diagnosis: Diagnosis | None, now: datetime
    ) -> str | None:
        """Carry out ``action``; the new message's ts for a post ("" for the others),
        None when it did not happen (it is planned again next round)."""
        alert, slack = action.alert, self.services.slack
        reply = await self._render(action, before, diagnosis, now)
        blocks = [b.to_dict() for b in reply.blocks]
        try:
            if action.kind is ActionKind.POST:
                if not await self.services.store.alerts.claim_post(alert):
                    return None  # another process is posting it
                answer = await slack.chat_postMessage(
                    channel=alert.channel, text=reply.text, blocks=blocks, unfurl_links=False
                )
                return str(answer["ts"])
            assert alert.message_ts is not None
            await slack.chat_update(
                channel=alert.channel, ts=alert.message_ts, text=reply.text, blocks=blocks
            )
            return ""
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error == "message_not_found" and action.kind is ActionKind.RESOLVE:
                return ""  # someone deleted the message: nothing left to resolve
            log.warning(
                "alert %s %s in %s not sent: %s", action.kind, alert.key, alert.channel, error
            )
            self.services.metrics.sweep_failed(alert.target, "alert")
            return None

    async def told(self, action: AlertAction, before: Alert | None, now: datetime) -> None:
        """One log line per alert message sent, with the reason's machine name; posts and
        resolutions also go to the audit (actor ``runnerops``)."""
        alert = action.alert
        members = alert.members or (before.members if before is not None else ())
        reason = alert.reason or str(alert.kind)
        outcome = _OUTCOMES[action.kind]
        counted = "jobs" if alert.kind == AlertKind.STUCK else "runners"
        log.info(
            "alert %s: reason=%s key=%s channel=%s %s=%d",
            outcome,
            reason,
            alert.key,
            alert.channel,
            counted,
            len(members),
        )
        if action.kind is ActionKind.UPDATE:
            return
        entry = AuditEntry(
            at=now,
            user_id=ACTOR,
            user_name=ACTOR,
            action="alert",
            target=alert.target,
            outcome=outcome,
            detail=f"{reason} ({len(members)} {counted}; {alert.key})",
            channel_id=alert.channel,
        )
        try:
            await self.services.store.audit.record(entry)
        except StoreUnavailable:
            log.error("could not write the audit entry of alert %s (%s)", alert.key, outcome)

    async def escalate(self, alert: Alert, watch: Watch, now: datetime) -> bool:
        """The alert's one escalation reply in its thread, when due: claimed in the
        database first, so that it is posted once across processes; a claim Slack refused
        is released (a post whose answer was lost is not tried again: never twice). True
        when posted."""
        store = self.services.store.alerts

        def due(marks: Marks) -> bool:
            return escalation_due(
                alert, marks, mentions=watch.mentions, after=watch.mention_after, now=now
            )

        if not due(Marks()):  # not yet, or never: no need to read its marks
            return False
        if not due(await store.marks(alert.channel, alert.key)):
            return False
        if not await store.claim_escalation(alert.channel, alert.key, now):
            return False
        reply = alerts_view.escalation(alert, watch.mentions, watch.mention_after)
        try:
            await self.services.slack.chat_postMessage(
                channel=alert.channel,
                thread_ts=alert.message_ts,
                text=reply.text,
                blocks=[b.to_dict() for b in reply.blocks],
                unfurl_links=False,
            )
        except SlackApiError:  # refused, so surely not posted: the next round tries again
            await store.release_escalation(alert.channel, alert.key, now)
            raise
        log.info(
            "alert escalated: key=%s channel=%s mentions=%d",
            alert.key,
            alert.channel,
            len(watch.mentions),
        )
        return True
