"""One ``workflow_job`` object into the store, from a delivery or from the REST answer.

Shared by the webhook handler and the sweep's confirmation GET (GitHub does not redeliver
a failed delivery: the GET is how a missed ``in_progress`` is caught).

Deliveries go through :class:`Ingest`, a group commit: those that arrive while a write is
under way are written together in the next transaction, each answered only once that
transaction has committed (durable before its 2xx). A batch that fails for what one of its
deliveries holds is written again one delivery at a time, so that only that one fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.store import Store
from bot.store._sql import utc
from bot.store.database import StoreUnavailable
from bot.store.deliveries import Delivery, DeliveryStore, Rejected, error_message
from bot.store.jobs import JobRecord, job_row
from bot.watch.models import Job

log = logging.getLogger(__name__)
ACTIONS = ("queued", "waiting", "in_progress", "completed")
ACCEPTED, DUPLICATE = "accepted", "duplicate"
# At most this many deliveries a transaction: a batch's statements stay a few hundred KB,
# and one that must be written again one by one is not thousands of transactions.
MAX_BATCH = 500


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse(
    data: Mapping[str, Any], action: str | None, repository: Mapping[str, Any] | None
) -> tuple[Job, dict[str, Any]]:
    """The job a body (or a bare job object) reports, and what only the store keeps."""
    job = Job.from_github(data, repository=repository)
    inner = data.get("workflow_job")
    raw: Mapping[str, Any] = inner if isinstance(inner, Mapping) else data
    if action in ACTIONS and job.status not in ACTIONS:
        job = replace(job, status=action)
    extras = {
        "run_attempt": _int(raw.get("run_attempt")),
        "conclusion": _text(raw.get("conclusion")),
        "runner_group_id": _int(raw.get("runner_group_id")),
        "runner_group_name": _text(raw.get("runner_group_name")),
    }
    return job, extras


def _marks_runner(job: Job) -> bool:
    """A job that starts or ends marks its runner busy or idle."""
    return job.runner_id is not None and job.status in ("in_progress", "completed")


async def record_job(
    store: Store,
    data: Mapping[str, Any],
    *,
    action: str | None = None,
    repository: Mapping[str, Any] | None = None,
) -> JobRecord | None:
    """Store a delivery body (``{"workflow_job": …, "repository": …}``) or a bare job
    object (then ``repository`` gives at least ``full_name``); return the job as stored,
    or None when it has no id or repository. A job that starts or ends marks its runner
    busy or idle."""
    job, extras = _parse(data, action, repository)
    stored = await store.jobs.record(job, **extras)
    if stored is not None and job.runner_id is not None and _marks_runner(job):
        await store.fleet.job_state(job.runner_id, busy=job.status == "in_progress")
    return stored


def delivery_of(
    store: Store, delivery_id: str, data: Mapping[str, Any], action: str | None
) -> tuple[Delivery, Job]:
    """What a ``workflow_job`` delivery writes, built in its request (pure but the clock):
    the writer then only binds values."""
    job, extras = _parse(data, action, None)
    row = job_row(job, now=utc(store.clock), **extras)
    marks = row is not None and _marks_runner(job)
    return (
        Delivery(
            f"delivery:{delivery_id}",
            row,
            job.runner_id if marks else None,
            job.status == "in_progress",
        ),
        job,
    )


@dataclass
class _Item:
    delivery: Delivery
    future: asyncio.Future[str]


@dataclass
class Ingest:
    """Group commit of deliveries: :meth:`submit` returns once its delivery is stored.

    While a writer writes a batch the next one gathers, so the busier the service the
    larger the batches and the fewer the transactions. Up to ``writers`` batches are
    written at once: on PostgreSQL one batch's commit (its wait for the disk) then
    overlaps the next one's statements; SQLite has one writer at a time anyway."""

    store: Store
    max_batch: int = MAX_BATCH
    writers: int = 1
    batches: int = 0  # transactions that wrote a batch, for tests and curiosity
    largest: int = 0  # the most deliveries one transaction held
    _pending: list[_Item] = field(default_factory=list)
    _running: set[asyncio.Task[None]] = field(default_factory=set)
    _gathering: bool = False  # a writer is about to take what is pending
    writing: int = 0  # deliveries in the batches being written now

    def __post_init__(self) -> None:
        self.deliveries = DeliveryStore(self.store.db, self.store.clock)

    @classmethod
    def for_store(cls, store: Store) -> Ingest:
        return cls(store, writers=4 if store.db.dialect == "postgresql" else 1)

    @property
    def waiting(self) -> int:
        """Deliveries received and not yet taken into a batch."""
        return len(self._pending)

    async def submit(self, delivery: Delivery) -> str:
        """:data:`ACCEPTED` once stored, :data:`DUPLICATE` for a delivery already stored
        (a redelivery). Raises :class:`Rejected` (with the database's message) when this
        delivery cannot be stored, StoreUnavailable when the database cannot be reached."""
        item = _Item(delivery, asyncio.get_running_loop().create_future())
        item.future.add_done_callback(_retrieved)  # the caller may have gone away
        self._pending.append(item)
        if not self._gathering and len(self._running) < self.writers:
            self._gathering = True
            task = asyncio.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        # Shielded: a caller that goes away (the client hung up) leaves its delivery to
        # be written with the others.
        return await asyncio.shield(item.future)

    async def close(self, timeout: float = 10.0) -> None:
        """Let what was submitted be written (a shutdown)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(0)  # the requests already read join this batch
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._gathering = False
            self.writing += len(batch)
            try:
                await self._write(batch)
            except BaseException as error:  # never leave a caller waiting for ever
                for item in batch:
                    _settle(item, error=StoreUnavailable("delivery write"))
                if not isinstance(error, Exception):
                    raise
                log.exception("writing a batch of %d deliveries failed", len(batch))
            finally:
                self.writing -= len(batch)
            if not self._pending or self._gathering:
                return  # nothing left, or another writer gathers it
            self._gathering = True

    async def _write(self, batch: list[_Item]) -> None:
        # A key twice in one batch (a redelivery racing its original) is written once;
        # the copies follow its outcome.
        firsts: dict[str, _Item] = {}
        copies: list[tuple[_Item, _Item]] = []
        for item in batch:
            first = firsts.setdefault(item.delivery.key, item)
            if first is not item:
                copies.append((item, first))
        items = list(firsts.values())
        try:
            new = await self.deliveries.record([i.delivery for i in items])
        except Rejected as error:
            if len(items) == 1:
                _settle(items[0], error=error)
            else:
                log.warning(
                    "a batch of %d deliveries failed (%s); writing them one at a time",
                    len(items),
                    error,
                )
                for item in items:  # each fails alone, with its own message
                    await self._write_one(item)
        except StoreUnavailable as error:
            for item in items:
                _settle(item, error=error)
        else:
            self.batches += 1
            self.largest = max(self.largest, len(items))
            for item in items:
                _settle(item, ACCEPTED if item.delivery.key in new else DUPLICATE)
        for copy, first in copies:
            if first.future.cancelled():
                _settle(copy, error=StoreUnavailable("delivery write"))
            elif (failed := first.future.exception()) is not None:
                _settle(copy, error=failed)
            else:
                _settle(copy, DUPLICATE)

    async def _write_one(self, item: _Item) -> None:
        try:
            new = await self.deliveries.record([item.delivery])
        except (Rejected, StoreUnavailable) as error:
            _settle(item, error=error)
        else:
            self.batches += 1
            _settle(item, ACCEPTED if item.delivery.key in new else DUPLICATE)


def _retrieved(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()  # seen: no "exception was never retrieved" at collection


def _settle(item: _Item, outcome: str = "", *, error: BaseException | None = None) -> None:
    if item.future.done():
        return
    if error is not None:
        item.future.set_exception(error)
    else:
        item.future.set_result(outcome)


__all__ = [
    "ACCEPTED",
    "DUPLICATE",
    "Delivery",
    "Ingest",
    "Rejected",
    "delivery_of",
    "error_message",
    "record_job",
]
