"""What a backend must do. The libvirt backend is the first; a netns-container backend or
remote libvirt hosts joined by VXLAN would implement the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from labctl.compile.plan import LabPlan, NetemPlan
from labctl.state import LabState


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class FileSpec:
    path: str
    data: bytes
    mode: str = "0644"
    owner: str = "root:root"


Progress = Callable[[str, str], None]
"""progress(node, message): how a backend tells the CLI what it is doing, without knowing about terminals."""


class Backend(Protocol):
    name: str

    def check_host(self) -> None:
        """Raise LabctlError with a fix when the host cannot run labs."""

    def accel(self) -> str:
        """'kvm' or 'tcg'."""

    def create(self, plan: LabPlan, state: LabState, progress: Progress) -> None:
        """Create segments and start every node (recording each object in `state` first)."""

    def wait_ready(self, state: LabState, node: str, timeout: float, progress: Progress | None = None) -> None:
        """Wait until `node` accepts exec/write_file while it makes progress (at most `timeout` s per
        boot attempt); raise LabctlError naming it and what failed otherwise."""

    def destroy(self, lab: str, state: LabState | None, progress: Progress) -> list[str]:
        """Remove every object of the lab (recorded or found by its labels); return what was removed."""

    def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
        """Run a shell command on the node."""

    def write_files(self, state: LabState, node: str, files: list[FileSpec]) -> None:
        """Write files on the node, creating folders, then setting mode and owner."""

    def set_link(self, state: LabState, node: str, interface: str, up: bool) -> None:
        """Take one attachment down or up."""

    def set_netem(self, state: LabState, node: str, interface: str, netem: NetemPlan | None) -> None:
        """Apply (or clear) delay/jitter/loss on traffic leaving the node through one interface."""

    def node_status(self, state: LabState, node: str) -> str:
        """'running', 'shut off', 'missing', ..."""

    def console(self, state: LabState, node: str) -> None:
        """Attach the terminal to the node's serial console."""
