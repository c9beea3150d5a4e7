"""Paginated GitHub lists: every page of one, gathered ``page_concurrency`` at a time,
with what could not be fetched named rather than dropped."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot import errors
from bot.targets import Target

log = logging.getLogger(__name__)

# Pages of one listing fetched at once after the first. GitHub asks integrators to avoid
# bursts of concurrent requests (secondary limits: 100 concurrent, 900 points a minute per
# endpoint): ten keeps a 100-page fleet well inside both, and with a 50 ms GitHub the
# 99 remaining pages take ~0.5 s instead of ~5 s.
PAGE_CONCURRENCY = 10
PER_PAGE = 100
# Reads a page's items into models: (the readable ones, how many could not be read).
Reader = Callable[[list[Any]], tuple[list[Any], int]]
# One GET of the listing's URL with these variables: the page's decoded body.
PageGetter = Callable[[Mapping[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Listing:
    """Every item of a paginated GitHub list, and whether the listing can be trusted whole.

    ``failed_pages`` could not be fetched; ``total_count`` is what the first page said,
    ``page_counts`` what each page fetched said, in page order. Items that moved between
    pages while they were fetched appear once (by ``id``); ``duplicates`` counts the
    repeats dropped."""

    items: list[Any]
    total_count: int | None = None
    pages: int = 1
    failed_pages: tuple[int, ...] = ()
    duplicates: int = 0
    skipped: int = 0  # items the ``read`` of :meth:`GitHubClient.listing` could not read
    page_counts: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed_pages

    @property
    def count_differs(self) -> bool:
        """GitHub's count and what was gathered disagree (the fleet changed meanwhile)."""
        return self.total_count is not None and self.total_count != len(self.items)

    @property
    def counts_changed(self) -> bool:
        """The pages disagree on ``total_count``: runners came or went between them."""
        return len(set(self.page_counts)) > 1


async def gather_pages(
    get: PageGetter,
    target: Target,
    variables: Mapping[str, Any],
    key: str,
    read: Reader | None,
    page_concurrency: int,
) -> Listing:
    """Every page: the first, then (from its ``total_count``) the rest; ``target`` is
    whom an unreadable page is reported for."""
    skipped = 0
    counts: dict[int, int] = {}  # each page's total_count, to see the fleet change

    async def page(number: int) -> tuple[Any, list[Any], int]:
        """The page's body, its items (read, when ``read`` is given) and their count
        as GitHub sent them."""
        nonlocal skipped
        # Page 1 is asked for without ``page``, as GitHub's own first-page URLs are.
        paged = {**variables, "page": number} if number > 1 else variables
        data = await get(paged)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise errors.GitHubUnavailable(target, "an unreadable page")
        count = data.get("total_count")
        if isinstance(count, int | float) and not isinstance(count, bool) and count >= 0:
            counts[number] = int(count)
        items = data[key]
        sent = len(items)
        if read is not None:
            items, unread = read(items)
            skipped += unread
        return data, items, sent

    first, results_1, sent = await page(1)
    results: dict[int, list[Any]] = {1: results_1}
    failed: list[int] = []
    count = first.get("total_count")
    total = int(count) if isinstance(count, int | float) and count >= 0 else None
    del first  # with ``read``, the raw items go as soon as they are read
    if total is None:  # no count to plan with: one page after another, to a short one
        number = 1
        while sent >= PER_PAGE:
            number += 1
            _data, results[number], sent = await page(number)
        pages = number
    else:
        pages = max(1, math.ceil(total / PER_PAGE))
    slots = asyncio.Semaphore(page_concurrency)

    async def fetch(number: int) -> None:
        async with slots:
            try:
                results[number] = (await page(number))[1]
            except errors.RunnerOpsError as exc:
                log.warning("page %d of a listing failed: %s", number, type(exc).__name__)
                failed.append(number)

    await asyncio.gather(*(fetch(n) for n in range(2, pages + 1)))
    items: list[Any] = []
    seen: set[Any] = set()
    duplicates = 0
    for number in sorted(results):
        for item in results[number]:
            ident = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
            if ident is not None and ident in seen:
                duplicates += 1  # moved back a page while the pages were fetched
                continue
            if ident is not None:
                seen.add(ident)
            items.append(item)
    page_counts = tuple(counts[n] for n in sorted(counts))
    return Listing(items, total, pages, tuple(sorted(failed)), duplicates, skipped, page_counts)
