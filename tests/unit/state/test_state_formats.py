"""Every lab state format loads: a lab brought up by an older labctl can still be shown, used and
removed (tests/fixtures/state/v<N>.json, one per format); a newer or damaged one is one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.state import STATE_FORMAT, LabState, load_state, saved_plan
from labctl.state.lab_state import lab_folder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "state"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "labctl"


def install(state_home: Path, data: dict[str, Any] | None = None, version: int = STATE_FORMAT) -> None:
    """A lab folder holding the fixture of `version` (or `data`) as its state.json."""
    (state_home / "line").mkdir(parents=True, mode=0o700)
    if data is None:
        shutil.copy(FIXTURES / f"v{version}.json", state_home / "line" / "state.json")
    else:
        (state_home / "line" / "state.json").write_text(json.dumps(data))


def fixture(version: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"v{version}.json").read_text())
    return data


def loaded() -> LabState:
    state = load_state("line")
    assert state is not None
    return state


@pytest.mark.parametrize("version", range(1, STATE_FORMAT + 1))
def test_a_state_of_every_format_loads_as_the_current_one(state_home: Path, version: int) -> None:
    install(state_home, version=version)
    state = loaded()
    assert state.format == STATE_FORMAT
    assert (state.lab, state.backend, state.phase, state.accel, state.links_down) == (
        "line",
        "libvirt",
        "up",
        "tcg",
        [["a", "r"]],
    )
    assert state.objects == {
        "bridges": ["lb-7234696bfa7f", "lb-288fe0946898"],
        "domains": ["labctl_line_a", "labctl_line_r", "labctl_line_b"],
    }
    assert sorted(state.nodes) == ["a", "b", "r"]
    assert state.nodes["r"]["restarts"] == ["the node reset and booted again"]
    assert saved_plan(state) == saved_plan(LabState(**fixture(STATE_FORMAT)))


def test_a_migrated_state_is_saved_in_the_current_format(state_home: Path) -> None:
    install(state_home, version=1)
    loaded().save()
    again = json.loads((lab_folder("line") / "state.json").read_text())
    assert again == fixture(STATE_FORMAT) | {"plan": fixture(1)["plan"]}  # the plan keeps its own format


def test_a_state_from_a_newer_labctl_is_refused_in_one_line(state_home: Path) -> None:
    install(state_home, fixture(STATE_FORMAT) | {"format": STATE_FORMAT + 1})
    with pytest.raises(LabctlError) as caught:
        load_state("line")
    assert str(caught.value) == (
        f"lab state {state_home / 'line' / 'state.json'} was written by a newer labctl "
        f"(format {STATE_FORMAT + 1}; this labctl reads up to {STATE_FORMAT})"
    )


@pytest.mark.parametrize(
    ("version", "damage"),
    [(1, "bridges"), (1, "domains"), (STATE_FORMAT, "lab")],
)
def test_a_damaged_state_says_that_down_removes_the_lab(state_home: Path, version: int, damage: str) -> None:
    data = fixture(version)
    del data[damage]
    install(state_home, data)
    with pytest.raises(LabctlError) as caught:
        load_state("line")
    message = str(caught.value)
    assert " is damaged (" in message and "\n" not in message
    assert message.endswith("`labctl down line` removes the lab")


@pytest.mark.parametrize(
    ("field", "value"),
    [("objects", {"domains": "labctl_line_a"}), ("objects", []), ("nodes", {"a": "labctl_line_a"}), ("nodes", [])],
)
def test_objects_and_nodes_of_the_wrong_shape_are_damage(state_home: Path, field: str, value: object) -> None:
    install(state_home, fixture(STATE_FORMAT) | {field: value})
    with pytest.raises(LabctlError, match=r"is damaged \(its (objects|nodes) are not"):
        load_state("line")
