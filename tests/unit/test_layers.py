"""The import graph: no cycles between labctl's packages, no import from a higher layer, and the
CLI reaches the rest only through the service layer. Read from the source (AST), so a lazy import
inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "labctl"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "yamlsource", "versions", "suggest", "paths", "cancel", "__init__", "__main__"),
    ("roles",),
    ("topology",),
    ("compile",),
    ("render",),
    ("images",),
    ("state",),
    ("bundle",),
    ("backends",),
    ("lab",),
    ("demo",),
    ("service",),
    ("cli",),
)
"""Low to high. A module may import its own unit (top-level module or package) and lower layers."""

FOUNDATION = LAYERS[0]
CLI_MAY_IMPORT = ("cli", "service", "errors", "suggest")  # errors and escaping: output helpers
ENTRY_POINTS = {"__main__"}  # `python -m labctl` starts the CLI: the one upward import allowed


def unit_of(module: str) -> str:
    """labctl.compile.plan -> compile; labctl.errors -> errors; labctl -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"labctl.{unit} is in no layer: add it to LAYERS in {__file__}")


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_in(source: str, module: str, is_package: bool) -> set[str]:
    """Every labctl module that `source` (the text of `module`) imports, anywhere in it: relative
    imports resolved, and `from pkg import module` counted as importing that module."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}"))
    return {name for name in found if name == "labctl" or name.startswith("labctl.")}


def edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import in labctl/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for target in imports_in(path.read_text(), module, path.name == "__init__.py"):
            found.append((module, target))
    return found


def unit_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for source, target in edges():
        a, b = unit_of(source), unit_of(target)
        if a != b and target != "labctl":
            g.add_edge(a, b)
    return g


def test_the_packages_import_each_other_without_a_cycle() -> None:
    cycles = list(nx.simple_cycles(unit_graph()))
    assert cycles == [], f"import cycles between labctl's packages: {cycles}"


def upward(found: list[tuple[str, str]]) -> list[str]:
    return sorted(
        f"{source} imports {target}"
        for source, target in found
        if target != "labctl" and unit_of(source) not in ENTRY_POINTS and rank(unit_of(target)) > rank(unit_of(source))
    )


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward(edges()) == []


def test_the_cli_imports_only_the_service_layer_and_its_own_helpers() -> None:
    outside = sorted(
        f"{source} imports {target}"
        for source, target in edges()
        if unit_of(source) == "cli" and target != "labctl" and unit_of(target) not in CLI_MAY_IMPORT
    )
    assert outside == []


def test_every_module_is_in_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        rank(unit_of(module_name(path)))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from labctl.compile.plan import LabPlan\n", {"labctl.compile.plan"}),
        ("import labctl.compile.plan\n", {"labctl.compile.plan"}),
        ("def f() -> None:\n    from labctl.demo import spec\n", {"labctl.demo", "labctl.demo.spec"}),
        ("from . import naming\n", {"labctl.compile", "labctl.compile.naming"}),
        ("from .. import errors\n", {"labctl", "labctl.errors"}),
        ("import os\nfrom pathlib import Path\n", set()),
    ],
)
def test_the_import_reader_sees_every_form(source: str, expected: set[str]) -> None:
    """A top-level or lazy import, `from pkg import module`, relative imports; other imports ignored."""
    assert imports_in(source, "labctl.compile.probe", is_package=False) == expected


def test_an_upward_import_and_a_cycle_are_caught() -> None:
    """Negative controls: compile importing lab is upward; lab <-> backends is a cycle."""
    assert upward([("labctl.compile.x", "labctl.lab.lifecycle")]) == ["labctl.compile.x imports labctl.lab.lifecycle"]
    assert upward([("labctl.lab.x", "labctl.compile.plan")]) == []
    cycle = nx.DiGraph([("lab", "backends"), ("backends", "lab")])
    assert list(nx.simple_cycles(cycle)) != []
