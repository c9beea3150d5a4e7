from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.github_double import GitHubDouble
from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox
from tests.postgres import PostgresServer, running_server

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


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def no_database_left_in_the_repository() -> Iterator[None]:
    """A test that builds the app without DATABASE_URL writes ``runnerops.db`` where
    pytest runs (the repository): every test uses a scratch database instead."""
    stray = ROOT / "runnerops.db"
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), f"a test left {stray}: give it a tmp_path database"


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


class Clock:
    """Injected time: tests move it, nothing sleeps."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; each test gets its own database."""
    with running_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    name = postgres.create_database()
    # The scheme a PaaS add-on sets (postgres://), not SQLAlchemy's.
    yield postgres.url(name, scheme="postgres")
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both engines, so they cannot drift apart."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runnerops.db"
    return str(request.getfixturevalue("postgres_url"))
