"""The audit trail: every token issued, every delete, every refusal.

Each entry says who (Slack user id and name), what, on which target, when and with what
outcome, so an admin can answer "who added that runner?" later. Entries never hold a
token: callers pass none, and recognisable credential shapes are masked as a backstop.

An action that must be audited is written *before* it is carried out (outcome
``pending``) and settled afterwards: if the entry cannot be written the action is not
performed, and a process killed in between leaves ``pending``, never an action without
an entry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store._sql import insert_for, storable
from bot.store.database import Database
from bot.store.schema import audit

PENDING = "pending"
REFUSED = "refused"
UNKNOWN = "unknown"
ABANDONED = "(the process stopped before GitHub's answer was recorded; check the target)"
# An action's own deadline is GITHUB_TIMEOUT and the shutdown grace 20 s: an entry still
# pending after this long belongs to a process that is gone.
ABANDONED_AFTER = timedelta(minutes=15)

# GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and Slack tokens (xox?-).
_CREDENTIAL = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[a-z]-[A-Za-z0-9-]{10,})"
)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime  # UTC, tz-aware
    user_id: str
    user_name: str
    action: str  # the command verb: "token", "remove-token", "delete", "list", ...
    target: str  # str(Target), or "" when the command had none
    outcome: str  # "issued", "deleted", "refused", "failed", "not-deleted", "pending", ...
    detail: str = ""  # runner name or id, refusal reason, error kind; never a secret
    channel_id: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        # A naive time is ambiguous in a trail read across time zones: refuse it.
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("AuditEntry.at must be timezone-aware")
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", self.at.astimezone(UTC))


@dataclass(frozen=True)
class RefusalCount:
    """One user's refusals of one command on one target, counted: how a flood of refused
    commands is shown without pushing anything else out of view."""

    user_id: str
    user_name: str
    action: str
    target: str
    count: int
    latest: datetime


def _mask(text: str) -> str:
    return _CREDENTIAL.sub("[redacted]", text)


def _entry(row: sa.Row[tuple[object, ...]]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        at=m["at"],
        user_id=m["user_id"],
        user_name=m["user_name"],
        action=m["action"],
        target=m["target"],
        outcome=m["outcome"],
        detail=m["detail"],
        channel_id=m["channel_id"],
        id=int(m["id"]),
    )


class AuditStore:
    """The audit table, on whichever engine :class:`Database` holds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert = insert_for(db)

    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Store ``entry`` once; return it with its ``id`` set. Raises StoreUnavailable.

        The write carries a key chosen here, so when :meth:`Database.write` retries after
        a commit whose acknowledgement was lost, the retry finds that row (ON CONFLICT DO
        NOTHING, then a look-up by key) instead of adding a second entry."""
        entry = replace(entry, detail=_mask(entry.detail))
        key = uuid.uuid4().hex
        values = {
            "entry_key": key,
            "at": entry.at,
            "user_id": entry.user_id,
            "user_name": storable(entry.user_name),
            "action": entry.action,
            "target": entry.target,
            "outcome": entry.outcome,
            "detail": storable(entry.detail),
            "channel_id": entry.channel_id,
        }

        statement = (
            self._insert(audit)
            .values(values)
            .on_conflict_do_nothing(index_elements=[audit.c.entry_key])
            .returning(audit.c.id)
        )

        async def insert() -> int:
            async with self.db.engine.begin() as conn:
                inserted = (await conn.execute(statement)).scalar_one_or_none()
                if inserted is None:  # an earlier attempt of this very write committed
                    found = await conn.execute(
                        sa.select(audit.c.id).where(audit.c.entry_key == key)
                    )
                    inserted = found.scalar_one()
                return int(inserted)

        return replace(entry, id=await self.db.write(insert, "audit write"))

    async def settle(self, entry_id: int, outcome: str, detail: str | None = None) -> None:
        """Give a pending entry its outcome."""
        values: dict[str, str] = {"outcome": outcome}
        if detail is not None:
            values["detail"] = _mask(detail)

        async def update() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(audit.update().where(audit.c.id == entry_id).values(values))

        await self.db.write(update, "audit write")

    @staticmethod
    def _where(
        query: sa.Select[Any], target: str | None, targets: Collection[str] | None
    ) -> sa.Select[Any]:
        if target is not None:
            query = query.where(sa.func.lower(audit.c.target) == target.lower())
        if targets is not None:
            query = query.where(sa.func.lower(audit.c.target).in_({t.lower() for t in targets}))
        return query

    async def recent(
        self,
        *,
        target: str | None = None,
        targets: Collection[str] | None = None,
        limit: int = 20,
        refused: bool | None = None,
    ) -> list[AuditEntry]:
        """Newest first. ``target`` matches one target exactly, ignoring case; ``targets``
        any of several (how a caller's permitted targets are filtered in the query).
        ``refused``: True only refusals, False none of them, None everything."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0 or (targets is not None and not targets):
            return []
        query = self._where(sa.select(audit), target, targets)
        if refused is not None:
            query = query.where(
                audit.c.outcome == REFUSED if refused else audit.c.outcome != REFUSED
            )
        query = query.order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)

        async def select() -> list[AuditEntry]:
            async with self.db.engine.connect() as conn:
                return [_entry(row) for row in await conn.execute(query)]

        return await self.db.read(select, "audit read")

    async def refusal_counts(
        self,
        *,
        target: str | None = None,
        targets: Collection[str] | None = None,
        limit: int = 10,
    ) -> list[RefusalCount]:
        """Refusals grouped by user, command and target, counted; most recent first."""
        if limit <= 0 or (targets is not None and not targets):
            return []
        latest = sa.func.max(audit.c.at)
        query = self._where(
            sa.select(
                audit.c.user_id,
                sa.func.max(audit.c.user_name),
                audit.c.action,
                sa.func.lower(audit.c.target),
                sa.func.count(),
                latest,
            ).where(audit.c.outcome == REFUSED),
            target,
            targets,
        )
        query = (
            query.group_by(audit.c.user_id, audit.c.action, sa.func.lower(audit.c.target))
            .order_by(latest.desc())
            .limit(limit)
        )

        async def select() -> list[RefusalCount]:
            async with self.db.engine.connect() as conn:
                return [
                    RefusalCount(
                        str(user_id),
                        str(name or ""),
                        str(action),
                        str(where),
                        int(count),
                        at if at.tzinfo else at.replace(tzinfo=UTC),
                    )
                    for user_id, name, action, where, count, at in await conn.execute(query)
                ]

        return await self.db.read(select, "audit read")

    async def targets(self) -> list[str]:
        """Every target named in the trail (lower case), for a policy to filter."""

        async def select() -> list[str]:
            async with self.db.engine.connect() as conn:
                rows = await conn.execute(sa.select(sa.func.lower(audit.c.target)).distinct())
                return [str(value) for (value,) in rows]

        return await self.db.read(select, "audit read")

    async def settle_abandoned(self, before: datetime) -> int:
        """Entries still ``pending`` from before ``before`` were left by a process that
        stopped (a deploy, a crash) between its action and GitHub's answer: what GitHub
        did is unknown, and the entry says so rather than ``pending`` for ever."""
        statement = (
            audit.update()
            .where(audit.c.outcome == PENDING, audit.c.at < before)
            .values(
                outcome=UNKNOWN,
                detail=sa.func.trim(sa.func.coalesce(audit.c.detail, "") + " " + ABANDONED),
            )
        )

        async def update() -> int:
            async with self.db.engine.begin() as conn:
                return int((await conn.execute(statement)).rowcount or 0)

        return await self.db.write(update, "audit write")

    async def prune(self, before: datetime) -> int:
        """Drop entries older than ``before`` (AUDIT_RETENTION_DAYS); return how many."""

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(audit.delete().where(audit.c.at < before))
                return int(result.rowcount or 0)

        return await self.db.write(delete, "audit prune")
