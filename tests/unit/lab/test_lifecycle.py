"""labctl.lab.lifecycle.down: it must clean up even when the saved state is damaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.lab import lifecycle
from labctl.state import LabState, lab_folder, load_state


class RecordingBackend:
    """Only what down() touches: destroy, which records what it was asked to remove."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, LabState | None]] = []

    def destroy(self, lab: str, state: LabState | None, progress: object) -> list[str]:
        self.calls.append((lab, state))
        return [f"domain labctl_{lab}_a"]


def test_down_after_a_damaged_state_still_removes_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    folder = lab_folder("broken")
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{not json")
    with pytest.raises(LabctlError, match="`labctl down broken` removes the lab"):
        load_state("broken")
    backend = RecordingBackend()
    removed = lifecycle.down(backend, "broken", lambda _n, _m: None)  # type: ignore[arg-type]
    assert removed == ["domain labctl_broken_a"]
    assert backend.calls == [("broken", None)]
    assert not folder.exists()
