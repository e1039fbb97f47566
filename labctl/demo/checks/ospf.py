"""ospf_neighbors: on every router, birdc shows a Full adjacency on each interface that has
other routers, with exactly the routers the plan puts there (none over a link taken down).
On a point-to-point link only Full counts; 2-Way counts only on a LAN, between two DROthers.

birdc must have answered: exit 0, its "BIRD <version> ready." banner and the lab_ospf table
heading, and no line that is not part of that table. So a router expected to have no neighbours
still proves that BIRD runs, and an error or garbage is a FAIL, never "0 adjacencies".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Set as AbstractSet

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan, NodePlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict, reads_only

FULL, TWO_WAY = "Full", "2-Way"
DROTHER = ("other", "drother")  # BIRD's position of a neighbour that is neither DR nor BDR
PROTOCOL = "lab_ospf"
COMMAND = f"birdc show ospf neighbors {PROTOCOL}"
BANNER = re.compile(r"^BIRD \S+ ready\.$")
COLUMNS = re.compile(r"^Router ID\s+Pri\s+State\s+DTime\s+Interface\s+Router IP$")


def expected_neighbors(plan: LabPlan, router: NodePlan) -> dict[str, set[str]]:
    """interface -> router ids expected as neighbours there."""
    routers = [n for n in plan.nodes if n.has("router") and n.name != router.name]
    result: dict[str, set[str]] = {}
    for iface in router.interfaces:
        peers = {r.router_id for r in routers if any(i.segment == iface.segment for i in r.interfaces)}
        if peers:
            result[iface.name] = peers
    return result


def broadcast_interfaces(router: NodePlan) -> set[str]:
    """The router's interfaces on a broadcast segment (a LAN); every other one is point-to-point."""
    if router.ospf is not None:
        return {i.name for i in router.ospf.interfaces if i.type == "broadcast"}
    return {i.name for i in router.interfaces if i.kind == "lan"}


def _good(rows: list[list[str]], broadcast: AbstractSet[str]) -> dict[str, set[str]]:
    """interface -> router ids in a good state: Full; or, on a broadcast segment only, 2-Way with a
    DROther when this router is a DROther too (it sees both the DR and the BDR as Full neighbours
    there). On a point-to-point link only Full counts."""
    full_roles: dict[str, set[str]] = {}
    for parts in rows:
        state, _, role = parts[2].partition("/")
        if state == FULL:
            full_roles.setdefault(parts[4], set()).add(role.lower())
    good: dict[str, set[str]] = {}
    for parts in rows:
        state, _, role = parts[2].partition("/")
        iface = parts[4]
        drother_pair = iface in broadcast and role.lower() in DROTHER and {"dr", "bdr"} <= full_roles.get(iface, set())
        if state == FULL or (state == TWO_WAY and drother_pair):
            good.setdefault(iface, set()).add(parts[0])
    return good


def _is_row(parts: list[str]) -> bool:
    """Router ID, Pri, State, DTime, Interface, Router IP."""
    if len(parts) != 6 or not parts[1].isdigit():
        return False
    try:
        ipaddress.IPv4Address(parts[0])
        ipaddress.ip_address(parts[5])
    except ValueError:
        return False
    return True


def parse_neighbors(result: ExecResult, broadcast: AbstractSet[str] = frozenset()) -> dict[str, set[str]] | str:
    """interface -> router ids in a good state (_good); or why the output is not birdc's neighbour
    table. `broadcast`: the interfaces on a LAN segment; the others are point-to-point."""
    if result.exit_code != 0:
        what = "birdc is not installed" if result.exit_code == 127 else f"birdc exited {result.exit_code}"
        said = [line for line in result.stdout.splitlines() if line.strip() and not BANNER.match(line.strip())]
        text = result.stderr.strip().splitlines() or said
        return f"{what}: {text[0].strip()[:120] if text else 'no output'}"
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if len(lines) < 3 or not BANNER.match(lines[0]) or lines[1] != f"{PROTOCOL}:" or not COLUMNS.match(lines[2]):
        shown = " | ".join(lines[:3])[:160] or "no output"
        return f"not birdc's {PROTOCOL} neighbour table: {shown}"
    rows = []
    for line in lines[3:]:
        parts = line.split()
        if not _is_row(parts):
            return f"unexpected line from birdc: {line[:120]}"
        rows.append(parts)
    return _good(rows, broadcast)


def _judge(expected: dict[str, set[str]], broadcast: set[str]) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        seen = parse_neighbors(result, broadcast)
        if isinstance(seen, str):
            return Verdict(FAIL, seen)
        missing = [
            f"{iface}: {', '.join(sorted(ids - seen.get(iface, set())))}"
            for iface, ids in sorted(expected.items())
            if not ids <= seen.get(iface, set())
        ]
        extra = [
            f"{iface}: {', '.join(sorted(ids - expected.get(iface, set())))}"
            for iface, ids in sorted(seen.items())
            if not ids <= expected.get(iface, set())
        ]
        problems = []
        if missing:
            problems.append("no Full adjacency with " + "; ".join(missing))
        if extra:
            problems.append("unexpected adjacency with " + "; ".join(extra))
        if problems:
            return Verdict(FAIL, "; ".join(problems))
        total = sum(len(v) for v in expected.values())
        if not total:
            return Verdict(PASS, "BIRD answered; no adjacency, as expected (no other router on its links)")
        return Verdict(PASS, f"{total} adjacencies on {', '.join(sorted(expected))}")

    return judge


@register("ospf_neighbors", ("routers",))
def ospf_neighbors(plan: LabPlan, params: Params) -> list[Probe]:
    routers = params.nodes(plan, "routers", [n.name for n in plan.nodes if n.has("router")])
    probes = []
    for name in routers:
        router = plan.node(name)
        if not router.has("router"):
            raise params.error(f"'{name}' in 'routers' is not a router (it runs no BIRD)")
        expected = expected_neighbors(plan, router)
        probes.append(
            Probe(
                check="ospf_neighbors",
                subject=name,
                node=name,
                command=COMMAND,
                judge=_judge(expected, broadcast_interfaces(router)),
                access=reads_only(plan),
                **params.timing(60, 2),
            )
        )
    return probes
