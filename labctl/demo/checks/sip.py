"""SIP checks. Each proves its claim from the wire (tcpdump on the phone) or from sipp, an
independent client whose scenarios require the exact exchange, never from Linphone's word alone.

A call proves voice: each phone plays a known tone and records what it hears; the judge wants
each tone heard at the other end, and RTP (not RTCP, not ICE checks) at the rate of its ptime
with no holes in its sequence numbers. The guest only measures (labctl-media); the host decides.

Each SIP capture is a pcap (bounded: port 5060 only, MAX_SIP_PACKETS), read back with `tcpdump -A`
for the judge; with the call's RTP pcap (headers only), they are the probes' declared evidence,
which the report keeps (labctl.demo.evidence).

Phones whose registrar's role declares a `skip` (FreeSWITCH: vm-recipes/freeswitch/recipe.yaml)
report SKIPPED only on the positive finding that its command and package are not installed in the
registrar's image, with the role's own message; anything else the gate sees is FAIL.
"""

from __future__ import annotations

import itertools
import re
import shlex
import statistics
from dataclasses import dataclass

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan, NodePlan, PhonePlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Evidence, Judge, Probe, Verdict, phones_changed
from labctl.errors import LabctlError
from labctl.roles import Role, catalogue

SIPP_PORT = 5070  # linphonec or the Linphone GUI holds 5060 on phones
PHONE_ROLE = "phone"
"""Its recipe declares the guest paths and ports the checks share with its templates: `home`,
`sipp` (the scenarios), `restart`, `media` (labctl-media) and the port `media_report`, on which
each phone tells a caller what it heard in its last call."""


def phone_role() -> Role:
    return catalogue().role(PHONE_ROLE)


MEDIA_RELAY = "media-relay"
"""The capability of registrars that relay the media of the calls they bridge (FreeSWITCH)."""
SIP_LINE = (
    r"((REGISTER|INVITE|BYE) sip:[^ ]+ SIP/2.0"  # requests
    r"|SIP/2.0 [0-9]{3}[^\r]*"  # responses
    r"|CSeq: [0-9]+ [A-Z]+"
    r"|c=IN IP4 [0-9.]+|m=audio [0-9]+"  # SDP: where the media of the message's sender goes
    r"|a=ptime:[0-9]+)"  # SDP: the negotiated packet time
)
END = "--- end"  # the last line of every probe script: its absence means the script was cut short
MAX_SIP_PACKETS = 500
"""A SIP capture (a pcap the report keeps as evidence, read back for the judge) stops after this many."""
CALL_TONE, ANSWER_TONE = 1000.0, 600.0  # Hz: what a phone plays when it calls, and when it answers
MAX_MEDIA_SECONDS = 30
ANSWER_SECONDS, HANGUP_SECONDS = 20, 5
"""How long a caller waits for its call to connect (linphonec answers at once), and after it hangs
up for a 200 to its BYE on the wire."""
DESKTOP_ANSWER_SECONDS = 90
"""A call with a desktop phone: the Linphone GUI rings 2 s, then draws its first call window before
it answers (39 s measured under TCG), and as a caller hands the call to its running window first.
Its side of the voice check (tone in, recording out) lives 240 s at most
(vm-recipes/desktop/labctl-desktop-answer.service.j2)."""
DESKTOP_HANGUP_SECONDS = 60
"""The GUI hangs up when its command line has handed `bye` to it: a Qt start under the call's load."""


def phones(plan: LabPlan, desktop: bool = False) -> list[NodePlan]:
    """The phones a SIP check drives by default: the headless ones (linphonec), then the desktop
    phones where `desktop` says the check can work on them (sip_invite, sipp)."""
    headless = [n for n in plan.nodes if n.phone is not None and n.desktop is None]
    return headless + ([n for n in plan.nodes if n.phone is not None and n.desktop is not None] if desktop else [])


def driven_phones(plan: LabPlan, check: str, desktop: bool = False) -> list[NodePlan]:
    """phones(plan, desktop), or a LabctlError that says why there is none to drive."""
    found = phones(plan, desktop)
    if not found:
        desktops = any(n.phone is not None for n in plan.nodes)
        only = " but desktop phones, which it does not drive" if desktops else ""
        raise LabctlError(f"check {check}: the lab has no phones{only}")
    return found


def phone(plan: LabPlan, name: str, check: str, desktop: bool = False) -> tuple[NodePlan, PhonePlan]:
    """The phone `name`; a desktop phone only where `desktop` says the check can work on it:
    sip_invite drives its GUI through the phone's control script, sipp is a client of its own."""
    node = plan.node(name)
    if node.phone is None:
        raise LabctlError(f"check {check}: node '{name}' is not a phone")
    if node.desktop is not None and not desktop:
        raise LabctlError(
            f"check {check}: phone '{name}' is a desktop phone; this check restarts linphonec, and its SIP "
            "client is the Linphone GUI (desktop_phone checks that it registered, sipp_register registers as it)"
        )
    return node, node.phone


def names_param(params: Params, plan: LabPlan, name: str, default: list[str]) -> list[str]:
    """A phone name or a non-empty list of them (an empty list would prove nothing)."""
    value = params.get(name, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LabctlError(f"check {params.check}: {name} must be a phone name or a list of phone names")
    if not value:
        raise LabctlError(f"check {params.check}: {name} is empty: name at least one phone, or leave it out")
    return params.nodes(plan, name, value) if name in params.values else value


def one_name(params: Params, plan: LabPlan, name: str) -> str:
    value = params.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise LabctlError(f"check {params.check} needs '{name}': one phone name")
    return params.nodes(plan, name, [])[0]


def number_param(params: Params, name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise LabctlError(f"check {params.check}: {name} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def string_param(params: Params, name: str, default: str) -> str:
    value = params.get(name, default)
    if not isinstance(value, str) or not value:
        raise LabctlError(f"check {params.check}: {name} must be a non-empty string, not {value!r}")
    return value


def registrar_gate(plan: LabPlan, ph: PhonePlan) -> tuple[str, str] | None:
    """For a registrar whose role declares a `skip` (FreeSWITCH): SKIP only on the positive finding that
    the role is absent (its command not in PATH, and dpkg-query says "no packages found" (exit 1) for
    its package or a status that is plainly not installed: not-installed, config-files); exit 0 silently
    when it is there; anything else (dpkg-query missing or failing otherwise, a half-installed package,
    the node unreachable) exits 1, so the probe FAILs."""
    declared = catalogue().role(ph.registrar_kind).skip
    if declared is None:
        return None
    skip = shlex.quote(f"SKIP: {declared.message} ({ph.registrar})")
    command, package = shlex.quote(declared.unless_command), shlex.quote(declared.package)
    return (
        ph.registrar,
        f"if command -v {command} >/dev/null 2>&1; then exit 0; fi\n"
        "command -v dpkg-query >/dev/null 2>&1 || { echo 'cannot tell: no dpkg-query'; exit 1; }\n"
        f"st=$(dpkg-query -W -f='${{Status}}' {package} 2>&1); rc=$?\n"
        'case "$rc:$st" in\n'
        "  0:*' installed') exit 0;;\n"
        "  0:*' not-installed'|0:*' config-files'|1:*'no packages found'*) ;;\n"
        '  *) echo "cannot tell: dpkg-query exited $rc: $st"; exit 1;;\n'
        "esac\n"
        f"echo {skip}\n",
    )


def start_line(line: str) -> str | None:
    """The status code of a response's start line or the method of a request's, else None."""
    if line.startswith("SIP/2.0 ") and len(line.split()) > 1:
        return line.split()[1]
    if re.match(r"^(REGISTER|INVITE|BYE) sip:", line):
        return line.split()[0]
    return None


def transcript(text: str) -> list[tuple[str, str]]:
    """(status or request, CSeq method) pairs in wire order, from grep -o output of tcpdump -A."""
    pairs: list[tuple[str, str]] = []
    first = ""
    for line in text.splitlines():
        line = line.strip()
        if (started := start_line(line)) is not None:
            first = started
        elif line.startswith("CSeq:") and first:
            pairs.append((first, line.split()[-1]))
            first = ""
    return pairs


def section(text: str, name: str) -> str:
    match = re.search(rf"^--- {name}\n(.*?)(?=^--- |\Z)", text, re.S | re.M)
    return match.group(1) if match else ""


def unfinished(result: ExecResult) -> str | None:
    """Why a probe script's output cannot be judged (it failed or was cut short), or None."""
    if result.exit_code != 0:
        said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        return f"the probe script exited {result.exit_code}: {said[:200]}"
    if END not in result.stdout.splitlines():
        return "the probe script's output was cut short (no end marker)"
    return None


# -- sip_register ------------------------------------------------------------------------
REGISTER_PCAP = "/tmp/labctl-sipreg.pcap"
REGISTER_EVIDENCE = (Evidence("sip", REGISTER_PCAP),)


def register_script() -> str:
    return REGISTER_SCRIPT.replace("{restart}", phone_role().path("restart"))  # SIP_LINE holds regex braces


REGISTER_SCRIPT = f"""
W={REGISTER_PCAP}
rm -f $W
systemctl stop labctl-phone
timeout 30 tcpdump -i any -nn -U -s0 -c {MAX_SIP_PACKETS} -w $W 'udp port 5060' 2>/dev/null & T=$!
sleep 1
{{restart}}; rc=$?
i=0; until linphonecsh status register 2>/dev/null | grep -q '^registered,'; do
  i=$((i+1)); [ $i -gt 40 ] && break; sleep 0.5; done
sleep 1; kill $T 2>/dev/null; wait $T 2>/dev/null
echo "--- restart"; echo $rc
echo "--- status"; linphonecsh status register 2>&1 | head -1
echo "--- sip"; tcpdump -nn -A -r $W 2>/dev/null | grep -aoE '{SIP_LINE}'
echo "{END}"
"""


def judge_register(user: str) -> Judge:
    def judge(result: ExecResult) -> Verdict:
        if (why := unfinished(result)) is not None:
            return Verdict(FAIL, why)
        restart = section(result.stdout, "restart").strip()
        if restart != "0":
            return Verdict(FAIL, f"restarting the phone failed (exit {restart or '?'})")
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
            return Verdict(
                FAIL, f"the wire shows {codes[challenge]} then 200, but linphone says: {status or 'nothing'}"
            )
        return Verdict(PASS, f"{user}: REGISTER {codes[challenge]} then 200 on the wire; linphone registered")

    return judge


@register("sip_register", ("phones",))
def sip_register(plan: LabPlan, params: Params) -> list[Probe]:
    names = names_param(params, plan, "phones", [n.name for n in driven_phones(plan, "sip_register")])
    probes = []
    for name in names:
        _, ph = phone(plan, name, "sip_register")
        probes.append(
            Probe(
                check="sip_register",
                subject=f"{name} ({ph.user}@{ph.registrar})",
                node=name,
                command=register_script(),
                judge=judge_register(ph.user),
                skip_unless=registrar_gate(plan, ph),
                **params.timing(90, 3),
                command_timeout=60,
                evidence=REGISTER_EVIDENCE,
                access=phones_changed(plan, {name}),
            )
        )
    return probes


# -- sip_invite --------------------------------------------------------------------------
CALL_SIP_PCAP, CALL_RTP_PCAP = "/tmp/labctl-call-sip.pcap", "/tmp/labctl-call-rtp.pcap"
CALL_EVIDENCE = (Evidence("sip", CALL_SIP_PCAP), Evidence("rtp", CALL_RTP_PCAP))
# The caller plays CALL_TONE, the callee ANSWER_TONE; each records what it hears. After the call
# the caller measures its own recording and asks the callee for the numbers of its own
# (labctl-media-report), so both directions are judged from what was heard. Each phone's SIP
# client (linphonec, or a desktop phone's GUI) is driven through its control script ($X,
# vm-recipes/phone/phone-control.sh.j2), whose verbs are the same for both.
CALL_SCRIPT = f"""
H={{home}}; M={{media_tool}}; X={{control}}; S={CALL_SIP_PCAP}; P={CALL_RTP_PCAP}
export HOME=$H
rm -f $S $P
if ! $X registered >/dev/null 2>&1; then
  echo "--- notregistered"; $X registered 2>&1 | head -1; echo "{END}"; exit 0
fi
$M fetch {{far}} {{report}} arm >/dev/null 2>&1  # forget what the callee heard before; ready its side
rm -f $H/rx.wav
$X caller {CALL_TONE:g}
n=$($X mark)
timeout {{capture}} tcpdump -i any -nn -U -s0 -c {MAX_SIP_PACKETS} -w $S 'udp port 5060' 2>/dev/null & T1=$!
timeout {{capture}} tcpdump -i any -nn -U -s 96 -w $P 'udp portrange 7078-7079' 2>/dev/null & T2=$!
sleep 1
$X dial {{uri}}
i=0; until $X connected $n; do i=$((i+1)); [ $i -gt {{answer}} ] && break; sleep 0.5; done
sleep {{media}}
$X hangup
# until a 200 answers a BYE on the wire (the capture so far), {{hangup}} s at most
bye_ok() {{{{
  tcpdump -nn -A -r $S 2>/dev/null | grep -aoE 'SIP/2.0 [0-9]{{{{3}}}}|CSeq: [0-9]+ [A-Z]+' |
    awk '/^SIP/ {{{{ s = $2 }}}} /^CSeq/ {{{{ if (s == "200" && $3 == "BYE") f = 1; s = "" }}}} END {{{{ exit !f }}}}'
}}}}
i=0; until bye_ok; do i=$((i+1)); [ $i -gt $((2 * {{hangup}})) ] && break; sleep 0.5; done
sleep 1; kill $T1 $T2 2>/dev/null; wait 2>/dev/null
$X callee
echo "--- console"; $X log $n
echo "--- sip"; tcpdump -nn -A -r $S 2>/dev/null | grep -aoE '{{sip}}'
echo "--- rtp"; $M rtp $P
echo "--- heard"; $M report $H/rx.wav {CALL_TONE:g} {ANSWER_TONE:g} </dev/null
echo "--- far"; $M fetch {{far}} {{report}} || echo "error: no answer from {{far}}:{{report}}"
echo "{END}"
"""
CONNECTED = ("connected.", "to LinphoneCallStreamsRunning")
"""What the caller's log says once its call is up: linphonec's console, the GUI's log."""


@dataclass(frozen=True)
class Stream:
    """The RTP of one direction of a call, as captured on the caller."""

    packets: int  # RTP packets (RTCP excluded) of the main SSRC
    rtcp: int
    seconds: float  # first to last RTP packet
    lost: int  # sequence numbers never seen between the first and the last
    gaps: int  # places where the sequence jumps
    ssrcs: int
    payload_types: tuple[int, ...]

    def rate(self) -> float:
        return (self.packets - 1) / self.seconds if self.seconds > 0 else 0.0


Row = tuple[float, str, str, int, int, int, int]
"""(time, src ip:port, dst ip:port, byte 0, byte 1, seq, ssrc) of one UDP packet of the media capture."""


def rtp_packets(text: str) -> list[Row]:
    """One Row per 'p' line of `labctl-media rtp`."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 10 or parts[0] != "p":
            continue
        try:
            when = float(parts[1])
            b0, b1, seq, _, ssrc, _ = (int(x) for x in parts[4:10])
        except ValueError:
            continue
        rows.append((when, parts[2], parts[3], b0, b1, seq, ssrc))
    return rows


def at(endpoint: str, where: set[str]) -> bool:
    """Whether `endpoint` (ip:port) is one of `where`: addresses, or ip:port pairs."""
    return endpoint in where or endpoint.rsplit(":", 1)[0] in where


def stream(rows: list[Row], src: set[str], dst: set[str]) -> Stream:
    """RTP from any of `src` to any of `dst` (addresses or ip:port): RTCP told apart by its packet
    type (RFC 5761)."""
    mine = [r for r in rows if at(r[1], src) and at(r[2], dst) and r[3] >> 6 == 2]
    rtcp = [r for r in mine if 192 <= r[4] <= 223]
    rtp = [r for r in mine if not 192 <= r[4] <= 223]
    by_ssrc: dict[int, list[Row]] = {}
    for r in rtp:
        by_ssrc.setdefault(r[6], []).append(r)
    if not by_ssrc:
        return Stream(0, len(rtcp), 0.0, 0, 0, 0, ())
    main = max(by_ssrc.values(), key=len)
    seqs, last = [], None
    for r in sorted(main):
        seq = r[5]
        if last is not None:  # unwrap 16-bit sequence numbers
            seq += round((last - seq) / 65536) * 65536
        seqs.append(seq)
        last = seq
    unique = sorted(set(seqs))
    lost = unique[-1] - unique[0] + 1 - len(unique)
    gaps = sum(1 for a, b in itertools.pairwise(unique) if b - a > 1)
    times = [r[0] for r in main]
    return Stream(
        len(main),
        len(rtcp),
        max(times) - min(times),
        lost,
        gaps,
        len(by_ssrc),
        tuple(sorted({r[4] & 127 for r in rtp})),
    )


def judge_stream(name: str, s: Stream, ptime_ms: float, min_media: float) -> str | None:
    """Why `s` is not voice (too short, too sparse, holes in the sequence), or None."""
    if s.packets == 0:
        return f"no RTP {name}" + (f" (only {s.rtcp} RTCP packets)" if s.rtcp else "")
    expected = s.seconds * 1000 / ptime_ms + 1
    if s.seconds < min_media:
        return f"RTP {name} lasted {s.seconds:.1f} s (< {min_media:g} s)"
    if s.packets < 0.8 * expected:
        return (
            f"RTP {name} is a trickle: {s.packets} packets in {s.seconds:.1f} s ({s.rate():.1f}/s), "
            f"expected {expected:.0f} at {ptime_ms:g} ms"
        )
    if s.lost > 0.01 * expected:
        return f"RTP {name} lost {s.lost} of {s.packets + s.lost} packets in {s.gaps} gaps"
    return None


def describe(name: str, s: Stream) -> str:
    return f"{name} {s.rate():.1f} pkt/s ({s.packets} pkts, {s.lost} lost)"


@dataclass(frozen=True)
class Heard:
    """A tone in a recording, from `labctl-media tone` numbers."""

    seconds: float  # how long the tone was there (100 ms blocks where it dominates)
    level: float  # dBFS (0 = a full-scale sine), median over those blocks
    frequency: float  # Hz, measured from zero crossings, median over those blocks


def heard(text: str, hz: float) -> Heard | str:
    """The tone `hz` in a recording's numbers, or why it cannot be told."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no answer"
    if lines[0][0] == "missing":
        return "no recording"
    if lines[0][0] == "error" or lines[0][0].startswith("error"):
        return " ".join(lines[0])[:200]
    if [w[0] for w in lines].count("end") != 1 or lines[-1] != ["end"]:
        return "numbers cut short"
    try:
        info = dict(w.split("=", 1) for w in lines[0][1:]) if lines[0][0] == "wav" else {}
        blocks = int(info["blocks"])
        zc = next(w[1:] for w in lines if w[0] == "zc")
        row = next(w[2:] for w in lines if w[0] == "hz" and float(w[1]) == hz)
        cells = [(float(c.split("/")[0]), float(c.split("/")[1]), float(f)) for c, f in zip(row, zc, strict=True)]
    except (KeyError, StopIteration, ValueError, IndexError):
        return "unparsable numbers"
    if len(cells) != blocks:
        return "unparsable numbers"
    tone = [(level, freq) for level, share, freq in cells if level >= -45 and share >= 0.5]
    if not tone:
        return Heard(0.0, -200.0, 0.0)
    return Heard(len(tone) / 10, statistics.median(t[0] for t in tone), statistics.median(t[1] for t in tone))


def judge_heard(where: str, text: str, hz: float, min_media: float) -> tuple[str | None, str]:
    """(problem or None, what was heard) for the tone `hz` in `where`'s recording."""
    found = heard(text, hz)
    if isinstance(found, str):
        return f"{where}: {found}", ""
    if found.seconds < 0.8 * min_media:
        return f"{where} did not hear {hz:g} Hz ({found.seconds:.1f} s of it, wanted {0.8 * min_media:.1f} s)", ""
    if abs(found.frequency - hz) > 0.03 * hz:
        return f"{where} heard {found.frequency:.0f} Hz, not {hz:g} Hz", ""
    return None, f"{found.frequency:.0f} Hz at {found.level:.0f} dBFS"


def sdp_answer(sip: str) -> tuple[str, int] | None:
    """(address, port) of the audio in the SDP of the last 200 OK to an INVITE in the grep'd
    transcript: where the caller was told to send its media. Its c= and m= lines follow that
    response's CSeq line, before the next message's start line."""
    answer: tuple[str, int] | None = None
    current, status = ("", ""), ""  # the message being read: (status or method, CSeq method)
    sdp: dict[str, str] = {}  # its c= address and m= port so far
    for line in sip.splitlines():
        line = line.strip()
        if (started := start_line(line)) is not None:
            status, current, sdp = started, ("", ""), {}
        elif line.startswith("CSeq:") and status:
            current = (status, line.split()[-1])
        elif current == ("200", "INVITE") and line.startswith(("c=IN IP4 ", "m=audio ")):
            sdp[line[0]] = line.split()[-1] if line[0] == "c" else line.split()[1]
            if "c" in sdp and "m" in sdp and sdp["m"].isdigit():
                answer = (sdp["c"], int(sdp["m"]))
    return answer


def media_peer(plan: LabPlan, caller: NodePlan, callee: NodePlan) -> NodePlan:
    """Whom the caller's RTP really goes to: a registrar that relays media (FreeSWITCH) or the callee."""
    relays = catalogue().providers(MEDIA_RELAY)
    for ph in (caller.phone, callee.phone):
        if ph is not None and ph.registrar_kind in relays:
            return plan.node(ph.registrar)
    return callee


def judge_call(caller: NodePlan, callee: NodePlan, peer: NodePlan, min_media: float) -> Judge:
    """RTP is judged between the caller and the media address of the SDP answer it received, both
    ways; that address must be the expected peer's: the callee itself when media flows phone to
    phone (Kamailio), the relaying PBX otherwise (FreeSWITCH)."""
    mine = set(caller.addresses())
    relayed = peer is not callee

    def judge(result: ExecResult) -> Verdict:
        if (why := unfinished(result)) is not None:
            return Verdict(FAIL, why)
        out = result.stdout
        if "--- notregistered" in out:
            said = section(out, "notregistered").strip() or "no state logged"
            return Verdict(FAIL, f"{caller.name} is not registered: {said}")
        sip = section(out, "sip")
        wire = transcript(sip)
        ptimes = [int(p) for p in re.findall(r"a=ptime:([0-9]+)", sip)]
        ptime = float(max(ptimes)) if ptimes and 0 < max(ptimes) <= 200 else 20.0
        rows = rtp_packets(section(out, "rtp"))
        answer = sdp_answer(sip)
        # RTCP goes to the port above RTP's (RFC 3550), and is counted apart by its packet type
        theirs = {f"{answer[0]}:{answer[1] + i}" for i in (0, 1)} if answer else set()
        out_s, back_s = stream(rows, mine, theirs), stream(rows, theirs, mine)
        problems = []
        if ("200", "INVITE") not in wire:
            codes = " ".join(c for c, m in wire if m == "INVITE" and c.isdigit())
            problems.append(f"no 200 OK to the INVITE (saw {codes or 'nothing'})")
        elif answer is None:
            problems.append("the 200 OK to the INVITE carried no SDP answer (c= and m=audio) on the wire")
        elif answer[0] not in peer.addresses():
            expected = f"{peer.name}, which relays the media" if relayed else f"the callee {peer.name}, phone to phone"
            problems.append(f"the SDP answer sends the media to {answer[0]}, not to {expected}")
        if not any(said in section(out, "console") for said in CONNECTED):
            problems.append("linphone never said the call connected")
        if not section(out, "rtp").rstrip().endswith("end"):
            problems.append(f"the RTP capture could not be read: {section(out, 'rtp').strip()[:200] or 'nothing'}")
        problems += [
            p
            for p in (judge_stream("out", out_s, ptime, min_media), judge_stream("back", back_s, ptime, min_media))
            if p
        ]
        far_problem, far_heard = judge_heard(callee.name, section(out, "far"), CALL_TONE, min_media)
        near_problem, near_heard = judge_heard(caller.name, section(out, "heard"), ANSWER_TONE, min_media)
        problems += [p for p in (far_problem, near_problem) if p]
        if not (any(code == "BYE" for code, _ in wire) and ("200", "BYE") in wire):
            problems.append("no BYE answered by 200")
        if problems:
            return Verdict(FAIL, "; ".join(problems))
        assert answer is not None
        via = f" via {peer.name}" if relayed else ""
        return Verdict(
            PASS,
            f"200 OK; voice heard both ways: {far_heard} out, {near_heard} back; "
            f"RTP{via} ({answer[0]}:{answer[1]}) {describe('out', out_s)}, {describe('back', back_s)} at {ptime:g} ms; "
            "BYE/200",
        )

    return judge


@register("sip_invite", ("from", "to", "dial", "media_seconds"))
def sip_invite(plan: LabPlan, params: Params) -> list[Probe]:
    caller_name, callee_name = one_name(params, plan, "from"), one_name(params, plan, "to")
    caller, cph = phone(plan, caller_name, "sip_invite", desktop=True)
    callee, eph = phone(plan, callee_name, "sip_invite", desktop=True)
    if caller_name == callee_name:
        raise LabctlError(f"check sip_invite: a phone cannot call itself ({caller_name})")
    dial = string_param(params, "dial", "user")
    if dial not in ("user", "extension"):
        raise LabctlError(f"check sip_invite: dial must be 'user' or 'extension', not '{dial}'")
    target = eph.user if dial == "user" else eph.extension
    media = number_param(params, "media_seconds", 3, 1, MAX_MEDIA_SECONDS)
    uri = f"sip:{target}@{plan.sip.domain if plan.sip else ''}"
    far = next((i.ip for i in callee.interfaces), callee.address)
    gui = caller.desktop is not None or callee.desktop is not None
    answer, hangup = (DESKTOP_ANSWER_SECONDS, DESKTOP_HANGUP_SECONDS) if gui else (ANSWER_SECONDS, HANGUP_SECONDS)
    role = phone_role()
    script = CALL_SCRIPT.format(
        uri=shlex.quote(uri),
        control=role.path("control"),
        answer=2 * answer,
        hangup=hangup,
        media=int(media + 0.999) + 2,
        capture=int(media) + 20 + answer + hangup,
        far=far,
        sip=SIP_LINE,
        home=role.path("home"),
        media_tool=role.path("media"),
        report=role.port("media_report"),
    )
    gate = registrar_gate(plan, cph) or registrar_gate(plan, eph)
    return [
        Probe(
            check="sip_invite",
            subject=f"{caller_name} -> {callee_name} ({uri})",
            node=caller_name,
            command=script,
            judge=judge_call(caller, callee, media_peer(plan, caller, callee), media),
            skip_unless=gate,
            **params.timing(150 + 2 * (answer - ANSWER_SECONDS), 5),  # room for a second try
            command_timeout=int(media) + 75 + answer + hangup,
            evidence=CALL_EVIDENCE,
            access=phones_changed(plan, {caller_name, callee_name}),
        )
    ]


# -- sipp: an independent client -----------------------------------------------------------
def sipp_command(node: NodePlan, ph: PhonePlan, scenario: str, service: str, password: str) -> str:
    """The shell command of a sipp probe. It holds the SIP password (sipp -ap), so it must never
    reach a message or a report: the guest agent's timeout names only argv[0], and the judge shows
    only SIP status lines. The password is still in the guest's own process list while sipp runs
    (sh -c and sipp's argv): Backend.exec has no stdin to hand it over otherwise."""
    local = next((i.ip for i in node.interfaces), node.address)
    argv = [
        "sipp",
        f"{ph.registrar_address}:5060",
        "-sf",
        f"{phone_role().path('sipp')}/{scenario}",
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
        + f"grep -aoE '{SIP_LINE}' /tmp/labctl-sipp.msg; echo '{END}'"
    )


def in_order(codes: list[str], wanted: tuple[str, ...]) -> bool:
    """`wanted` appears in `codes` as a subsequence."""
    remaining = iter(codes)
    return all(any(code == want for code in remaining) for want in wanted)


def judge_sipp(expected: str, codes_wanted: tuple[str, ...]) -> Judge:
    """Pass only when sipp exits 0 *and* its message trace shows the wanted responses in order."""

    def judge(result: ExecResult) -> Verdict:
        if (why := unfinished(result)) is not None:
            return Verdict(FAIL, why)
        code = section(result.stdout, "exit").strip()
        if not code.isdigit():
            return Verdict(FAIL, f"sipp's exit status is missing or unreadable ({code[:40] or 'nothing'})")
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
        source = names_param(p, plan, "from", [driven_phones(plan, name, desktop=True)[0].name])
        probes = []
        for node_name in source:
            node, ph = phone(plan, node_name, name, desktop=True)  # sipp is a client of its own
            service = string_param(p, "to", ph.user) if target_param else ph.user
            # a phone's name (a desktop phone's too: sipp is its own client) stands for its user
            called = service if target_param and service in {n.name for n in plan.nodes if n.phone} else None
            if called is not None:
                service = plan.node(called).phone.user  # type: ignore[union-attr]
            password = string_param(p, "password", ph.password + "-wrong" if wrong_password else ph.password)
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
                    access=phones_changed(plan, {node_name} | ({called} if called else set())),
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
