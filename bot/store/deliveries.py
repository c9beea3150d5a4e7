"""Webhook deliveries of jobs, many in one transaction (group commit).

A ``workflow_job`` delivery used to cost four transactions (claim its delivery id, upsert
the job and read it back, mark the runner, settle the claim): at 20 in flight that was
~80 deliveries a second on SQLite and ~35 on PostgreSQL with fsync on, while a bare
receiver answered ~1,300 (tests/benchmarks/ingest.py). Here the deliveries that arrived
together are written in one transaction, with statements built once: their delivery ids
claimed as done (one ``INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`` for them
all), then each new delivery's job upsert and runner update, executed with many
parameter sets. The claim commits with the work it stands for, so a claim is never left
``running`` and a failed transaction leaves nothing: GitHub's redelivery is processed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc

from bot.store._sql import insert_for, utc
from bot.store.database import Database
from bot.store.jobs import upsert_statement
from bot.store.once import DONE, FAILED, LEASE, RUNNING, TTL
from bot.store.rollups import Rollups
from bot.store.schema import once, runners_seen

MESSAGE_MAX = 300  # characters of a database error's own message kept for the log


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery to store: its once-key and what it writes (parsed in the request)."""

    key: str  # "delivery:<X-GitHub-Delivery>", as every webhook's once-record is keyed
    job: dict[str, object] | None  # a job_row, or None: nothing to store (no job id)
    runner_id: int | None = None  # the runner a job started or ended on
    busy: bool = False  # started (True) or ended (False) on it


class Rejected(Exception):
    """The transaction failed for what it holds (a value a column cannot take), not for
    the database: trying it again will not help. The message is the database's own."""


def error_message(error: BaseException) -> str:
    """The database's own message (the driver's, without SQLAlchemy's SQL and parameters,
    which would put a whole delivery in the log), on one line, cut."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error) or type(error).__name__
    line = " ".join(text.split())
    return f"{type(orig or error).__name__}: {line[:MESSAGE_MAX]}"


# PostgreSQL error classes (SQLSTATE's first two characters) that say the database, not
# the data, failed: connection, transaction rollback (deadlock), insufficient resources,
# operator intervention (statement timeout, shutdown), system and internal errors.
TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58", "XX"})


def about_the_data(error: exc.DBAPIError) -> bool:
    """An OperationalError that a value caused (PostgreSQL's "index row size exceeds
    btree maximum", class 54, is one): trying again will fail again."""
    state = getattr(error.orig, "sqlstate", None)
    return isinstance(state, str) and state[:2] not in TRANSIENT_CLASSES


def rounds(rows: Sequence[dict[str, object]]) -> list[list[dict[str, object]]]:
    """Rows in rounds where each job id appears at most once, in arrival order (a job's
    first report in the first round, its second in the second…): a multi-row upsert may
    not touch one row twice on PostgreSQL."""
    out: list[list[dict[str, object]]] = []
    seen: dict[object, int] = {}
    for row in rows:
        n = seen.get(row["id"], 0)
        seen[row["id"]] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(row)
    return out


def _job_id(row: dict[str, object]) -> int:
    return int(cast(Any, row["id"]))


class DeliveryStore:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        ttl: timedelta = TTL,
        lease: timedelta = LEASE,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl
        self.lease = lease
        insert = insert_for(db)
        # Built once; each batch binds only its rows' values. With no other parameter
        # (literals below), SQLAlchemy sends the rows as one multi-row INSERT … RETURNING
        # from this one compiled statement ("insertmanyvalues"); a parameter outside the
        # rows made it go a row at a time, and ``.values([...])`` compiled every batch
        # anew (~40 ms for 100 rows).
        claim = insert(once)
        new = claim.excluded
        lease_s = int(lease.total_seconds())
        if db.dialect == "postgresql":
            abandoned = once.c.claimed_at < new.claimed_at - sa.text(
                f"interval '{lease_s} seconds'"
            )
        else:  # times are ISO text on SQLite
            abandoned = sa.func.julianday(once.c.claimed_at) < sa.func.julianday(
                new.claimed_at
            ) - sa.literal_column(f"{lease_s} / 86400.0")
        running: sa.ColumnElement[str] = sa.literal_column(f"'{RUNNING}'")
        failed: sa.ColumnElement[str] = sa.literal_column(f"'{FAILED}'")
        takeover = (
            (once.c.expires_at < new.claimed_at)
            | ((once.c.state == running) & abandoned)
            | (once.c.state == failed)
        )
        self._claim = claim.on_conflict_do_update(
            index_elements=[once.c.key],
            set_={
                "state": new.state,
                "claimed_at": new.claimed_at,
                "expires_at": new.expires_at,
                "outcome": sa.null(),
            },
            where=takeover,
        ).returning(once.c.key)
        self._upsert = upsert_statement(insert)
        self._rollups = Rollups(insert, db.dialect)
        self._runner = (
            runners_seen.update()
            .where(runners_seen.c.runner_id == sa.bindparam("rid"))
            .values(
                busy=sa.bindparam("is_busy"),
                status="online",
                last_seen_online=sa.bindparam("now"),
                first_seen_offline=None,
                updated_at=sa.bindparam("now"),
            )
        )

    async def record(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Store ``deliveries`` (distinct keys) in one transaction; return the keys that
        were new. A key already done (a redelivery) writes nothing.

        Raises :class:`Rejected` when what the deliveries hold cannot be written, and
        StoreUnavailable when the database cannot be reached (after brief retries)."""
        now = utc(self.clock)
        expires = now + self.ttl
        claims = [
            {
                "key": d.key,
                "state": DONE,
                "claimed_at": now,
                "expires_at": expires,
            }
            for d in sorted(deliveries, key=lambda d: d.key)  # one lock order for all
        ]

        async def write() -> set[str]:
            try:
                async with self.db.engine.begin() as conn:
                    # The keys it inserted or took over; a key done already (or held by
                    # another process: on PostgreSQL the insert waits for it) is not.
                    found = await conn.execute(self._claim, claims)
                    new = {str(key) for key in found.scalars()}
                    fresh = [d for d in deliveries if d.key in new]  # in arrival order
                    rows = [d.job for d in fresh if d.job is not None]
                    # Rows in id order (each job's reports kept in arrival order):
                    # concurrent batches lock shared rows in one order.
                    for batch in rounds(sorted(rows, key=_job_id)):
                        await conn.execute(self._upsert, batch)
                    # The jobs these reports first show started join the roll-ups.
                    await self._rollups.roll(conn, [_job_id(row) for row in rows])
                    # A runner's last mark of the batch, in arrival order, stands.
                    marks: list[dict[str, Any]] = list(
                        {
                            d.runner_id: {"rid": d.runner_id, "is_busy": d.busy, "now": now}
                            for d in fresh
                            if d.job is not None and d.runner_id is not None
                        }.values()
                    )
                    marks.sort(key=lambda mark: int(mark["rid"]))
                    if marks:
                        await conn.execute(self._runner, marks)
                    return new
            except (exc.OperationalError, exc.InterfaceError) as error:
                if about_the_data(error):
                    raise Rejected(error_message(error)) from None
                raise  # the database, not the data: Database.write tries again
            except (exc.StatementError, ValueError, TypeError, OverflowError) as error:
                raise Rejected(error_message(error)) from None

        return await self.db.write(write, "delivery write")
