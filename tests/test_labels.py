"""labels and label, end to end: signed Slack request -> GitHub double -> response_url.

Read-only labels are refused from the runner's current labels: no write reaches GitHub.
"""

from __future__ import annotations

import pytest

from bot.sandbox.harness import Sandbox, reply_text
from tests.conftest import SCOPES

WRITES = ("POST", "PUT", "DELETE")


def _labels(sandbox: Sandbox, path: str, name: str) -> dict[str, str]:
    """name -> type of the runner's labels, as the double holds them."""
    runner = next(r for r in sandbox.github.runners(path) if r["name"] == name)
    return {label["name"]: label["type"] for label in runner["labels"]}


def _label_writes(sandbox: Sandbox, path: str) -> int:
    pattern = f"{path}/actions/runners/[0-9]+/labels(/.*)?"
    return sum(sandbox.github.count(method, pattern) for method in WRITES)


def _runner_id(sandbox: Sandbox, path: str, name: str) -> int:
    return next(r["id"] for r in sandbox.github.runners(path) if r["name"] == name)


@pytest.mark.parametrize("scope", SCOPES)
async def test_labels_shows_custom_and_read_only_apart(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    rid = _runner_id(sandbox, path, "linux-idle")
    reply = await sandbox.run(f"labels {target} linux-idle")
    text = reply_text(reply)
    assert reply["response_type"] == "ephemeral"
    assert "*Custom labels* (1): `gpu`" in text
    assert "*Read-only labels* (3, given by GitHub): self-hosted Linux X64" in text
    assert sandbox.github.count("GET", f"{path}/actions/runners/{rid}/labels") == 1


@pytest.mark.parametrize("scope", SCOPES)
async def test_add_remove_set_at_every_scope(sandbox: Sandbox, scope: str) -> None:
    target, path = SCOPES[scope]
    rid = _runner_id(sandbox, path, "linux-idle")
    labels_path = f"{path}/actions/runners/{rid}/labels"

    text = reply_text(await sandbox.run(f"label {target} linux-idle add cuda big"))
    assert "added `cuda` `big`" in text and "*Custom labels* (3): `gpu` `cuda` `big`" in text
    assert _labels(sandbox, path, "linux-idle") == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "X64": "read-only",
        "gpu": "custom",
        "cuda": "custom",
        "big": "custom",
    }
    assert sandbox.github.count("POST", labels_path) == 1

    text = reply_text(await sandbox.run(f"label {target} id:{rid} remove gpu big"))
    assert "removed `gpu` `big`" in text and "*Custom labels* (1): `cuda`" in text
    assert sandbox.github.count("DELETE", f"{labels_path}/(gpu|big)") == 2
    assert set(_labels(sandbox, path, "linux-idle")) == {"self-hosted", "Linux", "X64", "cuda"}

    text = reply_text(await sandbox.run(f"label {target} linux-idle set a b"))
    assert "added `a` `b`; removed `cuda`" in text and "read-only labels always stay" in text
    assert set(_labels(sandbox, path, "linux-idle")) == {"self-hosted", "Linux", "X64", "a", "b"}
    assert sandbox.github.count("PUT", labels_path) == 1

    text = reply_text(await sandbox.run(f"label {target} linux-idle set"))
    assert "*Custom labels* (0): _none_" in text
    assert set(_labels(sandbox, path, "linux-idle")) == {"self-hosted", "Linux", "X64"}

    entries = await sandbox.services.store.audit.recent(target=target)
    assert [(e.action, e.outcome) for e in entries] == [("label", "changed")] * 4
    assert "custom labels before: gpu, cuda, big; after: cuda" in entries[2].detail
    assert "custom labels before: cuda; after: a, b" in entries[1].detail


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("op", ["remove self-hosted", "remove gpu Linux", "remove X64"])
async def test_read_only_labels_cannot_be_removed(sandbox: Sandbox, scope: str, op: str) -> None:
    target, path = SCOPES[scope]
    before = _labels(sandbox, path, "linux-idle")
    text = reply_text(await sandbox.run(f"label {target} linux-idle {op}"))
    assert "read-only label" in text and "cannot be removed. Nothing was changed." in text
    assert _labels(sandbox, path, "linux-idle") == before  # gpu is kept too
    assert _label_writes(sandbox, path) == 0
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("label", "refused")


async def test_set_and_add_keep_read_only_labels_out_of_the_request(sandbox: Sandbox) -> None:
    """Naming a read-only label in set/add is no request to make it custom: it stays read-only."""
    text = reply_text(await sandbox.run("label acme linux-idle set self-hosted linux gpu2"))
    assert _labels(sandbox, "/orgs/acme", "linux-idle") == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "X64": "read-only",
        "gpu2": "custom",
    }
    assert "*Custom labels* (1): `gpu2`" in text
    before = _labels(sandbox, "/orgs/acme", "linux-idle")
    text = reply_text(await sandbox.run("label acme linux-idle add X64"))
    assert "unchanged" in text
    assert sandbox.github.count("POST", "/orgs/acme/actions/runners/.*") == 0
    assert _labels(sandbox, "/orgs/acme", "linux-idle") == before


async def test_removing_a_label_the_runner_lacks_changes_nothing(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("label acme linux-idle remove gpu nope"))
    assert "has no custom label `nope`" in text and "Its custom labels: `gpu`" in text
    assert _labels(sandbox, "/orgs/acme", "linux-idle")["gpu"] == "custom"  # not half-done
    assert _label_writes(sandbox, "/orgs/acme") == 0


async def test_label_change_refused_by_policy_reaches_no_github_endpoint(sandbox: Sandbox) -> None:
    before = len(sandbox.github.requests)
    text = reply_text(await sandbox.run("label acme linux-idle add x", user_id="U0BOB"))
    assert "You may not `label` on *acme* (a *admin* action)" in text
    assert len(sandbox.github.requests) == before
    (entry,) = await sandbox.services.store.audit.recent()
    assert (entry.action, entry.outcome) == ("label", "refused")
    # bob may read
    assert "`gpu`" in reply_text(await sandbox.run("labels acme linux-idle", user_id="U0BOB"))


async def test_unknown_runner(sandbox: Sandbox) -> None:
    text = reply_text(await sandbox.run("label acme ghost add x"))
    assert "No runner `ghost` in *acme*" in text
    assert _label_writes(sandbox, "/orgs/acme") == 0


async def test_github_validation_error_in_words(sandbox: Sandbox) -> None:
    sandbox.github.add_fault(
        "POST",
        "/orgs/acme/actions/runners/.*/labels",
        status=422,
        body={"message": "Validation Failed", "errors": ["label name too long"]},
    )
    text = reply_text(await sandbox.run("label acme linux-idle add x"))
    assert "GitHub refused the request: Validation Failed" in text and "Nothing was changed" in text
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "failed" and "custom labels" not in entry.detail


async def test_write_without_answer_is_read_back(sandbox: Sandbox) -> None:
    rid = _runner_id(sandbox, "/orgs/acme", "linux-idle")
    path = f"/orgs/acme/actions/runners/{rid}/labels"
    sandbox.github.add_fault("POST", path, status=502, act_first=True)
    text = reply_text(await sandbox.run("label acme linux-idle add cuda"))
    assert "added `cuda`" in text and "read back" in text
    assert sandbox.github.count("GET", path) == 1  # the check
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "changed" and "after: gpu, cuda" in entry.detail


async def test_write_that_did_nothing_says_unchanged(make_sandbox) -> None:
    async with make_sandbox(github_timeout=0.3) as sb:
        rid = _runner_id(sb, "/orgs/acme", "linux-idle")
        path = f"/orgs/acme/actions/runners/{rid}/labels"
        sb.github.add_fault("PUT", path, status=504, delay=1.0)
        text = reply_text(await sb.run("label acme linux-idle set x"))
        assert "was not made as asked. Nothing changed." in text and "`gpu`" in text
        assert _labels(sb, "/orgs/acme", "linux-idle")["gpu"] == "custom"
        (entry,) = await sb.services.store.audit.recent()
        assert entry.outcome == "not-changed" and "after: gpu" in entry.detail


async def test_remove_that_fails_half_way_says_what_was_done(sandbox: Sandbox) -> None:
    rid = _runner_id(sandbox, "/orgs/acme", "linux-idle")
    path = f"/orgs/acme/actions/runners/{rid}/labels"
    await sandbox.run("label acme linux-idle add cuda")
    sandbox.github.add_fault("DELETE", f"{path}/cuda", status=422, body={"message": "no"})
    text = reply_text(await sandbox.run("label acme linux-idle remove gpu cuda"))
    assert "not made as asked. Only this was done: removed `gpu`." in text
    assert set(_labels(sandbox, "/orgs/acme", "linux-idle")) == {
        "self-hosted",
        "Linux",
        "X64",
        "cuda",
    }
    entry = (await sandbox.services.store.audit.recent())[0]
    assert entry.outcome == "partial" and "before: gpu, cuda; after: cuda" in entry.detail


async def test_write_whose_outcome_cannot_be_checked_is_unknown(sandbox: Sandbox) -> None:
    rid = _runner_id(sandbox, "/orgs/acme", "linux-idle")
    path = f"/orgs/acme/actions/runners/{rid}/labels"
    sandbox.github.add_fault("POST", path, status=500, act_first=True)
    sandbox.github.add_fault("GET", path, status=503, times=None)
    text = reply_text(await sandbox.run("label acme linux-idle add cuda"))
    assert "did not confirm the label change" in text and "`labels acme linux-idle`" in text
    (entry,) = await sandbox.services.store.audit.recent()
    assert entry.outcome == "unknown"


async def test_a_hundred_labels_fit_slack(make_sandbox) -> None:
    names = [f"label-{i:03}-" + "x" * 80 for i in range(97)]  # 97 custom + 3 read-only

    def seed(gh) -> None:
        gh.add_org("acme")
        gh.add_installation("acme")
        gh.add_runner("/orgs/acme", "full", labels=names)

    async with make_sandbox(seed=seed) as sb:
        replies = [await sb.run(t) for t in ("labels acme full", "label acme full add extra")]
        for reply in replies:
            assert len(reply["blocks"]) <= 50
            assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in reply["blocks"])
            assert sum(len(b.get("text", {}).get("text", "")) for b in reply["blocks"]) < 11_000
            assert "self-hosted Linux X64" in reply_text(reply)
        shown = reply_text(replies[0])
        assert "*Custom labels* (97)" in shown and " more" in shown and names[0] in shown
        assert "*Custom labels* (98)" in reply_text(replies[1])


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_labels_are_refused_by_the_rule_and_reach_no_url(
    sandbox: Sandbox, name: str
) -> None:
    """`remove ..` used to send ``DELETE …/runners/{id}/labels/..``, which HTTP clients and
    servers read as ``DELETE …/runners/{id}/``."""
    path = "/repos/acme/api"
    rid = _runner_id(sandbox, path, "linux-idle")
    for verb in ("remove", "add", "set"):
        text = reply_text(await sandbox.run(f"label acme/api linux-idle {verb} {name}"))
        assert "a label is not `.` or `..`" in text and "Usage:" in text
    text = reply_text(await sandbox.run(f"jit acme/api new-1 --label {name}"))
    assert "a label is not `.` or `..`" in text
    assert _label_writes(sandbox, path) == 0
    assert sandbox.github.count("DELETE", f"{path}/actions/runners/{rid}/?") == 0
    assert any(r["id"] == rid for r in sandbox.github.runners(path))


async def test_a_dot_segment_is_encoded_even_below_the_grammar(sandbox: Sandbox) -> None:
    """Whatever reaches the client, each value is one path segment: ``..`` goes as
    ``%2E%2E`` (a label GitHub does not have: 404), never as a step up to the runner."""
    from bot import errors
    from bot.github.runners import LABELS
    from bot.targets import parse_target

    path = "/repos/acme/api"
    rid = _runner_id(sandbox, path, "linux-idle")
    target = parse_target("acme/api")
    assert sandbox.services is not None
    for name in ("..", "."):
        with pytest.raises(errors.NotFound):
            await sandbox.services.github.call(
                target, "DELETE", LABELS + "/{name}", {"runner_id": rid, "name": name}
            )
    sent = [r.path for r in sandbox.github.requests if r.method == "DELETE"]
    base = f"{path}/actions/runners/{rid}/labels/"
    assert sent == [base + "%2E%2E", base + "%2E"]
    assert any(r["id"] == rid for r in sandbox.github.runners(path))


async def test_odd_label_names_reach_github_encoded_as_one_segment(sandbox: Sandbox) -> None:
    path = "/repos/acme/api"
    rid = _runner_id(sandbox, path, "linux-idle")
    odd = "a/b?c#d%2E..&x"
    added = reply_text(await sandbox.run(f"label acme/api linux-idle add {odd} ..."))
    assert "added" in added and _labels(sandbox, path, "linux-idle").get(odd) == "custom"
    text = reply_text(await sandbox.run(f"label acme/api linux-idle remove {odd} ..."))
    assert "removed" in text, text
    base = f"{path}/actions/runners/{rid}/labels/"
    sent = [r.path for r in sandbox.github.requests if r.method == "DELETE"]
    assert sent == [base + "a%2Fb%3Fc%23d%252E..%26x", base + "%2E%2E%2E"]
    assert odd not in _labels(sandbox, path, "linux-idle")
