"""Names derived from the lab's identity, so labs never clash: the interfaces' MACs (the guest
matches its interfaces by MAC). Host-side names (bridges, taps, domains) are the backend's."""

from __future__ import annotations

import hashlib


def digest(*parts: str, salt: int = 0) -> bytes:
    """A stable hash of `parts`, the root of every derived name."""
    text = "\0".join(parts) + (f"\0{salt}" if salt else "")
    return hashlib.sha256(text.encode()).digest()


def mac_address(lab: str, node: str, interface: str, salt: int = 0) -> str:
    """A locally administered unicast MAC (02:...)."""
    raw = digest("mac", lab, node, interface, salt=salt)[:5]
    return "02:" + ":".join(f"{b:02x}" for b in raw)
