"""SIP checks. Each proves its claim from the wire (tcpdump on the phone) or from sipp, an
independent client whose scenarios require the exact exchange, never from Linphone's word alone.

Phones whose registrar runs FreeSWITCH report SKIPPED, with the reason, when the registrar's
image has no FreeSWITCH.
"""

from __future__ import annotations

import re
import shlex

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan, NodePlan, PhonePlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Judge, Probe, Verdict
from labctl.errors import LabctlError

SIPP_DIR = "/usr/local/share/labctl/sipp"
SIPP_PORT = 5070  # linphonec holds 5060 on phones
FREESWITCH_MISSING = (
    "FreeSWITCH is not installed on {node}: set LABCTL_SIGNALWIRE_TOKEN or LABCTL_FREESWITCH_DEBS "
    "and rebuild the image (labctl image build --rebuild)"
)
SIP_LINE = (
    r"((REGISTER|INVITE|BYE) sip:[^ ]+ SIP/2.0"  # requests
    r"|SIP/2.0 [0-9]{3}[^\r]*"  # responses
    r"|CSeq: [0-9]+ [A-Z]+)"
)
RTP_LINE = re.compile(r"^(\d+\.\d+) .*IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.\d+: UDP")


def phones(plan: LabPlan) -> list[NodePlan]:
    return [n for n in plan.nodes if n.phone is not None]


def phone(plan: LabPlan, name: str, check: str) -> tuple[NodePlan, PhonePlan]:
    node = plan.node(name)
    if node.phone is None:
        raise LabctlError(f"check {check}: node '{name}' is not a phone")
    return node, node.phone


def registrar_gate(plan: LabPlan, ph: PhonePlan) -> tuple[str, str] | None:
    if ph.registrar_kind != "freeswitch":
        return None
    reason = FREESWITCH_MISSING.format(node=ph.registrar)
    return (ph.registrar, f"command -v freeswitch >/dev/null || {{ echo {shlex.quote(reason)}; exit 1; }}")


def transcript(text: str) -> list[tuple[str, str]]:
    """(status or request, CSeq method) pairs in wire order, from grep -o output of tcpdump -A."""
    pairs: list[tuple[str, str]] = []
    first = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("SIP/2.0 "):
            first = line.split()[1]
        elif re.match(r"^(REGISTER|INVITE|BYE) sip:", line):
            first = line.split()[0]
        elif line.startswith("CSeq:") and first:
            pairs.append((first, line.split()[-1]))
            first = ""
    return pairs


def section(text: str, name: str) -> str:
    match = re.search(rf"^--- {name}\n(.*?)(?=^--- |\Z)", text, re.S | re.M)
    return match.group(1) if match else ""


# -- sip_register ------------------------------------------------------------------------
REGISTER_SCRIPT = f"""
L=/tmp/labctl-sipreg.txt
systemctl stop labctl-phone
timeout 30 tcpdump -i any -nn -l -s0 -A 'udp port 5060' > $L 2>/dev/null & T=$!
sleep 1
/usr/local/sbin/labctl-phone-restart
i=0; until linphonecsh status register 2>/dev/null | grep -q '^registered,'; do
  i=$((i+1)); [ $i -gt 40 ] && break; sleep 0.5; done
sleep 1; kill $T 2>/dev/null; wait $T 2>/dev/null
echo "--- status"; linphonecsh status register 2>&1 | head -1
echo "--- sip"; grep -aoE '{SIP_LINE}' $L
"""


def judge_register(user: str) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        status = section(result.stdout, "status").strip()
        wire = [p for p in transcript(section(result.stdout, "sip")) if p[1] == "REGISTER"]
        codes = [code for code, _ in wire if code.isdigit()]
        challenge = next((i for i, c in enumerate(codes) if c in ("401", "407")), None)
        if challenge is None or "200" not in codes[challenge:]:
            return Verdict(
                FAIL,
                f"no 401/407 then 200 for REGISTER on the wire (saw {' '.join(codes) or 'nothing'}); "
                f"linphone says: {status or 'nothing'}",
            )
        if not status.startswith("registered"):
            return Verdict(FAIL, f"the wire shows {codes[challenge]} then 200, but linphone says: {status}")
        return Verdict(PASS, f"{user}: REGISTER {codes[challenge]} then 200 on the wire; linphone registered")

    return judge


@register("sip_register", ("phones",))
def sip_register(plan: LabPlan, params: Params) -> list[Probe]:
    names = params.nodes(plan, "phones", [n.name for n in phones(plan)])
    probes = []
    for name in names:
        _, ph = phone(plan, name, "sip_register")
        probes.append(
            Probe(
                check="sip_register",
                subject=f"{name} ({ph.user}@{ph.registrar})",
                node=name,
                command=REGISTER_SCRIPT,
                judge=judge_register(ph.user),
                skip_unless=registrar_gate(plan, ph),
                **params.timing(90, 3),
                command_timeout=60,
            )
        )
    return probes


# -- sip_invite --------------------------------------------------------------------------
CALL_SCRIPT = """
C=/var/lib/labctl-phone/console.txt; S=/tmp/labctl-call-sip.txt; R=/tmp/labctl-call-rtp.txt
export HOME=/var/lib/labctl-phone
if ! linphonecsh status register 2>&1 | grep -q '^registered,'; then
  echo "--- notregistered"; linphonecsh status register 2>&1 | head -1; exit 0
fi
n=$(wc -l < $C)
timeout 40 tcpdump -i any -nn -l -s0 -A 'udp port 5060' > $S 2>/dev/null & T1=$!
timeout 40 tcpdump -i any -nn -l -tt -q 'udp portrange 7078-7079' > $R 2>/dev/null & T2=$!
sleep 1
linphonecsh generic {call} >/dev/null
i=0; until tail -n +$((n+1)) $C | grep -aq 'connected\\.'; do i=$((i+1)); [ $i -gt 40 ] && break; sleep 0.5; done
sleep {media}
linphonecsh generic terminate >/dev/null 2>&1
sleep 2; kill $T1 $T2 2>/dev/null; wait 2>/dev/null
echo "--- console"; tail -n +$((n+1)) $C | grep -aE 'Call [0-9]+|Media streams' | head -8
echo "--- sip"; grep -aoE '{sip}' $S
echo "--- rtp"; cat $R
"""


def rtp_seconds(text: str, src: set[str], dst: set[str]) -> tuple[int, float]:
    """(packets, seconds between first and last) from any of `src` to any of `dst`."""
    times = [
        float(m.group(1))
        for line in text.splitlines()
        if (m := RTP_LINE.match(line)) and m.group(2) in src and m.group(3) in dst
    ]
    return len(times), (max(times) - min(times)) if times else 0.0


def judge_call(caller: NodePlan, callee: NodePlan, min_media: float) -> Judge:
    mine = {i.ip for i in caller.interfaces} | {caller.address}
    theirs = {i.ip for i in callee.interfaces} | {callee.address}

    def judge(result: ExecResult) -> Verdict:
        out = result.stdout
        if "--- notregistered" in out:
            return Verdict(FAIL, f"{caller.name} is not registered: {section(out, 'notregistered').strip()}")
        wire = transcript(section(out, "sip"))
        answered = ("200", "INVITE") in wire
        bye = any(code == "BYE" for code, _ in wire) and ("200", "BYE") in wire
        sent, sent_s = rtp_seconds(section(out, "rtp"), mine, theirs)
        got, got_s = rtp_seconds(section(out, "rtp"), theirs, mine)
        connected = "connected." in section(out, "console")
        problems = []
        if not answered:
            codes = " ".join(c for c, m in wire if m == "INVITE" and c.isdigit())
            problems.append(f"no 200 OK to the INVITE (saw {codes or 'nothing'})")
        if not connected:
            problems.append("linphone never said the call connected")
        if min(sent_s, got_s) < min_media:
            problems.append(
                f"RTP {sent} packets/{sent_s:.1f} s out, {got} packets/{got_s:.1f} s back (< {min_media:.0f} s)"
            )
        if not bye:
            problems.append("no BYE answered by 200")
        if problems:
            return Verdict(FAIL, "; ".join(problems))
        return Verdict(
            PASS, f"200 OK, RTP {sent_s:.1f} s out ({sent} pkts) and {got_s:.1f} s back ({got} pkts), BYE/200"
        )

    return judge


@register("sip_invite", ("from", "to", "dial", "media_seconds"))
def sip_invite(plan: LabPlan, params: Params) -> list[Probe]:
    caller_name = params.nodes(plan, "from", [])[0] if params.get("from") else ""
    callee_name = params.nodes(plan, "to", [])[0] if params.get("to") else ""
    if not caller_name or not callee_name:
        raise LabctlError("check sip_invite needs 'from' and 'to' phones")
    caller, cph = phone(plan, caller_name, "sip_invite")
    callee, eph = phone(plan, callee_name, "sip_invite")
    dial = str(params.get("dial", "user"))
    if dial not in ("user", "extension"):
        raise LabctlError(f"check sip_invite: dial must be 'user' or 'extension', not '{dial}'")
    target = eph.user if dial == "user" else eph.extension
    media = float(params.get("media_seconds", 2))
    uri = f"sip:{target}@{plan.sip.domain if plan.sip else ''}"
    script = CALL_SCRIPT.format(call=shlex.quote(f"call {uri}"), media=int(media) + 2, sip=SIP_LINE)
    gate = registrar_gate(plan, cph) or registrar_gate(plan, eph)
    return [
        Probe(
            check="sip_invite",
            subject=f"{caller_name} -> {callee_name} ({uri})",
            node=caller_name,
            command=script,
            judge=judge_call(caller, callee, media),
            skip_unless=gate,
            **params.timing(120, 5),
            command_timeout=90,
        )
    ]


# -- sipp: an independent client -----------------------------------------------------------
def sipp_command(node: NodePlan, ph: PhonePlan, scenario: str, service: str, password: str) -> str:
    local = next((i.ip for i in node.interfaces), node.address)
    argv = [
        "sipp",
        f"{ph.registrar_address}:5060",
        "-sf",
        f"{SIPP_DIR}/{scenario}",
        "-s",
        service,
        "-au",
        ph.user,
        "-ap",
        password,
        "-i",
        local,
        "-p",
        str(SIPP_PORT),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "20s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        "/tmp/labctl-sipp.msg",
    ]
    return (
        "rm -f /tmp/labctl-sipp.msg; cd /tmp && "
        + shlex.join(argv)
        + ' >/dev/null 2>&1; rc=$?; echo "--- exit"; echo $rc; echo "--- sip"; '
        + f"grep -aoE '{SIP_LINE}' /tmp/labctl-sipp.msg"
    )


def in_order(codes: list[str], wanted: tuple[str, ...]) -> bool:
    """`wanted` appears in `codes` as a subsequence."""
    remaining = iter(codes)
    return all(any(code == want for code in remaining) for want in wanted)


def judge_sipp(expected: str, codes_wanted: tuple[str, ...]) -> Judge:
    """Pass only when sipp exits 0 *and* its message trace shows the wanted responses in order."""

    def judge(result: ExecResult) -> Verdict:
        code = section(result.stdout, "exit").strip()
        codes = [c for c, _ in transcript(section(result.stdout, "sip")) if c.isdigit()]
        wire = " ".join(codes)
        if code == "0" and in_order(codes, codes_wanted):
            return Verdict(PASS, f"sipp saw {expected} ({wire})")
        return Verdict(FAIL, f"sipp exited {code or '?'}: expected {expected}, saw {wire or 'nothing'}")

    return judge


def _sipp_check(
    name: str, scenario: str, expected: str, codes: tuple[str, ...], target_param: bool, wrong_password: bool
) -> None:
    params = ("from", "to", "password") if target_param else ("from", "password")

    @register(name, params)
    def factory(plan: LabPlan, p: Params) -> list[Probe]:
        source = p.nodes(plan, "from", [phones(plan)[0].name] if phones(plan) else [])
        probes = []
        for node_name in source:
            node, ph = phone(plan, node_name, name)
            service = str(p.get("to", ph.user)) if target_param else ph.user
            if target_param and service in {n.name for n in phones(plan)}:
                service = plan.node(service).phone.user  # type: ignore[union-attr]
            password = str(p.get("password", ph.password + "-wrong" if wrong_password else ph.password))
            probes.append(
                Probe(
                    check=name,
                    subject=f"{node_name} as {ph.user} -> {service}",
                    node=node_name,
                    command=sipp_command(node, ph, scenario, service, password),
                    judge=judge_sipp(expected, codes),
                    skip_unless=registrar_gate(plan, ph),
                    **p.timing(60, 3),
                    command_timeout=45,
                )
            )
        return probes


_sipp_check("sipp_register", "reg-ok.xml", "401 then 200", ("401", "200"), target_param=False, wrong_password=False)
_sipp_check(
    "sipp_invite",
    "uac-invite.xml",
    "407, 200, ACK, BYE 200",
    ("407", "200", "200"),
    target_param=True,
    wrong_password=False,
)
_sipp_check(
    "sip_register_rejected",
    "reg-badpw.xml",
    "401 then 403 for a wrong password",
    ("401", "403"),
    target_param=False,
    wrong_password=True,
)
_sipp_check(
    "sip_invite_unknown",
    "uac-404.xml",
    "407 then 404 for an unknown user",
    ("407", "404"),
    target_param=True,
    wrong_password=False,
)
