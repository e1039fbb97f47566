"""labctl.service.runnable: `validate` refuses what `up` cannot run (issue 8 §4): a missing demo or
image, a demo whose checks do not fit the plan, nodes bigger than the host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.errors import TopologyError
from labctl.service.runnable import Host, check_runnable, demo_problems
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
BIG = Host(memory_mib=1 << 20, cpus=64)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder of our own: the shipped roles, image recipe and demos, plus what a test adds."""
    shutil.copytree(REPO / "vm-recipes", tmp_path / "vm-recipes")
    shutil.copytree(REPO / "demos", tmp_path / "demos")
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    return tmp_path


def problems(text: str, host: Host | None = BIG) -> list[str]:
    topo = load_topology(Path("t.yaml"), text)
    with pytest.raises(TopologyError) as caught:
        check_runnable(topo, compile_topology(topo), host)
    return [str(p) for p in caught.value.problems]


def runs(text: str, host: Host | None = BIG) -> None:
    topo = load_topology(Path("t.yaml"), text)
    check_runnable(topo, compile_topology(topo), host)


@pytest.mark.parametrize("name", ["line", "ospf-dns", "voip-demo"])
def test_shipped_topologies_are_runnable(name: str) -> None:
    topo = load_topology(REPO / "topologies" / f"{name}.yaml")
    check_runnable(topo, compile_topology(topo), BIG)


def test_a_missing_demo_is_refused_at_its_line(home: Path) -> None:
    assert problems("name: lab\nnodes:\n  a: {}\ndemo: ospf-dsn\n") == [
        "t.yaml:4: demo 'ospf-dsn' does not exist (no demos/ospf-dsn.yaml) (did you mean 'ospf-dns'?)"
    ]


def test_a_missing_image_is_refused_at_the_line_that_names_it(home: Path) -> None:
    text = (
        "name: lab\ndefaults: {image: debian13-lab}\nnodes:\n  a: {}\n  b: {image: debian12-lab}\n  c: {image: nope}\n"
        "lans:\n  l: [a, b, c]\n"
    )
    assert problems(text) == [
        "t.yaml:2: image 'debian13-lab' has no recipe (no vm-recipes/images/debian13-lab.yaml)"
        " (did you mean 'debian12-lab'?)",
        "t.yaml:6: image 'nope' has no recipe (no vm-recipes/images/nope.yaml) (known: debian12-desktop, debian12-lab)",
    ]


def test_an_image_recipe_of_the_wrong_shape_is_refused_in_its_own_file(home: Path) -> None:
    recipe = home / "vm-recipes" / "images" / "broken.yaml"
    recipe.write_text("suite: bookworm\nmirror: http://x\nkernel: k\npackages: 5\nsize_mib: lots\n")
    assert problems("name: lab\nnodes:\n  a: {image: broken}\n") == [
        f"{recipe}:4: 'packages' must be a list of names without spaces",
        f"{recipe}:5: 'size_mib' must be a whole number from 1024 to 1048576",
    ]


def test_a_demo_whose_checks_name_unknown_nodes_is_refused_at_the_check(home: Path) -> None:
    (home / "demos" / "mine.yaml").write_text("checks:\n  - ping_by_name: {}\n  - dns: {from: ghost, name: a}\n")
    found = problems("name: lab\nnodes:\n  a: {}\n  b: {}\nlans:\n  l: [a, b]\ndemo: mine\n")
    assert len(found) == 1
    assert found[0].startswith(f"{home / 'demos' / 'mine.yaml'}:3: ")
    assert "ghost" in found[0]


def test_an_invalid_demo_file_is_refused_in_its_own_file(home: Path) -> None:
    (home / "demos" / "bad.yaml").write_text("checks:\n  - pnig: {}\n")
    found = problems("name: lab\nnodes:\n  a: {}\ndemo: bad\n")
    assert found[0].startswith(f"{home / 'demos' / 'bad.yaml'}:2: unknown check type 'pnig'")


def test_a_good_demo_and_image_pass(home: Path) -> None:
    runs("name: lab\nnodes:\n  a: {image: debian12-lab}\n  b: {}\nlans:\n  l: [a, b]\n")


def test_nodes_must_fit_the_host() -> None:
    host = Host(memory_mib=2048, cpus=2)
    runs("name: lab\nnodes:\n  a: {memory: 2048, vcpus: 2}\n", host)
    assert problems("name: lab\nnodes:\n  a: {memory: 2049}\n  b: {vcpus: 3}\nlans:\n  l: [a, b]\n", host) == [
        "t.yaml:3: memory (MiB) of node 'a' is 2049; this host has 2048 MiB",
        "t.yaml:4: vcpus of node 'b' is 3; this host has 2 CPUs",
    ]


def test_a_shared_default_too_big_for_the_host_is_reported_once() -> None:
    host = Host(memory_mib=1024, cpus=1)
    text = "name: lab\ndefaults: {memory: 4096}\nnodes:\n  a: {}\n  b: {}\n  c: {}\nlans:\n  l: [a, b, c]\n"
    assert problems(text, host) == ["t.yaml:2: memory (MiB) of node 'a' is 4096; this host has 1024 MiB"]


def test_all_nodes_together_must_fit_the_host_memory() -> None:
    host = Host(memory_mib=1000, cpus=4)
    text = "name: lab\nnodes:\n  a: {memory: 600}\n  b: {memory: 600}\nlans:\n  l: [a, b]\n"
    assert problems(text, host) == ["t.yaml:2: the nodes need 1200 MiB of memory together; this host has 1000 MiB"]


def test_without_a_host_only_the_files_are_checked() -> None:
    runs("name: lab\nnodes:\n  a: {memory: 900000, vcpus: 64}\n", None)


def test_this_host_is_measured() -> None:
    host = Host.this()
    assert host.memory_mib > 64 and host.cpus >= 1


def test_a_demo_file_beside_the_topology_is_found_there_and_a_missing_one_is_named(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text("name: lab\nnodes:\n  a: {}\ndemo: mine.yaml\n")
    topo = load_topology(tmp_path / "lab.yaml")
    problems = demo_problems(topo, compile_topology(topo))
    assert [p.message for p in problems] == [f"demo 'mine.yaml' does not exist (no file {tmp_path / 'mine.yaml'})"]
    (tmp_path / "mine.yaml").write_text("checks:\n  - ping_by_name: {from: a, to: a}\n")
    problems = demo_problems(topo, compile_topology(topo))
    assert len(problems) == 1 and str(problems[0].path) == str(tmp_path / "mine.yaml"), problems
