"""dns: a name resolves to the expected address when asked from a given node.

`expect` is an IPv4 address, `plan` (the lab plan's own answer for the name), or `none`: the
lab's server says, fast, that there is no such address. Inside the lab's zone that takes an
authoritative NXDOMAIN or NOERROR without an A record; outside it, the server's REFUSED (it
does no recursion) also counts. "none" is never concluded from silence: no server answering,
dig missing or output that is not dig's is a FAIL. A bare name is asked as NAME.<domain> for
`none`, since dig shows only the last name its search tried.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict, reads_only
from labctl.errors import LabctlError

NAME = r"(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?"
STATUS = re.compile(r"^;; ->>HEADER<<- opcode: \w+, status: (\w+),", re.M)
FLAGS = re.compile(r"^;; flags:([a-z ]*);", re.M)
QUESTION = re.compile(r"^;(\S+)\s+IN\s+A$", re.M)
SERVER = re.compile(r"^;; SERVER: (\S+?)#", re.M)
TRAILER = re.compile(r"^;; labctl: took (\d+) ms$", re.M)
NO_SUCH_NAME = ("NXDOMAIN", "NOERROR")
DIG_EXIT = {
    1: "dig usage error",
    8: "dig could not open its batch file",
    9: "no DNS server answered",
    10: "dig internal error",
    126: "dig cannot be run",
    127: "dig is not installed",
}


def expected_answer(plan: LabPlan, name: str) -> str:
    short = name.removesuffix("." + plan.domain)
    for record in plan.dns.records:
        if record.type == "A" and record.name == short:
            return record.value
    raise LabctlError(f"check dns: the lab plan has no A record for '{name}'; give `expect` explicitly")


def command(name: str) -> str:
    """dig's full answer (status, answer section, server), then how long it took; exits with dig's code."""
    return (
        "s=$(date +%s%N); "
        f"dig +search +time=2 +tries=1 {shlex.quote(name)} A; rc=$?; "
        'e=$(date +%s%N); echo ";; labctl: took $(( (e - s) / 1000000 )) ms"; exit $rc'
    )


def _answers(stdout: str) -> list[str]:
    """The A records of dig's ANSWER SECTION."""
    match = re.search(r"^;; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", stdout, re.M | re.S)
    if not match:
        return []
    return [
        parts[4]
        for line in match.group(1).splitlines()
        if len(parts := line.split()) >= 5 and parts[2] == "IN" and parts[3] == "A"
    ]


def _seen(result: ExecResult) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return text[0][:120] if text else "no output"


def in_zone(name: str, zone: str) -> bool:
    name = name.rstrip(".")
    return name == zone or name.endswith("." + zone)


def _no_address(
    name: str, zone: str, budget: float, result: ExecResult, status: str, by: str, seconds: float
) -> Verdict:
    questions = QUESTION.findall(result.stdout)
    flags = FLAGS.findall(result.stdout)
    asked = questions[-1] if questions else name
    authoritative = bool(flags) and "aa" in flags[-1].split()
    if status in NO_SUCH_NAME and not authoritative:
        return Verdict(FAIL, f"{name}: {status} from {by} is not authoritative for {asked}")
    if status == "REFUSED" and in_zone(asked, zone):
        return Verdict(FAIL, f"{name}: {by} refused {asked}, in its own zone {zone}: is the zone loaded?")
    if status not in (*NO_SUCH_NAME, "REFUSED"):
        return Verdict(FAIL, f"{name}: {by} answered {status}; expected NXDOMAIN, NOERROR or REFUSED")
    if seconds > budget:
        return Verdict(FAIL, f"{name} took {seconds:.1f} s to fail; expected under {budget:g} s")
    return Verdict(PASS, f"{name} has no address: {status} from {by} in {seconds:.2f} s")


def _judge(name: str, expect: str, budget: float, zone: str) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        if result.exit_code != 0:
            meaning = DIG_EXIT.get(result.exit_code, "unexpected exit")
            return Verdict(FAIL, f"{name}: {meaning} (exit {result.exit_code}): {_seen(result)}")
        statuses = STATUS.findall(result.stdout)
        took = TRAILER.search(result.stdout)
        server = SERVER.search(result.stdout)
        if not statuses or not took or not server:
            return Verdict(FAIL, f"{name}: not dig's answer: {_seen(result)}")
        status, seconds, by = statuses[-1], int(took.group(1)) / 1000, server.group(1)
        answers = _answers(result.stdout)
        if expect == "none":
            if answers:
                return Verdict(FAIL, f"{name} resolved to {', '.join(answers)}; expected no answer")
            return _no_address(name, zone, budget, result, status, by, seconds)
        if status == "NOERROR" and answers == [expect]:
            return Verdict(PASS, f"{name} = {expect}")
        got = ", ".join(answers) or "no answer"
        return Verdict(FAIL, f"{name} = {got} ({status} from {by}); expected {expect}")

    return judge


@register("dns", ("from", "name", "expect", "fail_within"))
def dns(plan: LabPlan, params: Params) -> list[Probe]:
    sources = params.nodes(plan, "from", [plan.nodes[0].name])
    name = params.string("name", pattern=NAME, what="a DNS name")
    expect = params.string("expect", "plan")
    if expect == "plan":
        expect = expected_answer(plan, name)
    elif expect != "none":
        try:
            expect = str(ipaddress.IPv4Address(expect))
        except ValueError:
            raise params.error(f"'expect' must be an IPv4 address, 'plan' or 'none', not '{expect}'") from None
    budget = params.number("fail_within", 3, 0.1, 60)
    return [
        Probe(
            check="dns",
            subject=f"{source}: {name}",
            node=source,
            command=command(f"{name}.{plan.domain}" if expect == "none" and "." not in name else name),
            judge=_judge(name, expect, budget, plan.domain),
            access=reads_only(plan),
            **params.timing(30, 2),
        )
        for source in sources
    ]
