"""Data flows one way (DESIGN.md): spaces -> nets -> samplers/density -> train -> evaluate ->
analysis -> experiments -> cli. This test reads every import in the package, at module level
and inside functions, and fails on an import against that order or on an import cycle.

Where the packages the design's line does not name sit, and why:
- foundation (errors, registry, io, progress, environment, profiles, tablefile, rundir, results,
  plugins): plain helpers and data that import no other layer; everything may use them;
- data and benchmarks sit with spaces at the bottom: datasets and ground truth are inputs that
  nets (input shapes), training and analysis read;
- search runs on evaluated supernets, so it sits after evaluate and before analysis;
- perf measures every layer (bench), so it sits just under cli;
- `harness.__main__` is the entry point, above cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "harness"

LAYERS = {
    "": 0, "errors": 0, "registry": 0, "io": 0, "progress": 0, "environment": 0, "profiles": 0,
    "tablefile": 0, "rundir": 0, "results": 0, "plugins": 0,
    "spaces": 1, "data": 1, "benchmarks": 2,
    "nets": 3,
    "samplers": 4, "density": 4,
    "train": 5,
    "evaluate": 6,
    "search": 7,
    "analysis": 8,
    "experiments": 9,
    "perf": 10,
    "cli": 11,
    "__main__": 12,
}


def module_name(path: Path) -> str:
    parts = ("harness",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    if name not in LAYERS:
        raise AssertionError(f"{module}: its layer is not in LAYERS; place it there")
    return LAYERS[name]


def imports_of(path: Path) -> set[str]:
    """Every harness module `path` imports, top-level or in a function; `from pkg import sub`
    names the submodule when `sub` is one."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "harness"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "harness":
            for alias in node.names:
                sub = PACKAGE.parent.joinpath(*f"{node.module}.{alias.name}".split("."))
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                found.add(f"{node.module}.{alias.name}" if is_module else node.module)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(root.rglob("*.py"))}


def reversals(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if a.split(".")[:2] != b.split(".")[:2] and layer(b) > layer(a))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_runs_against_the_flow_and_there_is_no_cycle():
    graph = import_graph()
    assert len(graph) > 100  # the whole package was read
    assert reversals(graph) == []
    assert cycles(graph) == []


def test_the_check_catches_a_planted_reversal_and_a_planted_cycle(tmp_path):
    graph = import_graph()
    planted = {**graph, "harness.nets.common": graph["harness.nets.common"] |
               {"harness.experiments.tables"}}
    assert ("harness.nets.common", "harness.experiments.tables") in reversals(planted)
    looped = {**graph, "harness.spaces.base": graph["harness.spaces.base"] |
              {"harness.spaces.pooling"}}
    assert any("harness.spaces.base" in c for c in cycles(looped))
    # an import inside a function counts as much as one at the top
    source = tmp_path / "harness" / "nets" / "late.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from harness.cli import main\n")
    assert "harness.cli.main" in imports_of(source)


def test_every_module_has_a_layer():
    for module in import_graph():
        layer(module)
    with pytest.raises(AssertionError, match="not in LAYERS"):
        layer("harness.newpackage.thing")
