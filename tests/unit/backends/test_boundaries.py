"""labctl.lab orchestrates without knowing which backend runs the lab; the backends sit below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "labctl"


def imported(folder: Path) -> dict[str, set[str]]:
    """module file -> every module it imports (at any depth of the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE.parent))] = names
    return found


def test_lab_imports_no_backend_implementation() -> None:
    bad = {f: n for f, ns in imported(PACKAGE / "lab").items() for n in ns if n.startswith("labctl.backends.libvirt")}
    assert bad == {}


def test_lab_uses_no_libvirt_words() -> None:
    words = ("libvirt", "domain_name", "bridge_name", "tap_name", "spice_port", "overlay", "console_log")
    bad = [
        (path.name, word)
        for path in sorted((PACKAGE / "lab").rglob("*.py"))
        for word in words
        if word in path.read_text()
    ]
    assert bad == []


def test_backends_do_not_import_the_orchestration() -> None:
    bad = {f: n for f, ns in imported(PACKAGE / "backends").items() for n in ns if n.startswith("labctl.lab")}
    assert bad == {}
