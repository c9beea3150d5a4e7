"""prune's dry runs: what the Delete button will delete, kept until it is clicked.

A plan lives a day (Slack keeps the message longer; a day-old dry run should be run
again rather than trusted).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store._sql import utc
from bot.store.database import Database
from bot.store.schema import prune_plans

PLAN_TTL = timedelta(days=1)


@dataclass(frozen=True)
class PrunePlan:
    id: str
    target: str
    runners: tuple[tuple[int, str], ...]  # (id, name), in the dry run's order
    criteria: str  # the filters, in words, for the audit and the summary
    created_by: str
    created_at: datetime
    # The dry run's rule, checked again for each runner on the click (None: a plan made
    # before the rule was kept, which is checked against GitHub's state only).
    offline_for: timedelta | None = None
    # The alert whose "Prune these" made the plan (channel, key): its delete says so there.
    alert: tuple[str, str] | None = None


class PlanStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self,
        target: str,
        runners: Sequence[tuple[int, str]],
        criteria: str,
        created_by: str,
        *,
        offline_for: timedelta | None = None,
        alert: tuple[str, str] | None = None,
    ) -> PrunePlan:
        now = utc(self.clock)
        if alert is not None and offline_for is None:
            offline_for = timedelta(0)  # the alert said they were offline long enough
        plan = PrunePlan(
            secrets.token_hex(16),
            target,
            tuple(runners),
            criteria,
            created_by,
            now,
            offline_for,
            alert,
        )
        listed: list[list[object]] = [list(r) for r in plan.runners]
        # The runners column is JSON: the rule travels with them, with no schema change.
        kept: object = listed
        if offline_for is not None:
            stored: dict[str, object] = {
                "offline_for": offline_for.total_seconds(),
                "runners": listed,
            }
            if alert is not None:
                stored["alert"] = list(alert)
            kept = stored

        async def insert() -> None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    prune_plans.insert().values(
                        id=plan.id,
                        target=plan.target,
                        runners=kept,
                        criteria=plan.criteria,
                        created_by=plan.created_by,
                        created_at=now,
                        expires_at=now + PLAN_TTL,
                    )
                )

        await self.db.write(insert, "plan write")
        return plan

    async def get(self, plan_id: str) -> PrunePlan | None:
        """The plan, or None when it is unknown or has expired."""
        now = utc(self.clock)
        query = sa.select(prune_plans).where(
            prune_plans.c.id == plan_id, prune_plans.c.expires_at >= now
        )

        async def select() -> PrunePlan | None:
            async with self.db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                return None
            kept, offline_for, alert = row.runners, None, None
            if isinstance(kept, dict):
                offline_for = timedelta(seconds=float(kept["offline_for"]))
                if isinstance(kept.get("alert"), list) and len(kept["alert"]) == 2:
                    alert = (str(kept["alert"][0]), str(kept["alert"][1]))
                kept = kept["runners"]
            return PrunePlan(
                row.id,
                row.target,
                tuple((int(rid), str(name)) for rid, name in kept),
                row.criteria,
                row.created_by,
                row.created_at,
                offline_for,
                alert,
            )

        return await self.db.read(select, "plan read")

    async def prune(self) -> int:
        now = utc(self.clock)

        async def delete() -> int:
            async with self.db.engine.begin() as conn:
                result = await conn.execute(
                    prune_plans.delete().where(prune_plans.c.expires_at < now)
                )
                return int(result.rowcount or 0)

        return await self.db.write(delete, "plan prune")
