"""The SQL pieces ``stats`` (bot/store/job_stats.py) and the daily digest
(bot/store/digest.py) share: the engine's differences, a target's scope, the
percentiles of a source of waits, the roll-up rows covering whole hours, and the
queue-time rows read back as bot/watch/stats.py ``QueueStats``.

Kept apart so that the two read queue times the same way, with one copy of each piece.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.store.rollups import SPAN_DAY, SPAN_HOUR, ceil_day, day_of
from bot.watch.labels import LabelSetKey, label_set_key
from bot.watch.stats import QueueStats


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL that differs between the two engines."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def day(self, column: str) -> str:
        """The UTC day of a stored time: a date on PostgreSQL (grouped and sorted as four
        bytes; ``to_char`` text made the 7-day chart's read a quarter slower), ``YYYY-MM-DD``
        text on SQLite. Both print as ``YYYY-MM-DD``."""
        if self.pg:
            return f"CAST({column} AT TIME ZONE 'UTC' AS date)"
        return f"substr({column}, 1, 10)"

    def at(self, at: datetime) -> object:
        """A bound time compared with a stored one (fixed-width ISO text on SQLite)."""
        if self.pg:
            return at.astimezone(UTC)
        return at.astimezone(UTC).isoformat(timespec="microseconds")


def owner_key(owner: str, repository: str | None) -> str:
    return (repository.split("/", 1)[0] if repository is not None else owner).lower()


def scope(repository: str | None) -> str:
    return "repo_key = :scope" if repository is not None else "owner_key = :scope"


def scope_value(owner: str, repository: str | None) -> str:
    return (repository if repository is not None else owner).lower()


def labels(text: object) -> LabelSetKey:
    """A stored label set (JSON text) as the tuple the pure functions group by."""
    value = json.loads(str(text)) if text is not None else []
    return tuple(value) if isinstance(value, list) else label_set_key(value)


def percentiles(group: str, source: str) -> str:
    """Per ``group`` of ``source`` (a subquery of the group's columns, ``w``, the wait or
    NULL, and ``c``, how many jobs waited so: 1 for a job, more for a roll-up): started
    jobs ``n``, nearest-rank ``p50``/``p95``, ``top``, ``over`` (waits of ``:threshold``
    or more), ``unstarted`` and ``total``.

    The jobs are first counted per distinct wait (a hash or index-ordered grouping, not a
    sort of every job), then a running count over those few rows finds each rank: the
    p-th percentile is the smallest wait whose running count reaches p% of n
    (``100 * upto >= p * n``: ceil(p * n / 100) in integers, percentile_disc's rank).
    Unstarted jobs count nothing towards the ranks, wherever an engine sorts NULL."""
    started = "CASE WHEN w IS NULL THEN 0 ELSE c END"
    return (
        f"WITH h AS (SELECT {group}, w, sum(c) AS c FROM {source} AS s GROUP BY {group}, w"
        " HAVING sum(c) > 0),"
        f" cum AS (SELECT {group}, w, c,"
        f" sum({started}) OVER (PARTITION BY {group} ORDER BY w ROWS UNBOUNDED PRECEDING)"
        f" AS upto, sum({started}) OVER (PARTITION BY {group}) AS n FROM h)"
        f" SELECT {group}, max(n) AS n,"
        " min(CASE WHEN w IS NOT NULL AND 100 * upto >= 50 * n THEN w END) AS p50,"
        " min(CASE WHEN w IS NOT NULL AND 100 * upto >= 95 * n THEN w END) AS p95,"
        " max(w) AS top, sum(CASE WHEN w >= :threshold THEN c ELSE 0 END) AS over,"
        " sum(CASE WHEN w IS NULL THEN c ELSE 0 END) AS unstarted, sum(c) AS total"
        f" FROM cum GROUP BY {group}"
    )


def delta(value: object) -> timedelta | None:
    """A duration as an engine returns it: an interval, or integer microseconds."""
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(microseconds=int(str(value)))


def queue_rows(rows: Iterable[sa.RowMapping]) -> dict[LabelSetKey, QueueStats]:
    """The rows of :func:`percentiles` grouped by ``k`` as ``QueueStats`` per label set,
    in label set order."""
    result: dict[LabelSetKey, QueueStats] = {}
    for m in rows:
        key, count, over = labels(m["k"]), int(m["n"] or 0), int(m["over"] or 0)
        result[key] = QueueStats(
            labels=key,
            count=count,
            p50=delta(m["p50"]),
            p95=delta(m["p95"]),
            max=delta(m["top"]),
            over=over,
            share_over=over / count if count else 0.0,
            unstarted=int(m["unstarted"] or 0),
        )
    return dict(sorted(result.items()))


def spans(first: datetime, last: datetime) -> list[tuple[int, datetime, datetime, int]]:
    """The roll-up rows covering the whole hours ``[first, last)`` (span, from, to, sign):
    whole days where there are some, whole hours around them; a partial day of more than
    12 hours is read as its day's row less the hours it leaves out (counted negative)."""
    day_from, day_to = ceil_day(first), day_of(last)
    if day_from > day_to:  # within one day
        return [(SPAN_HOUR, first, last, 1)]
    day, rows = timedelta(days=1), [(SPAN_DAY, day_from, day_to, 1)]
    if day_from - first > timedelta(hours=12):
        rows += [(SPAN_DAY, day_from - day, day_from, 1), (SPAN_HOUR, day_from - day, first, -1)]
    else:
        rows.append((SPAN_HOUR, first, day_from, 1))
    if last - day_to > timedelta(hours=12):
        rows += [(SPAN_DAY, day_to, day_to + day, 1), (SPAN_HOUR, last, day_to + day, -1)]
    else:
        rows.append((SPAN_HOUR, day_to, last, 1))
    return [row for row in rows if row[1] < row[2]]
