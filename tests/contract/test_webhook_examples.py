"""GitHub's captured webhook deliveries, as runnerops receives them on /github/webhooks.

Every example ``@octokit/webhooks-examples`` publishes for the events runnerops
subscribes to (``workflow_job``, ``installation``, ``installation_repositories``; every
action of :data:`~tests.contract.webhooks.EVENTS`) is signed with the webhook secret and
posted: it must be accepted (200) and dispatched without any error logged. The same body
under a wrong signature must be refused with 401.

For the installation events the effect is observable: an uninstall, a suspension or a
repository removed drops runnerops' cached installation for that account, so the next
command asks GitHub (the sandbox's double) for the installation again; the other actions
leave the cache alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox, reply_text

from .bench import is_error_reply
from .conftest import unavailable
from .prism import packages_available
from .webhooks import EVENTS, examples

# (event, action) whose delivery must drop the account's cached installation.
DROPS_INSTALLATION = {
    ("installation", "deleted"),
    ("installation", "suspend"),
    ("installation_repositories", "removed"),
}
INSTALLATION_EVENTS = ("installation", "installation_repositories")
RUNNER = "contract-runner"


def _params(events: tuple[str, ...]) -> list[Any]:
    if packages_available() is not None:  # the autouse fixture skips (or fails) with why
        return [pytest.param("", "", 0, id="contract-packages-missing")]
    params = []
    for event in events:
        for action in EVENTS[event]:
            for index, _ in enumerate(examples(event, action)):
                params.append(pytest.param(event, action, index, id=f"{event}.{action}-{index}"))
    return params


ALL = _params(tuple(EVENTS))
INSTALLATIONS = _params(INSTALLATION_EVENTS)


def repository_of(payload: dict[str, Any]) -> str:
    """The repository a command names for the example's account."""
    removed = payload.get("repositories_removed") or payload.get("repositories") or []
    return str(removed[0]["name"]) if removed else "Hello-World"


def seed_accounts(gh: GitHubDouble) -> None:
    """Each account the installation examples name: installed, one repository, one runner."""
    seen: set[str] = set()
    for event in INSTALLATION_EVENTS:
        for payload in examples(event):
            installation = payload["installation"]
            account = installation["account"]
            login = account["login"]
            repo = repository_of(payload)
            if login.lower() not in seen:
                seen.add(login.lower())
                gh.add_installation(
                    login, installation_id=installation["id"], account_type=account["type"]
                )
            if not any(r["name"] == RUNNER for r in _runners(gh, login, repo)):
                gh.add_runner(f"/repos/{login}/{repo}", RUNNER)


def _runners(gh: GitHubDouble, login: str, repo: str) -> list[dict[str, Any]]:
    try:
        return gh.runners(f"/repos/{login}/{repo}")
    except (KeyError, ValueError):
        return []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(keys: Keys) -> AsyncIterator[Sandbox]:
    reason = packages_available()  # set up before the per-test check: seeding reads examples
    if reason:
        unavailable(reason)
    async with Sandbox.running(keys=keys, policy=PLATFORM_POLICY, seed=seed_accounts) as sb:
        yield sb


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("event", "action", "index"), ALL)
async def test_example_is_accepted(
    sandbox: Sandbox,
    event: str,
    action: str,
    index: int,
    logged_errors: Callable[[], list[logging.LogRecord]],
) -> None:
    payload = examples(event, action)[index]
    status, body = await sandbox.deliver(event, payload)
    assert status == 200, body
    assert json.loads(body) == {"msg": "accepted", "event": event}
    assert logged_errors() == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("event", "action", "index"), ALL)
async def test_example_with_a_wrong_signature_is_refused(
    sandbox: Sandbox, event: str, action: str, index: int
) -> None:
    payload = examples(event, action)[index]
    status, body = await sandbox.deliver(event, payload, secret="not-the-webhook-secret")
    assert (status, body) == (401, "invalid signature")


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("event", "action", "index"), INSTALLATIONS)
async def test_installation_example_updates_the_cache(
    sandbox: Sandbox,
    event: str,
    action: str,
    index: int,
    logged_errors: Callable[[], list[logging.LogRecord]],
) -> None:
    payload = examples(event, action)[index]
    login = payload["installation"]["account"]["login"]
    target = f"{login}/{repository_of(payload)}"
    lookup = f"/repos/{target}/installation"

    await sandbox.run(f"list {target}")  # the installation is now cached
    cached = sandbox.github.count("GET", lookup)
    reply = await sandbox.run(f"list {target}")
    assert sandbox.github.count("GET", lookup) == cached, "the installation was not cached"
    assert RUNNER in reply_text(reply)

    # A forged delivery changes nothing.
    status, _ = await sandbox.deliver(event, payload, secret="not-the-webhook-secret")
    assert status == 401
    await sandbox.run(f"list {target}")
    assert sandbox.github.count("GET", lookup) == cached

    status, body = await sandbox.deliver(event, payload)
    assert status == 200, body
    reply = await sandbox.run(f"list {target}")
    assert not is_error_reply(reply) and RUNNER in reply_text(reply)
    looked_up_again = sandbox.github.count("GET", lookup) - cached
    assert looked_up_again == (1 if (event, action) in DROPS_INSTALLATION else 0)
    assert logged_errors() == []
