"""jit end to end: the exact ./run.sh line, always ephemeral, the config never leaked."""

from __future__ import annotations

import json
import logging
from base64 import b64decode

import pytest

from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import SCOPES, seed_basic

JIT = "/actions/runners/generate-jitconfig"


def _runner(sandbox: Sandbox, path: str, name: str) -> dict:
    return next(r for r in sandbox.github.runners(path) if r["name"] == name)


@pytest.mark.parametrize("scope", SCOPES)
async def test_jit_at_every_scope(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    reply = await sandbox.run(f"jit {target} ephemeral-1 --public")
    assert reply["response_type"] == "ephemeral"  # whatever flags are given
    (config,) = sandbox.github.issued_jit_configs
    text = reply_text(reply)
    assert f"./run.sh --jitconfig {config}" in text
    assert "one job" in text and "removed" in text
    assert config not in reply["text"]  # not in the notification's fallback text
    runner = _runner(sandbox, path, "ephemeral-1")
    assert runner["ephemeral"] is True
    # No label given: self-hosted, as GitHub adds none to a JIT runner by itself.
    assert [label["name"] for label in runner["labels"]] == ["self-hosted"]
    assert sandbox.github.count("POST", path + JIT) == 1
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("jit", "issued")
    assert "ephemeral-1" in entry.detail and "labels self-hosted" in entry.detail
    assert "group Default" in entry.detail and config not in entry.detail


async def test_jit_labels_group_and_work_folder(make_sandbox) -> None:
    def seed(gh) -> None:
        seed_basic(gh)
        gh.add_runner_group("/orgs/acme", "GPU")

    async with make_sandbox(seed=seed) as sb:
        group = next(g for g in sb.github.runner_groups("/orgs/acme") if g["name"] == "GPU")
        text = reply_text(
            await sb.run(
                "jit acme gpu-1 --label gpu --label self-hosted --group gpu --work-folder w"
            )
        )
        assert "group *GPU*" in text and "work folder `w`" in text
        runner = _runner(sb, "/orgs/acme", "gpu-1")
        assert runner["runner_group_id"] == group["id"]
        assert {label["name"] for label in runner["labels"]} == {"gpu", "self-hosted"}
        decoded = json.loads(b64decode(sb.github.issued_jit_configs[0]))
        dot_runner = json.loads(b64decode(decoded[".runner"]))
        assert dot_runner["WorkFolder"] == "w" and dot_runner["PoolName"] == "GPU"
        text = reply_text(await sb.run(f"jit acme gpu-2 --label gpu --group {group['id']}"))
        assert "group *GPU*" in text and "no `self-hosted` label" in text


async def test_name_taken_is_github_s_409_in_words(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("jit acme linux-idle"))
    assert "GitHub refused: Already exists - A runner with the name linux-idle" in text
    assert "Nothing was changed" in text
    assert sandbox.github.issued_jit_configs == []
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("jit", "failed") and "Conflict" in entry.detail


async def test_too_many_labels_is_github_s_422_in_words(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme" + JIT,
        status=422,
        body={
            "message": "Invalid request.\n\nNo more than 100 items are allowed; 101 were supplied."
        },
    )
    text = reply_text(await sandbox.run("jit acme new --label a"))
    assert "GitHub refused the request: Invalid request" in text
    assert "No more than 100 items are allowed" in text and "Nothing was changed" in text


async def test_unknown_group_names_the_groups(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("jit acme new --group nope"))
    assert "No runner group `nope` in *acme*. Its groups: `Default`." in text
    assert sandbox.github.count("POST", ".*" + JIT) == 0
    text = reply_text(await sandbox.run("jit acme/api new --group big"))
    assert "No runner group `big` in *acme/api*" in text
    assert sandbox.github.count("POST", ".*" + JIT) == 0


async def test_refused_by_policy_reaches_no_github_endpoint(sandbox: Sandbox) -> None:
    before = len(sandbox.github.requests)
    text = reply_text(await sandbox.run("jit acme new", user_id="U0BOB", user_name="bob"))
    assert "You may not `jit` on *acme* (a *token* action)" in text
    assert len(sandbox.github.requests) == before


async def test_jit_github_made_then_failed_is_confirmed_by_a_check(sandbox: Sandbox) -> None:
    """GitHub registers the runner, then answers 502: a list filtered by name finds it;
    the reply says it exists and its configuration is lost (delete it, ask again)."""
    sandbox.github.add_fault("POST", "/orgs/acme" + JIT, status=502, act_first=True)
    reply = await sandbox.run("jit acme maybe-1")
    text = reply_text(reply)
    runner = _runner(sandbox, "/orgs/acme", "maybe-1")
    assert f"registered the just-in-time runner `maybe-1` (id {runner['id']})" in text
    assert "configuration" in text and f"delete acme id:{runner['id']}" in text
    (config,) = sandbox.github.issued_jit_configs  # GitHub did make one
    assert config not in json.dumps(reply)
    assert sandbox.github.count("GET", "/orgs/acme/actions/runners") == 1
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "issued" and f"runner id {runner['id']}" in entry.detail
    assert "confirmed by a check" in entry.detail and config not in entry.detail


async def test_jit_that_timed_out_after_github_acted_is_confirmed(make_sandbox) -> None:
    async with make_sandbox(github_timeout=0.3) as sb:
        sb.github.add_fault("POST", "/orgs/acme" + JIT, delay=1.0, act_first=True)
        text = reply_text(await sb.run("jit acme slow-1"))
        rid = _runner(sb, "/orgs/acme", "slow-1")["id"]
        assert f"registered the just-in-time runner `slow-1` (id {rid})" in text
        (entry,) = await sb.services.store.audit.recent()
        assert entry.outcome == "issued" and "timed out" in entry.detail


async def test_jit_that_failed_before_github_acted_changed_nothing(sandbox: Sandbox) -> None:
    sandbox.github.add_fault("POST", "/orgs/acme" + JIT, status=502)
    text = reply_text(await sandbox.run("jit acme never-1"))
    assert "nothing was changed" in text and "registered" not in text
    assert not any(r["name"] == "never-1" for r in sandbox.github.runners("/orgs/acme"))
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "failed" and "GitHubUnavailable" in entry.detail


async def test_jit_whose_outcome_cannot_be_checked_is_unknown(sandbox: Sandbox) -> None:
    sandbox.github.add_fault("POST", "/orgs/acme" + JIT, status=502, act_first=True)
    sandbox.github.add_fault("GET", "/orgs/acme/actions/runners", status=503, times=None)
    reply = await sandbox.run("jit acme maybe-2")
    text = reply_text(reply)
    assert "did not confirm the just-in-time runner `maybe-2`" in text
    (config,) = sandbox.github.issued_jit_configs
    assert config not in json.dumps(reply)
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "unknown"


async def test_a_long_config_still_fits_one_block(sandbox: Sandbox) -> None:
    """A config longer than a section's 3,000 characters goes in a markdown block, whole."""
    encoded = "A" * 5000 + "=="
    runner = _runner(sandbox, "/orgs/acme", "linux-idle")
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme" + JIT,
        status=201,
        body={"runner": runner, "encoded_jit_config": encoded},
    )
    reply = await sandbox.run("jit acme long-1")
    (block,) = [b for b in reply["blocks"] if encoded in json.dumps(b)]
    assert block["type"] == "markdown" and f"./run.sh --jitconfig {encoded}" in block["text"]


async def test_jit_config_never_logged_audited_or_in_channel(
    make_sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_sandbox(audit_slack_channel="C0AUDIT") as sb:
        replies = [
            await sb.run("jit acme j1 --public"),
            await sb.run("jit acme/api j2 --label gpu"),
            await sb.run("jit enterprise:octo-ent j3 --public"),
        ]
        sb.github.add_fault("POST", "/orgs/acme" + JIT, status=500, act_first=True)
        replies.append(await sb.run("jit acme j4"))
        configs = sb.github.issued_jit_configs
        assert len(configs) == 4
        # Registered with the redactor as it arrived: even a careless log line hides it.
        logging.getLogger("careless").info("config %s", configs[0])
        assert caplog.records[-1].getMessage() == "config [redacted]"
        records = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
        assert records  # something was logged at DEBUG
        audit = [json.dumps(p) for p in sb.slack.posted]
        assert len(audit) == 4
        entries = await sb.services.store.audit.recent()
        for config in configs:
            assert config not in records
            for chunk in (config[:40], config[-40:]):  # not even a piece of it
                assert chunk not in records
            assert not any(config in p for p in audit)
            assert not any(config in e.detail for e in entries)
        assert all(r["response_type"] == "ephemeral" for r in replies)
