from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox

SCOPES = {
    "org": ("acme", "/orgs/acme"),
    "repo": ("acme/api", "/repos/acme/api"),
    "enterprise": ("enterprise:octo-ent", "/enterprises/octo-ent"),
}


def seed_basic(gh: GitHubDouble) -> None:
    """A small fleet at every scope; names tell the state."""
    gh.add_org("acme")
    gh.add_repo("acme", "api")
    gh.add_repo("acme", "web")
    gh.add_installation("acme")
    gh.add_org("globex")
    gh.add_enterprise("octo-ent")
    for path in ("/orgs/acme", "/repos/acme/api", "/enterprises/octo-ent"):
        gh.add_runner(path, "linux-idle", labels=["gpu"])
        gh.add_runner(path, "linux-busy", busy=True, labels=["docker"])
        gh.add_runner(path, "mac-offline", os="macOS", status="offline")


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture
def make_sandbox(keys: Keys) -> Callable[..., Any]:
    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("seed", seed_basic)
        kwargs.setdefault("policy", PLATFORM_POLICY)
        return Sandbox.running(keys=keys, **kwargs)

    return factory


@pytest.fixture
async def sandbox(make_sandbox: Callable[..., Any]) -> AsyncIterator[Sandbox]:
    async with make_sandbox() as sb:
        yield sb
