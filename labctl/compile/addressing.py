"""Address allocation: a /32 per node, a /30 per link, a /24 per LAN, in file order."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from labctl.topology.graph import Segment
from labctl.topology.model import Addressing, Topology
from labctl.topology.schema import LAN_PREFIX

P2P_PREFIX = 30


class PoolExhausted(ValueError):
    """A pool has fewer addresses than the topology needs (validation normally catches this)."""


def _take(iterator: Iterator[ipaddress.IPv4Network], pool: str) -> ipaddress.IPv4Network:
    try:
        return next(iterator)
    except StopIteration:
        raise PoolExhausted(f"address pool {pool} is exhausted") from None


def loopbacks(topo: Topology) -> dict[str, str]:
    """node -> a.b.c.d/32, numbered from the first host address of the pool."""
    pool = ipaddress.IPv4Network(topo.addressing.loopback)
    hosts = iter(pool.hosts()) if pool.prefixlen < 32 else iter([pool.network_address])
    result = {}
    for node in topo.nodes:
        try:
            result[node.name] = f"{next(hosts)}/32"
        except StopIteration:
            raise PoolExhausted(f"address pool loopback {pool} is exhausted") from None
    return result


def segment_subnets(addressing: Addressing, segs: list[Segment]) -> dict[str, ipaddress.IPv4Network]:
    """segment name -> its subnet."""
    lan_pool = ipaddress.IPv4Network(addressing.lan)
    p2p_pool = ipaddress.IPv4Network(addressing.p2p)
    if lan_pool.prefixlen > LAN_PREFIX and any(s.kind == "lan" for s in segs):
        raise PoolExhausted(f"address pool lan {lan_pool} is smaller than one /{LAN_PREFIX}")
    if p2p_pool.prefixlen > P2P_PREFIX and any(s.kind == "p2p" for s in segs):
        raise PoolExhausted(f"address pool p2p {p2p_pool} is smaller than one /{P2P_PREFIX}")
    lans = lan_pool.subnets(new_prefix=LAN_PREFIX) if lan_pool.prefixlen <= LAN_PREFIX else iter([])
    p2ps = p2p_pool.subnets(new_prefix=P2P_PREFIX) if p2p_pool.prefixlen <= P2P_PREFIX else iter([])
    result = {}
    for seg in segs:
        if seg.kind == "lan":
            result[seg.name] = _take(lans, f"lan {lan_pool}")
        else:
            result[seg.name] = _take(p2ps, f"p2p {p2p_pool}")
    return result


def member_address(subnet: ipaddress.IPv4Network, index: int) -> str:
    """The address of the index-th member of a segment: .1, .2, ... in listed order."""
    hosts = subnet.num_addresses - 2
    if index >= hosts:
        raise PoolExhausted(f"subnet {subnet} has no room for member {index + 1}")
    return f"{subnet.network_address + index + 1}/{subnet.prefixlen}"
