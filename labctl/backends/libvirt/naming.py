"""Host object names of a lab under libvirt, derived from its identity so labs never clash.

Linux limits interface names to 15 characters, so bridges and taps carry a short stable
hash of (lab, segment) or (lab, node, interface) instead of the user's names.
"""

from __future__ import annotations

from labctl.compile.naming import digest

BRIDGE_PREFIX = "lb-"
TAP_PREFIX = "lt-"
DOMAIN_PREFIX = "labctl_"  # "_" is not allowed in lab names, so prefixes never overlap


def bridge_name(lab: str, segment: str) -> str:
    return BRIDGE_PREFIX + digest("bridge", lab, segment).hex()[:12]


def tap_name(lab: str, node: str, interface: str) -> str:
    return TAP_PREFIX + digest("tap", lab, node, interface).hex()[:12]


def domain_name(lab: str, node: str) -> str:
    return f"{DOMAIN_PREFIX}{lab}_{node}"
