"""The service layer: the one way into labctl for the CLI, bench/ and the tests.

    topology (load, validate) -> compile (pure) -> render (pure) -> service -> lab (waves)
      -> backend registry (libvirt) ;  demo (command + pure judge) -> report

Each module is a group of verbs: `topologies` (load, plan, graph), `images`, `host`, `labs`
(up, down, status, ls, exec, console, reconfigure, secrets), `links` (link faults, netem) and
`verify` (demos), `rendering` (what `up` would push, with no VM), `snapshots` (whole-lab snapshot, reset),
`desktops` (open a node's display).
Long work reports through an `events.Listener`; nothing here prints."""

from __future__ import annotations

from labctl.errors import FileError, LabctlError
from labctl.service import desktops, events, host, images, labs, links, rendering, snapshots, topologies, verify

__all__ = [
    "FileError",
    "LabctlError",
    "desktops",
    "events",
    "host",
    "images",
    "labs",
    "links",
    "rendering",
    "snapshots",
    "topologies",
    "verify",
]
