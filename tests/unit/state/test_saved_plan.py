"""labctl.state.saved_plan: the plan saved in a lab's state comes back equal to the compiled one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.libvirt.naming import bridge_name, tap_name
from labctl.compile import compile_topology
from labctl.compile.plan import PLAN_FORMAT, LabPlan
from labctl.errors import LabctlError
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


FIXTURES = REPO / "tests" / "fixtures" / "plan"


def fixture(version: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"v{version}.json").read_text())
    return data


@pytest.mark.parametrize("version", range(1, PLAN_FORMAT + 1))
def test_a_plan_saved_in_every_format_loads_as_the_current_plan(version: int) -> None:
    """A lab brought up by an older labctl keeps working: its saved plan is migrated on load."""
    state = LabState(lab="line", backend="libvirt", topology="t", plan=fixture(version))
    plan = saved_plan(state)
    assert plan.format == PLAN_FORMAT
    assert json.loads(plan.to_json()) == fixture(PLAN_FORMAT)
    assert state.plan == fixture(version)  # the saved plan itself is left as it was


def test_format_1_held_the_host_names_that_format_2_leaves_to_the_backend() -> None:
    old = fixture(1)
    assert [b["name"] for b in old["bridges"]] == [bridge_name("line", b["segment"]) for b in old["bridges"]]
    assert all(
        (i["bridge"], i["tap"]) == (bridge_name("line", i["segment"]), tap_name("line", n["name"], i["name"]))
        for n in old["nodes"]
        for i in n["interfaces"]
    )


def test_a_plan_from_a_newer_labctl_is_refused_in_one_line() -> None:
    state = LabState(lab="line", backend="libvirt", topology="t", plan=fixture(PLAN_FORMAT) | {"format": 99})
    with pytest.raises(LabctlError) as caught:
        saved_plan(state)
    assert str(caught.value) == (
        f"the plan saved in lab 'line' was written by a newer labctl (format 99; this labctl reads up to {PLAN_FORMAT})"
    )


@pytest.mark.parametrize("version", range(1, PLAN_FORMAT + 1))
def test_a_damaged_plan_says_that_down_removes_the_lab(version: int) -> None:
    data = fixture(version)
    del data["nodes"][0]["interfaces"][0]["segment"]
    with pytest.raises(LabctlError) as caught:
        saved_plan(LabState(lab="line", backend="libvirt", topology="t", plan=data))
    message = str(caught.value)
    assert message.startswith("the plan saved in lab 'line' is damaged (") and "\n" not in message
    assert message.endswith("`labctl down line` removes the lab")


def test_a_format_2_plan_learns_each_users_home_from_its_phones() -> None:
    """Format 3 added the home server of each SIP user; a format-2 plan gets it from its phones."""
    voip = compile_topology(load_topology(REPO / "topologies" / "voip-demo.yaml"))
    old = json.loads(voip.to_json())
    for account in old["sip"]["accounts"]:
        del account["home"], account["home_fqdn"]
    old["format"] = 2
    rebuilt = saved_plan(LabState(lab="voip-demo", backend="libvirt", topology="t", plan=old))
    assert rebuilt == voip
    assert {a.user: a.home for a in rebuilt.sip.accounts} == {  # type: ignore[union-attr]
        "alice": "proxy",
        "bob": "proxy",
        "carol": "pbx",
        "dave": "pbx",
    }
