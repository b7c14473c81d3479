"""The import graph of the storeflow packages: modules, edges, import cycles and lines per package.

Reads the sources with :mod:`ast` (nothing is imported), so it runs without the project's dependencies::

    python scripts/import_graph.py                 # include/storeflow and include/storeflow_simulators
    python scripts/import_graph.py --root /tmp/before/include
    python scripts/import_graph.py --json          # the same, machine-readable

An edge ``a -> b`` means module ``a`` imports module ``b`` (``from pkg import name`` counts as importing
``pkg.name`` when that is a module, else ``pkg``). Edges are *module-level* (run at import time, including
imports under a top-level ``try``/``if``), *function-level* (inside a function or method body: run when
called) or *typing-only* (under ``if TYPE_CHECKING:``, never run; left out of the cycles). Cycles are
reported twice: among module-level edges (these can break an import) and among module- plus
function-level edges (a design circle even when deferred imports keep it from breaking). Each cycle is a
strongly connected component, shown with one shortest circle through it. Circles that only typing-only
imports close are listed a third time (harmless at run time, still a circle in the design).

Exit status 0 always (a report, not a gate); ``--fail-on-cycles`` exits 1 when a module-level or
function-level cycle exists.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("storeflow", "storeflow_simulators")
KINDS = ("module", "function", "typing")


@dataclass
class Graph:
    """Modules (name → source lines) and edges (kind → {(importer, imported)})."""

    lines: dict[str, int] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    edges: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: {k: set() for k in KINDS})


def module_name(path: Path, root: Path) -> str:
    """``root/storeflow/sync/extract.py`` → ``storeflow.sync.extract`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def _target(name: str, modules: set[str]) -> str | None:
    """The longest known module that ``name`` is or lies inside (None when it is not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module):
    """(node, kind) for every import statement, kind as in :data:`KINDS`."""
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, kind = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack += [(sub, "typing") for sub in node.body] + [(sub, kind) for sub in node.orelse]
            continue
        inner = "function" if kind == "module" and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else kind
        stack += [(child, inner) for child in ast.iter_child_nodes(node)]


def build(root: Path, packages: tuple[str, ...] = PACKAGES) -> Graph:
    """The graph of every ``*.py`` under ``root/<package>`` for the given packages."""
    graph = Graph()
    files: dict[str, Path] = {}
    for package in packages:
        base = root / package
        if base.is_dir():
            for path in sorted(base.rglob("*.py")):
                files[module_name(path, root)] = path
    modules = set(files)
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        graph.lines[name] = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        is_package = path.name == "__init__.py"
        if is_package:
            graph.packages.add(name)
        for node, kind in _imports(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [_target(alias.name, modules) for alias in node.names]
            else:
                base_name = _resolve(name, is_package, node)
                targets = [_target(f"{base_name}.{alias.name}", modules) or _target(base_name, modules)
                           for alias in node.names]
            for target in targets:
                if target and target != name and not name.startswith(target + "."):
                    graph.edges[kind].add((name, target))
    # an edge kept at the strongest kind only (module beats function beats typing)
    graph.edges["function"] -= graph.edges["module"]
    graph.edges["typing"] -= graph.edges["module"] | graph.edges["function"]
    return graph


def strongly_connected(nodes: set[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Components of more than one module (Tarjan, iterative), each sorted, largest first."""
    adj: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        adj[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(adj[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(adj[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out, key=lambda c: (-len(c), c))


def shortest_cycle(component: list[str], edges: set[tuple[str, str]]) -> list[str]:
    """One shortest circle through the component's first module (BFS inside the component)."""
    members = set(component)
    adj: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        if a in members and b in members:
            adj[a].append(b)
    best: list[str] = []
    for start in component:
        prev: dict[str, str] = {}
        queue = deque([start])
        found = None
        while queue and found is None:
            node = queue.popleft()
            for nxt in adj[node]:
                if nxt == start:
                    found = node
                    break
                if nxt not in prev:
                    prev[nxt] = node
                    queue.append(nxt)
        if found is None:
            continue
        path = [found]
        while path[-1] != start:
            path.append(prev[path[-1]])
        path.reverse()
        if not best or len(path) < len(best):
            best = path
    return best + best[:1]


def package_of(module: str, packages: set[str]) -> str:
    """The (sub)package of a module, two levels deep: ``storeflow.sync.extract`` → ``storeflow.sync``."""
    parts = module.split(".")
    if module not in packages:
        parts = parts[:-1]
    return ".".join(parts[:2])


def report(graph: Graph) -> dict:
    """The summary as plain data."""
    nodes = set(graph.lines)
    run_edges = graph.edges["module"] | graph.edges["function"]
    lines: dict[str, dict[str, int]] = defaultdict(lambda: {"modules": 0, "lines": 0})
    for module, n in graph.lines.items():
        pkg = package_of(module, graph.packages)
        lines[pkg]["modules"] += 1
        lines[pkg]["lines"] += n
    cycles = {}
    all_edges = run_edges | graph.edges["typing"]
    for label, edges in (("module", graph.edges["module"]), ("module+function", run_edges),
                         ("module+function+typing", all_edges)):
        cycles[label] = [{"modules": comp, "circle": shortest_cycle(comp, edges)}
                         for comp in strongly_connected(nodes, edges)]
    return {
        "modules": len(nodes),
        "lines": sum(graph.lines.values()),
        "edges": {kind: len(graph.edges[kind]) for kind in KINDS},
        "cycles": cycles,
        "packages": dict(sorted(lines.items())),
    }


def render(data: dict) -> str:
    """The summary as text."""
    e = data["edges"]
    out = [f"modules: {data['modules']}  lines: {data['lines']}",
           f"edges: {e['module']} module-level, {e['function']} function-level only, "
           f"{e['typing']} typing-only"]
    for label, comps in data["cycles"].items():
        out.append(f"cycles ({label} imports): {len(comps)}")
        for comp in comps:
            out.append(f"  [{len(comp['modules'])} modules] " + " -> ".join(comp["circle"]))
            if len(comp["modules"]) > len(comp["circle"]) - 1:
                out.append("      all: " + ", ".join(comp["modules"]))
    out.append("lines per package:")
    width = max((len(p) for p in data["packages"]), default=0)
    for pkg, v in data["packages"].items():
        out.append(f"  {pkg:<{width}}  {v['modules']:>3} modules  {v['lines']:>6} lines")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the import graph summary of the packages under ``--root``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT / "include", help="folder holding the packages")
    parser.add_argument("--package", action="append", help="package to scan (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--fail-on-cycles", action="store_true", help="exit 1 when a cycle exists")
    args = parser.parse_args(argv)
    graph = build(args.root, tuple(args.package or PACKAGES))
    data = report(graph)
    print(json.dumps(data, indent=1) if args.json else render(data))
    has_cycles = any(data["cycles"].values())
    return 1 if args.fail_on_cycles and has_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
