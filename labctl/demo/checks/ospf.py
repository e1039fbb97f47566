"""ospf_neighbors: on every router, birdc shows a Full adjacency on each interface that has
other routers, with exactly the routers the plan puts there (none over a link taken down).

birdc must have answered: exit 0, its "BIRD <version> ready." banner and the lab_ospf table
heading, and no line that is not part of that table. So a router expected to have no neighbours
still proves that BIRD runs, and an error or garbage is a FAIL, never "0 adjacencies".
"""

from __future__ import annotations

import ipaddress
import re

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan, NodePlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict

GOOD_STATES = ("Full", "2-Way")  # 2-Way is normal between two DROthers on a LAN
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


def parse_neighbors(result: ExecResult) -> dict[str, set[str]] | str:
    """interface -> router ids in a good state; or why the output is not birdc's neighbour table."""
    if result.exit_code != 0:
        what = "birdc is not installed" if result.exit_code == 127 else f"birdc exited {result.exit_code}"
        said = [line for line in result.stdout.splitlines() if line.strip() and not BANNER.match(line.strip())]
        text = result.stderr.strip().splitlines() or said
        return f"{what}: {text[0].strip()[:120] if text else 'no output'}"
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if len(lines) < 3 or not BANNER.match(lines[0]) or lines[1] != f"{PROTOCOL}:" or not COLUMNS.match(lines[2]):
        shown = " | ".join(lines[:3])[:160] or "no output"
        return f"not birdc's {PROTOCOL} neighbour table: {shown}"
    seen: dict[str, set[str]] = {}
    for line in lines[3:]:
        parts = line.split()
        if not _is_row(parts):
            return f"unexpected line from birdc: {line[:120]}"
        if parts[2].split("/")[0] in GOOD_STATES:
            seen.setdefault(parts[4], set()).add(parts[0])
    return seen


def _judge(expected: dict[str, set[str]]) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        seen = parse_neighbors(result)
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
                judge=_judge(expected),
                **params.timing(60, 2),
            )
        )
    return probes
