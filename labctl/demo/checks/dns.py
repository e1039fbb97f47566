"""dns: a name resolves to the expected address when asked from a given node.

`expect` is an address, `plan` (the lab plan's own answer for the name), or `none`
(no answer; a name outside the zone must fail fast rather than time out).
"""

from __future__ import annotations

import shlex

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict
from labctl.errors import LabctlError


def expected_answer(plan: LabPlan, name: str) -> str:
    short = name.removesuffix("." + plan.domain)
    for record in plan.dns.records:
        if record.type == "A" and record.name == short:
            return record.value
    raise LabctlError(f"check dns: the lab plan has no A record for '{name}'; give `expect` explicitly")


def _judge(name: str, expect: str, budget: float) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        lines = result.stdout.strip().splitlines()
        answers = [line for line in lines[:-1] if line and not line.startswith(";")]
        took = float(lines[-1]) / 1000 if lines and _is_number(lines[-1]) else budget + 1
        if expect == "none":
            if answers:
                return Verdict(FAIL, f"{name} resolved to {', '.join(answers)}; expected no answer")
            if took > budget:
                return Verdict(FAIL, f"{name} took {took:.1f} s to fail; expected under {budget:.0f} s")
            return Verdict(PASS, f"{name} has no answer ({took:.2f} s)")
        if answers == [expect]:
            return Verdict(PASS, f"{name} = {expect}")
        return Verdict(FAIL, f"{name} = {', '.join(answers) or 'no answer'}; expected {expect}")

    return judge


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@register("dns", ("from", "name", "expect", "fail_within"))
def dns(plan: LabPlan, params: Params) -> list[Probe]:
    sources = params.nodes(plan, "from", [plan.nodes[0].name])
    name = str(params.get("name") or "")
    if not name:
        raise LabctlError("check dns needs a 'name'")
    expect = str(params.get("expect", "plan"))
    if expect == "plan":
        expect = expected_answer(plan, name)
    budget = float(params.get("fail_within", 3))
    command = (
        "s=$(date +%s%N); "
        f"dig +short +search +time=2 +tries=1 {shlex.quote(name)} A; "
        'e=$(date +%s%N); echo "$(( (e - s) / 1000000 ))"'
    )
    return [
        Probe(
            check="dns",
            subject=f"{source}: {name}",
            node=source,
            command=command,
            judge=_judge(name, expect, budget),
            **params.timing(30, 2),
        )
        for source in sources
    ]
