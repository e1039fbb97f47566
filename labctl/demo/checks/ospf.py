"""ospf_neighbors: on every router, birdc shows a Full adjacency on each interface that has
other routers, with exactly the routers the plan puts there (none over a link taken down)."""

from __future__ import annotations

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan, NodePlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict

GOOD_STATES = ("Full", "2-Way")  # 2-Way is normal between two DROthers on a LAN


def expected_neighbors(plan: LabPlan, router: NodePlan) -> dict[str, set[str]]:
    """interface -> router ids expected as neighbours there."""
    routers = [n for n in plan.nodes if n.has("router") and n.name != router.name]
    result: dict[str, set[str]] = {}
    for iface in router.interfaces:
        peers = {r.router_id for r in routers if any(i.segment == iface.segment for i in r.interfaces)}
        if peers:
            result[iface.name] = peers
    return result


def _judge(expected: dict[str, set[str]]) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        seen: dict[str, set[str]] = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            # Router ID  Pri  State  DTime  Interface  Router IP
            if len(parts) >= 6 and parts[2].split("/")[0] in GOOD_STATES:
                seen.setdefault(parts[4], set()).add(parts[0])
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
        return Verdict(PASS, f"{total} adjacencies on {', '.join(sorted(expected))}")

    return judge


@register("ospf_neighbors", ("routers",))
def ospf_neighbors(plan: LabPlan, params: Params) -> list[Probe]:
    routers = params.nodes(plan, "routers", [n.name for n in plan.nodes if n.has("router")])
    probes = []
    for name in routers:
        router = plan.node(name)
        expected = expected_neighbors(plan, router)
        probes.append(
            Probe(
                check="ospf_neighbors",
                subject=name,
                node=name,
                command="birdc show ospf neighbors lab_ospf",
                judge=_judge(expected),
                **params.timing(60, 2),
            )
        )
    return probes
