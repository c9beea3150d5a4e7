"""The "Add LABELS to RUNNER" fix button of a "no runner has the labels" alert (issue 20
§1), end to end: signed workflow_job deliveries raise the alert, signed Slack clicks press
the button, the GitHub double holds the runner's labels and records the requests, the
Slack double shows the alert updated in place.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.dispatch import ClickRefused
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, find_button, reply_text
from bot.slack.views.alerts import ACK_ACTION, SNOOZE_ACTION
from bot.slack.views.fix_labels import FIX_LABELS_ACTIONS
from bot.watch.diagnosis import NearMiss
from bot.watch.label_fixes import label_fixes
from handlers.fix_labels import LabelFixFacts
from tests.conftest import Clock
from tests.test_alert_marks import buttons, click, current
from tests.test_watch_sweep import CHANNEL, MINUTE, alerts, deliver, queued, seed, sweep

FIRST = FIX_LABELS_ACTIONS[0]
ORG = "/orgs/acme"


@pytest.fixture
async def sb(keys: Keys, clock: Clock) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock) as s:
        yield s


async def alert_for(sb: Sandbox, clock: Clock, labels: list[str]) -> dict[str, Any]:
    """Watch acme, queue a job asking for ``labels``, let 6 minutes pass: the alert."""
    reply = await sb.run("watch acme", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)
    await queued(sb, labels)
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    return message


def labels_of(sb: Sandbox, name: str, path: str = ORG) -> dict[str, str]:
    """name -> type of a runner's labels, as the double holds them."""
    runner = next(r for r in sb.github.runners(path) if r["name"] == name)
    return {label["name"]: label["type"] for label in runner["labels"]}


def runner_id(sb: Sandbox, name: str, path: str = ORG) -> int:
    return int(next(r["id"] for r in sb.github.runners(path) if r["name"] == name))


def label_posts(sb: Sandbox) -> int:
    return sb.github.count("POST", "/(orgs|repos)/.*/actions/runners/[0-9]+/labels")


def texts_of(message: dict[str, Any], action_id: str) -> tuple[str, str]:
    """A fix button's text and its confirmation's text."""
    button = find_button(message, action_id)
    return button["text"]["text"], button["confirm"]["text"]["text"]


async def label_entries(sb: Sandbox, target: str = "acme") -> list[Any]:
    entries = await sb.services.store.audit.recent(target=target, limit=50, refused=False)
    return [e for e in entries if e.action == "label"]


# -- the button ----------------------------------------------------------------------------


async def test_the_fix_adds_the_labels_and_says_so_on_the_alert(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    async with Sandbox.running(
        keys=keys, seed=seed, policy=PLATFORM_POLICY, clock=clock, database_url=database_url
    ) as sb:
        sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
        message = await alert_for(sb, clock, ["self-hosted", "gpu"])
        assert buttons(message) == [FIRST, ACK_ACTION, SNOOZE_ACTION]
        text, confirm = texts_of(message, FIRST)
        assert text == "Add gpu to gpu-box-3"
        assert "*gpu-box-3* of *acme* will also take jobs that ask for `gpu`" in confirm
        assert "from every repository that may use it" in confirm
        posts = label_posts(sb)

        said = await click(sb, message, FIRST, "U0ALICE")
        assert "You added `gpu` to *gpu-box-3* in *acme*" in said, said
        # GitHub got one POST on the runner, whose body added gpu and nothing else.
        rid = runner_id(sb, "gpu-box-3")
        assert sb.github.count("POST", f"{ORG}/actions/runners/{rid}/labels") == 1
        assert label_posts(sb) == posts + 1
        assert labels_of(sb, "gpu-box-3") == {
            "self-hosted": "read-only",
            "Linux": "read-only",
            "X64": "read-only",
            "docker": "custom",
            "gpu": "custom",
        }
        # The alert says it in place; the rest of it stays.
        shown = current(sb, message)
        assert "Fixed by <@U0ALICE> at" in str(shown["blocks"])
        assert "added gpu to gpu-box-3" in str(shown["blocks"])
        assert "1 job waiting for" in reply_text(shown)
        [entry] = await label_entries(sb)
        assert (entry.user_id, entry.outcome) == ("U0ALICE", "changed")
        assert "add gpu on gpu-box-3" in entry.detail and "after: docker, gpu" in entry.detail


async def test_a_repository_watch_labels_the_repository_runner_where_it_is(
    sb: Sandbox, clock: Clock
) -> None:
    """A repository's own runner is changed on the repository, an organization's runner
    on the organization (whose admin grant the click needs)."""
    repo = "/repos/acme/api"
    sb.github.add_runner(repo, "api-box", labels=["docker"])
    sb.github.add_runner(ORG, "org-box", labels=["docker"])
    reply = await sb.run("watch acme/api", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply), reply_text(reply)
    await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    assert [texts_of(message, a)[0] for a in FIX_LABELS_ACTIONS[:2]] == [
        "Add gpu to api-box",
        "Add gpu to org-box",
    ]
    assert "*api-box* of *acme/api*" in texts_of(message, FIRST)[1]
    said = await click(sb, message, FIRST, "U0ALICE")
    assert "You added `gpu` to *api-box* in *acme/api*" in said, said
    rid = runner_id(sb, "api-box", repo)
    assert sb.github.count("POST", f"{repo}/actions/runners/{rid}/labels") == 1
    assert labels_of(sb, "api-box", repo)["gpu"] == "custom"
    assert "gpu" not in labels_of(sb, "org-box")


async def test_at_most_three_choices_with_one_action_id_each(sb: Sandbox, clock: Clock) -> None:
    for n in range(1, 6):
        sb.github.add_runner(ORG, f"build-{n}", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    assert buttons(message) == [*FIX_LABELS_ACTIONS, ACK_ACTION, SNOOZE_ACTION]
    assert [texts_of(message, a)[0] for a in FIX_LABELS_ACTIONS] == [
        "Add gpu to build-1",
        "Add gpu to build-2",
        "Add gpu to build-3",
    ]
    # The third choice adds to its own runner.
    assert "You added `gpu` to *build-3*" in await click(
        sb, message, FIX_LABELS_ACTIONS[2], "U0ALICE"
    )
    assert "gpu" in labels_of(sb, "build-3") and "gpu" not in labels_of(sb, "build-1")


async def test_never_offered_for_a_read_only_label(sb: Sandbox, clock: Clock) -> None:
    """The closest runner lacks `linux` (its OS is Windows: GitHub's read-only label) and
    gpu: only runners that lack custom labels alone are offered."""
    sb.github.add_runner(ORG, "a-win", os="Windows", labels=["gpu"])
    sb.github.add_runner(ORG, "b-linux", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "linux", "gpu"])
    assert buttons(message) == [FIRST, ACK_ACTION, SNOOZE_ACTION]
    assert texts_of(message, FIRST)[0] == "Add gpu to b-linux"


async def test_no_button_when_only_read_only_labels_are_missing(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "mac-1", os="macOS", arch="ARM64", labels=["gpu"])
    message = await alert_for(sb, clock, ["self-hosted", "linux", "x64", "gpu"])
    assert "No runner has every label" in reply_text(message)
    assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]


async def test_no_button_for_another_reason(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "gpu-1", labels=["gpu"], busy=True)
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    assert "busy" in reply_text(message)
    # Busy runners: a JIT runner may be the fix (tests/test_fix_jit_prune.py), labels not.
    assert [b for b in buttons(message) if b.startswith("alert_fix_")] == ["alert_fix_jit"]
    assert buttons(message)[-2:] == [ACK_ACTION, SNOOZE_ACTION]


def test_where_a_runner_can_be_labelled() -> None:
    """The change is made on the runner's own scope, when the watch names it."""

    def near(name: str, missing: tuple[str, ...], **kw: bool) -> NearMiss:
        return NearMiss(len(name), name, missing, True, **kw)

    closest = [
        near("org-1", ("gpu",)),
        near("repo-1", ("gpu",), repository_level=True),
        near("shared-1", ("gpu",), shared=True),
        near("win-1", ("gpu", "linux")),
        near("arm-1", ("ARM64",)),
    ]
    assert [(f.runner_name, f.scope) for f in label_fixes("acme", closest)] == [("org-1", "acme")]
    assert [(f.runner_name, f.scope) for f in label_fixes("acme/api", closest)] == [
        ("org-1", "acme"),
        ("repo-1", "acme/api"),
    ]
    assert label_fixes("enterprise:octo", closest) == ()


BAD_LABELS = ["a,b", "..", "g" * 300]  # a workflow may ask for any text; GitHub takes none


@pytest.mark.parametrize("bad", BAD_LABELS)
async def test_no_button_for_a_label_the_label_command_would_refuse(
    sb: Sandbox, clock: Clock, bad: str
) -> None:
    """``label`` and ``jit`` check labels with ``check_label``: no button offers one it
    refuses (adding the other labels alone would not let the jobs start)."""
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu", bad])
    assert buttons(message) == [ACK_ACTION, SNOOZE_ACTION]
    assert label_posts(sb) == 0


def test_label_fixes_and_the_click_refuse_what_check_label_refuses() -> None:
    for bad in BAD_LABELS:
        assert label_fixes("acme", [NearMiss(7, "gpu-box-3", ("gpu", bad), True)]) == ()
        value = {
            "target": "acme",
            "channel": CHANNEL,
            "key": "a2V5",
            "fix": {"scope": "acme", "runner_id": 7, "runner": "gpu-box-3", "labels": [bad]},
        }
        with pytest.raises(ClickRefused):
            LabelFixFacts.read(json.dumps(value))
    [fix] = label_fixes("acme", [NearMiss(7, "gpu-box-3", ("gpu",), True)])
    assert fix.labels == ("gpu",)


async def test_the_confirmation_is_cut_without_splitting_an_escape(
    sb: Sandbox, clock: Clock
) -> None:
    """A runner named with 60 ampersands escapes to 300 characters: the dialog's text is
    cut to Slack's 300 at a whole ``&amp;``, and Slack takes the message."""
    sb.github.add_runner(ORG, "&" * 60, labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    button = find_button(message, FIRST)
    said = button["confirm"]["text"]["text"]
    assert len(said) <= 300 and said.endswith("…")
    assert re.search(r"&(?!amp;|lt;|gt;)", said) is None, said
    assert len(button["confirm"]["title"]["text"]) <= 100
    assert len(button["confirm"]["confirm"]["text"]) <= 30


# -- the click -----------------------------------------------------------------------------


async def test_a_click_without_the_grant_is_refused_privately(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    requests, updates = len(sb.github.requests), len(sb.slack.updated)
    said = await click(sb, message, FIRST, "U0BOB")  # bob may read, not admin
    assert "You may not `label` on *acme* (a *admin* action)" in said and "Nothing was done" in said
    assert len(sb.github.requests) == requests  # not even the re-check
    assert len(sb.slack.updated) == updates
    assert "gpu" not in labels_of(sb, "gpu-box-3")
    refusals = await sb.services.store.audit.recent(refused=True, limit=10)
    assert [(r.user_id, r.action, r.target) for r in refusals] == [("U0BOB", "label", "acme")]
    [(_, marks)] = await sb.services.store.alerts.open_marked()
    assert marks.fix_note is None


async def test_a_runner_that_has_the_labels_since_is_left_alone(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    assert "added `GPU`" in reply_text(await sb.run("label acme gpu-box-3 add GPU"))
    posts = label_posts(sb)
    said = await click(sb, message, FIRST, "U0ALICE")
    assert "*gpu-box-3* already has `gpu`" in said and "nothing was changed" in said
    assert label_posts(sb) == posts
    assert [e.outcome for e in await label_entries(sb)] == ["changed"]  # the verb's only
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_a_runner_gone_since_is_said(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    sb.github.remove_runner(ORG, "gpu-box-3")
    said = await click(sb, message, FIRST, "U0ALICE")
    assert "*gpu-box-3* is no longer a runner of *acme*" in said and "nothing was changed" in said
    assert label_posts(sb) == 0
    assert await label_entries(sb) == []
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_an_alert_over_since_is_said(sb: Sandbox, clock: Clock) -> None:
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    reply = await sb.run("watch acme", channel_id=CHANNEL)
    assert "Watching" in reply_text(reply)
    job = await queued(sb, ["self-hosted", "gpu"])
    clock.advance(6 * MINUTE)
    assert (await sweep(sb)).posted == 1
    [message] = alerts(sb)
    sb.github.set_job(job, status="completed", conclusion="cancelled")
    await deliver(sb, job)
    clock.advance(MINUTE)
    assert (await sweep(sb)).resolved == 1
    requests = len(sb.github.requests)
    said = await click(sb, message, FIRST, "U0ALICE")
    assert "This alert is over" in said
    assert len(sb.github.requests) == requests and "gpu" not in labels_of(sb, "gpu-box-3")


async def test_a_crafted_value_is_refused(sb: Sandbox, clock: Clock) -> None:
    """Labels the alert's jobs do not ask for, or a read-only one, are not added."""
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    button = find_button(message, FIRST)
    for labels in (["admin-only"], ["Linux"], ["gpu,admin"], [".."], ["g" * 300]):
        value = json.loads(button["value"])
        value["fix"]["labels"] = labels
        button["value"] = json.dumps(value)
        said = reply_text(await sb.click(message, FIRST, user_id="U0ALICE", channel_id=CHANNEL))
        assert "That button is not valid; nothing was changed" in said
    assert label_posts(sb) == 0 and labels_of(sb, "gpu-box-3")["docker"] == "custom"


@pytest.mark.parametrize(
    ("status", "body", "words", "outcome"),
    [
        (
            422,
            {"message": "Validation Failed", "errors": ["label name too long"]},
            "GitHub refused the request: Validation Failed",
            "failed",
        ),
        (404, {"message": "Not Found"}, "*gpu-box-3* is no longer a runner of *acme*", "not-done"),
        (
            403,
            {"message": "Resource not accessible by integration"},
            "GitHub refused: runnerops lacks",
            "failed",
        ),
    ],
)
async def test_github_errors_are_answered_in_words(
    sb: Sandbox, clock: Clock, status: int, body: dict[str, Any], words: str, outcome: str
) -> None:
    sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
    message = await alert_for(sb, clock, ["self-hosted", "gpu"])
    sb.github.add_fault(
        "POST", f"{ORG}/actions/runners/.*/labels", status=status, body=body, times=None
    )
    said = await click(sb, message, FIRST, "U0ALICE")
    assert words in said, said
    assert "Traceback" not in said
    assert "gpu" not in labels_of(sb, "gpu-box-3")
    [entry] = await label_entries(sb)  # written before the POST, settled after it
    assert entry.outcome == outcome
    assert "Fixed by" not in str(current(sb, message)["blocks"])


async def test_a_double_click_on_two_processes_is_harmless(
    keys: Keys, clock: Clock, database_url: str
) -> None:
    """Alice and Carol (both admins) click at the very same moment on two processes (one
    database, one GitHub): both re-checks read the runner before either adds, so both add.
    ``POST …/labels`` adds, so the runner ends with gpu once; a click after that finds it
    there and changes nothing."""
    policy = PLATFORM_POLICY.replace('users = ["U0ALICE"]', 'users = ["U0ALICE", "U0CAROL"]')
    async with Sandbox.running(
        keys=keys, seed=seed, policy=policy, clock=clock, database_url=database_url
    ) as sb:
        sb.github.add_runner(ORG, "gpu-box-3", labels=["docker"])
        message = await alert_for(sb, clock, ["self-hosted", "gpu"])
        rid = runner_id(sb, "gpu-box-3")
        both_read = asyncio.Event()
        arrived: list[int] = []

        def arrive() -> None:
            arrived.append(1)
            if len(arrived) == 2:
                both_read.set()

        # Each re-check is answered only once both have arrived.
        sb.github.add_fault(
            "GET", f"{ORG}/actions/runners/{rid}", times=2, side_effect=arrive, hold=both_read
        )
        async with Sandbox.running(
            keys=keys,
            seed=seed,
            policy=policy,
            clock=clock,
            database_url=database_url,
            github_api_url=sb.settings.github_api_url,  # one GitHub behind both processes
        ) as other:
            said = await asyncio.gather(
                click(sb, message, FIRST, "U0ALICE"),
                click(other, message, FIRST, "U0CAROL"),
            )
            assert all("You added `gpu` to *gpu-box-3*" in s for s in said), said
            assert sb.github.count("POST", f"{ORG}/actions/runners/{rid}/labels") == 2
            assert labels_of(sb, "gpu-box-3") == {
                "self-hosted": "read-only",
                "Linux": "read-only",
                "X64": "read-only",
                "docker": "custom",
                "gpu": "custom",
            }
            [(_, marks)] = await sb.services.store.alerts.open_marked()
            assert marks.fix_note == "added gpu to gpu-box-3"
            assert marks.fixed_by in ("U0ALICE", "U0CAROL")
            assert sorted(e.user_id for e in await label_entries(sb)) == ["U0ALICE", "U0CAROL"]
            # A later click, on either process, finds gpu there: nothing more is asked.
            again = await click(other, message, FIRST, "U0CAROL")
            assert "*gpu-box-3* already has `gpu`" in again
            assert sb.github.count("POST", f"{ORG}/actions/runners/{rid}/labels") == 2
