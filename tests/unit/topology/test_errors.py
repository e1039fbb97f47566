"""The bad-topology corpus: tests/errors/<name>.yaml must fail with exactly <name>.expected.

Each corpus file starts with `# culprit: <text>`, the value its message must name.
Files are loaded under their bare name, so expected lines read `<name>.yaml:<line>: <message>`.
The hostile-*.yaml cases (issue 8: nesting, hostile strings, absurd sizes, missing demo or image)
are written by `python tests/errors/hostile.py`; every .expected file is written by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.errors import FileError
from labctl.service.runnable import check_runnable
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "errors"
CASES = sorted(CORPUS.glob("*.yaml"))
CULPRIT_PREFIX = "# culprit: "


def validate(path: Path) -> FileError:
    """What `labctl validate` does (load, compile, then check its demo and images), returning the error it raises.

    Host limits are left out: they depend on the machine; tests/unit/service/test_runnable.py covers them.
    """
    with pytest.raises(FileError) as caught:
        topo = load_topology(Path(path.name), path.read_text(encoding="utf-8"))
        check_runnable(topo, compile_topology(topo), host=None)
    return caught.value


def culprit(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(CULPRIT_PREFIX), f"{path.name} must start with '{CULPRIT_PREFIX}<value>'"
    return first.removeprefix(CULPRIT_PREFIX).strip()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len([p for p in CASES if p.name.startswith("hostile-")]) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_topology_is_refused_with_expected_message(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    lines = validate(path).lines()
    assert 1 <= len(lines) <= 3
    assert lines == expected
    for line in lines:
        assert line.startswith(f"{path.name}:")
    messages = "\n".join(line.split(": ", 1)[1] for line in lines)
    assert culprit(path) in messages


def test_every_expected_file_has_its_topology() -> None:
    orphans = [p.name for p in CORPUS.glob("*.expected") if not p.with_suffix(".yaml").exists()]
    assert orphans == []


def test_alias_bomb_is_refused_fast() -> None:
    start = time.perf_counter()
    validate(CORPUS / "alias-bomb.yaml")
    assert time.perf_counter() - start < 1.0


def test_error_lines_are_capped_at_three() -> None:
    text = "name: many\nnodes:\n" + "".join(f"  n{i}: {{memory: 0}}\n" for i in range(10))
    with pytest.raises(FileError) as caught:
        load_topology(Path("many.yaml"), text)
    lines = caught.value.lines()
    assert len(caught.value.problems) == 10
    assert lines[:2] == [f"many.yaml:{n}: memory (MiB) must be at least 64, not 0" for n in (3, 4)]
    assert lines[2] == "... and 8 more problems"


CLI_CASES = [
    "unknown-role",
    "duplicate-key-nested",
    "alias-bomb",
    "empty",
    "hostile-deep-flow",
    "hostile-deep-aliases",
    "hostile-password-ldif-injection",
    "hostile-node-name-ansi",
    "hostile-unknown-key-ansi",
    "hostile-unknown-key-markup",
    "hostile-name-markup",
    "hostile-description-ansi",
    "hostile-memory-huge",
    "hostile-vcpus-huge",
    "hostile-demo-missing",
    "hostile-image-missing",
    "format-newer",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_validate_prints_at_most_three_lines_and_exits_1(name: str, tmp_path: Path) -> None:
    shutil.copy(CORPUS / f"{name}.yaml", tmp_path)
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="300", PYTHONPATH=str(REPO))  # this checkout's labctl
    result = subprocess.run(
        [sys.executable, "-c", "from labctl.cli import main; main()", "validate", f"{name}.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    stderr = result.stderr.splitlines()
    assert 1 <= len(stderr) <= 3
    expected = (CORPUS / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    assert stderr == [f"error: {line}" for line in expected]
    assert "\x1b" not in result.stdout + result.stderr
