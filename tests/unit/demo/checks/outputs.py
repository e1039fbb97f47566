"""Real outputs of the probe commands, captured from the ospf-dns lab (debian12-lab image, dig
9.18.49, BIRD 2.0.12) through the backend's exec on 2026-11-28: captured/ospf-dns.json holds each
command, its node, exit code, stdout and stderr, verbatim. Entries named new_* ran the dns probe's
own command; *_named_down ran with named stopped on ns."""

from __future__ import annotations

import json
from pathlib import Path

CAPTURED: dict[str, dict[str, object]] = json.loads((Path(__file__).parent / "captured" / "ospf-dns.json").read_text())
TIMING = ";; labctl: took 20 ms\n"


def out(name: str) -> str:
    return str(CAPTURED[name]["stdout"])


def err(name: str) -> str:
    return str(CAPTURED[name]["stderr"])


DIG_H2 = out("new_dns_h2")
DIG_R3LAN2 = out("new_dns_r3lan2")
DIG_WWW = out("new_dns_www")  # outside the zone: REFUSED
DIG_BARE_NOSUCH = out("new_dns_nosuch")  # dig shows only the last name it searched: 'nosuch.', REFUSED
DIG_NXDOMAIN = out("dig_nosuchfq_full").rstrip("\n") + "\n\n" + TIMING  # plain dig, plus the probe's timing line
DIG_APEX = out("dig_zone_apex").rstrip("\n") + "\n\n" + TIMING  # NOERROR, no A record
DIG_DOWN = out("new_dns_h2_named_down")  # exit 9
DIG_MISSING = err("dig_missing")  # exit 127
R1_FULL = out("birdc_r1")
R3_FULL = out("birdc_r3")
R1_R2_GONE = out("birdc_r1_after")  # 45 s after BIRD stopped on r2
BIRD_HEADER = "".join(R1_FULL.splitlines(keepends=True)[:3])
BIRD_DOWN = err("birdc_ns")  # exit 1
BIRD_NO_PROTOCOL = out("birdc_wrongproto")  # exit 1
PING_H1 = out("ping_h1")
PING_H1_NAMED_DOWN = out("ping_h1_down")


def dig(status: str, answers: list[str], name: str = "www.example.com.", flags: str = "qr aa rd") -> str:
    """DIG_H2 with another status, flags, question and answer section."""
    text = DIG_H2.replace("status: NOERROR", f"status: {status}").replace(";h2.ring.lab.", f";{name}")
    text = text.replace(";; flags: qr aa rd;", f";; flags: {flags};")
    head, rest = text.split(";; ANSWER SECTION:\n")
    tail = rest.split("\n\n", 1)[1]
    section = "".join(f"{name}\t\t60\tIN\tA\t{a}\n" for a in answers)
    return head + (f";; ANSWER SECTION:\n{section}\n" if answers else "") + tail
