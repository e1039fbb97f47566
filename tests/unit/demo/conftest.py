"""Plans and probe helpers shared by the demo tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.base import ExecResult
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types, probes_for
from labctl.demo.model import Probe, Verdict
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]

Probes = Callable[..., list[Probe]]
Judge = Callable[..., Verdict]


def shipped_plan(name: str) -> LabPlan:
    return compile_topology(load_topology(REPO / "topologies" / f"{name}.yaml"))


@pytest.fixture(scope="session")
def ospf_dns() -> LabPlan:
    return shipped_plan("ospf-dns")


@pytest.fixture
def probes(ospf_dns: LabPlan) -> Probes:
    """probes(check, plan=ospf-dns, **params): the probes a demo entry expands into."""
    check_types()

    def expand(check: str, plan: LabPlan | None = None, **params: Any) -> list[Probe]:
        return probes_for(check, plan or ospf_dns, params)

    return expand


@pytest.fixture
def judge() -> Callable[..., Verdict]:
    """judge(probe, stdout, exit_code=0, stderr=''): the probe's verdict on that output."""

    def run(probe: Probe, stdout: str, exit_code: int = 0, stderr: str = "") -> Verdict:
        return probe.judge(ExecResult(exit_code, stdout, stderr))

    return run
