"""Layers that only look down (issue 18 §3): no import cycle between the product's modules
(``app.py``, ``bot/``, ``handlers/``) nor between its packages, read from the source with
``ast``. Every import counts: at the top, inside ``if TYPE_CHECKING:``, inside functions.

A package is ``bot.X`` (a directory, or a module directly under bot/), ``app`` or
``handlers``. A failure prints the cycle, one import per step.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Graph = Mapping[str, set[str]]

# Package pairs that import each other until the branches of issue 18 are merged: the
# ``verbs`` branch moves bot/routing.py to bot/dispatch/ and Slack's adapter out of
# bot/slack/, which ends these. The lead empties this set after merging; a pair listed
# here that no longer forms a cycle fails the test, so the set can only shrink.
KNOWN_UNTIL_MERGE: set[frozenset[str]] = set()


def product_files() -> dict[str, Path]:
    """Every product module by its dotted name."""
    files = [ROOT / "app.py", *sorted((ROOT / "bot").rglob("*.py"))]
    files += sorted((ROOT / "handlers").rglob("*.py"))
    modules: dict[str, Path] = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The product module ``name`` is in (``bot.store.jobs.JobRecord`` -> ``bot.store.jobs``);
    None for anything outside the product."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The product modules ``module`` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from bot import errors`` imports the module bot.errors.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        found.update(owner for n in names if (owner := _owner(n, modules)) is not None)
    found.discard(module)
    return found


@functools.cache
def module_graph() -> dict[str, set[str]]:
    """Read once per run; not to be changed by its callers."""
    modules = product_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def package_graph(modules: Graph) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, imported in modules.items():
        mine = package_of(module)
        packages.setdefault(mine, set()).update(
            package_of(other) for other in imported if package_of(other) != mine
        )
    return packages


def without_known(graph: Graph, known: Iterable[frozenset[str]]) -> Graph:
    """``graph`` without the imports between the packages of a known pair."""
    pairs = set(known)
    return {
        node: {
            other
            for other in targets
            if frozenset({package_of(node), package_of(other)}) not in pairs
            or package_of(node) == package_of(other)
        }
        for node, targets in graph.items()
    }


def components(graph: Graph) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def a_cycle(graph: Graph, component: set[str]) -> list[str]:
    """One cycle through the component's first node, as a path that returns to it."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(graph.get(node, ())):
                if other == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if other in component and other not in came_from:
                    came_from[other] = node
                    following.append(other)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(component)}")


def cycles_said(graph: Graph) -> list[str]:
    """Each cycle found, and the other members of its knot when there are more."""
    said = []
    for component in components(graph):
        cycle = a_cycle(graph, component)
        rest = sorted(component - set(cycle))
        said.append(
            " -> ".join(cycle) + (f" (also in the knot: {', '.join(rest)})" if rest else "")
        )
    return said


def test_no_cycle_between_modules() -> None:
    cycles = cycles_said(without_known(module_graph(), KNOWN_UNTIL_MERGE))
    assert not cycles, "import cycles between modules:\n" + "\n".join(cycles)


def test_no_cycle_between_packages() -> None:
    cycles = cycles_said(without_known(package_graph(module_graph()), KNOWN_UNTIL_MERGE))
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_the_known_cycles_are_still_there() -> None:
    """A pair of KNOWN_UNTIL_MERGE that no longer imports both ways must leave the set."""
    packages = package_graph(module_graph())
    together = components(packages)
    gone = [
        sorted(pair)
        for pair in KNOWN_UNTIL_MERGE
        if not any(pair <= component for component in together)
    ]
    assert gone == [], "no longer a cycle: remove from KNOWN_UNTIL_MERGE"


def test_the_graph_is_read_whole() -> None:
    """The reading sees imports at the top, under TYPE_CHECKING and inside functions."""
    graph = module_graph()
    assert "bot.watch.alerts" in graph["bot.sweep.loop"]  # at the top
    assert "bot.services" in graph["bot.sweep.loop"]  # under TYPE_CHECKING only
    assert "bot.errors" in graph["bot.github.jobs"]  # ``from bot import errors``
    assert len(graph) > 100


def test_a_cycle_is_found_and_said() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles_said(graph) == ["a -> b -> c -> a"]
    assert cycles_said({"a": {"b"}, "b": set()}) == []


def test_setup_does_not_import_the_sandbox() -> None:
    graph = module_graph()
    wrong = {
        (module, other)
        for module, imported in graph.items()
        if package_of(module) == "bot.setup"
        for other in imported
        if package_of(other) == "bot.sandbox"
    }
    assert wrong == set()


def test_the_watch_core_is_pure() -> None:
    """bot/watch/ is the pure core: nothing of the store, GitHub, Slack, the services or
    the sweep around it."""
    graph = module_graph()
    io = {"bot.store", "bot.github", "bot.slack", "bot.services", "bot.sweep"}
    wrong = {
        (module, other)
        for module, imported in graph.items()
        if package_of(module) == "bot.watch"
        for other in imported
        if package_of(other) in io
    }
    assert wrong == set()
    assert graph["bot.watch.alerts"]  # it does import: the check reads it
