"""labctl.lab.lifecycle renders the whole lab before the backend is touched: a broken template ends
`up` with its file:line and leaves nothing behind; a good lab's rendered/ is what gets pushed."""

from __future__ import annotations

import io
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from labctl.backends.base import ExecResult, FileSpec
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import RecipeError
from labctl.lab import lifecycle
from labctl.lab.rendered import RENDERED_DIR, read_rendered
from labctl.render.lab import render_plan
from labctl.state import LabState, lab_folder, load_state
from labctl.state.lab_state import state_root
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
LINE = REPO / "topologies" / "line.yaml"


def unpack(archive: bytes) -> list[FileSpec]:
    """The files of a step's archive (labctl.lab.step_script), with the owners named in it."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        return [
            FileSpec("/" + m.name, tar.extractfile(m).read(), f"{m.mode:04o}", f"{m.uname}:{m.gname}")  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


class RecordingBackend:
    """Every call in order; guests answer every command with success."""

    name = "fake"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.written: dict[str, dict[str, FileSpec]] = {}

    def check_host(self) -> None:
        self.calls.append("check_host")

    def accel(self) -> str:
        return "tcg"

    def create(self, plan: LabPlan, state: LabState, progress: object) -> None:
        self.calls.append("create")

    def wait_ready(self, state: LabState, node: str, timeout: float, progress: object = None) -> None:
        self.calls.append(f"wait_ready {node}")

    def exec(self, state: LabState, node: str, command: str, timeout: float, stdin: bytes | None = None) -> ExecResult:
        """The files a step's script carries are recorded; its markers answer that every part ran."""
        self.calls.append(f"exec {node}")
        if stdin is not None:
            self.written.setdefault(node, {}).update({f.path: f for f in unpack(stdin)})
        nonce = re.search(r"@@labctl:%s:%s\\n' ([0-9a-f]+) ", command)
        return ExecResult(0, f"@@labctl:{nonce.group(1)}:done\n" if nonce else "", "")

    def destroy(self, lab: str, state: LabState | None, progress: object) -> list[str]:
        self.calls.append("destroy")
        return []


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def broken_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> Path:
    """A copy of vm-recipes (LABCTL_HOME) whose router bird.conf.j2 has `template` at line 3."""
    home = tmp_path / "home"
    shutil.copytree(REPO / "vm-recipes", home / "vm-recipes")
    bird = home / "vm-recipes" / "router" / "bird.conf.j2"
    bird.write_text("# one\n# two\n" + template + "\n" + bird.read_text())
    monkeypatch.setenv("LABCTL_HOME", str(home))
    return bird


def up(backend: RecordingBackend) -> lifecycle.UpResult:
    plan = compile_topology(load_topology(LINE))
    return lifecycle.up(backend, plan, str(LINE), lambda _n, _m: None, lambda _t: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "culprit"),
    [("{{ node.name }", "unexpected '}'"), ("{{ node.no_such_field }}", "no_such_field")],
    ids=["syntax-error", "undefined-variable"],
)
def test_a_broken_template_fails_up_before_any_backend_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, culprit: str
) -> None:
    bird = broken_recipes(tmp_path, monkeypatch, template)
    calls: list[str] = []
    with pytest.raises(RecipeError) as caught:
        up(RecordingBackend(calls))
    assert str(caught.value).startswith(f"{bird}:3: ")
    assert culprit in str(caught.value)
    assert calls == []
    assert not lab_folder("line").exists()  # no state, no secrets, no rendered files
    assert [p.name for p in state_root().iterdir()] == [".line.lock"]


def test_a_host_that_cannot_run_labs_leaves_no_secrets_behind(tmp_path: Path) -> None:
    class NoHost(RecordingBackend):
        def check_host(self) -> None:
            raise RuntimeError("no KVM")

    with pytest.raises(RuntimeError):
        up(NoHost([]))
    assert not lab_folder("line").exists()


def test_up_renders_first_writes_rendered_and_pushes_exactly_that(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = render_plan

    def recorded(*args: object, **kwargs: object) -> object:
        calls.append("render")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("labctl.lab.configure.render_plan", recorded)
    backend = RecordingBackend(calls)
    result = up(backend)
    assert calls[:3] == ["render", "check_host", "create"]
    assert calls.count("render") == 1  # nothing is rendered after boot
    saved = read_rendered(result.state.folder / RENDERED_DIR)
    assert set(saved.nodes) == {"a", "r", "b"}
    for node, steps in saved.nodes.items():
        expected = {f.path: (f.content.encode(), f.mode, f.owner) for s in steps for f in s.files}
        pushed = {p: (f.data, f.mode, f.owner) for p, f in backend.written[node].items()}
        assert pushed == expected
    assert (result.state.folder / RENDERED_DIR / "r" / "files" / "etc" / "bird" / "bird.conf").is_file()


def test_reconfigure_renders_the_saved_plan_again_and_rewrites_rendered(tmp_path: Path) -> None:
    result = up(RecordingBackend([]))
    stale = result.state.folder / RENDERED_DIR / "stale"
    stale.write_text("old\n")
    state = load_state("line")
    assert state is not None
    backend = RecordingBackend([])
    lifecycle.reconfigure(backend, state, lambda _n, _m: None)  # type: ignore[arg-type]
    assert not stale.exists()
    assert set(backend.written) == {"a", "r", "b"}
    assert read_rendered(state.folder / RENDERED_DIR).nodes.keys() == {"a", "r", "b"}
