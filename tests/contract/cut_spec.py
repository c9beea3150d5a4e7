"""Cut GitHub's published OpenAPI description down to the operations runnerops uses.

The descriptions shipped by ``@octokit/openapi`` weigh 11-14 MB each. Prism and the
schema validators only need the self-hosted runner, runner group and app installation
operations, the workflow job the watch confirms before alerting, the webhook payloads for
``workflow_job``, ``installation`` and ``installation_repositories``, and every component
those reference: a few hundred kilobytes.

Usage as a script::

    python tests/contract/cut_spec.py SOURCE DEST [--prefix /api/v3]
    python tests/contract/cut_spec.py --spec ghes-3.19 --prefix /api/v3   # prints the cached path

This module imports nothing from its siblings so that it also runs as a plain script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SPEC_DIR = NODE_MODULES / "@octokit" / "openapi" / "generated"
CACHE_DIR = HERE / ".cache"

# The GitHub Enterprise Server release held against. Change it here only; it must name a
# ``generated/ghes-X.Y.json`` present in the pinned ``@octokit/openapi``.
GHES_VERSION = "3.19"
GHES_SPEC = f"ghes-{GHES_VERSION}"
GHES_PREFIX = "/api/v3"
SPEC_NAMES: tuple[str, ...] = ("api.github.com", "ghec", GHES_SPEC)

# Bump when the cutting rules change so that cached cuts are rebuilt.
CUT_VERSION = "5"

RUNNER_PATH = re.compile(
    r"^(?:/enterprises/\{enterprise\}|/orgs/\{org\}|/repos/\{owner\}/\{repo\})"
    r"/actions/(?:runners|runner-groups)(?:/.*)?$"
)
APP_PATHS = frozenset(
    {
        "/app",
        "/app/installations",
        "/app/installations/{installation_id}/access_tokens",
        "/orgs/{org}/installation",
        "/repos/{owner}/{repo}/installation",
    }
)
# The job a ``workflow_job`` delivery names, fetched to confirm it is still queued.
JOB_PATHS = frozenset(
    {
        "/repos/{owner}/{repo}/actions/jobs/{job_id}",
        # The job's run: its workflow file, for runner groups restricted to workflows.
        "/repos/{owner}/{repo}/actions/runs/{run_id}",
    }
)
# The repository a group fix button lets into a runner group: looked up for its id.
REPOSITORY_PATHS = frozenset({"/repos/{owner}/{repo}"})
# Webhook descriptions (``x-webhooks``) kept: the events runnerops subscribes to.
WEBHOOK_KEY = re.compile(r"^(?:workflow-job|installation|installation-repositories)-[a-z-]+$")
# Top-level members carried over unchanged when present.
KEPT_TOP_LEVEL = ("openapi", "info", "externalDocs", "security")
LOCAL_REF = "#/"


def spec_source(name: str) -> Path:
    """Return the published description called ``name`` (see ``SPEC_NAMES``)."""
    if name not in SPEC_NAMES:
        raise ValueError(f"unknown spec {name!r}; expected one of {', '.join(SPEC_NAMES)}")
    return SPEC_DIR / f"{name}.json"


def keep_path(path: str) -> bool:
    """True for the path templates runnerops calls (before any prefix is added)."""
    if path in APP_PATHS or path in JOB_PATHS or path in REPOSITORY_PATHS:
        return True
    return RUNNER_PATH.match(path) is not None


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` string found anywhere under ``node``."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(ref: str) -> tuple[str, ...]:
    if not ref.startswith(LOCAL_REF):
        raise ValueError(f"only local references are supported, got {ref!r}")
    return tuple(_unescape(token) for token in ref[len(LOCAL_REF) :].split("/"))


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    """Return the node a local ``$ref`` such as ``#/components/schemas/runner`` points at."""
    node: Any = document
    for token in _pointer(ref):
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(f"unresolvable $ref {ref!r} (missing {token!r})")
    return node


def cut_document(source_doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return a new OpenAPI document holding only the kept paths and what they reference."""
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    paths = {
        f"{prefix}{path}": item
        for path, item in sorted(source_doc["paths"].items())
        if keep_path(path)
    }
    if not paths:
        raise ValueError("no runner or installation paths found in the source document")

    webhooks = {
        key: item
        for key, item in sorted(source_doc.get("x-webhooks", {}).items())
        if WEBHOOK_KEY.match(key)
    }

    # Walk every reference transitively; a reference is always to a component.
    components: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    pending = [*iter_refs(paths), *iter_refs(webhooks)]
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        pointer = _pointer(ref)
        if len(pointer) != 3 or pointer[0] != "components":
            raise ValueError(f"unexpected $ref outside components/<kind>/<name>: {ref!r}")
        _, kind, name = pointer
        target = resolve_pointer(source_doc, ref)
        components.setdefault(kind, {})[name] = target
        pending.extend(iter_refs(target))

    # Security schemes are referenced by name, not by $ref.
    schemes = source_doc.get("components", {}).get("securitySchemes", {})
    used_schemes = {
        scheme
        for item in paths.values()
        for operation in item.values()
        if isinstance(operation, dict)
        for requirement in operation.get("security", source_doc.get("security", []))
        for scheme in requirement
    }
    if used_schemes:
        components["securitySchemes"] = {k: schemes[k] for k in sorted(used_schemes)}

    cut: dict[str, Any] = {k: source_doc[k] for k in KEPT_TOP_LEVEL if k in source_doc}
    cut["info"] = dict(cut.get("info", {}))
    cut["info"]["x-runnerops-cut"] = {"prefix": prefix, "cut_version": CUT_VERSION}
    # Prism mocks from the root whatever ``servers`` says; keep the document honest about it.
    cut["servers"] = [{"url": "/"}]
    cut["paths"] = paths
    if webhooks:
        cut["x-webhooks"] = webhooks
    cut["components"] = {
        kind: dict(sorted(entries.items())) for kind, entries in sorted(components.items())
    }
    return cut


def _write_json_atomic(dest: Path, document: dict[str, Any]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1, sort_keys=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cut_spec(source: Path, dest: Path, prefix: str = "") -> Path:
    """Cut the description at ``source`` into ``dest`` (written atomically); return ``dest``.

    With ``prefix`` (e.g. ``"/api/v3"`` for GitHub Enterprise Server) every path key is
    prefixed so that a mock serving from the root answers on the prefixed URLs.
    """
    with source.open(encoding="utf-8") as fh:
        document = json.load(fh)
    _write_json_atomic(dest, cut_document(document, prefix))
    return dest


def cache_key(source: Path, prefix: str = "") -> str:
    """Fingerprint of a source file (path, size, mtime), the prefix and the cutting rules."""
    stat = source.stat()
    raw = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{prefix}|{CUT_VERSION}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def cached_cut_spec(name: str, prefix: str = "") -> Path:
    """Return the cut of the spec called ``name``, cutting it into ``.cache/`` if needed."""
    source = spec_source(name)
    if not source.is_file():
        raise FileNotFoundError(
            f"{source} is missing: run `npm ci` in {HERE} to install the pinned specs"
        )
    slug = prefix.strip("/").replace("/", "_") or "root"
    dest = CACHE_DIR / f"{name}.{slug}.{cache_key(source, prefix)}.json"
    if dest.is_file():
        return dest
    cut_spec(source, dest, prefix)
    for stale in CACHE_DIR.glob(f"{name}.{slug}.*.json"):  # cuts of older sources or rules
        if stale != dest:
            stale.unlink(missing_ok=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="published description (JSON)")
    parser.add_argument("dest", nargs="?", type=Path, help="where to write the cut")
    parser.add_argument("--spec", choices=SPEC_NAMES, help="cut a pinned spec into the cache")
    parser.add_argument("--prefix", default="", help="prefix for every path, e.g. /api/v3")
    args = parser.parse_args(argv)
    if args.spec:
        if args.source or args.dest:
            parser.error("give either --spec or SOURCE DEST")
        print(cached_cut_spec(args.spec, args.prefix))
        return 0
    if not (args.source and args.dest):
        parser.error("SOURCE and DEST are required without --spec")
    print(cut_spec(args.source, args.dest, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
