"""labctl render (no VM, no root), and `labctl up` refusing a broken template before any VM."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.lab.rendered import STEPS_FILE, read_rendered
from labctl.topology.schema import load_topology
from tests.unit.cli.conftest import REPO, Cli

VOIP = REPO / "topologies" / "voip-demo.yaml"


def test_render_voip_demo_writes_every_nodes_files(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli("render", "voip-demo", "-o", str(out))
    assert run.code == 0, run.stderr
    plan = compile_topology(load_topology(VOIP))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(n.name for n in plan.nodes)
    rendered = read_rendered(out)
    for node in plan.nodes:
        assert (out / node.name / STEPS_FILE).is_file()
        paths = [f.path for step in rendered.nodes[node.name] for f in step.files]
        assert "/etc/hostname" in paths
        for path in paths:
            assert (out / node.name / "files" / path.lstrip("/")).is_file(), f"{node.name}: {path}"
    assert (out / "infra" / "files" / "etc" / "hostname").read_text() == "infra\n"
    assert run.stdout.startswith(f"wrote {sum(len(s.files) for st in rendered.nodes.values() for s in st)} files")
    assert run.stderr.count("\n") == 1 and "placeholder" in run.stderr


def test_render_json_summary_and_a_full_folder(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli("render", "voip-demo", "-o", str(out), "--json")
    summary = json.loads(run.stdout)
    assert set(summary["nodes"]) == {"r1", "r2", "infra", "proxy", "pbx", "alice", "bob", "carol", "dave"}
    assert summary["files"] == sum(summary["nodes"].values()) > 0
    again = cli("render", "voip-demo", "-o", str(out))
    assert again.code == 1
    assert again.stderr.startswith(f"error: {out} exists and is not empty; --force")
    assert cli("render", "voip-demo", "-o", str(out), "--force").code == 0


def test_render_of_an_unknown_topology_is_one_line(cli: Cli, tmp_path: Path) -> None:
    run = cli("render", "voip-dmo", "-o", str(tmp_path / "out"))
    assert run.code == 1 and run.stderr.count("\n") == 1 and "did you mean 'voip-demo'" in run.stderr
    assert not (tmp_path / "out").exists()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize(
    ("template", "culprit"),
    [("{{ node.name }", "unexpected '}'"), ("{{ node.no_such_field }}", "no_such_field")],
    ids=["syntax-error", "undefined-variable"],
)
def test_up_with_a_broken_template_fails_in_seconds_with_file_and_line(
    tmp_path: Path, template: str, culprit: str
) -> None:
    home = tmp_path / "home"
    for folder in ("vm-recipes", "topologies", "demos"):
        shutil.copytree(REPO / folder, home / folder)
    bird = home / "vm-recipes" / "router" / "bird.conf.j2"
    bird.write_text("# one\n" + template + "\n" + bird.read_text())
    state, cache = tmp_path / "state", tmp_path / "cache"
    cache.write_text("a file: should up get as far as building an image, it fails at once\n")
    env = dict(os.environ, LABCTL_HOME=str(home), XDG_STATE_HOME=str(state), XDG_CACHE_HOME=str(cache))
    start, cpu = time.monotonic(), _children_cpu()
    run = subprocess.run(
        [sys.executable, "-m", "labctl", "up", "line"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    seconds, cpu = time.monotonic() - start, _children_cpu() - cpu
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith(f"error: {bird}:2: "), run.stderr
    assert culprit in run.stderr and run.stderr.count("\n") == 1
    assert cpu < 5, f"{cpu:.1f} s of CPU"  # about 1.5 s; the wall clock too, on an idle host
    assert seconds < 30, f"{seconds:.1f} s"  # a loaded host (the whole suite, 2 cores) may stretch it
    assert not (state / "labctl" / "line").exists()
    assert cache.is_file()  # no image was looked for
