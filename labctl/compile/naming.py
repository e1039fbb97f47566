"""Host-side names and MACs derived from the lab's identity, so labs never clash.

Linux limits interface names to 15 characters, so bridges and taps carry a short stable
hash of (lab, segment) or (lab, node, interface) instead of the user's names.
"""

from __future__ import annotations

import hashlib

BRIDGE_PREFIX = "lb-"
TAP_PREFIX = "lt-"
DOMAIN_PREFIX = "labctl_"  # "_" is not allowed in lab names, so prefixes never overlap


def _digest(*parts: str, salt: int = 0) -> bytes:
    text = "\0".join(parts) + (f"\0{salt}" if salt else "")
    return hashlib.sha256(text.encode()).digest()


def bridge_name(lab: str, segment: str) -> str:
    return BRIDGE_PREFIX + _digest("bridge", lab, segment).hex()[:12]


def tap_name(lab: str, node: str, interface: str) -> str:
    return TAP_PREFIX + _digest("tap", lab, node, interface).hex()[:12]


def mac_address(lab: str, node: str, interface: str, salt: int = 0) -> str:
    """A locally administered unicast MAC (02:...)."""
    raw = _digest("mac", lab, node, interface, salt=salt)[:5]
    return "02:" + ":".join(f"{b:02x}" for b in raw)


def domain_name(lab: str, node: str) -> str:
    return f"{DOMAIN_PREFIX}{lab}_{node}"
