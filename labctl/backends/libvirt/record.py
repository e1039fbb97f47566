"""The libvirt backend's record of one node, kept as JSON in the lab state's `nodes`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from labctl.state import LabState, damaged

BRIDGES = "bridges"  # the kinds of host object the libvirt backend records in the lab state
DOMAINS = "domains"


@dataclass
class NodeRecord:
    domain: str
    overlay: str
    console_log: str
    spice_port: int | None = None
    restarts: list[str] = field(default_factory=list)  # why the node was restarted while coming up
    boot: str = ""  # "template <key12>" or "cold", once started
    boot_note: str = ""  # why a node booted cold although templates were allowed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        """TypeError or ValueError when `data` is not such a record."""
        record = cls(**data)
        texts = (record.domain, record.overlay, record.console_log, record.boot, record.boot_note)
        if not all(isinstance(t, str) for t in texts) or not isinstance(record.restarts, list):
            raise ValueError(f"not a libvirt node record: {data!r}")
        if record.spice_port is not None and (
            not isinstance(record.spice_port, int) or isinstance(record.spice_port, bool)
        ):
            raise ValueError(f"spice_port {record.spice_port!r} is not a port")
        return record


def node_record(state: LabState, node: str) -> NodeRecord | None:
    """The node's record, None if the node was not created; a damaged record is a LabctlError."""
    data = state.nodes.get(node)
    if data is None:
        return None
    try:
        return NodeRecord.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise damaged(state.lab, f"the record of node '{node}' in lab '{state.lab}'", exc) from None


def store(state: LabState, node: str, record: NodeRecord) -> None:
    """Put the node's record in the state and persist it at once."""
    state.nodes[node] = record.to_dict()
    state.save()
