"""The layers stay layered: the runtime core imports no adapter and has no
import cycle, and the faces and hosts never reach up into the package's top
level (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simdurable"
ADAPTERS = ("trio", "sqlite3", "yaml", "pytest", "hypothesis")


def imports_of(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports (at any depth, under TYPE_CHECKING too), absolute."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # ``from . import x`` imports the module x when x is one.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        name = ".".join((package, *parts))
        out[name.removesuffix(".__init__")] = path
    return out


RUNTIME = modules_under(PACKAGE / "runtime", "simdurable.runtime")


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_the_runtime_imports_no_adapter(name: str) -> None:
    path = RUNTIME[name]
    bad = sorted(m for m in imports_of(path, package_of(name, path))
                 if m.split(".")[0] in ADAPTERS)
    assert not bad, f"{path.name} imports {', '.join(bad)}: adapters live at the edges"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in ``graph`` as a path that starts and ends at one node, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def runtime_graph() -> dict[str, set[str]]:
    """Which runtime module imports which (the package ``__init__`` left out: it
    only re-exports)."""
    modules = {n: p for n, p in RUNTIME.items() if p.name != "__init__.py"}
    return {
        name: {m for m in imports_of(path, package_of(name, path)) if m in modules}
        for name, path in modules.items()
    }


def test_the_runtime_has_no_import_cycle() -> None:
    graph = runtime_graph()
    assert len(graph) >= 10
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in runtime/: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_sees_relative_and_type_checking_imports(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nfrom ._a import x\n"
                   "if TYPE_CHECKING:\n    from ._b import y\nimport trio\n")
    assert {"simdurable.runtime._a", "simdurable.runtime._b", "trio"} <= imports_of(
        src, "simdurable.runtime")


@pytest.mark.parametrize("face", ["_live", "_check", "_pytest", "_scenario", "_restate", "_replay"])
def test_hosts_and_faces_do_not_import_the_top_level_package(face: str) -> None:
    for name, path in modules_under(PACKAGE / face, f"simdurable.{face}").items():
        found = imports_of(path, package_of(name, path))
        assert "simdurable" not in found, (
            f"{path.relative_to(PACKAGE.parent)} imports the package's top level; "
            "import the core and the handler API directly"
        )
