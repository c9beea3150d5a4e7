"""The version alert (issue 21 §1), end to end: ``watch --version-warn``, signed commands,
the GitHub double (github.com and GHES) publishing each version's dates, the Slack double
recording the alert's post and in-place updates, rounds run with ``run_once`` on the
test's clock (nothing sleeps), and the dates asked once a day across processes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text
from bot.services import Services
from bot.slack.views.alerts import ACK_ACTION, SNOOZE_ACTION
from bot.sweep.loop import Sweeper
from bot.watch.alerts import Alert, AlertKind, Marks, Member, escalates_at, escalation_due
from tests.conftest import Clock
from tests.test_alert_marks import buttons, click
from tests.test_watch_sweep import CHANNEL, alerts, queued, sweep

DAY = 86_400.0
ORG = "/orgs/acme"
# The clock starts at 2027-01-15 08:00 UTC: 2.321.0 stops receiving jobs in 9 days.
RUNTIME = "2027-01-24T00:00:00Z"
STOPS = datetime.fromisoformat(RUNTIME).timestamp()  # the clock's seconds
DEPRECATIONS = "/orgs/acme/actions/runners/deprecations/.+"
ALICE = "U0ALICE"


def seed(gh: GitHubDouble) -> None:
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_installation("acme")
    gh.runner_version = "2.330.0"
    gh.add_runner(ORG, "new-1", version="2.330.0", labels=["gpu"], busy=True)
    for name in ("old-1", "old-2", "old-3"):
        gh.add_runner(ORG, name, version="2.321.0", labels=["gpu"], busy=True)
    gh.deprecate_version("2.321.0", registration="2027-01-10T00:00:00Z", runtime=RUNTIME)
    gh.deprecate_version("2.330.0")  # published, no dates


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def watch(sb: Sandbox, flags: str = "") -> str:
    reply = reply_text(await sb.run(f"watch acme {flags}".strip(), channel_id=CHANNEL))
    assert "atching" in reply, reply
    return reply


def version_alerts(sb: Sandbox) -> list[dict[str, Any]]:
    return [m for m in alerts(sb) if "2.321.0" in m["text"]]


def text(message: dict[str, Any]) -> str:
    return reply_text(message)


async def test_a_version_ending_within_the_warning_raises_one_alert(
    sb: Sandbox, clock: Clock
) -> None:
    await watch(sb)
    done = await sweep(sb)
    assert done.posted == 1
    [message] = version_alerts(sb)
    said = text(message)
    assert "3 runners of acme on `2.321.0` stop receiving jobs on 24 Jan, in 9 days" in said
    assert all(f"*old-{i}*" in said for i in (1, 2, 3)) and "new-1" not in said
    # How to upgrade: the runner updates itself, unless --disableupdate; pinned images get
    # the newest release's download line and its SHA-256 from GitHub's downloads.
    assert "`--disableupdate`" in said
    filename = "actions-runner-linux-x64-2.330.0.tar.gz"
    assert f"curl -o {filename} -L https://github.com/actions/runner/releases/download/" in said
    assert f"{hashlib.sha256(filename.encode()).hexdigest()}  {filename}" in said
    assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]
    # One request per version in use, then the stored dates: none on the next rounds.
    asked = sb.github.count("GET", DEPRECATIONS)
    assert asked == 2
    for _ in range(3):
        clock.advance(60)
        assert (await sweep(sb)).posted == 0
    assert sb.github.count("GET", DEPRECATIONS) == asked
    assert len(version_alerts(sb)) == 1  # one alert, not one per round
    # Acknowledge works on it as on the other alerts, and says so in place.
    reply = await click(sb, message, ACK_ACTION, ALICE)
    assert "You acknowledged this alert" in reply
    [message] = version_alerts(sb)
    assert f"Acknowledged by <@{ALICE}>" in text(message)


async def test_outside_the_warning_no_alert_until_it_is_widened(sb: Sandbox, clock: Clock) -> None:
    said = await watch(sb, "--version-warn 7d")
    assert "within 7d" in said
    listed = reply_text(await sb.run("watching", channel_id=CHANNEL))
    assert "version ends within 7d" in listed
    await sweep(sb)
    assert version_alerts(sb) == []
    entries = await sb.services.store.audit.recent(target="acme", limit=5, refused=False)
    assert any("version warn 7d" in e.detail for e in entries if e.action == "watch")
    # Two days later the date is within 7 days: the alert comes.
    clock.advance(2 * DAY + 3600)
    await sweep(sb)
    [message] = version_alerts(sb)
    assert "stop receiving jobs on 24 Jan, in 7 days" in text(message)


async def test_bad_version_warn_is_refused_and_changes_nothing(sb: Sandbox) -> None:
    reply = reply_text(await sb.run("watch acme --version-warn soon", channel_id=CHANNEL))
    assert "`--version-warn`" in reply and "not a duration" in reply
    assert await sb.services.store.watches.all() == []
    help_text = reply_text(await sb.run("help watch"))
    assert "--version-warn DURATION" in help_text and "default 14d" in help_text


async def test_updated_as_runners_upgrade_and_resolved_when_none_left(
    sb: Sandbox, clock: Clock
) -> None:
    await watch(sb)
    await sweep(sb)
    [posted] = version_alerts(sb)
    sb.github.set_runner(ORG, "old-1", version="2.330.0")
    sb.github.remove_runner(ORG, "old-2")
    clock.advance(60)
    done = await sweep(sb)
    assert (done.posted, done.updated) == (0, 1)
    [message] = version_alerts(sb)
    assert message["ts"] == posted["ts"]  # in place
    said = text(message)
    assert "1 runner of acme on `2.321.0` stop" in said
    assert "*old-1* moved to another version" in said and "*old-2* was deleted" in said
    sb.github.set_runner(ORG, "old-3", version="2.331.0")
    clock.advance(60)
    done = await sweep(sb)
    assert (done.posted, done.resolved) == (0, 1)
    [message] = version_alerts(sb)
    assert message["ts"] == posted["ts"]
    assert "Resolved*: no runner of *acme* is left on `2.321.0`" in text(message)
    assert await sb.services.store.alerts.open_alerts() == []


async def test_after_the_date_it_says_jobs_are_no_longer_dispatched(
    sb: Sandbox, clock: Clock
) -> None:
    await watch(sb)
    await sweep(sb)
    [posted] = version_alerts(sb)
    asked = sb.github.count("GET", DEPRECATIONS)
    clock.advance(10 * DAY)  # 25 Jan: past the date
    done = await sweep(sb)
    assert done.updated == 1 and done.posted == 0
    [message] = version_alerts(sb)
    assert message["ts"] == posted["ts"]
    said = text(message)
    assert "3 runners of acme on `2.321.0` no longer receive jobs" in said
    assert "GitHub stopped on 24 Jan, 1 day ago" in said
    assert "GitHub no longer dispatches jobs to runners on this version" in said
    # A day on, asked again once per version; the message is not updated again for it.
    assert sb.github.count("GET", DEPRECATIONS) == asked + 2
    clock.advance(60)
    assert (await sweep(sb)).updated == 0


async def test_an_idle_runner_past_its_date_is_said_to_get_no_jobs(
    sb: Sandbox, clock: Clock
) -> None:
    """The "idle but not taking it" diagnosis uses the stored dates."""
    sb.github.set_runner(ORG, "old-1", busy=False)
    await watch(sb)
    await sweep(sb)  # the dates are stored
    clock.advance(10 * DAY)
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * 60)
    await sweep(sb)
    [stuck] = [m for m in alerts(sb) if "waiting for" in m["text"]]
    said = text(stuck)
    assert "*old-1* (version 2.321.0: no longer receives jobs since 24 Jan 2027)" in said
    assert "GitHub no longer dispatches jobs to their runner version" in said


async def test_the_home_tab_shows_the_versions_near_their_end(sb: Sandbox) -> None:
    await watch(sb)
    await sweep(sb)
    requests = len(sb.github.requests)
    view = await sb.open_home(ALICE)
    assert len(sb.github.requests) == requests  # from stored data only
    shown = json.dumps(view["blocks"])
    assert "3 runners on `2.321.0`: stop receiving jobs in 9 days" in shown
    assert "waiting for" not in shown  # not counted as a stuck-job alert


async def test_ghes_asks_nothing_and_raises_no_version_alert(keys: Keys, clock: Clock) -> None:
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, prefix="/api/v3"
    ) as sb:
        await watch(sb)
        done = await sweep(sb)
        assert done.skipped == [] and done.posted == 0
        assert not [r for r in sb.github.requests if "/deprecations/" in r.path]
        assert version_alerts(sb) == []
        # The watch still works: a runner offline past the threshold is alerted.
        sb.github.set_runner(ORG, "old-1", status="offline")
        clock.advance(11 * 60)
        await sweep(sb)
        assert [m for m in alerts(sb) if "offline" in m["text"]]
        assert not [r for r in sb.github.requests if "/deprecations/" in r.path]


async def test_dates_asked_once_a_day_across_processes(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        await watch(sb, "--version-warn 10d")
        stored = await sb.services.store.watches.all()
        assert [w.version_warn.days for w in stored] == [10]
        assert sb.sweeper is not None
        await sb.sweeper.run_once()
        assert sb.github.count("GET", DEPRECATIONS) == 2
        await sb.sweeper.close()  # the lease is free: another process leads
        other = Services.build(sb.settings, github_backoff=0.01, clock=clock)
        second = Sweeper(other)
        try:
            clock.advance(3600)
            assert (await second.run_once()).leader is True
            assert sb.github.count("GET", DEPRECATIONS) == 2  # the stored dates
            [message] = version_alerts(sb)  # the alert as stored, not posted again
            assert "in 9 days" in text(message)
            # ``versions`` on the first process reads the same stored dates.
            said = reply_text(await sb.run("versions acme"))
            assert "stops receiving jobs: 24 Jan 2027" in said
            assert sb.github.count("GET", DEPRECATIONS) == 2
            clock.advance(DAY)  # a day on: asked again, once per version
            await second.run_once()
            await second.run_once()
            assert sb.github.count("GET", DEPRECATIONS) == 4
            assert len(version_alerts(sb)) == 1
        finally:
            await second.close()
            await other.close()


async def test_many_runners_are_named_cut_to_fit(sb: Sandbox) -> None:
    for i in range(150):
        sb.github.add_runner(ORG, f"old-box-{i:03d}-" + "x" * 40, version="2.321.0", busy=True)
    await watch(sb)
    await sweep(sb)
    [message] = version_alerts(sb)
    assert "153 runners of acme on `2.321.0`" in text(message)
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    assert len(json.dumps(message["blocks"])) < 16_000
    names = sections[1]
    assert names.startswith("*old-1*, *old-2*, *old-3*, *old-box-000-")
    shown = names.count("*") // 2
    assert names.endswith(f" and {153 - shown} more") and 3 < shown < 153


async def test_github_failing_keeps_the_alert_and_waits_to_ask_again(
    sb: Sandbox, clock: Clock
) -> None:
    await watch(sb)
    await sweep(sb)
    [posted] = version_alerts(sb)
    sb.github.add_fault("GET", DEPRECATIONS, status=502, times=None)
    clock.advance(DAY)  # the stored dates are a day old: asked again, and GitHub fails
    asked = sb.github.count("GET", DEPRECATIONS)
    done = await sweep(sb)
    assert done.skipped == [] and (done.updated, done.resolved) == (0, 0)
    failed = sb.github.count("GET", DEPRECATIONS) - asked
    assert failed >= 2  # each version asked (the client retries a 502 itself)
    clock.advance(60)
    await sweep(sb)  # not asked again within the hour
    assert sb.github.count("GET", DEPRECATIONS) - asked == failed
    [message] = version_alerts(sb)
    assert message == posted  # kept as it was: silence is not "resolved"
    sb.github.clear_faults()
    clock.advance(3600)
    await sweep(sb)
    assert sb.github.count("GET", DEPRECATIONS) - asked == failed + 2


async def test_a_date_moved_beyond_the_warning_resolves_it(sb: Sandbox, clock: Clock) -> None:
    await watch(sb)
    await sweep(sb)
    [posted] = version_alerts(sb)
    sb.github.deprecate_version("2.321.0", runtime="2027-03-01T00:00:00Z")
    clock.advance(DAY)
    done = await sweep(sb)
    assert done.resolved == 1
    [message] = version_alerts(sb)
    assert message["ts"] == posted["ts"]
    said = text(message)
    assert "is no longer within this watch's `--version-warn`" in said
    assert "moved to another version" not in said


async def test_a_shorter_warning_resolves_it(sb: Sandbox, clock: Clock) -> None:
    await watch(sb)
    await sweep(sb)
    await watch(sb, "--version-warn 3d")
    clock.advance(60)
    done = await sweep(sb)
    assert done.resolved == 1
    assert "no longer within this watch's" in text(version_alerts(sb)[0])


async def test_the_days_left_are_updated_once_a_day(sb: Sandbox, clock: Clock) -> None:
    await watch(sb)
    await sweep(sb)
    [posted] = version_alerts(sb)
    clock.advance(DAY)
    assert (await sweep(sb)).updated == 1
    clock.advance(60)
    assert (await sweep(sb)).updated == 0  # the same day: nothing to say
    [message] = version_alerts(sb)
    assert message["ts"] == posted["ts"]
    assert "stop receiving jobs on 24 Jan, in 8 days" in text(message)


async def test_a_version_alert_mentions_once_when_its_date_is_near(
    sb: Sandbox, clock: Clock
) -> None:
    """A warning 9 days ahead is nobody's page 30 minutes on: ``--mention`` is told once
    a day remains before its runners stop receiving jobs, and only once."""
    await watch(sb, "--mention <@U0ONCALL> --mention-after 30m")
    await sweep(sb)
    [message] = version_alerts(sb)
    clock.advance(31 * 60)
    assert (await sweep(sb)).escalated == 0
    clock.now = STOPS - DAY - 60  # a day and a minute left
    assert (await sweep(sb)).escalated == 0
    clock.now = STOPS - DAY  # a day left
    assert (await sweep(sb)).escalated == 1
    [reply] = [p for p in sb.slack.posted if p.get("thread_ts") == message["ts"]]
    assert "<@U0ONCALL>" in reply["text"]
    assert "nobody acknowledged this alert and its date is a day away or past" in reply["text"]
    assert "3 runners of *acme* on `2.321.0`, a version GitHub stops giving jobs" in reply["text"]
    for moment in (STOPS - 60, STOPS + DAY):
        clock.now = moment
        assert (await sweep(sb)).escalated == 0
    assert len([p for p in sb.slack.posted if p.get("thread_ts") == message["ts"]]) == 1


OPENED = datetime(2027, 1, 15, 8, tzinfo=UTC)
MIN, HOUR, ONE_DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("kind", "until", "after", "due_at"),
    [
        # A version alert: a day before its date, or --mention-after, whichever is later.
        (AlertKind.VERSION, OPENED + 14 * ONE_DAY, 30 * MIN, 13 * ONE_DAY),
        (AlertKind.VERSION, OPENED + 10 * HOUR, 30 * MIN, 30 * MIN),
        (AlertKind.VERSION, OPENED + 30 * HOUR, 12 * HOUR, 12 * HOUR),
        (AlertKind.VERSION, OPENED - 2 * ONE_DAY, 15 * MIN, 15 * MIN),  # already past
        (AlertKind.VERSION, None, 15 * MIN, 15 * MIN),
        # The others as before: --mention-after past their opening.
        (AlertKind.STUCK, OPENED + 14 * ONE_DAY, 30 * MIN, 30 * MIN),
        (AlertKind.OFFLINE, None, 15 * MIN, 15 * MIN),
    ],
)
def test_when_an_alert_escalates(
    kind: AlertKind, until: datetime | None, after: timedelta, due_at: timedelta
) -> None:
    """The pure decision, by the alert's kind and date (``due_at`` after it opened): not
    a second before, from then on, and never once escalated."""
    alert = Alert("k", kind, "acme", "C1", OPENED, members=(Member(1, "old-1", OPENED),))
    alert = replace(alert, message_ts="1.1", until=until)
    moment = OPENED + due_at
    assert escalates_at(alert, after) == moment

    def due(now: datetime, marks: Marks | None = None) -> bool:
        return escalation_due(alert, marks or Marks(), mentions=("<@U1>",), after=after, now=now)

    assert not due(moment - timedelta(seconds=1))
    assert due(moment) and due(moment + timedelta(days=30))
    assert not due(moment, Marks(escalated_at=moment))


async def test_a_version_that_is_no_release_number_is_never_asked(sb: Sandbox) -> None:
    """A runner reports its version itself: anything but a release number is left out."""
    sb.github.add_runner(ORG, "odd-1", version="<!channel> 9.9", busy=True)
    await watch(sb)
    await sweep(sb)
    asked = [r.path for r in sb.github.requests if "/deprecations/" in r.path]
    assert sorted(p.rsplit("/", 1)[1] for p in asked) == ["2.321.0", "2.330.0"]
    [message] = version_alerts(sb)
    assert "odd-1" not in text(message) and "<!channel>" not in json.dumps(message)
