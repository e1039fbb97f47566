"""labctl.backends.libvirt.naming: host bridge, tap and domain names, derived from the plan's names."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.backends.libvirt import naming
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.topology.schema import load_topology
from tests.unit.compile.test_naming import TWIN

Compiler = Callable[[str], LabPlan]
REPO = Path(__file__).resolve().parents[4]
SHIPPED = sorted((REPO / "topologies").glob("*.yaml")) + sorted((REPO / "tests" / "golden" / "inputs").glob("*.yaml"))
IFNAME = re.compile(r"^[a-z0-9-]{1,15}$")


def host_names(lab: LabPlan) -> list[str]:
    bridges = [naming.bridge_name(lab.lab, s.name) for s in lab.segments]
    return bridges + [naming.tap_name(lab.lab, n.name, i.name) for n in lab.nodes for i in n.interfaces]


@pytest.mark.parametrize("source", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_host_names_fit_linux_interface_names_and_are_unique(source: Path) -> None:
    lab = compile_topology(load_topology(source))
    names = host_names(lab)
    assert names and all(IFNAME.match(name) for name in names), names
    assert len(names) == len(set(names))
    assert all(naming.bridge_name(lab.lab, s.name).startswith(naming.BRIDGE_PREFIX) for s in lab.segments)


def test_two_labs_with_the_same_segments_get_distinct_host_names(plan: Compiler) -> None:
    first, second = plan(TWIN.format(name="lab-one")), plan(TWIN.format(name="lab-two"))
    assert set(host_names(first)).isdisjoint(host_names(second))


def test_names_are_those_of_the_previous_labctl() -> None:
    """Labs started before the plan lost its host names are still found and removed by `down`."""
    assert naming.bridge_name("voip-demo", "core") == "lb-10aba556ea46"
    assert naming.tap_name("voip-demo", "r1", "core") == "lt-9ac6ad0d1113"
    assert naming.domain_name("voip-demo", "r1") == "labctl_voip-demo_r1"


def test_domain_names_are_prefixed_and_per_lab() -> None:
    assert naming.domain_name("voip-demo", "r1") == "labctl_voip-demo_r1"
    assert naming.domain_name("a", "b-c") != naming.domain_name("a-b", "c")


def test_a_node_s_login_socket_lives_in_its_folder_and_fits_a_unix_socket() -> None:
    folder = Path("/var/lib/labctl/abcdefghijklmnop/nodes")
    longest = "n" * 24  # the longest lab and node names fit under the default state folder
    assert naming.serial_socket(folder, longest) == folder / f"{longest}.serial.sock"
    assert len(str(naming.serial_socket(folder, longest))) <= naming.SOCKET_PATH_MAX
    deep = Path("/" + "d" * 80) / "nodes"
    with pytest.raises(LabctlError, match=r"too long for a unix socket \(107 bytes at most\): set XDG_STATE_HOME"):
        naming.serial_socket(deep, longest)
