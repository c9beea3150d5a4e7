"""Fixtures for contract tests: Prism doubles of GitHub built from its published specs.

Each Prism fixture is session-scoped and started lazily, so a run pays ~1-2 s per spec
actually used. The fixtures are synchronous (a plain subprocess), which lets async tests
in any event loop use them. Without Node or ``tests/contract/node_modules`` the tests here
are skipped with the reason shown in pytest's summary; set ``RUNNEROPS_CONTRACT_REQUIRED=1``
(e.g. in CI, after ``npm ci``) to make that a failure instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import pytest

from .cut_spec import GHES_PREFIX, GHES_SPEC
from .prism import PrismServer, node_available, packages_available, start_prism

REQUIRED_ENV = "RUNNEROPS_CONTRACT_REQUIRED"


def unavailable(reason: str) -> None:
    """Skip the current test for ``reason``, or fail it when contract tests are required."""
    if os.environ.get(REQUIRED_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRED_ENV} is set)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _contract_packages() -> None:
    """Every contract test needs the pinned npm packages (specs and webhook examples)."""
    reason = packages_available()
    if reason:
        unavailable(reason)


@pytest.fixture
def require_node() -> None:
    """For tests that start Prism themselves (e.g. with the ``prism()`` context manager)."""
    reason = node_available()
    if reason:
        unavailable(reason)


def _serve(spec: str, prefix: str = "") -> Iterator[PrismServer]:
    reason = node_available()
    if reason:
        unavailable(reason)
    server = start_prism(spec, prefix)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prism_github() -> Iterator[PrismServer]:
    """Prism on the api.github.com spec; ``.base_url`` is ``http://127.0.0.1:PORT``."""
    yield from _serve("api.github.com")


@pytest.fixture(scope="session")
def prism_ghec() -> Iterator[PrismServer]:
    """Prism on the GitHub Enterprise Cloud spec (has the enterprise runner endpoints)."""
    yield from _serve("ghec")


@pytest.fixture(scope="session")
def prism_ghes() -> Iterator[PrismServer]:
    """Prism on the GHES spec, paths under ``/api/v3``: use ``.api_url`` as the API base."""
    yield from _serve(GHES_SPEC, GHES_PREFIX)


@pytest.fixture
def logged_errors(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """A callable returning every ERROR (or worse) record logged so far in the test.

    uvicorn's loggers do not propagate to the root logger, so the capture handler is
    attached to them too: an exception escaping a route is caught either way.
    """
    servers = logging.getLogger("uvicorn")
    servers.addHandler(caplog.handler)
    try:
        yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        servers.removeHandler(caplog.handler)
