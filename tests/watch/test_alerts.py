"""Alert planning: grouping, one post per key, updates, resolutions, offline runners, pacing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.watch.alerts import (
    ActionKind,
    Alert,
    AlertAction,
    AlertKind,
    AlertPlan,
    Departure,
    Left,
    Member,
    StuckJob,
    apply_done,
    is_stuck,
    offline_alertable,
    pace,
    plan_offline,
    plan_stuck,
    stuck_alert_key,
)
from bot.watch.models import Job, RunnerInfo

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
GPU = ("gpu", "linux", "self-hosted")
KEY_BUSY = "stuck|acme|all_busy|gpu,linux,self-hosted"
KEY_OFF = "stuck|acme|all_offline|gpu,linux,self-hosted"


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        pytest.param(Job(1, GPU, created_at=NOW - 10 * MIN), True, id="queued-past-threshold"),
        pytest.param(Job(1, GPU, created_at=NOW - 5 * MIN), True, id="exactly-at-threshold"),
        pytest.param(Job(1, GPU, created_at=NOW - 4 * MIN), False, id="not-yet"),
        pytest.param(
            Job(1, GPU, status="waiting", created_at=NOW - 60 * MIN), False, id="waiting-approval"
        ),
        pytest.param(
            Job(1, GPU, status="in_progress", created_at=NOW - 60 * MIN), False, id="started"
        ),
        pytest.param(Job(1, GPU, created_at=None), False, id="no-created-at"),
        pytest.param(Job(1, GPU, created_at=NOW + MIN), False, id="created-in-the-future"),
    ],
)
def test_is_stuck(job: Job, expected: bool) -> None:
    assert is_stuck(job, now=NOW, after=5 * MIN) is expected


@pytest.mark.parametrize(
    ("target", "reason", "labels", "key"),
    [
        pytest.param("acme", "all_busy", GPU, KEY_BUSY, id="plain"),
        pytest.param(
            "ACME",
            "all_busy",
            ("Self-Hosted", "GPU", "linux"),
            KEY_BUSY,
            id="case-and-order-insensitive",
        ),
        pytest.param(
            "acme/api",
            "no_matching_labels",
            (),
            "stuck|acme/api|no_matching_labels|",
            id="no-labels",
        ),
    ],
)
def test_stuck_alert_key(target: str, reason: str, labels: tuple[str, ...], key: str) -> None:
    assert stuck_alert_key(target, reason, labels) == key


def stuck(job_id: int, reason: str = "all_busy", minutes: int = 10) -> StuckJob:
    return StuckJob(job_id, f"job {job_id}", "acme", "C1", reason, GPU, NOW - minutes * MIN)


def member(job_id: int, minutes: int = 10) -> Member:
    return Member(job_id, f"job {job_id}", NOW - minutes * MIN)


def posted(key: str, *ids: int, shown: int | None = None, reason: str = "all_busy") -> Alert:
    return Alert(
        key,
        AlertKind.STUCK,
        "acme",
        "C1",
        NOW - 30 * MIN,
        reason,
        GPU,
        tuple(member(i) for i in ids),
        message_ts="111.222",
        shown_count=len(ids) if shown is None else shown,
    )


def summary(plan: AlertPlan) -> tuple[list[tuple[str, str, int]], list[tuple[str, int, bool]]]:
    """(actions as kind/key/members, stored alerts as key/members/posted)."""
    return (
        [(a.kind.value, a.alert.key, len(a.alert.members)) for a in plan.actions],
        [(a.key, len(a.members), a.message_ts is not None) for a in plan.alerts],
    )


OFFLINE_ALERT = Alert(
    "offline|acme|x",
    AlertKind.OFFLINE,
    "acme",
    "C1",
    NOW - 30 * MIN,
    members=(member(70),),
    message_ts="1.1",
    shown_count=1,
)


@pytest.mark.parametrize(
    ("alerts", "jobs", "actions", "stored"),
    [
        pytest.param([], [], [], [], id="nothing"),
        pytest.param(
            [],
            [stuck(1), stuck(2), stuck(3)],
            [("post", KEY_BUSY, 3)],
            [(KEY_BUSY, 3, False)],
            id="three-jobs-one-post",
        ),
        pytest.param(
            [],
            [stuck(1), stuck(2, "all_offline")],
            [("post", KEY_BUSY, 1), ("post", KEY_OFF, 1)],
            [(KEY_BUSY, 1, False), (KEY_OFF, 1, False)],
            id="two-reasons-two-alerts",
        ),
        pytest.param(
            [],
            [stuck(1), stuck(1)],
            [("post", KEY_BUSY, 1)],
            [(KEY_BUSY, 1, False)],
            id="job-listed-twice-counts-once",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1, 2, 3)],
            [stuck(1), stuck(2), stuck(3)],
            [],
            [(KEY_BUSY, 3, True)],
            id="unchanged-no-action",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1, 2, 3)],
            [stuck(i) for i in range(1, 6)],
            [("update", KEY_BUSY, 5)],
            [(KEY_BUSY, 5, True)],
            id="more-jobs-join-update-not-post",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1, 2, 3)],
            [stuck(2), stuck(3), stuck(4)],
            [],
            [(KEY_BUSY, 3, True)],
            id="same-count-other-jobs-no-update",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1, 2)],
            [stuck(2)],
            [("update", KEY_BUSY, 1)],
            [(KEY_BUSY, 1, True)],
            id="one-leaves-update",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1, 2)],
            [],
            [("resolve", KEY_BUSY, 0)],
            [(KEY_BUSY, 0, True)],
            id="last-leaves-resolve-kept-until-sent",
        ),
        pytest.param(
            [replace(posted(KEY_BUSY, 1), message_ts=None, shown_count=0)],
            [stuck(1), stuck(2)],
            [("post", KEY_BUSY, 2)],
            [(KEY_BUSY, 2, False)],
            id="deferred-post-planned-again",
        ),
        pytest.param(
            [replace(posted(KEY_BUSY, 1), message_ts=None, shown_count=0)],
            [],
            [],
            [],
            id="never-posted-and-empty-dropped-silently",
        ),
        pytest.param(
            [posted(KEY_BUSY, shown=2)],
            [stuck(9)],
            [("update", KEY_BUSY, 1)],
            [(KEY_BUSY, 1, True)],
            id="pending-resolve-rejoined-becomes-update",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1)],
            [stuck(1, "all_offline")],
            [("resolve", KEY_BUSY, 0), ("post", KEY_OFF, 1)],
            [(KEY_BUSY, 0, True), (KEY_OFF, 1, False)],
            id="reason-changes-moves-job",
        ),
        pytest.param(
            [OFFLINE_ALERT],
            [],
            [],
            [(OFFLINE_ALERT.key, 1, True)],
            id="offline-alerts-untouched",
        ),
    ],
)
def test_plan_stuck(
    alerts: list[Alert],
    jobs: list[StuckJob],
    actions: list[tuple[str, str, int]],
    stored: list[tuple[str, int, bool]],
) -> None:
    got_actions, got_stored = summary(plan_stuck(alerts, jobs, now=NOW))
    assert got_actions == actions
    assert sorted(got_stored) == sorted(stored)


def test_new_alert_fields() -> None:
    plan = plan_stuck([], [stuck(2, minutes=3), stuck(1, minutes=20)], now=NOW)
    assert plan.alerts == (
        Alert(
            KEY_BUSY,
            AlertKind.STUCK,
            "acme",
            "C1",
            NOW,
            "all_busy",
            GPU,
            (member(1, 20), member(2, 3)),
        ),
    )


def sweep(
    alerts: tuple[Alert, ...], jobs: list[StuckJob], now: datetime
) -> tuple[tuple[Alert, ...], list[ActionKind]]:
    """One sweep as the I/O layer runs it: plan, send everything, record."""
    plan = plan_stuck(alerts, jobs, now=now)
    state = plan.alerts
    for n, action in enumerate(plan.actions):
        state = apply_done(state, action, message_ts=f"ts{n}")
    return state, [a.kind for a in plan.actions]


def test_one_post_per_key_across_sweeps_then_resolve() -> None:
    state: tuple[Alert, ...] = ()
    kinds: list[list[ActionKind]] = []
    for jobs in ([1], [1, 2, 3], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [6], []):
        state, done = sweep(state, [stuck(j) for j in jobs], NOW)
        kinds.append(done)
    assert kinds == [
        [ActionKind.POST],
        [ActionKind.UPDATE],
        [ActionKind.UPDATE],
        [],
        [ActionKind.UPDATE],
        [ActionKind.RESOLVE],
    ]
    assert state == ()


def test_apply_done_post_records_ts_and_count() -> None:
    plan = plan_stuck([], [stuck(1), stuck(2)], now=NOW)
    (after,) = apply_done(plan.alerts, plan.actions[0], message_ts="171.5")
    assert (after.message_ts, after.shown_count) == ("171.5", 2)


def test_apply_done_post_without_ts_is_refused() -> None:
    plan = plan_stuck([], [stuck(1)], now=NOW)
    with pytest.raises(ValueError, match="ts"):
        apply_done(plan.alerts, plan.actions[0])


def test_apply_done_resolve_keeps_an_alert_that_was_rejoined() -> None:
    resolving = AlertAction(ActionKind.RESOLVE, posted(KEY_BUSY))
    rejoined = posted(KEY_BUSY, 5, shown=1)
    (kept,) = apply_done([rejoined], resolving)
    assert (len(kept.members), kept.shown_count, kept.message_ts) == (1, 0, "111.222")


def test_apply_done_leaves_other_alerts_alone() -> None:
    other = posted(KEY_OFF, 1, reason="all_offline")
    done = AlertAction(ActionKind.RESOLVE, posted(KEY_BUSY))
    assert apply_done([posted(KEY_BUSY), other], done) == (other,)


# Offline runners ---------------------------------------------------------------------


def rnr(rid: int, status: str = "offline") -> RunnerInfo:
    return RunnerInfo(rid, f"r{rid}", GPU, status)


SEEN = {
    1: NOW - 20 * MIN,
    2: NOW - 12 * MIN,
    3: NOW - 11 * MIN,
    4: NOW - 2 * MIN,  # offline, but not for long enough
    5: None,  # never seen online
}


@pytest.mark.parametrize(
    ("runners", "ids"),
    [
        pytest.param([rnr(1), rnr(2), rnr(3)], [1, 2, 3], id="past-threshold"),
        pytest.param([rnr(4)], [], id="under-threshold"),
        pytest.param([rnr(5)], [], id="never-seen-online"),
        pytest.param([rnr(6)], [], id="absent-from-last-seen"),
        pytest.param([rnr(1, "online")], [], id="online"),
        pytest.param([rnr(1, "unknown")], [1], id="unknown-status-is-not-online"),
        pytest.param([], [], id="no-runners"),
    ],
)
def test_offline_alertable(runners: list[RunnerInfo], ids: list[int]) -> None:
    assert [r.id for r in offline_alertable(runners, SEEN, now=NOW, after=10 * MIN)] == ids


def off_alert(*ids: int, opened: int = 2, target: str = "acme", shown: int | None = None) -> Alert:
    return Alert(
        f"offline|{target}|{opened}",
        AlertKind.OFFLINE,
        target,
        "C1",
        NOW - opened * MIN,
        "offline",
        (),
        tuple(Member(i, f"r{i}", SEEN[i] or NOW) for i in ids),
        message_ts="9.9",
        shown_count=len(ids) if shown is None else shown,
    )


def offline_plan(alerts: list[Alert], runners: list[RunnerInfo]) -> AlertPlan:
    return plan_offline(
        alerts,
        target="acme",
        channel="C1",
        runners=runners,
        last_seen_online=SEEN,
        now=NOW,
        after=10 * MIN,
        window=5 * MIN,
    )


NEW_KEY = f"offline|acme|{NOW.isoformat()}"


@pytest.mark.parametrize(
    ("alerts", "runners", "actions", "stored"),
    [
        pytest.param(
            [],
            [rnr(1), rnr(2), rnr(3), rnr(4), rnr(5)],
            [("post", NEW_KEY, 3)],
            [(NEW_KEY, 3, False)],
            id="three-down-in-one-sweep-one-alert",
        ),
        pytest.param(
            [off_alert(1)],
            [rnr(1), rnr(2)],
            [("update", "offline|acme|2", 2)],
            [("offline|acme|2", 2, True)],
            id="joins-alert-opened-within-window",
        ),
        pytest.param(
            [off_alert(1, opened=6)],
            [rnr(1), rnr(2)],
            [("post", NEW_KEY, 1)],
            [("offline|acme|6", 1, True), (NEW_KEY, 1, False)],
            id="outside-window-new-alert",
        ),
        pytest.param(
            [off_alert(1, 2)],
            [rnr(1), rnr(2, "online")],
            [("update", "offline|acme|2", 1)],
            [("offline|acme|2", 1, True)],
            id="one-back-update",
        ),
        pytest.param(
            [off_alert(1)],
            [rnr(1, "online")],
            [("resolve", "offline|acme|2", 0)],
            [("offline|acme|2", 0, True)],
            id="last-back-resolves",
        ),
        pytest.param(
            [off_alert(1)],
            [],
            [("resolve", "offline|acme|2", 0)],
            [("offline|acme|2", 0, True)],
            id="deleted-resolves",
        ),
        pytest.param(
            [off_alert(1, 2)],
            [rnr(1), rnr(2)],
            [],
            [("offline|acme|2", 2, True)],
            id="still-down-no-action",
        ),
        pytest.param(
            [off_alert(1, target="globex")],
            [rnr(2)],
            [("post", NEW_KEY, 1)],
            [("offline|globex|2", 1, True), (NEW_KEY, 1, False)],
            id="other-target-untouched-not-joined",
        ),
        pytest.param(
            [posted(KEY_BUSY, 1)],
            [rnr(4), rnr(5)],
            [],
            [(KEY_BUSY, 1, True)],
            id="stuck-alerts-untouched-nothing-alertable",
        ),
    ],
)
def test_plan_offline(
    alerts: list[Alert],
    runners: list[RunnerInfo],
    actions: list[tuple[str, str, int]],
    stored: list[tuple[str, int, bool]],
) -> None:
    got_actions, got_stored = summary(offline_plan(alerts, runners))
    assert got_actions == actions
    assert sorted(got_stored) == sorted(stored)


@pytest.mark.parametrize(
    ("runners", "left"),
    [
        pytest.param(
            [rnr(1, "online")],
            (Left(1, "r1", NOW - 20 * MIN, NOW, Departure.BACK),),
            id="back-after-20m",
        ),
        pytest.param([], (Left(1, "r1", NOW - 20 * MIN, NOW, Departure.DELETED),), id="deleted"),
    ],
)
def test_departures_are_reported_once(runners: list[RunnerInfo], left: tuple[Left, ...]) -> None:
    plan = offline_plan([off_alert(1)], runners)
    (action,) = plan.actions
    assert action.kind == ActionKind.RESOLVE
    assert action.alert.left == left
    assert action.alert.left[0].away == 20 * MIN
    assert apply_done(plan.alerts, action) == ()


def test_departure_kept_until_the_update_that_says_so_is_sent() -> None:
    runners = [rnr(1), rnr(2, "online")]
    plan = offline_plan([off_alert(1, 2)], runners)
    (action,) = plan.actions
    assert action.alert.left == (Left(2, "r2", NOW - 12 * MIN, NOW, Departure.BACK),)
    assert offline_plan(list(plan.alerts), runners).actions[0].alert.left == action.alert.left
    (after,) = apply_done(plan.alerts, action)
    assert (after.left, after.shown_count) == ((), 1)
    assert offline_plan([after], runners).actions == ()


def test_new_offline_members_are_since_last_seen_oldest_first() -> None:
    plan = offline_plan([], [rnr(3), rnr(1), rnr(2)])
    assert [(m.id, m.since) for m in plan.alerts[0].members] == [
        (1, NOW - 20 * MIN),
        (2, NOW - 12 * MIN),
        (3, NOW - 11 * MIN),
    ]


# Pacing ------------------------------------------------------------------------------


def act(kind: ActionKind, key: str, channel: str = "C1", opened: int = 0) -> AlertAction:
    return AlertAction(kind, Alert(key, AlertKind.STUCK, "acme", channel, NOW - opened * MIN))


SEC = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("actions", "last", "now_keys", "later"),
    [
        pytest.param([], {}, [], [], id="nothing"),
        pytest.param([act(ActionKind.POST, "a")], {}, ["a"], [], id="first-ever-goes"),
        pytest.param(
            [act(ActionKind.POST, "a")], {"C1": NOW - SEC}, ["a"], [], id="exactly-one-second"
        ),
        pytest.param(
            [act(ActionKind.POST, "a")],
            {"C1": NOW - SEC / 2},
            [],
            [("a", NOW + SEC / 2)],
            id="too-soon-waits",
        ),
        pytest.param(
            [
                act(ActionKind.RESOLVE, "r"),
                act(ActionKind.UPDATE, "u"),
                act(ActionKind.POST, "p2", opened=1),
                act(ActionKind.POST, "p1", opened=5),
            ],
            {},
            ["p1", "u", "r"],
            [("p2", NOW + SEC)],
            id="one-post-per-channel-oldest-first-updates-and-resolutions-all-go",
        ),
        pytest.param(
            [
                act(ActionKind.RESOLVE, "r1"),
                act(ActionKind.RESOLVE, "r2", opened=1),
                act(ActionKind.UPDATE, "u1"),
                act(ActionKind.UPDATE, "u2", opened=1),
            ],
            {"C1": NOW - SEC / 2},
            ["u2", "u1", "r2", "r1"],
            [],
            id="updates-never-wait-for-the-post-interval",
        ),
        pytest.param(
            [
                act(ActionKind.POST, "a", "C1"),
                act(ActionKind.POST, "b", "C2"),
                act(ActionKind.POST, "c", "C1"),
            ],
            {"C2": NOW - 10 * SEC},
            ["a", "b"],
            [("c", NOW + SEC)],
            id="channels-independent",
        ),
        pytest.param(
            [act(ActionKind.POST, "p"), act(ActionKind.UPDATE, "a")],
            {"C1": NOW + 5 * SEC},
            ["a"],
            [("p", NOW + 6 * SEC)],
            id="last-post-in-future-clock-skew",
        ),
    ],
)
def test_pace(
    actions: list[AlertAction],
    last: dict[str, datetime],
    now_keys: list[str],
    later: list[tuple[str, datetime]],
) -> None:
    paced = pace(actions, last, now=NOW)
    assert [a.alert.key for a in paced.send_now] == now_keys
    assert [(a.alert.key, at) for a, at in paced.later] == later


def test_pace_stamps_channels_that_sent() -> None:
    paced = pace(
        [act(ActionKind.POST, "a", "C1"), act(ActionKind.POST, "b", "C2")],
        {"C2": NOW - SEC / 2, "C3": NOW - 60 * SEC},
        now=NOW,
    )
    assert paced.last_post_at == {"C1": NOW, "C2": NOW - SEC / 2, "C3": NOW - 60 * SEC}


def test_pace_stamps_only_posts() -> None:
    """An update is no new message: it does not push the channel's next post back."""
    paced = pace([act(ActionKind.UPDATE, "u"), act(ActionKind.RESOLVE, "r")], {}, now=NOW)
    assert [a.alert.key for a in paced.send_now] == ["u", "r"]
    assert paced.last_post_at == {}


def test_pace_custom_interval() -> None:
    actions = [act(ActionKind.POST, "a"), act(ActionKind.POST, "b", opened=1)]
    paced = pace(actions, {}, now=NOW, interval=3 * SEC)
    assert [(a.alert.key, at) for a, at in paced.later] == [("a", NOW + 3 * SEC)]
