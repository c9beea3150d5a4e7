"""The daily digest (issue 21 §2), end to end: ``watch acme --digest HH:MM --tz ZONE`` typed
as a signed slash command, signed workflow_job deliveries making the history, sweep rounds
run with ``run_once`` on the test's clock (nothing sleeps), and the Slack double recording
what the channel got. The claim is tested on both engines with two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.store import Store
from bot.store.versions import VersionDates
from bot.store.watches import Watch
from bot.sweep.failures import Round, surely_refused
from tests.conftest import Clock
from tests.test_watch_silence import TOKEN, metric
from tests.test_watch_sweep import CHANNEL, MINUTE, deliver, seed, sweep

HOUR = 60 * MINUTE
MINUTE_DELTA = timedelta(minutes=1)
GPU = ["self-hosted", "gpu"]
BUILD = ["self-hosted", "build"]  # not "linux": every runner has its OS as a label


def at(text: str) -> float:
    """A UTC time as the clock's seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


def digests(*boxes: Sandbox) -> list[dict[str, Any]]:
    """The digests the channel got (from every process given), oldest first."""
    return [m for b in boxes for m in b.slack.in_channel(CHANNEL) if m["text"].startswith("Daily")]


def titles(*boxes: Sandbox) -> list[str]:
    return [str(m["blocks"][0]["text"]["text"]) for m in digests(*boxes)]


async def watch(sb: Sandbox, flags: str) -> str:
    reply = reply_text(await sb.run(f"watch acme {flags}", channel_id=CHANNEL))
    assert "Watching" in reply or "Still watching" in reply, reply
    return reply


# -- when ------------------------------------------------------------------------------


async def test_the_digest_comes_at_its_time_and_not_before(sb: Sandbox, clock: Clock) -> None:
    clock.now = at("2027-01-15 08:00")
    said = await watch(sb, "--digest 09:00")
    assert "daily digest at 09:00 UTC" in said
    await sweep(sb)
    clock.now = at("2027-01-15 08:59:59")
    await sweep(sb)
    assert digests(sb) == []  # never early
    clock.now = at("2027-01-15 09:00")
    assert (await sweep(sb)).digests == 1
    clock.advance(MINUTE)
    assert (await sweep(sb)).digests == 0
    clock.now = at("2027-01-16 08:59")
    await sweep(sb)
    clock.now = at("2027-01-16 09:00:30")
    await sweep(sb)
    await sweep(sb)
    assert titles(sb) == ["Daily digest: acme, Fri 15 Jan", "Daily digest: acme, Sat 16 Jan"]


async def test_a_new_watch_waits_for_the_next_time(sb: Sandbox, clock: Clock) -> None:
    """Watched at 14:00 with a digest at 10:00: nothing today, the first one tomorrow."""
    clock.now = at("2027-01-15 14:00")
    await watch(sb, "--digest 10:00")
    await sweep(sb)
    assert digests(sb) == []
    clock.now = at("2027-01-16 10:00")
    await sweep(sb)
    assert titles(sb) == ["Daily digest: acme, Sat 16 Jan"]


async def test_downtime_is_caught_up_once_across_a_restart(
    keys: Keys, clock: Clock, tmp_path: Path
) -> None:
    """Down from 09:00 to 15:00 with a digest at 10:00: one digest at 15:00 (not more).
    Then down for three days: one digest, the latest day's, not three."""
    url = f"sqlite:///{tmp_path}/restart.db"
    kwargs: dict[str, Any] = {"keys": keys, "seed": seed, "policy": PLATFORM_POLICY}
    kwargs["clock"] = clock
    clock.now = at("2027-01-15 08:00")
    async with Sandbox.running(database_url=url, **kwargs) as first:
        await watch(first, "--digest 10:00")
        clock.now = at("2027-01-15 09:00")
        await sweep(first)
    clock.now = at("2027-01-15 15:00")  # back, another process
    async with Sandbox.running(database_url=url, **kwargs) as second:
        assert (await sweep(second)).digests == 1
        for _ in range(3):
            clock.advance(MINUTE)
            assert (await sweep(second)).digests == 0
        assert titles(second) == ["Daily digest: acme, Fri 15 Jan"]
    clock.now = at("2027-01-18 16:00")  # down for three days
    async with Sandbox.running(database_url=url, **kwargs) as third:
        await sweep(third)
        await sweep(third)
        assert titles(third) == ["Daily digest: acme, Mon 18 Jan"]
        [message] = digests(third)
        # The day that ended at 10:00 on the 18th (the 17th's 10:00 to the 18th's).
        assert "<!date^" + str(int(at("2027-01-17 10:00"))) in str(message["blocks"])
        assert "<!date^" + str(int(at("2027-01-18 10:00"))) in str(message["blocks"])


async def test_two_processes_post_one_digest(keys: Keys, clock: Clock, database_url: str) -> None:
    """Two processes (two apps, one database) at the digest's time: even run at once,
    past the sweep's lease, the claim lets one of them post; and once the first leader is
    gone, the next leader does not post it again."""
    kwargs: dict[str, Any] = {"keys": keys, "seed": seed, "policy": PLATFORM_POLICY}
    clock.now = at("2027-01-15 07:00")
    async with Sandbox.running(clock=clock, database_url=database_url, **kwargs) as one:
        await watch(one, "--digest 09:00 --tz Europe/Paris")  # 08:00 UTC in January
        async with Sandbox.running(clock=clock, database_url=database_url, **kwargs) as two:
            clock.now = at("2027-01-15 07:59")
            await sweep(one)
            assert one.sweeper is not None and two.sweeper is not None
            clock.now = at("2027-01-15 08:00")
            watches = await one.services.store.watches.all()
            rounds = Round(), Round()
            now = datetime.fromtimestamp(clock(), UTC)
            await asyncio.gather(
                one.sweeper.digests.run(watches, one.sweeper.memo, now, rounds[0]),
                two.sweeper.digests.run(watches, two.sweeper.memo, now, rounds[1]),
            )
            assert sorted(r.digests for r in rounds) == [0, 1]
            assert (rounds[0].failed, rounds[1].failed) == (0, 0)
            assert len(digests(one, two)) == 1
            # The sweep's own rounds: the leader, then (its lease run out) the other.
            assert (await sweep(one)).digests == 0
            clock.advance(5)
            done = await sweep(two)
            assert done.leader and done.digests == 0
            assert titles(one, two) == ["Daily digest: acme, Fri 15 Jan"]
            # Watching again with the same digest keeps the claim: a digest due and not
            # yet sent still goes out.
            clock.now = at("2027-01-16 08:30")
            await watch(two, "--digest 09:00 --tz Europe/Paris --after 10m")
            [kept] = await two.services.store.watches.all()
            assert (kept.digest_day, kept.after.seconds) == ("2027-01-15", 600)
            assert (await sweep(two)).digests == 1
            # A new time starts over from the latest day past: at 07:00 in Paris, 06:30's
            # day is today, so the first digest at the new time is tomorrow's.
            clock.now = at("2027-01-17 06:00")
            await watch(two, "--digest 06:30 --tz Europe/Paris")
            [moved] = await two.services.store.watches.all()
            assert (moved.digest_at, moved.digest_day) == ("06:30", "2027-01-17")
            assert (await sweep(two)).digests == 0


async def test_a_dst_day_in_new_york_gets_one_digest(sb: Sandbox, clock: Clock) -> None:
    """02:30 does not exist in New York on 14 March 2027 (02:00 EST becomes 03:00 EDT):
    that day's digest comes at 03:30 EDT (07:30 UTC), once; the next day's at 02:30
    EDT (06:30 UTC), 23 hours later. On 7 November 01:30 happens twice: the first."""
    clock.now = at("2027-03-13 12:00")
    await watch(sb, "--digest 02:30 --tz America/New_York")
    posted_at: list[str] = []
    moments = ["2027-03-14 06:59", "2027-03-14 07:29", "2027-03-14 07:30", "2027-03-14 07:45"]
    moments += ["2027-03-14 23:00", "2027-03-15 06:29", "2027-03-15 06:30", "2027-03-15 12:00"]
    for moment in moments:
        clock.now = at(moment)
        if (await sweep(sb)).digests:
            posted_at.append(moment)
    assert posted_at == ["2027-03-14 07:30", "2027-03-15 06:30"]
    assert titles(sb) == ["Daily digest: acme, Sun 14 Mar", "Daily digest: acme, Mon 15 Mar"]
    # Fall back: 01:30 EDT (05:30 UTC) first, not 01:30 EST an hour later.
    await watch(sb, "--digest 01:30 --tz America/New_York")
    for moment in ["2027-11-06 06:00", "2027-11-07 05:29", "2027-11-07 05:30", "2027-11-07 06:30"]:
        clock.now = at(moment)
        if (await sweep(sb)).digests:
            posted_at.append(moment)
    assert posted_at[2:] == ["2027-11-06 06:00", "2027-11-07 05:30"]


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ("--digest 25:00", "`--digest`: '25:00' is not a time of day: give HH:MM"),
        ("--digest 9:00", "`--digest`: '9:00' is not a time of day"),
        ("--digest 09:60", "from 00:00 to 23:59"),
        ("--digest noon", "is not a time of day"),
        ("--digest 09:00 --tz Mars/Olympus", "`--tz`: 'Mars/Olympus' is not an IANA time zone"),
        ("--digest 09:00 --tz ../../etc/passwd", "is not an IANA time zone"),
        ("--digest 09:00 --tz america/new_york", "did you mean `America/New_York`?"),
        ("--tz Europe/Paris", "`--tz` is the time zone of the daily digest"),
    ],
)
async def test_bad_digest_flags_are_refused_and_change_nothing(
    sb: Sandbox, clock: Clock, flags: str, said: str
) -> None:
    await watch(sb, "--digest 09:00 --tz Europe/Paris")
    before = await sb.services.store.watches.all()
    posts = len(sb.slack.posted)
    reply = reply_text(await sb.run(f"watch acme {flags}", channel_id=CHANNEL))
    assert said in reply, reply
    assert "Traceback" not in reply
    assert await sb.services.store.watches.all() == before
    assert len(sb.slack.posted) == posts  # no confirmation in the channel


async def test_watching_shows_the_digest_and_a_new_watch_can_drop_it(sb: Sandbox) -> None:
    await watch(sb, "--digest 07:45 --tz Asia/Kolkata")
    shown = reply_text(await sb.run("watching", channel_id=CHANNEL))
    assert "daily digest at 07:45 Asia/Kolkata" in shown
    await watch(sb, "--after 10m")  # watching again changes the flags: no digest now
    [stored] = await sb.services.store.watches.all()
    assert (stored.digest_at, stored.digest_tz) == (None, "UTC")
    assert "daily digest" not in reply_text(await sb.run("watching", channel_id=CHANNEL))
    help_text = reply_text(await sb.run("help"))
    assert "--digest HH:MM [--tz ZONE]" in help_text


# -- what it says ---------------------------------------------------------------------------


async def ran(
    sb: Sandbox, clock: Clock, labels: list[str], created: str, waited: float, runner: str
) -> None:
    """One job created at ``created`` that waited ``waited`` seconds and ran a minute."""
    clock.now = at(created)
    job = sb.github.add_job("acme", "api", labels=labels)
    await deliver(sb, int(job["id"]))
    clock.advance(waited)
    sb.github.set_job(job["id"], status="in_progress", runner=runner)
    await deliver(sb, int(job["id"]))
    clock.advance(MINUTE)
    sb.github.set_job(job["id"], status="completed")
    await deliver(sb, int(job["id"]))


async def test_the_digest_says_what_a_known_history_holds(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """A small history whose answer is known by hand; the digest of 20 January at 09:00
    UTC covers 19 Jan 09:00 to 20 Jan 09:00, the day before is the 18th's, the week the
    7 days before (12 Jan 09:00 to 19 Jan 09:00).

    gpu: the day 2m, 4m, 10m (p50 4m, p95 10m); the day before 1m, 3m; the week 20m, 1m,
    3m (p50 3m, p95 20m). build: the day two jobs created together on one runner, each
    running 10 minutes: 30s and 10m 30s (p50 30s, p95 10m 30s); the day before and the
    week 1m. build's second job was stuck past 5m (all its runners busy): one alert,
    opened and resolved in the day; a replay says 2 runners for 1. One runner is offline
    and every runner is on 2.321.0, which stops on 25 January."""
    kwargs: dict[str, Any] = {"keys": keys, "seed": seed, "policy": PLATFORM_POLICY}
    clock.now = at("2027-01-12 08:00")
    async with Sandbox.running(clock=clock, database_url=database_url, **kwargs) as sb:
        for name, labels in (("gpu-1", GPU), ("build-1", BUILD), ("old-1", BUILD)):
            sb.github.add_runner("/orgs/acme", name, labels=labels)
        await watch(sb, "--digest 09:00")
        await sweep(sb)
        sb.github.set_runner("/orgs/acme", "old-1", status="offline")
        clock.now = at("2027-01-12 08:20")
        assert (await sweep(sb)).posted == 1  # old-1's offline alert: long before the day
        await ran(sb, clock, GPU, "2027-01-12 08:30", 30 * MINUTE, "gpu-1")  # before the week
        await ran(sb, clock, GPU, "2027-01-13 12:00", 20 * MINUTE, "gpu-1")
        await ran(sb, clock, GPU, "2027-01-18 12:00", 1 * MINUTE, "gpu-1")
        await ran(sb, clock, BUILD, "2027-01-18 13:00", 1 * MINUTE, "build-1")
        await ran(sb, clock, GPU, "2027-01-19 08:50", 3 * MINUTE, "gpu-1")  # ends after 09:00
        await ran(sb, clock, GPU, "2027-01-19 10:00", 2 * MINUTE, "gpu-1")
        await ran(sb, clock, GPU, "2027-01-19 11:00", 4 * MINUTE, "gpu-1")
        # Two build jobs at once on one runner: the second waits for the first.
        clock.now = at("2027-01-19 12:00")
        first = sb.github.add_job("acme", "api", labels=BUILD)
        second = sb.github.add_job("acme", "api", labels=BUILD)
        for job in (first, second):
            await deliver(sb, int(job["id"]))
        clock.advance(30)
        sb.github.set_job(first["id"], status="in_progress", runner="build-1")
        await deliver(sb, int(first["id"]))
        clock.now = at("2027-01-19 12:06")
        assert (await sweep(sb)).posted == 1  # the second job, stuck: all runners busy
        clock.now = at("2027-01-19 12:10:30")
        sb.github.set_job(first["id"], status="completed")
        sb.github.set_job(second["id"], status="in_progress", runner="build-1")
        for job in (first, second):
            await deliver(sb, int(job["id"]))
        await sweep(sb)  # resolved
        clock.now = at("2027-01-19 12:20:30")
        sb.github.set_job(second["id"], status="completed")
        await deliver(sb, int(second["id"]))
        await ran(sb, clock, GPU, "2027-01-19 20:00", 10 * MINUTE, "gpu-1")
        await ran(sb, clock, GPU, "2027-01-20 09:00", MINUTE, "gpu-1")  # the next day's
        await sb.services.store.versions.put(
            [
                VersionDates(
                    "2.321.0",
                    datetime(2027, 1, 20, tzinfo=UTC),
                    datetime(2027, 1, 25, tzinfo=UTC),
                    published=True,
                    checked_at=datetime(2027, 1, 20, 8, tzinfo=UTC),
                )
            ]
        )
        clock.now = at("2027-01-20 09:05")
        done = await sweep(sb)
        assert (done.digests, done.failed) == (1, 0)
        message = digests(sb)[-1]
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "Daily digest: acme, Wed 20 Jan"
    queues, alerts, fleet, short = (b["text"]["text"] for b in blocks[1:5])
    assert queues.splitlines() == [
        "*5 jobs ran* · queue time per label set, against the day and the week before:",
        "• `build`: 2 jobs · p50 *30s* (↓day 1m ↓wk 1m) · p95 *10m 30s* (↑day 1m ↑wk 1m)",
        "• `gpu`: 3 jobs · p50 *4m* (↑day 1m ↑wk 3m) · p95 *10m* (↑day 3m ↓wk 20m)",
    ]
    assert alerts == (
        "*Alerts*: 1 opened, 1 resolved. Jobs that waited too long, by reason: runners busy 1."
    )
    assert fleet.startswith("*Offline now*: 1 runner (*old-1*). *Versions near end of life*:")
    assert "3 runners on 2.321.0 (stops <!date^" + str(int(at("2027-01-25 00:00"))) in fleet
    assert short.splitlines() == [
        "*Short of runners* (an estimate, as `stats` makes it):",
        "• `build`: 1 runner ran its jobs, 2 suggested",
    ]
    assert message["text"] == "Daily digest of acme: 5 jobs ran, 1 alerts opened"


async def test_a_digest_slack_refuses_stops_no_other_alert_or_digest(
    keys: Keys, clock: Clock
) -> None:
    """The channel watching acme (swept first) removed runnerops: its digest fails,
    logged and counted, and stops nothing: acme/api's alert and digest go out. Slack
    refused it, so it surely was not posted: the claim is given back and, once runnerops
    is invited back, a later round posts it, once (exactly once, not at most once)."""
    clock.now = at("2027-01-15 08:00")
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, metrics_token=TOKEN
    ) as sb:
        said = reply_text(await sb.run("watch acme --digest 09:00", channel_id="C0GONE"))
        assert "Watching" in said, said
        await watch_repo(sb, "acme/api", "--digest 09:00")
        sb.slack.not_in.add("C0GONE")
        clock.now = at("2027-01-15 08:55")
        job = sb.github.add_job("acme", "api", labels=GPU)  # no runner has gpu: stuck at 09:00
        await deliver(sb, int(job["id"]))
        clock.now = at("2027-01-15 09:01")
        done = await sweep(sb)
        assert done.digests == 1
        assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 1
        assert titles(sb) == ["Daily digest: acme/api, Fri 15 Jan"]
        assert any("waiting for" in m["text"] for m in sb.slack.in_channel(CHANNEL))
        clock.advance(MINUTE)
        assert (await sweep(sb)).digests == 0  # refused again, given back again
        assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 2
        sb.slack.not_in.discard("C0GONE")  # invited back
        clock.advance(MINUTE)
        assert (await sweep(sb)).digests == 1
        for _ in range(2):
            clock.advance(MINUTE)
            assert (await sweep(sb)).digests == 0
        gone = [
            m["blocks"][0]["text"]["text"]
            for m in sb.slack.in_channel("C0GONE")
            if m["text"].startswith("Daily")
        ]
        assert gone == ["Daily digest: acme, Fri 15 Jan"]
        assert titles(sb) == ["Daily digest: acme/api, Fri 15 Jan"]
        assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 2


@pytest.mark.parametrize("error", ["ratelimited", "channel_not_found"])
async def test_a_refused_digest_is_given_back_and_posted_once_on_both_engines(
    keys: Keys, clock: Clock, database_url: str, error: str
) -> None:
    """Slack answers the post with an error (rate limited, or a channel it cannot find):
    not posted, so the day's claim goes back to the day before, and the next round posts
    it, once; the day after is then due at its time as usual."""
    kwargs: dict[str, Any] = {"keys": keys, "seed": seed, "policy": PLATFORM_POLICY}
    clock.now = at("2027-01-15 08:00")
    async with Sandbox.running(
        clock=clock, database_url=database_url, metrics_token=TOKEN, **kwargs
    ) as sb:
        await watch(sb, "--digest 09:00")
        [before] = await sb.services.store.watches.all()
        sb.slack.failing[CHANNEL] = error
        clock.now = at("2027-01-15 09:00")
        done = await sweep(sb)
        assert (done.digests, done.failed) == (0, 1)
        assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 1
        [given_back] = await sb.services.store.watches.all()
        assert given_back.digest_day == before.digest_day == "2027-01-14"
        del sb.slack.failing[CHANNEL]
        clock.advance(MINUTE)
        assert (await sweep(sb)).digests == 1
        clock.advance(MINUTE)
        assert (await sweep(sb)).digests == 0
        assert titles(sb) == ["Daily digest: acme, Fri 15 Jan"]
        clock.now = at("2027-01-16 09:00")
        assert (await sweep(sb)).digests == 1
        assert titles(sb)[-1] == "Daily digest: acme, Sat 16 Jan"


async def test_a_release_gives_back_only_the_day_it_claimed(
    database_url: str, clock: Clock
) -> None:
    """The release is conditional: it puts back the day before the claim only while the
    claim holds; once another day is claimed (another process moved on), giving back
    the older claim changes nothing."""
    store = Store.open(database_url, clock=clock)
    try:
        made = datetime(2027, 1, 14, 8, tzinfo=UTC)
        watch = Watch("C1", "acme", MINUTE_DELTA, MINUTE_DELTA, "U1", "a", made)
        watch = replace(watch, digest_at="09:00", digest_day="2027-01-14")
        await store.watches.put(watch)
        assert await store.watches.claim_digest(watch, "2027-01-15")
        assert await store.watches.release_digest(watch, "2027-01-15")
        assert [w.digest_day for w in await store.watches.all()] == ["2027-01-14"]
        assert await store.watches.claim_digest(watch, "2027-01-15")
        assert await store.watches.claim_digest(watch, "2027-01-16")  # moved on
        assert not await store.watches.release_digest(watch, "2027-01-15")
        assert [w.digest_day for w in await store.watches.all()] == ["2027-01-16"]
    finally:
        await store.close()


async def test_a_digest_whose_post_timed_out_is_kept_not_posted_twice(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Slack took the post but its answer never came (the client's timeout): whether it
    was posted is unknown, so the claim is kept and no later round posts it again; it is
    logged and counted."""
    kwargs: dict[str, Any] = {"keys": keys, "seed": seed, "policy": PLATFORM_POLICY}
    clock.now = at("2027-01-15 08:00")
    async with Sandbox.running(
        clock=clock, database_url=database_url, metrics_token=TOKEN, **kwargs
    ) as sb:
        await watch(sb, "--digest 09:00")
        answered = sb.slack.held[CHANNEL] = asyncio.Event()
        sb.services.slack.timeout = 0.3  # seconds: the test's own, not 30
        try:
            clock.now = at("2027-01-15 09:00")
            done = await sweep(sb)
            assert (done.digests, done.failed) == (0, 1)
            assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 1
            [kept] = await sb.services.store.watches.all()
            assert kept.digest_day == "2027-01-15"
            for _ in range(3):
                clock.advance(MINUTE)
                assert (await sweep(sb)).digests == 0
        finally:
            answered.set()
        assert titles(sb) == ["Daily digest: acme, Fri 15 Jan"]  # the one Slack took
        sent = [p for p in sb.slack.posted if str(p.get("text", "")).startswith("Daily")]
        assert len(sent) == 1  # taken once, never sent again


@pytest.mark.parametrize(
    ("status", "data", "refused"),
    [
        (200, {"ok": False, "error": "not_in_channel"}, True),
        (200, {"ok": False, "error": "channel_not_found"}, True),
        (429, {"ok": False, "error": "ratelimited"}, True),
        # Slack says these may follow an operation that partly happened: not sure.
        (200, {"ok": False, "error": "internal_error"}, False),
        (200, {"ok": False, "error": "fatal_error"}, False),
        (503, {"ok": False, "error": "service_unavailable"}, False),
        (502, "<html>Bad Gateway</html>", False),
        (200, {"ok": False}, False),
    ],
)
def test_which_slack_errors_surely_did_not_post(
    status: int, data: dict[str, Any] | str, refused: bool
) -> None:
    """The pure decision behind giving a digest's day back: only an error Slack answered
    that says nothing was done."""
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,  # type: ignore[arg-type]
        headers={},
        status_code=status,
    )
    assert surely_refused(SlackApiError("refused", response)) is refused


async def test_an_internal_error_keeps_the_day(keys: Keys, clock: Clock) -> None:
    """``internal_error`` may follow a post Slack made: the day stays claimed (never
    twice), the failure is counted, and the next day's digest comes as usual."""
    clock.now = at("2027-01-15 08:00")
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, metrics_token=TOKEN
    ) as sb:
        await watch(sb, "--digest 09:00")
        sb.slack.failing[CHANNEL] = "internal_error"
        clock.now = at("2027-01-15 09:00")
        assert (await sweep(sb)).failed == 1
        del sb.slack.failing[CHANNEL]
        clock.advance(MINUTE)
        assert (await sweep(sb)).digests == 0
        [kept] = await sb.services.store.watches.all()
        assert kept.digest_day == "2027-01-15"
        assert await metric(sb, "runnerops_sweep_failures_total", reason="digest") == 1
        clock.now = at("2027-01-16 09:00")
        assert (await sweep(sb)).digests == 1
        assert titles(sb) == ["Daily digest: acme, Sat 16 Jan"]


async def watch_repo(sb: Sandbox, target: str, flags: str) -> None:
    reply = reply_text(await sb.run(f"watch {target} {flags}", channel_id=CHANNEL))
    assert "Watching" in reply, reply
