"""Runner versions' end-of-life dates on both engines: what one process stores, another
reads, for a day; after it, or once forgotten, it is not given back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import Store
from bot.store.versions import FORGET_AFTER, MAX_AGE, VersionDates
from tests.conftest import Clock


def _dates(version: str, at: datetime, *, published: bool = True) -> VersionDates:
    runtime = datetime(2027, 1, 24, tzinfo=UTC) if published else None
    return VersionDates(version, None, runtime, published, at)


async def test_dates_are_shared_between_processes_for_a_day(
    database_url: str, clock: Clock
) -> None:
    one, two = Store.open(database_url, clock=clock), Store.open(database_url, clock=clock)
    try:
        at = datetime.fromtimestamp(clock(), UTC)
        await one.versions.put([_dates("2.321.0", at), _dates("2.300.0", at, published=False)])
        got = await two.versions.fresh(["2.321.0", "2.300.0", "2.329.0"])
        assert got == {
            "2.321.0": _dates("2.321.0", at),
            "2.300.0": _dates("2.300.0", at, published=False),
        }
        # Asked again: the newer answer replaces the older.
        clock.advance(60)
        later = datetime.fromtimestamp(clock(), UTC)
        await two.versions.put([_dates("2.321.0", later, published=False)])
        assert (await one.versions.fresh(["2.321.0"]))["2.321.0"].published is False
        clock.advance(MAX_AGE.total_seconds() - 60)  # a day after the first answer
        assert set(await one.versions.fresh(["2.321.0", "2.300.0"])) == {"2.321.0"}
        assert await one.versions.fresh([]) == {}
        # Retention forgets a version nobody asked about for a month, and only it.
        clock.advance((FORGET_AFTER - MAX_AGE).total_seconds() + 1)
        assert await one.versions.prune() == 1
        clock.advance(-FORGET_AFTER.total_seconds() + timedelta(hours=1).total_seconds())
        assert set(await two.versions.fresh(["2.321.0", "2.300.0"])) == {"2.321.0"}
    finally:
        await one.close()
        await two.close()
