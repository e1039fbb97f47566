"""What a backend must do. The libvirt backend is the first; a netns-container backend or
remote libvirt hosts joined by VXLAN would implement the same methods (see labctl.backends.registry).

The lab state is backend-neutral: a backend records the host objects it is about to create with
`state.record(kind, name)` (kinds are its own words) and keeps its own record of each node in
`state.nodes[node]` (JSON). Nothing outside the backend reads either: callers ask `node_info`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labctl.compile.plan import LabPlan, NetemPlan
from labctl.state import LabState

SPICE_SECRET = "spice_password"
"""The lab secret that opens every SPICE display of a lab (a backend that has such displays makes it)."""


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


@dataclass(frozen=True)
class NodeInfo:
    """What `status` shows of one node, in words every backend can fill."""

    status: str  # "running", "shut off", "missing", ...
    display: str | None = None  # a URI a remote viewer opens (e.g. spice://...), if the node has a display
    restarts: tuple[str, ...] = ()  # why the node was restarted while coming up
    details: dict[str, Any] = field(default_factory=dict)  # the backend's own facts (JSON), shown as they are
    serial: str | None = None  # a unix socket carrying the node's login console (a getty), if it has one


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
        """Wait until `node` accepts exec while it makes progress (at most `timeout` s per
        boot attempt); raise LabctlError naming it and what failed otherwise."""

    def destroy(self, lab: str, state: LabState | None, progress: Progress) -> list[str]:
        """Remove every object of the lab (recorded or found by its labels); return what was removed."""

    def leftovers(self, plan: LabPlan) -> list[str]:
        """What of the plan's lab exists on the host (found by name and label, without state)."""

    def exec(self, state: LabState, node: str, command: str, timeout: float, stdin: bytes | None = None) -> ExecResult:
        """Run a shell command on the node, fed `stdin` (nothing when None), and return its exit
        code and output. A role step's files reach the node this way, as an archive the command
        extracts (see labctl.lab.step_script), so a backend needs no call of its own to write files."""

    def read_file(self, state: LabState, node: str, path: str, limit: int) -> bytes:
        """The bytes of one file on the node; LabctlError if it cannot be read or holds more than `limit`."""

    def set_link(self, state: LabState, node: str, interface: str, up: bool) -> None:
        """Take one attachment down or up."""

    def set_netem(self, state: LabState, node: str, interface: str, netem: NetemPlan | None) -> None:
        """Apply (or clear) delay/jitter/loss on traffic leaving the node through one interface."""

    def capture_device(self, state: LabState, node: str, interface: str) -> str:
        """The host network device that carries one attachment's traffic, both ways, for a packet
        capture on the host (tcpdump -i); LabctlError when there is none (the node is not running)."""

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        """The node's status, display and the backend's own details (a node not created yet is 'missing')."""

    def console(self, state: LabState, node: str) -> None:
        """Attach the terminal to the node's serial console."""

    def export_disk(self, state: LabState, node: str, dest: Path) -> None:
        """Write a consistent copy of the running node's disk changes (over its image) to `dest`, a
        new file; a backend given such a copy for the node boots the node from it."""

    def snapshot(self, state: LabState, name: str, progress: Progress) -> None:
        """Save every node's memory and disk state into the lab's snapshot folder `name` (made empty
        by the caller), as one moment: no node is saved before every node is paused. The lab then
        runs on, clocks set. On a failure the lab is put back as it was where it can be, files that
        nothing uses are removed, and one line says what failed."""

    def reset(self, state: LabState, name: str, progress: Progress) -> None:
        """Bring every node back to the moment of the complete snapshot `name` (the caller checked it
        fits the lab), clocks set; one line naming the nodes that could not be."""
