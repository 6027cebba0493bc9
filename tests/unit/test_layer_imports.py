"""The layer's packages show its architecture, and its imports keep to it.

Every import of every module is read from the source (ast), those inside functions
included, so a deferred import cannot hide a cycle. Arrows point down only:
edges -> services (credentials -> accounts) -> tokens, policy -> store -> ground.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "gatekey" / "gatekey"

# Rank of each room: a module may import its own room or a lower one, never a higher one.
RANKS = {
    "ground": 0,
    "aws": 0,
    "store": 1,
    "tokens": 2,
    "policy": 2,
    "accounts": 3,
    "credentials": 4,
    "oauth": 4,  # the OAuth endpoints: services over tokens and accounts (lockout)
    "edges": 5,
}
GROUND = {"settings", "errors", "records", "clock", "scopes", "principal", "metrics", "usage"}


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LAYER.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The gatekey modules `name` imports anywhere in its file; `from package import x`
    counts as an import of module `package.x` when that is a module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def room(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    if len(parts) > 2 or parts[1] in RANKS:
        return parts[1]
    assert parts[1] in GROUND, f"{name}: a module at the top of the layer that is not ground"
    return "ground"


def test_every_module_has_a_room():
    rooms = {name: room(name) for name in MODULES}
    assert set(rooms.values()) - {"root"} <= set(RANKS)
    assert set(RANKS) - {"ground", "aws", "policy"} <= set(rooms.values())


def test_no_import_cycle_deferred_imports_included():
    visiting: list[str] = []
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycles.append([*visiting[visiting.index(name) :], name])
            return
        visiting.append(name)
        for target in sorted(GRAPH[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if room(n) != "root"))
def test_imports_point_down_only(name):
    upward = [
        target
        for target in sorted(GRAPH[name])
        if room(target) != "root" and RANKS[room(target)] > RANKS[room(name)]
    ]
    assert upward == [], f"{name} ({room(name)}) imports a higher room: {upward}"


def test_the_store_never_imports_a_service_and_edges_are_imported_by_no_service():
    for name, targets in GRAPH.items():
        if room(name) == "store":
            assert all(room(t) in ("store", "ground", "aws") for t in targets), name
        if room(name) != "edges":
            assert not any(room(t) == "edges" for t in targets), name


def test_the_checker_sees_deferred_imports():
    deferred = imports_of("gatekey.tokens.keyring")
    assert "gatekey.aws" in deferred  # imported inside a function only
