"""The validated topology: what the user asked for, with defaults applied and names checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SIP_REGISTRAR = "sip-registrar"
"""The capability of the roles a phone can register with (they declare `provides: [sip-registrar]`)."""


@dataclass(frozen=True)
class Netem:
    """Impairment on one attachment, in tc-netem syntax ('50ms', '1%')."""

    delay: str | None = None
    jitter: str | None = None
    loss: str | None = None

    def is_empty(self) -> bool:
        return self.delay is None and self.jitter is None and self.loss is None


@dataclass(frozen=True)
class PhoneSpec:
    user: str
    registrar: str


@dataclass(frozen=True)
class DesktopSpec:
    """A graphical session on the node's SPICE display (`desktop: true`, or a mapping)."""

    sound: str = "spice"  # "spice": to the SPICE client; "file": recorded to <lab>/<node>.audio.wav


@dataclass(frozen=True)
class NodeSpec:
    name: str
    roles: tuple[str, ...]
    memory: int
    vcpus: int
    image: str
    phone: PhoneSpec | None = None
    desktop: DesktopSpec | None = None

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class LinkSpec:
    """A point-to-point link between two nodes."""

    a: str
    b: str
    netem: Netem = field(default_factory=Netem)


@dataclass(frozen=True)
class LanSpec:
    """A named broadcast segment."""

    name: str
    members: tuple[str, ...]
    netem: Netem = field(default_factory=Netem)


@dataclass(frozen=True)
class Addressing:
    loopback: str = "10.0.0.0/24"
    p2p: str = "10.255.0.0/24"
    lan: str = "10.10.0.0/16"


@dataclass(frozen=True)
class SipUser:
    name: str
    password: str
    extension: str


@dataclass(frozen=True)
class SipSpec:
    domain: str
    users: tuple[SipUser, ...]


@dataclass(frozen=True)
class Topology:
    name: str
    description: str
    domain: str
    nodes: tuple[NodeSpec, ...]
    links: tuple[LinkSpec, ...]
    lans: tuple[LanSpec, ...]
    addressing: Addressing
    sip: SipSpec | None
    demo: str | None
    source: Path
    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, compare=False, repr=False)
    """The source line of each value by its key path, for checks made after validation."""

    def line(self, key: tuple[str | int, ...]) -> int:
        """The line of the value at `key`, or of its nearest located parent (1 when unknown)."""
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key, 1)

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)

    def with_role(self, role: str) -> list[NodeSpec]:
        return [n for n in self.nodes if n.has(role)]
