"""Real outputs of the probe commands, captured from the ospf-dns lab (debian12-lab image)."""

from __future__ import annotations

DIG_H2 = """
; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> +search +time=2 +tries=1 h2 A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 51234
;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1
;; WARNING: recursion requested but not available

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;h2.ring.lab.			IN	A

;; ANSWER SECTION:
h2.ring.lab.		60	IN	A	10.0.0.6

;; Query time: 3 msec
;; SERVER: 10.0.0.4#53(10.0.0.4) (UDP)
;; WHEN: Sat Nov 28 07:40:00 UTC 2026
;; MSG SIZE  rcvd: 84

;; labctl: took 41 ms
"""

DIG_DOWN = """;; communications error to 10.0.0.4#53: timed out

; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> +search +time=2 +tries=1 h2 A
;; global options: +cmd
;; no servers could be reached

;; labctl: took 2012 ms
"""

BIRD_HEADER = "BIRD 2.0.12 ready.\nlab_ospf:\nRouter ID   \tPri\t     State     \tDTime\tInterface  Router IP\n"
R3_FULL = BIRD_HEADER + (
    "10.0.0.1    \t  1\tFull/PtP  \t 3.512\tr1         10.255.0.9\n"
    "10.0.0.2    \t  1\tFull/PtP  \t 3.689\tr2         10.255.0.5\n"
)

BIRD_DOWN = "Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n"
BIRD_NO_PROTOCOL = "BIRD 2.0.12 ready.\nnosuch: Not found\n"

# -- placeholders until the capture lands ---------------------------------------------
DIG_R3LAN2 = DIG_H2.replace("h2.ring.lab.", "r3-lan2.ring.lab.").replace("10.0.0.6", "10.10.1.1")
DIG_MISSING = "sh: 1: dig: not found\n"


def dig(status: str, answers: list[str], name: str = "www.example.com.") -> str:
    """dig's output in the captured form, with another status and answer section."""
    text = DIG_H2.replace("status: NOERROR", f"status: {status}").replace(";h2.ring.lab.", f";{name}")
    head, rest = text.split(";; ANSWER SECTION:\n")
    tail = rest.split("\n\n", 1)[1]
    section = "".join(f"{name}\t\t60\tIN\tA\t{a}\n" for a in answers)
    return head + (f";; ANSWER SECTION:\n{section}\n" if answers else "") + tail


DIG_WWW = dig("REFUSED", [])
DIG_NOSUCH = dig("NXDOMAIN", [], "nosuch.ring.lab.")
