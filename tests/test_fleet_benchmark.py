"""The fleet benchmark's own functions at a small size, so that it cannot rot unnoticed.

``python -m tests.benchmarks.fleet`` prints times; this checks only that what it timed was
right: every runner listed once and in GitHub's order by each listing, 304s where the ETags
are fresh, a reply within Slack's limits, and every command acknowledged and answered.
Nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bot.sandbox.harness import Keys, Sandbox
from tests.benchmarks.fleet import (
    AckFigures,
    ListingFigures,
    ReplyFigures,
    acks_from_another_process,
    compare_listing,
    reply_in_process,
    seed_fleets,
)

N = 1_000  # runners: ten pages
PAGES = N // 100
COMMANDS = 20


@dataclass
class Run:
    listing: ListingFigures
    reply: ReplyFigures
    acks: AckFigures


@pytest.fixture(scope="module")
def run(keys: Keys) -> Run:
    async def measure() -> Run:
        async with Sandbox.running(seed=seed_fleets(N), keys=keys) as sb:
            listing = await compare_listing(sb, "fleet", N, delay=0.01)
            reply = await reply_in_process(sb, "fleet", N)
        return Run(listing, reply, await acks_from_another_process(COMMANDS, keys))

    return asyncio.run(measure())


def test_every_listing_has_every_runner_once_in_order(run: Run) -> None:
    assert set(run.listing.runs) == {"sequential", "parallel", "again"}
    for name, listed in run.listing.runs.items():
        assert listed["runners"] == listed["unique"] == N, name
        assert listed["ids"] == run.listing.ids and listed["complete"], name
    assert run.listing.correct


def test_first_listings_cost_a_request_a_page_and_the_repeat_costs_none(run: Run) -> None:
    runs = run.listing.runs
    for name in ("sequential", "parallel"):
        assert (runs[name]["requests"], runs[name]["not_modified"]) == (PAGES, 0), name
        assert runs[name]["rate_cost"] == PAGES, name
    # Within the ETags' lifetime every page is a 304, which GitHub does not count.
    assert (runs["again"]["requests"], runs["again"]["not_modified"]) == (PAGES, PAGES)
    assert runs["again"]["rate_cost"] == 0
    # The double saw what the client says it saw.
    assert (run.listing.github_requests, run.listing.github_304s) == (3 * PAGES, PAGES)


def test_the_reply_of_a_separate_process_is_whole_and_within_slacks_limits(run: Run) -> None:
    measured = run.reply.measured
    assert run.reply.correct
    assert measured["blocks"] <= 50 and measured["chars"] < 13_000
    assert measured["peak_rss_mb"] >= measured["rss_after_imports_mb"] > 0
    # The figure is the service's own (app.py imported, Services built), and a listing
    # does not load the chart library: matplotlib is imported only to draw a chart.
    assert measured["matplotlib_loaded"] is False


def test_commands_from_another_process_are_each_acknowledged_and_answered(run: Run) -> None:
    acks = run.acks
    assert acks.statuses == [200] * COMMANDS and len(acks.ack_seconds) == COMMANDS
    assert acks.lost == 0 and acks.extra_replies == 0
    assert acks.wrong == []


def test_the_figures_print(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + run.listing.summary() + "\n" + run.reply.row() + "\n" + run.acks.summary())
    assert run.listing.summary().endswith(": yes") and run.reply.row().endswith("yes")
