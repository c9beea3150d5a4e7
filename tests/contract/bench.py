"""runnerops wired to Prism: a sandbox whose GitHub is the published spec, through a proxy.

A bench is one runnerops (with its Slack double and the policy of ``tests/conftest.py``)
whose ``GITHUB_API_URL`` is a :class:`~tests.contract.proxy.RecordingProxy` in front of
Prism. Flavours:

- ``cloud``: ``/enterprises/...`` goes to the GitHub Enterprise Cloud spec (the only
  github.com description with enterprise runner endpoints), everything else to the
  api.github.com spec;
- ``ghes``: the GitHub Enterprise Server spec, every path under ``/api/v3``.

The sandbox's own GitHub double is left unused.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from bot.sandbox.harness import PLATFORM_POLICY, Keys, Sandbox
from bot.slack.views.delete import DELETE_ACTION

from .cut_spec import GHES_PREFIX, GHES_SPEC, resolve_pointer
from .prism import PrismServer
from .proxy import RecordingProxy, Upstream
from .spec import load_spec, operation

SCOPE_TEMPLATES = {
    "enterprise": "/enterprises/{enterprise}",
    "org": "/orgs/{org}",
    "repo": "/repos/{owner}/{repo}",
}
INSTALLATION = {"org": "/orgs/{org}/installation", "repo": "/repos/{owner}/{repo}/installation"}
ACCESS_TOKENS = "/app/installations/{installation_id}/access_tokens"
PRISM_FIXTURES = {"api.github.com": "prism_github", "ghec": "prism_ghec", GHES_SPEC: "prism_ghes"}
# Every reply that reports a failure opens with one of these (see bot/slack/views/errors.py).
ERROR_MARKERS = (
    ":no_entry:",
    ":no_entry_sign:",
    ":gear:",
    ":mag:",
    ":lock:",
    ":key:",
    ":hourglass_flowing_sand:",
    ":turtle:",
    ":cloud:",
    ":grey_question:",
    ":warning:",
    ":boom:",
)


@dataclass(frozen=True)
class Operation:
    """One of the six runner operations, relative to a scope's path."""

    verb: str  # the Slack command verb that drives it
    method: str
    path: str
    status: int  # the documented success status

    def template(self, scope: str) -> str:
        return SCOPE_TEMPLATES[scope] + self.path


OPERATIONS = (
    Operation("list", "GET", "/actions/runners", 200),
    Operation("downloads", "GET", "/actions/runners/downloads", 200),
    Operation("token", "POST", "/actions/runners/registration-token", 201),
    Operation("remove-token", "POST", "/actions/runners/remove-token", 201),
    Operation("get", "GET", "/actions/runners/{runner_id}", 200),
    Operation("delete", "DELETE", "/actions/runners/{runner_id}", 204),
)
OPERATION = {op.verb: op for op in OPERATIONS}


@dataclass(frozen=True)
class Flavour:
    name: str
    prefix: str
    specs: Mapping[str, str]  # scope -> spec name
    github_url: str


FLAVOURS = {
    "cloud": Flavour(
        "cloud",
        "",
        {"enterprise": "ghec", "org": "api.github.com", "repo": "api.github.com"},
        "https://github.com",
    ),
    "ghes": Flavour(
        "ghes",
        GHES_PREFIX,
        {"enterprise": GHES_SPEC, "org": GHES_SPEC, "repo": GHES_SPEC},
        "https://ghes.example.com",
    ),
}


@dataclass(frozen=True)
class Where:
    """A target as typed in Slack, and where GitHub has it."""

    scope: str
    text: str  # e.g. ``enterprise:octo-ent``
    api_path: str  # e.g. ``/enterprises/octo-ent``
    web_path: str  # what ``config.sh --url`` takes after the host
    account: str  # what a "not installed" reply names


def where(scope: str, owner: str | None = None, repo: str = "api") -> Where:
    """The target at ``scope``; ``owner`` is the enterprise slug for ``enterprise``."""
    if owner is None:
        owner = "octo-ent" if scope == "enterprise" else "acme"
    if scope == "enterprise":
        return Where(
            scope, f"enterprise:{owner}", f"/enterprises/{owner}", f"enterprises/{owner}", owner
        )
    if scope == "org":
        return Where(scope, owner, f"/orgs/{owner}", owner, owner)
    full = f"{owner}/{repo}"
    return Where(scope, full, f"/repos/{full}", full, full)


# -- the spec's examples ------------------------------------------------------------------


@cache
def _example(spec_name: str, method: str, template: str, status: int) -> Any:
    spec = load_spec(spec_name)
    response = operation(spec, method, template)["responses"][str(status)]
    while "$ref" in response:
        response = resolve_pointer(spec, response["$ref"])
    for content in response.get("content", {}).values():
        for named in content.get("examples", {}).values():
            if "$ref" in named:
                named = resolve_pointer(spec, named["$ref"])
            return named["value"]
    raise LookupError(f"{spec_name}: no example for {method} {template} -> {status}")


def example(spec_name: str, method: str, template: str, status: int) -> Any:
    """The first example body the spec gives for a response: what Prism serves."""
    return _example(spec_name, method.upper(), template, status)


def listed_runner(spec_name: str, scope: str) -> dict[str, Any]:
    """The first runner of the list example: what ``get`` and ``delete`` are asked for."""
    runners = example(spec_name, "GET", SCOPE_TEMPLATES[scope] + "/actions/runners", 200)
    return dict(runners["runners"][0])


def fetched_runner(spec_name: str, scope: str) -> dict[str, Any]:
    """The example of ``GET .../runners/{runner_id}``: Prism's answer for any id."""
    template = SCOPE_TEMPLATES[scope] + "/actions/runners/{runner_id}"
    return dict(example(spec_name, "GET", template, 200))


def installation_id(spec_name: str) -> int:
    """The installation id of the installation-lookup example (the token is minted for it)."""
    return int(example(spec_name, "GET", INSTALLATION["org"], 200)["id"])


@cache
def _template_patterns(spec_name: str) -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for template in load_spec(spec_name)["paths"]:
        rx = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(rx + "$"), template))
    return patterns


def template_of(spec_name: str, path: str, prefix: str = "") -> str | None:
    """The spec's path template a raw path matches (literal segments win), or None."""
    if prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :]
    found = [t for rx, t in _template_patterns(spec_name) if rx.match(path)]
    return min(found, key=lambda t: t.count("{")) if found else None


def is_error_reply(reply: Mapping[str, Any]) -> bool:
    text = str(reply.get("text", ""))
    return any(marker in text for marker in ERROR_MARKERS)


# -- the bench ------------------------------------------------------------------------------


@dataclass
class Bench:
    flavour: Flavour
    sb: Sandbox
    proxy: RecordingProxy
    proxy_url: str

    @property
    def prefix(self) -> str:
        return self.flavour.prefix

    def spec_for(self, scope: str) -> str:
        return self.flavour.specs[scope]

    def path(self, bare: str) -> str:
        """A raw path as runnerops sends it (with ``/api/v3`` on GHES)."""
        return self.prefix + bare

    async def drive(self, op: Operation, at: Where) -> list[dict[str, Any]]:
        """Run ``op`` on ``at`` from Slack; the replies in order (delete: ask, then click)."""
        spec = self.spec_for(at.scope)
        if op.verb == "get":
            runner_id = listed_runner(spec, at.scope)["id"]
            return [await self.sb.run(f"get {at.text} id:{runner_id}")]  # only the GET by id
        if op.verb == "delete":
            ask = await self.sb.run(f"delete {at.text} {listed_runner(spec, at.scope)['name']}")
            if is_error_reply(ask):
                return [ask]
            return [ask, await self.sb.click(ask, DELETE_ACTION)]
        return [await self.sb.run(f"{op.verb} {at.text}")]

    def op_path(self, op: Operation, at: Where) -> str:
        """The raw path ``op`` is called on for ``at`` (the runner of the GET example)."""
        runner_id = fetched_runner(self.spec_for(at.scope), at.scope)["id"]
        return self.path(at.api_path + op.path.replace("{runner_id}", str(runner_id)))


def prism_servers(request: pytest.FixtureRequest, flavour: str) -> dict[str, PrismServer]:
    """The session's Prism servers a flavour needs (started on first use)."""
    specs = set(FLAVOURS[flavour].specs.values())
    return {spec: request.getfixturevalue(PRISM_FIXTURES[spec]) for spec in sorted(specs)}


@contextlib.asynccontextmanager
async def open_bench(
    flavour_name: str | Flavour,
    servers: Mapping[str, PrismServer],
    keys: Keys,
    **sandbox: Any,
) -> AsyncIterator[Bench]:
    """``flavour_name``: one of FLAVOURS, or a Flavour of a test's own; ``sandbox``: more
    arguments for :meth:`Sandbox.running` (an injected ``clock``)."""
    flavour = FLAVOURS[flavour_name] if isinstance(flavour_name, str) else flavour_name
    enterprise_spec, org_spec = flavour.specs["enterprise"], flavour.specs["org"]
    upstreams = []
    if enterprise_spec != org_spec:
        enterprises = re.compile("^" + re.escape(flavour.prefix) + "/enterprises/")
        upstreams.append(Upstream(servers[enterprise_spec].base_url, enterprise_spec, enterprises))
    upstreams.append(Upstream(servers[org_spec].base_url, org_spec))
    proxy = RecordingProxy(upstreams)
    async with (
        proxy.running() as proxy_url,
        Sandbox.running(
            keys=keys,
            policy=PLATFORM_POLICY,
            github_api_url=proxy_url + flavour.prefix,
            github_url=flavour.github_url,
            **sandbox,
        ) as sb,
    ):
        yield Bench(flavour, sb, proxy, proxy_url)
