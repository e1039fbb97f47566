"""ping_by_name: every node reaches every other node by its bare name (resolved via the search domain)."""

from __future__ import annotations

import shlex

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict


def _command(targets: list[str]) -> str:
    names = " ".join(shlex.quote(t) for t in targets)
    return (
        f"for t in {names}; do "
        'if ping -c1 -W2 -q "$t" >/dev/null 2>&1; then echo "$t ok"; '
        'else a=$(getent hosts "$t" | cut -d" " -f1); echo "$t FAIL ${a:-unresolved}"; fi; done'
    )


def _judge(targets: list[str]) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        ok = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" ok")}
        failed = [
            f"{parts[0]} ({'unresolved' if parts[-1] == 'unresolved' else 'no reply from ' + parts[-1]})"
            for line in result.stdout.splitlines()
            if len(parts := line.split()) >= 3 and parts[1] == "FAIL"
        ]
        if set(targets) <= ok:
            return Verdict(PASS, f"{len(targets)} names reached")
        return Verdict(FAIL, "unreachable: " + ", ".join(failed or sorted(set(targets) - ok)))

    return judge


@register("ping_by_name", ("from", "to"))
def ping_by_name(plan: LabPlan, params: Params) -> list[Probe]:
    everyone = [n.name for n in plan.nodes]
    sources = params.nodes(plan, "from", everyone)
    targets = params.nodes(plan, "to", everyone)
    probes = []
    for source in sources:
        others = [t for t in targets if t != source]
        probes.append(
            Probe(
                check="ping_by_name",
                subject=f"{source} -> {', '.join(others) if len(others) <= 3 else f'{len(others)} nodes'}",
                node=source,
                command=_command(others),
                judge=_judge(others),
                **params.timing(90, 2),
                command_timeout=30 + 3 * len(others),
            )
        )
    return probes
