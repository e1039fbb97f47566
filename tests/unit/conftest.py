"""Shared fixtures for unit tests, and the `--regen-golden` option.

Golden plans live in tests/golden/, golden renders in tests/golden/rendered/; after an intended
change to the compiler or to a recipe, rewrite them with

    .venv/bin/pytest tests/unit/compile/test_golden.py tests/unit/render/test_render.py --regen-golden

and review the diff before committing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.topology.model import Topology
from labctl.topology.schema import load_topology


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite the golden plans and renders under tests/golden/ from the current code instead of comparing",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("regen_golden", default=False))


@pytest.fixture
def topology() -> Callable[[str], Topology]:
    """Build a Topology from YAML text (dedented), reported as 'test.yaml'."""

    def load(text: str) -> Topology:
        return load_topology(Path("test.yaml"), textwrap.dedent(text))

    return load


@pytest.fixture
def plan(topology: Callable[[str], Topology]) -> Callable[[str], LabPlan]:
    """Compile YAML text straight to a LabPlan."""

    def compile_text(text: str) -> LabPlan:
        return compile_topology(topology(text))

    return compile_text
