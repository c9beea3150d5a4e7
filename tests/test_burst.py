"""A thousand commands at once while GitHub takes two seconds per runner list.

Slack gives an app three seconds to acknowledge a command, so the ack must never wait
for GitHub; and under load every command must still get its own answer, once.
The burst runs once (see ``tests/benchmarks/burst.py``); each test checks one property.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox.harness import Keys, Sandbox
from tests.benchmarks.burst import BurstResult, burst, command_for, seed_burst, warm_up

N = 1000


@pytest.fixture(scope="module")
def result(keys: Keys) -> BurstResult:
    async def run() -> BurstResult:
        async with Sandbox.running(seed=seed_burst, keys=keys) as sb:
            await warm_up(sb)
            return await burst(sb, N)

    return asyncio.run(run())


def test_figures(result: BurstResult, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + result.summary())
    assert len(result.statuses) == len(result.replies) == N


def test_every_ack_is_200(result: BurstResult) -> None:
    assert result.statuses == [200] * N


def test_acks_do_not_wait_for_github(result: BurstResult) -> None:
    # Every reply needs a runner list, which GitHub answers two seconds after it is asked:
    # an ack that waited for GitHub would come after the first reply.
    assert result.last_ack < result.first_reply
    for done, replied in zip(result.ack_done, result.reply_at, strict=True):
        assert replied is None or done < replied


def test_every_command_gets_exactly_one_reply(result: BurstResult) -> None:
    lost = [command_for(i)[0] for i, reply in enumerate(result.replies) if reply is None]
    assert lost == []
    assert result.extra_replies == 0


def test_each_reply_answers_its_own_command(result: BurstResult) -> None:
    assert result.wrong == [], (
        f"{len(result.wrong)} of {N} replies are not what their command asked for, "
        f"e.g. {result.wrong[:3]}; GitHub received {result.github_requests} runner lists"
    )
