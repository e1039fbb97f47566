"""ping_by_name: every node reaches every other node by its bare name (resolved via the search domain).

The script prints one line per target ("<name> ok" or "<name> FAIL <address>|unresolved") and
exits 0; it exits non-zero only when it cannot test at all (ping or getent missing). The judge
wants exactly one known line per target: anything else is a FAIL, never a pass by omission.
"""

from __future__ import annotations

import shlex

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict, reads_only


def _command(targets: list[str]) -> str:
    names = " ".join(shlex.quote(t) for t in targets)
    return (
        'for c in ping getent; do command -v "$c" >/dev/null || { echo "$c is not installed" >&2; exit 127; }; done; '
        f"for t in {names}; do "
        'if ping -c1 -W2 -q "$t" >/dev/null 2>&1; then echo "$t ok"; '
        'else a=$(getent hosts "$t" | cut -d" " -f1); echo "$t FAIL ${a:-unresolved}"; fi; done'
    )


def _judge(targets: list[str]) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        if result.exit_code != 0:
            text = (result.stderr.strip() or result.stdout.strip()).splitlines()
            return Verdict(FAIL, f"the ping script exited {result.exit_code}: {text[0][:120] if text else 'no output'}")
        ok: set[str] = set()
        failed: dict[str, str] = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == "ok" and parts[0] in targets:
                ok.add(parts[0])
            elif len(parts) == 3 and parts[1] == "FAIL" and parts[0] in targets:
                failed[parts[0]] = "unresolved" if parts[2] == "unresolved" else f"no reply from {parts[2]}"
            elif line.strip():
                return Verdict(FAIL, f"unexpected output from the ping script: {line.strip()[:120]}")
        if ok == set(targets) and not failed:
            return Verdict(PASS, f"{len(targets)} names reached")
        problems = [
            f"{t} ({failed[t]})" if t in failed else f"{t} (no result)" for t in targets if t not in ok - set(failed)
        ]
        return Verdict(FAIL, "unreachable: " + ", ".join(problems))

    return judge


@register("ping_by_name", ("from", "to"))
def ping_by_name(plan: LabPlan, params: Params) -> list[Probe]:
    """A source with no other target gets no probe; a check with no probe at all is refused
    (labctl.demo.spec.validate_demo), so `from: h1, to: [h1]` never passes over nothing."""
    everyone = [n.name for n in plan.nodes]
    sources = params.nodes(plan, "from", everyone)
    targets = params.nodes(plan, "to", everyone)
    probes = []
    for source in sources:
        others = [t for t in dict.fromkeys(targets) if t != source]
        if not others:
            continue
        probes.append(
            Probe(
                check="ping_by_name",
                subject=f"{source} -> {', '.join(others) if len(others) <= 3 else f'{len(others)} nodes'}",
                node=source,
                command=_command(others),
                judge=_judge(others),
                **params.timing(90, 2),
                command_timeout=30 + 3 * len(others),
                access=reads_only(plan),
            )
        )
    if not probes:
        raise params.error("every target is its own source: nothing to check")
    return probes
