"""labctl.state.saved_plan: the plan saved in a lab's state comes back equal to the compiled one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.state import LabState, load_state, saved_plan
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
SOURCES = sorted((REPO / "topologies").glob("*.yaml")) + sorted((REPO / "tests" / "golden" / "inputs").glob("*.yaml"))


def compiled(path: Path) -> LabPlan:
    return compile_topology(load_topology(path))


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_round_trip_through_json_gives_the_same_plan(source: Path) -> None:
    plan = compiled(source)
    state = LabState(lab=plan.lab, backend="libvirt", topology=str(source), plan=json.loads(plan.to_json()))
    rebuilt = saved_plan(state)
    assert rebuilt == plan
    assert rebuilt.to_json() == plan.to_json()
    assert all(isinstance(n.interfaces, tuple) for n in rebuilt.nodes)
    assert isinstance(rebuilt.hosts, tuple) and all(isinstance(h, tuple) for h in rebuilt.hosts)


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_round_trip_through_the_state_file(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    plan = compiled(source)
    LabState(lab=plan.lab, backend="libvirt", topology=str(source), plan=plan.to_dict()).save()
    state = load_state(plan.lab)
    assert state is not None
    assert saved_plan(state) == plan


def test_netem_and_optional_parts_survive() -> None:
    campus = compiled(REPO / "tests" / "golden" / "inputs" / "campus.yaml")
    rebuilt = saved_plan(LabState(lab="c", backend="x", topology="t", plan=json.loads(campus.to_json())))
    shaped = [i for n in rebuilt.nodes for i in n.interfaces if i.netem is not None]
    assert shaped and shaped == [i for n in campus.nodes for i in n.interfaces if i.netem is not None]
    assert rebuilt.sip == campus.sip and rebuilt.sip is not None
    assert [n.phone for n in rebuilt.nodes] == [n.phone for n in campus.nodes]
