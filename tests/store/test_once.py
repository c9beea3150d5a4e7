"""Once across processes: two Store objects on one database stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.store import Store
from bot.store.once import LEASE, TTL
from tests.conftest import Clock


@pytest.fixture
async def pair(database_url: str, clock: Clock) -> AsyncIterator[tuple[Store, Store]]:
    a = Store.open(database_url, clock=clock)
    b = Store.open(database_url, clock=clock)
    yield a, b
    await a.close()
    await b.close()


def _identity(x: object) -> object:
    return x


async def test_first_is_first_once_across_processes(pair: tuple[Store, Store]) -> None:
    a, b = pair
    results = await asyncio.gather(*(s.once.first("command:T1") for s in (a, b) * 10))
    assert results.count(True) == 1
    assert await a.once.first("command:T2") is True


async def test_run_does_the_work_once_and_shares_the_outcome(pair: tuple[Store, Store]) -> None:
    a, b = pair
    calls = 0
    gate = asyncio.Event()

    async def work() -> dict[str, object]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"deleted": True, "by": "U1"}

    def kept(o: dict[str, object]) -> bool:
        return bool(o["deleted"])

    runs = [
        asyncio.create_task(s.once.run("k", work, keep=kept, encode=_identity, decode=dict))
        for s in (a, b, a, b)
    ]
    await asyncio.sleep(0.2)  # every caller has arrived; the first holds the work
    gate.set()
    results = await asyncio.gather(*runs)
    assert calls == 1
    assert all(r is not None and r[0] == {"deleted": True, "by": "U1"} for r in results)
    assert sum(1 for r in results if r is not None and r[1]) == 1
    # Later callers get the same outcome without running anything.
    again = await b.once.run("k", work, keep=kept, encode=_identity, decode=dict)
    assert again == ({"deleted": True, "by": "U1"}, False) and calls == 1


async def test_a_failed_outcome_reaches_waiters_then_may_be_retried(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    calls = 0
    gate = asyncio.Event()

    async def work() -> dict[str, object]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"deleted": False}

    def kept(o: dict[str, object]) -> bool:
        return bool(o["deleted"])

    first = asyncio.create_task(a.once.run("k", work, keep=kept, encode=_identity, decode=dict))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(b.once.run("k", work, keep=kept, encode=_identity, decode=dict))
    await asyncio.sleep(0.1)
    gate.set()
    assert (await first) == ({"deleted": False}, True)
    assert (await second) == ({"deleted": False}, False)  # waited, got the failure
    assert calls == 1
    retried = await b.once.run("k", work, keep=kept, encode=_identity, decode=dict)
    assert retried == ({"deleted": False}, True) and calls == 2  # a new click tries again


async def test_work_that_raises_frees_the_key(pair: tuple[Store, Store]) -> None:
    a, b = pair

    async def boom() -> int:
        raise RuntimeError("boom")

    async def fine() -> int:
        return 7

    with pytest.raises(RuntimeError):
        await a.once.run("k", boom, keep=bool, encode=_identity, decode=int)
    assert await b.once.run("k", fine, keep=bool, encode=_identity, decode=int) == (7, True)


async def test_abandoned_claim_is_taken_over_after_the_lease(
    pair: tuple[Store, Store], clock: Clock
) -> None:
    a, b = pair
    assert await a.once.begin("delivery:D1")  # and then process a dies
    assert not await b.once.begin("delivery:D1")
    clock.advance(LEASE.total_seconds() + 1)
    assert await b.once.begin("delivery:D1")
    await b.once.done("delivery:D1")
    assert not await a.once.begin("delivery:D1")


async def test_forgotten_delivery_is_processed_again(pair: tuple[Store, Store]) -> None:
    a, b = pair
    assert await a.once.begin("delivery:D2")
    await a.once.forget("delivery:D2")  # its handler failed
    assert await b.once.begin("delivery:D2")


async def test_records_expire_after_a_day(pair: tuple[Store, Store], clock: Clock) -> None:
    a, b = pair
    assert await a.once.first("command:T")
    assert not await b.once.first("command:T")
    clock.advance(TTL.total_seconds() + 1)
    assert await a.maintain() == (0, 1)
    assert await b.once.first("command:T")


async def test_a_heartbeat_keeps_a_long_claim_and_only_a_silent_one_is_taken_over(
    pair: tuple[Store, Store], clock: Clock
) -> None:
    a, b = pair
    beats = a.once.heartbeat("prune:P1")
    gate, inside = asyncio.Event(), asyncio.Event()

    async def long_work() -> int:
        for _ in range(6):  # three leases' worth of work, beating as it goes
            clock.advance(LEASE.total_seconds() / 2)
            await beats.beat()
        inside.set()
        await gate.wait()
        return 1

    first = asyncio.create_task(
        a.once.run("prune:P1", long_work, keep=bool, encode=_identity, decode=int)
    )
    await inside.wait()
    assert not await b.once.begin("prune:P1")  # alive: three leases in, still its own
    clock.advance(LEASE.total_seconds() + 1)  # and now silent past its lease: thought dead
    assert await b.once.begin("prune:P1")
    await beats.beat()
    assert beats.lost  # the old holder learns it, and does not renew b's claim
    assert not await a.once.renew("prune:P1")
    gate.set()
    await first


async def test_a_hold_names_its_holder_for_its_period_then_lets_go(
    pair: tuple[Store, Store], clock: Clock
) -> None:
    """A claim for a short period, readable by those it turns away; freed by forget."""
    a, b = pair
    period = timedelta(minutes=10)
    assert await a.once.hold("fix:K", {"by": "U1"}, ttl=period) is None
    held = await b.once.hold("fix:K", {"by": "U2"}, ttl=period)
    assert held is not None and (held.state, held.outcome) == ("running", {"by": "U1"})
    await a.once.done("fix:K", {"by": "U1", "runner": "r"})
    held = await b.once.hold("fix:K", {"by": "U2"}, ttl=period)
    assert held is not None and (held.state, held.outcome) == ("done", {"by": "U1", "runner": "r"})
    clock.advance(period.total_seconds() + 1)  # the period is over: another may hold it
    assert await b.once.hold("fix:K", {"by": "U2"}, ttl=period) is None
    await b.once.forget("fix:K")  # its work failed: free at once
    assert await a.once.hold("fix:K", {"by": "U1"}, ttl=period) is None
