"""Open alerts: what each Slack alert message shows, and where it is (channel and ts).

The state is a :class:`bot.watch.alerts.Alert` as JSON; ``message_ts`` has a column of its
own, written only once Slack has accepted the post, and ``posting_at`` is the claim that
lets exactly one process post a new alert (another process sees the claim and waits for
the ts, or takes over once the claim's lease has passed). A resolved alert keeps its row,
renamed, so the key is free for the next alert of the same kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store._sql import insert_for, utc
from bot.store.database import Database
from bot.store.schema import alerts
from bot.watch.alerts import Alert, AlertKind, Departure, Left, Marks, Member

FIX_NOTE_MAX = 500  # what a fix did, in plain words: cut, never refused
POST_LEASE = timedelta(minutes=2)  # longer than a Slack call's timeout


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def encode(alert: Alert) -> dict[str, Any]:
    return {
        "key": alert.key,
        "kind": alert.kind.value,
        "target": alert.target,
        "channel": alert.channel,
        "opened_at": alert.opened_at.isoformat(),
        "reason": alert.reason,
        "labels": list(alert.labels),
        "members": [[m.id, m.name, m.since.isoformat()] for m in alert.members],
        "left": [
            [x.id, x.name, x.since.isoformat(), x.left_at.isoformat(), x.how.value]
            for x in alert.left
        ],
        "shown_count": alert.shown_count,
        **({"until": alert.until.isoformat()} if alert.until is not None else {}),
    }


def decode(state: dict[str, Any], message_ts: str | None) -> Alert:
    return Alert(
        key=state["key"],
        kind=AlertKind(state["kind"]),
        target=state["target"],
        channel=state["channel"],
        opened_at=_time(state["opened_at"]),
        reason=state.get("reason", ""),
        labels=tuple(state.get("labels", ())),
        members=tuple(Member(int(i), str(n), _time(s)) for i, n, s in state.get("members", ())),
        left=tuple(
            Left(int(i), str(n), _time(s), _time(at), Departure(how))
            for i, n, s, at, how in state.get("left", ())
        ),
        message_ts=message_ts,
        shown_count=int(state.get("shown_count", 0)),
        until=_time(state["until"]) if state.get("until") else None,
    )


_MARKS = (
    alerts.c.acknowledged_by,
    alerts.c.acknowledged_at,
    alerts.c.snoozed_by,
    alerts.c.snoozed_until,
    alerts.c.escalated_at,
    alerts.c.fixed_by,
    alerts.c.fixed_at,
    alerts.c.fix_note,
)


def _marks(m: sa.RowMapping) -> Marks:
    return Marks(
        acknowledged_by=m["acknowledged_by"],
        acknowledged_at=m["acknowledged_at"],
        snoozed_by=m["snoozed_by"],
        snoozed_until=m["snoozed_until"],
        escalated_at=m["escalated_at"],
        fixed_by=m["fixed_by"],
        fixed_at=m["fixed_at"],
        fix_note=m["fix_note"],
    )


class AlertStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._insert = insert_for(db)

    def _open(self, channel: str, key: str) -> sa.ColumnElement[bool]:
        return (
            (alerts.c.channel == channel) & (alerts.c.key == key) & alerts.c.resolved_at.is_(None)
        )

    async def open_alerts(self) -> list[Alert]:
        """Every open alert, oldest first."""
        query = (
            sa.select(alerts.c.state, alerts.c.message_ts)
            .where(alerts.c.resolved_at.is_(None))
            .order_by(alerts.c.opened_at, alerts.c.id)
        )

        async def select() -> list[Alert]:
            async with self.db.engine.connect() as conn:
                return [decode(state, ts) for state, ts in await conn.execute(query)]

        return await self.db.read(select, "alert read")

    async def recently_resolved(self, limit: int = 20) -> list[tuple[Alert, datetime]]:
        """The last alerts resolved, newest first, with when."""
        query = (
            sa.select(alerts.c.state, alerts.c.message_ts, alerts.c.resolved_at)
            .where(alerts.c.resolved_at.is_not(None))
            .order_by(alerts.c.resolved_at.desc(), alerts.c.id.desc())
            .limit(limit)
        )

        async def select() -> list[tuple[Alert, datetime]]:
            async with self.db.engine.connect() as conn:
                return [(decode(st, ts), at) for st, ts, at in await conn.execute(query)]

        return await self.db.read(select, "alert read")

    async def save(self, alert: Alert) -> None:
        """Store what ``alert`` holds now; its message ts is kept as stored."""
        state = encode(alert)
        statement = self._insert(alerts).values(
            channel=alert.channel,
            key=alert.key,
            kind=alert.kind.value,
            target=alert.target,
            message_ts=alert.message_ts,
            state=state,
            opened_at=alert.opened_at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[alerts.c.channel, alerts.c.key],
            set_={
                "state": statement.excluded.state,
                "message_ts": sa.func.coalesce(alerts.c.message_ts, statement.excluded.message_ts),
            },
        )

        async def upsert() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(statement)

        await self.db.write(upsert, "alert write")

    async def claim_post(self, alert: Alert) -> bool:
        """True for the one caller that may post ``alert`` now (stored, not yet posted,
        not claimed by another within :data:`POST_LEASE`)."""
        await self.save(alert)
        now = utc(self.clock)
        statement = (
            alerts.update()
            .where(
                self._open(alert.channel, alert.key),
                alerts.c.message_ts.is_(None),
                alerts.c.posting_at.is_(None) | (alerts.c.posting_at < now - POST_LEASE),
            )
            .values(posting_at=now)
        )

        async def update() -> bool:
            async with self.db.engine.begin() as conn:
                return bool((await conn.execute(statement)).rowcount)

        return await self.db.write(update, "alert claim")

    async def posted(self, alert: Alert) -> None:
        """Slack has the message: store its ts with the alert's state."""
        assert alert.message_ts is not None
        statement = (
            alerts.update()
            .where(self._open(alert.channel, alert.key))
            .values(message_ts=alert.message_ts, state=encode(alert), posting_at=None)
        )

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(statement)

        await self.db.write(update, "alert write")

    async def resolve(self, alert: Alert) -> None:
        """The alert is over: its row stays for the record under a key of its own."""
        now = utc(self.clock)

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    alerts.update()
                    .where(self._open(alert.channel, alert.key))
                    .values(
                        key=alerts.c.key
                        + f"#resolved@{now.isoformat()}#"
                        + sa.cast(alerts.c.id, sa.Text()),
                        resolved_at=now,
                        state=encode(replace(alert, members=(), left=())),
                    )
                )

        await self.db.write(update, "alert write")

    async def drop(self, alert: Alert) -> None:
        """Forget an alert that never reached Slack."""

        async def delete() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    alerts.delete().where(
                        self._open(alert.channel, alert.key), alerts.c.message_ts.is_(None)
                    )
                )

        await self.db.write(delete, "alert write")

    def drop_watch_statement(self, channel: str, target: str) -> sa.Update:
        """What closes a watch's open alerts (their messages stay as they are): run in the
        transaction that removes the watch, so that no alert outlives its watch."""
        now = utc(self.clock)
        return (
            alerts.update()
            .where(
                alerts.c.channel == channel,
                sa.func.lower(alerts.c.target) == target.lower(),
                alerts.c.resolved_at.is_(None),
            )
            .values(
                key=alerts.c.key
                + f"#unwatched@{now.isoformat()}#"
                + sa.cast(alerts.c.id, sa.Text()),
                resolved_at=now,
            )
        )

    async def drop_watch(self, channel: str, target: str) -> int:
        """A watch ended: its open alerts are closed (their messages stay as they are)."""
        statement = self.drop_watch_statement(channel, target)

        async def update() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(statement)
                return int(result.rowcount or 0)

        return await self.db.write(update, "alert write")

    async def prune(self, before: datetime) -> int:
        """Resolved alerts older than ``before`` go (the audit trail's retention)."""

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    alerts.delete().where(
                        alerts.c.resolved_at.is_not(None), alerts.c.resolved_at < before
                    )
                )
                return int(result.rowcount or 0)

        return await self.db.write(delete, "alert prune")

    # -- Acknowledge, Snooze 1h, escalation (migration 0009) ---------------------------

    async def open_marked(self) -> list[tuple[Alert, Marks]]:
        """Every open alert with its marks, oldest first."""
        query = (
            sa.select(alerts.c.state, alerts.c.message_ts, *_MARKS)
            .where(alerts.c.resolved_at.is_(None))
            .order_by(alerts.c.opened_at, alerts.c.id)
        )

        async def select() -> list[tuple[Alert, Marks]]:
            async with self.db.engine.connect() as conn:
                rows = list(await conn.execute(query))
            return [(decode(row.state, row.message_ts), _marks(row._mapping)) for row in rows]

        return await self.db.read(select, "alert read")

    async def find(self, channel: str, key: str) -> tuple[Alert, Marks] | None:
        """The open alert ``key`` in ``channel`` with its marks; None once resolved."""
        query = sa.select(alerts.c.state, alerts.c.message_ts, *_MARKS).where(
            self._open(channel, key)
        )

        async def select() -> tuple[Alert, Marks] | None:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            return (
                None if row is None else (decode(row.state, row.message_ts), _marks(row._mapping))
            )

        return await self.db.read(select, "alert read")

    async def marks(self, channel: str, key: str) -> Marks:
        """The marks of the open alert ``key`` (none when there is no such alert)."""
        found = await self.find(channel, key)
        return found[1] if found is not None else Marks()

    async def _mark(
        self, channel: str, key: str, extra: sa.ColumnElement[bool], **values: Any
    ) -> bool:
        statement = alerts.update().where(self._open(channel, key), extra).values(**values)

        async def update() -> bool:
            async with self.db.engine.begin() as conn:
                return bool((await conn.execute(statement)).rowcount)

        return await self.db.write(update, "alert mark")

    async def acknowledge(self, channel: str, key: str, user: str, at: datetime) -> bool:
        """Mark the open alert acknowledged by ``user``; True for the one click that did
        (a second click, on any process, finds it acknowledged already)."""
        return await self._mark(
            channel,
            key,
            alerts.c.acknowledged_at.is_(None),
            acknowledged_by=user,
            acknowledged_at=at,
        )

    async def snooze(self, channel: str, key: str, user: str, until: datetime) -> bool:
        """Hide the open alert from escalation and the Home tab's open list until
        ``until``; True when there was such an alert."""
        return await self._mark(channel, key, sa.true(), snoozed_by=user, snoozed_until=until)

    async def record_fix(self, channel: str, key: str, user: str, note: str, at: datetime) -> bool:
        """Say on the open alert that ``user`` fixed its cause (``note``: what was done, in
        plain words; the latest fix is kept). True when there was such an alert."""
        return await self._mark(
            channel, key, sa.true(), fixed_by=user, fixed_at=at, fix_note=note[:FIX_NOTE_MAX]
        )

    async def claim_escalation(self, channel: str, key: str, at: datetime) -> bool:
        """True for the one caller that may post the alert's escalation reply: the claim
        is taken in the database before the post, so it is never posted twice."""
        return await self._mark(
            channel,
            key,
            alerts.c.escalated_at.is_(None) & alerts.c.acknowledged_at.is_(None),
            escalated_at=at,
        )

    async def release_escalation(self, channel: str, key: str, at: datetime) -> None:
        """Slack refused the escalation claimed at ``at``: the next round may try again."""
        await self._mark(channel, key, alerts.c.escalated_at == at, escalated_at=None)
