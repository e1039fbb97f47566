"""Golden plans: every shipped topology and tests/golden/inputs/*.yaml compile to the bytes in
tests/golden/<name>.plan.json.

After an intended compiler change, regenerate them with one command and review the diff:

    .venv/bin/pytest tests/unit/compile/test_golden.py --regen-golden
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden"
SOURCES = sorted((REPO / "topologies").glob("*.yaml")) + sorted((GOLDEN / "inputs").glob("*.yaml"))
REGEN = ".venv/bin/pytest tests/unit/compile/test_golden.py --regen-golden"


def compiled(path: Path) -> str:
    return compile_topology(load_topology(path)).to_json()


def test_golden_names_are_unique() -> None:
    stems = [p.stem for p in SOURCES]
    assert len(stems) == len(set(stems))
    assert {"voip-demo", "ospf-dns", "line"} <= set(stems)


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_plan_matches_golden(source: Path, regen_golden: bool) -> None:
    golden = GOLDEN / f"{source.stem}.plan.json"
    actual = compiled(source)
    if regen_golden:
        golden.write_bytes(actual.encode())
        return
    assert golden.exists(), f"no golden plan for {source.name}; run {REGEN}"
    assert actual.encode() == golden.read_bytes(), f"plan of {source.name} changed; if intended, run {REGEN}"


def test_every_golden_plan_has_a_source() -> None:
    stems = {p.stem for p in SOURCES}
    orphans = [p.name for p in GOLDEN.glob("*.plan.json") if p.name.removesuffix(".plan.json") not in stems]
    assert orphans == []


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_compiling_twice_gives_identical_bytes(source: Path) -> None:
    assert compiled(source) == compiled(source)


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_plan_does_not_depend_on_where_the_file_lives(source: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / source.name
    moved.parent.mkdir()
    shutil.copy(source, moved)
    plan = compiled(moved)
    assert plan == compiled(source)
    for place in (str(REPO), str(tmp_path), str(Path.home())):
        assert place not in plan
    assert '"source": "' + source.name + '"' in plan


def test_plan_does_not_depend_on_hash_seed() -> None:
    """Set and dict iteration must never leak into the plan: compile in processes with other seeds."""
    script = (
        "import sys; from pathlib import Path; "
        "from labctl.compile import compile_topology; from labctl.topology.schema import load_topology; "
        "sys.stdout.write(''.join(compile_topology(load_topology(Path(p))).to_json() for p in sys.argv[1:]))"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script, *map(str, SOURCES)],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs == {"".join(compiled(p) for p in SOURCES)}
