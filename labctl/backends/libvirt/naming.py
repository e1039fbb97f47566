"""Host object names of a lab under libvirt, derived from its identity so labs never clash.

Linux limits interface names to 15 characters, so bridges and taps carry a short stable
hash of (lab, segment) or (lab, node, interface) instead of the user's names.
"""

from __future__ import annotations

import os
from pathlib import Path

from labctl.compile.naming import digest
from labctl.errors import LabctlError

BRIDGE_PREFIX = "lb-"
TAP_PREFIX = "lt-"
DOMAIN_PREFIX = "labctl_"  # "_" is not allowed in lab names, so prefixes never overlap


def bridge_name(lab: str, segment: str) -> str:
    return BRIDGE_PREFIX + digest("bridge", lab, segment).hex()[:12]


def tap_name(lab: str, node: str, interface: str) -> str:
    return TAP_PREFIX + digest("tap", lab, node, interface).hex()[:12]


def domain_name(lab: str, node: str) -> str:
    return f"{DOMAIN_PREFIX}{lab}_{node}"


SOCKET_PATH_MAX = 107  # a unix socket's path, in bytes (sun_path holds 108 with its NUL)


def serial_socket(folder: Path, node: str) -> Path:
    """The unix socket of the node's login console (its second serial port), in `folder` (the lab's
    nodes folder, or a template's); LabctlError when the path is too long for a unix socket."""
    path = folder / f"{node}.serial.sock"
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise LabctlError(
            f"{path} is too long for a unix socket ({SOCKET_PATH_MAX} bytes at most): "
            "set XDG_STATE_HOME (or XDG_CACHE_HOME) to a shorter folder"
        )
    return path
