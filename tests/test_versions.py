"""``versions TARGET`` end to end: signed commands, the GitHub double (github.com and GHES),
the once-a-day store of each version's end-of-life dates."""

from __future__ import annotations

import json

from bot.github.models import Download, Runner
from bot.github.versions import (
    count_versions,
    days_until,
    is_older,
    newest_offered,
    older_versions,
    version_key,
)
from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import reply_text
from tests.conftest import Clock

DAY = 86_400.0
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC, the clock fixture's start
DEPRECATIONS = "/orgs/acme/actions/runners/deprecations/.+"


def seed_versions(gh: GitHubDouble) -> None:
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_installation("acme")
    gh.add_enterprise("octo-ent")
    gh.runner_version = "2.330.0"
    for path in ("/orgs/acme", "/enterprises/octo-ent"):
        gh.add_runner(path, "new-1", version="2.330.0")
        gh.add_runner(path, "new-2", version="2.330.0", status="offline")
        gh.add_runner(path, "old-1", version="2.321.0")
        gh.add_runner(path, "old-2", version="2.321.0", busy=True)
        gh.add_runner(path, "old-3", version="2.321.0", status="offline")
        gh.add_runner(path, "nodates", version="2.329.0")
        gh.add_runner(path, "ancient", version="2.300.0", status="offline")
        gh.add_runner(path, "fresh-box", version=None, status="offline")
    gh.deprecate_version(
        "2.321.0", registration="2027-01-10T00:00:00Z", runtime="2027-01-24T00:00:00Z"
    )
    gh.deprecate_version("2.329.0")  # published, both dates null
    # 2.300.0: GitHub answers 404 (no dates published)


def _line(text: str, version: str) -> str:
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if f"`{version}`" in ln and "runner" in ln)
    return lines[i] + "\n" + (lines[i + 1] if i + 1 < len(lines) else "")


async def test_versions_of_an_organization(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock) as sb:
        reply = await sb.run("versions acme")
        text = reply_text(reply)
        assert reply["response_type"] == "ephemeral"
        assert "*acme*: 8 runners on 4 versions · newest offered: `2.330.0`" in text
        newest = _line(text, "2.330.0")
        assert "2 runners · 1 online · 1 offline · _newest offered_" in newest
        old = _line(text, "2.321.0")
        assert "3 runners · 2 online · 1 offline" in old
        assert "stops registering: 10 Jan 2027, since 5 days" in old
        assert "stops receiving jobs: 24 Jan 2027, in 9 days" in old
        nodates = _line(text, "2.329.0")
        assert "1 runner · 1 online · 0 offline" in nodates
        assert "stops registering: no date published" in nodates
        assert "stops receiving jobs: no date published" in nodates
        assert "GitHub has published no end-of-life dates" in _line(text, "2.300.0")
        assert "*no version yet* (never connected) · 1 runner · 0 online · 1 offline" in text
        # Newest first, the runners without a version last.
        order = [text.index(f"`{v}` ·") for v in ("2.330.0", "2.329.0", "2.321.0", "2.300.0")]
        assert order == sorted(order) and text.index("no version yet") > order[-1]
        # One request per older version; none for the newest.
        assert sb.github.count("GET", DEPRECATIONS) == 3
        assert sb.github.count("GET", DEPRECATIONS.replace(".+", "2.330.0")) == 0


async def test_an_enterprise_is_asked_with_its_token(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock) as sb:
        text = reply_text(await sb.run("versions enterprise:octo-ent"))
        assert "*enterprise:octo-ent*: 8 runners on 4 versions" in text
        assert "stops receiving jobs: 24 Jan 2027, in 9 days" in _line(text, "2.321.0")
        asked = [r for r in sb.github.requests if "/deprecations/" in r.path]
        assert len(asked) == 3 and all(r.auth == "pat" for r in asked)


async def test_dates_are_asked_once_a_day(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock) as sb:
        await sb.run("versions acme")
        assert sb.github.count("GET", DEPRECATIONS) == 3
        clock.advance(DAY - 60)  # the same day: the stored dates are used
        text = reply_text(await sb.run("versions acme"))
        assert sb.github.count("GET", DEPRECATIONS) == 3
        # The stored dates, counted from the day it is now.
        assert "stops receiving jobs: 24 Jan 2027, in 8 days" in _line(text, "2.321.0")
        # Another target on the same GitHub shares the stored dates.
        await sb.run("versions enterprise:octo-ent")
        assert len([r for r in sb.github.requests if "/deprecations/" in r.path]) == 3
        clock.advance(60)  # a day later: asked again, once per version
        sb.github.deprecate_version("2.321.0", runtime="2027-02-01T00:00:00Z")
        text = reply_text(await sb.run("versions acme"))
        assert sb.github.count("GET", DEPRECATIONS) == 6
        old = _line(text, "2.321.0")
        assert "stops receiving jobs: 1 Feb 2027, in 16 days" in old
        assert "stops registering: no date published" in old


async def test_one_failing_version_does_not_stop_the_others(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock) as sb:
        sb.github.add_fault("GET", DEPRECATIONS.replace(".+", "2.329.0"), status=502, times=None)
        text = reply_text(await sb.run("versions acme"))
        assert "dates could not be read (GitHub answered 502)" in _line(text, "2.329.0")
        assert "stops receiving jobs: 24 Jan 2027, in 9 days" in _line(text, "2.321.0")
        assert "no end-of-life dates" in _line(text, "2.300.0")
        failed = sb.github.count("GET", DEPRECATIONS.replace(".+", "2.329.0"))
        # A failure is not stored: the next command asks again (and only for it).
        sb.github.clear_faults()
        text = reply_text(await sb.run("versions acme"))
        assert sb.github.count("GET", DEPRECATIONS.replace(".+", "2.329.0")) == failed + 1
        assert sb.github.count("GET", DEPRECATIONS) == failed + 3
        assert "stops registering: no date published" in _line(text, "2.329.0")


async def test_ghes_marks_older_versions_and_asks_nothing(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock, prefix="/api/v3") as sb:
        text = reply_text(await sb.run("versions acme"))
        assert "newest offered: `2.330.0`" in text
        for version in ("2.329.0", "2.321.0", "2.300.0"):
            assert "older than this server offers" in _line(text, version)
        assert "_newest offered_" in _line(text, "2.330.0")
        assert "stops receiving jobs" not in text
        assert not [r for r in sb.github.requests if "/deprecations/" in r.path]
        assert "GitHub Enterprise Server publishes no end-of-life dates" in text


async def test_downloads_failing_still_counts_the_runners(make_sandbox, clock: Clock) -> None:
    async with make_sandbox(seed=seed_versions, clock=clock) as sb:
        sb.github.add_fault("GET", "/orgs/acme/actions/runners/downloads", status=502, times=None)
        text = reply_text(await sb.run("versions acme"))
        assert "8 runners on 4 versions · newest offered: unknown" in text
        assert "3 runners · 2 online · 1 offline" in _line(text, "2.321.0")
        assert sb.github.count("GET", DEPRECATIONS) == 0  # nothing known to be older


async def test_help_versions(sandbox) -> None:
    text = reply_text(await sandbox.run("help versions"))
    assert "versions TARGET" in text
    assert "runners per runner version" in text
    assert sandbox.github.requests == []


async def test_versions_needs_a_target(sandbox) -> None:
    text = reply_text(await sandbox.run("versions"))
    assert "versions" in text and "target" in text.lower()
    assert sandbox.github.requests == []


# -- the pure part ---------------------------------------------------------------------------


def test_versions_compare_by_number() -> None:
    assert version_key("2.330.0") == (2, 330, 0)
    assert version_key("v2.1") == (2, 1)
    assert version_key("two") is None and version_key(None) is None
    assert is_older("2.321.0", "2.330.0")
    assert is_older("2.33.0", "2.321.0")  # 33 < 321, though "2.33" > "2.321" as text
    assert not is_older("2.330.0", "2.330.0")
    assert not is_older("2.331.0", "2.330.0")
    assert not is_older("2.321.0", None) and not is_older("x", "2.330.0")


def test_newest_offered_reads_the_file_names() -> None:
    names = ["actions-runner-linux-x64-2.99.1.tar.gz", "actions-runner-win-x64-2.330.0.zip"]
    downloads = [Download("linux", "x64", "https://x", n) for n in names]
    assert newest_offered(downloads) == "2.330.0"
    assert newest_offered([Download("linux", "x64", "https://x", "runner.tgz")]) is None


def test_counts_per_version() -> None:
    runners = [
        Runner(1, "a", status="online", version="2.9.0"),
        Runner(2, "b", status="offline", version="2.10.0"),
        Runner(3, "c", status="online", version="2.10.0"),
        Runner(4, "d", status="offline", version=None),
        Runner(5, "e", status="online", version=" "),
    ]
    counts = count_versions(runners)
    assert [(c.version, c.runners, c.online, c.offline) for c in counts] == [
        ("2.10.0", 2, 1, 1),
        ("2.9.0", 1, 1, 0),
        (None, 2, 1, 1),
    ]
    assert older_versions(counts, "2.10.0") == ["2.9.0"]
    assert older_versions(counts, None) == []


def test_days_left() -> None:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(NOW, UTC)
    assert days_until(at.replace(hour=9), NOW) == 1  # later today: within a day
    assert days_until(at.replace(day=24, hour=0), NOW) == 9
    assert days_until(at, NOW) == 0
    assert days_until(at.replace(hour=7), NOW) == 0  # just past
    assert days_until(at.replace(day=10, hour=0), NOW) == -5


async def test_a_fleet_of_many_versions_fits_one_message(make_sandbox, clock: Clock) -> None:
    def seed(gh: GitHubDouble) -> None:
        seed_versions(gh)
        for minor in range(200, 260):
            gh.add_runner("/orgs/acme", f"r-{minor}", version=f"2.{minor}.0")

    async with make_sandbox(seed=seed, clock=clock) as sb:
        reply = await sb.run("versions acme")
        text = reply_text(reply)
        assert "*acme*: 68 runners on 64 versions" in text
        assert "…and 24 more versions not shown." in text
        assert "*no version yet* (never connected) · 1 runner" in text  # always said
        assert len(json.dumps(reply["blocks"])) < 12_000 and len(reply["blocks"]) < 50
        # Every older version's dates were asked for, shown or not (once a day each).
        assert sb.github.count("GET", DEPRECATIONS) == 63
