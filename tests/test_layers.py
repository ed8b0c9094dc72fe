"""The core in layers: every import runs one way, down this list, and no modules import each
other in a circle (imports inside functions count; ``if TYPE_CHECKING:`` blocks do not).

    cli > view > validation > study > serving > simulation > mappers > arch > workloads > core

A family folder is a vertical slice: its ``cli.py`` (an ``accsim <command>``) sits with the CLI
and its ``validation.py`` (metrics of the validation cases) with validation; the rest of
``arch/<family>/`` (spec, model, kernels) is the arch layer. The top-level ``accsim`` package
and the plugin names ``accsim.errors``, ``accsim.registry`` and ``accsim.presets`` are the public
API: nothing inside the tree imports them.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "workloads", "arch", "mappers", "simulation", "serving", "study", "validation",
          "view", "cli")
# source folder -> installed package (setup.py's package_dir)
TREE = {"accsim": "accsim", "arch": "accsim.arch", "mappers": "accsim.mappers",
        "workloads": "accsim.workloads", "validation": "accsim.validation"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in TREE.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            found[".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    """The layer of an accsim module ("public": the package's top level, the API)."""
    parts = module.split(".") + [""]
    if parts[1] == "arch" and len(parts) > 4 and parts[3] in ("cli", "validation"):
        return parts[3]
    return parts[1] if parts[1] in LAYERS else "public"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path) -> set[str]:
    """The accsim modules a file imports anywhere (a name imported from a package resolves to
    its submodule when there is one)."""
    found: set[str] = set()
    skip: set[int] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if _type_checking_only(node):
            skip |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("accsim"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("accsim")}
    return {_known(name) for name in found}


def _known(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        for target in imports(path):
            # a module reaches its own package (whose __init__ loads its parts lazily): no circle
            if target != name and not name.startswith(target + "."):
                g.add_edge(name, target)
    return g


GRAPH = graph()


def test_the_tree_is_read():
    assert {"accsim.core.registry", "accsim.simulation.runner", "accsim.arch.rdu.model",
            "accsim.mappers.rdu", "accsim.cli.run"} <= set(MODULES)
    assert GRAPH.number_of_edges() > 300


def upward_imports(g: nx.DiGraph) -> list[str]:
    found = []
    for source, target in g.edges:
        here, there = layer(source), layer(target)
        if here != "public" and (there == "public" or LAYERS.index(there) > LAYERS.index(here)):
            found.append(f"{source} ({here}) imports {target} ({there})")
    return found


def test_imports_run_down_the_layers():
    assert upward_imports(GRAPH) == []


def test_no_modules_import_each_other_in_a_circle():
    assert list(nx.simple_cycles(GRAPH)) == []


def test_the_checks_catch_an_upward_import_and_a_circle():
    """The checks can fail: the core importing the runner is upward; the runner importing CoE
    again (CoE imports the runner) closes a circle; a family's CLI may use the CLI layer."""
    g = GRAPH.copy()
    g.add_edge("accsim.core.stats", "accsim.simulation.runner")
    g.add_edge("accsim.simulation.runner", "accsim.simulation.coe")
    g.add_edge("accsim.arch.gpu.model", "accsim.registry")
    assert sorted(upward_imports(g)) == [
        "accsim.arch.gpu.model (arch) imports accsim.registry (public)",
        "accsim.core.stats (core) imports accsim.simulation.runner (simulation)"]
    assert any("accsim.simulation.coe" in cycle for cycle in nx.simple_cycles(g))
    assert layer("accsim.arch.dram.cli") == "cli" and layer("accsim.arch.gpu.validation") == "validation"
