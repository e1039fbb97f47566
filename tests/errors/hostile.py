"""Write the hostile topologies of the corpus, tests/errors/hostile-*.yaml (issue 8 §4).

Their values hold escapes (NUL, ESC, bidi controls, non-ASCII digits) that are easier to get right
as code than by hand. Rewrite them with

    .venv/bin/python tests/errors/hostile.py

The matching .expected files are written and reviewed by hand, never generated from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
NODE = "nodes:\n  a: {}\n"
cases: dict[str, tuple[str, str]] = {}


def q(text: str) -> str:
    """A YAML double-quoted string, every unusual character as an escape."""
    return json.dumps(text, ensure_ascii=True)


def sip(password: str = "alice-secret-1", user: str = "alice", ext: str = "1001", domain: str = "voip.lab") -> str:
    return f"sip:\n  domain: {q(domain)}\n  users:\n    {q(user)}: {{password: {q(password)}, extension: {q(ext)}}}\n"


def link(**netem: str) -> str:
    extra = "".join(f", {k}: {q(v)}" for k, v in netem.items())
    return "nodes:\n  a: {}\n  b: {}\nlinks:\n  - {endpoints: [a, b]" + extra + "}\n"


def case(name: str, culprit: str, body: str) -> None:
    cases[name] = (culprit, body)


deep = "name: deep\nnodes:\n  a: {roles: " + "[" * 500 + "]" * 500 + "}\n"
case("hostile-deep-flow", "nests more than 64 levels", deep)
block = "name: deep\nnodes:\n  a:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(100)) + "  " * 102 + "x\n"
case("hostile-deep-block", "nests more than 64 levels", block)
chain = "name: deep\n" + "".join(f"x{i}: &x{i} [{'*x' + str(i - 1) if i else 0}]\n" for i in range(100)) + NODE
case("hostile-deep-aliases", "nests more than 64 levels", chain)
merges = "name: deep\n" + NODE + "defaults: " + "{<<: " * 100 + "{memory: 512}" + "}" * 100 + "\n"
case("hostile-deep-merges", "nests more than 64 levels", merges)
case("hostile-name-trailing-newline", "'lab\\n'", f"name: {q('lab' + chr(10))}\n" + NODE)
case("hostile-name-shell", "'lab;id'", "name: 'lab;id'\n" + NODE)
case("hostile-name-markup", "'[/red]'", "name: '[/red]'\n" + NODE)
case("hostile-node-name-newline", "'a\\n'", "name: lab\nnodes:\n  " + q("a\n") + ": {}\n")
case("hostile-node-name-ansi", "'\\x1b[2J'", "name: lab\nnodes:\n  " + q("\x1b[2J") + ": {}\n")
case("hostile-lan-name-newline", "'core\\n'", "name: lab\nnodes:\n  a: {}\nlans:\n  " + q("core\n") + ": [a]\n")
case("hostile-unknown-key-ansi", "'\\x1b]0;pwned\\x07'", "name: lab\n" + q("\x1b]0;pwned\x07") + ": 1\n" + NODE)
case("hostile-unknown-key-markup", "'[bold]x[/bold]'", "name: lab\n'[bold]x[/bold]': 1\n" + NODE)
case("hostile-domain-trailing-newline", "'lab.test\\n'", f"name: lab\ndomain: {q('lab.test' + chr(10))}\n" + NODE)
case("hostile-domain-label-too-long", "too long", f"name: lab\ndomain: {'a' * 64}.lab\n" + NODE)
case("hostile-domain-xml", "'lab.test<x>'", "name: lab\ndomain: 'lab.test<x>'\n" + NODE)
case("hostile-delay-trailing-newline", "'10ms\\n'", "name: lab\n" + link(delay="10ms\n"))
case("hostile-delay-arabic-digits", "'\u0663ms'", "name: lab\n" + link(delay="\u0663ms"))
case("hostile-delay-fullwidth-digits", "'\uff15ms'", "name: lab\n" + link(delay="\uff15ms"))
case("hostile-delay-too-long", "'999999999s'", "name: lab\n" + link(delay="999999999s"))
case("hostile-delay-many-digits", "'1111111111111111111111111111111ms'", "name: lab\n" + link(delay="1" * 31 + "ms"))
case("hostile-jitter-shell", "'5ms; reboot'", "name: lab\n" + link(delay="10ms", jitter="5ms; reboot"))
case("hostile-loss-trailing-newline", "'1%\\n'", "name: lab\n" + link(loss="1%\n"))
case("hostile-loss-non-ascii", "'\uff11%'", "name: lab\n" + link(loss="\uff11%"))
case("hostile-memory-huge", "not 100... (31 digits)", "name: lab\nnodes:\n  a: {memory: " + str(10**30) + "}\n")
case("hostile-memory-float", "'1e+30'", "name: lab\nnodes:\n  a: {memory: 1.0e+30}\n")
case("hostile-memory-too-small", "at least 64", "name: lab\nnodes:\n  a: {memory: 32}\n")
case("hostile-defaults-memory-huge", "at most 1048576", "name: lab\ndefaults: {memory: 99999999999}\n" + NODE)
case("hostile-vcpus-huge", "100000", "name: lab\nnodes:\n  a: {vcpus: 100000}\n")
case("hostile-vcpus-over-cap", "65", "name: lab\ndefaults: {vcpus: 65}\n" + NODE)
case(
    "hostile-password-ldif-injection",
    "U+000A",
    "name: lab\n" + NODE + sip("pw\ndn: uid=evil,ou=people,dc=voip,dc=lab\nuserPassword: x"),
)
case("hostile-password-double-quote", "'\"'", "name: lab\n" + NODE + sip('pass"word'))
case("hostile-password-single-quote", "U+0027", "name: lab\n" + NODE + sip("pass'word"))
case("hostile-password-space", "U+0020", "name: lab\n" + NODE + sip("pass word"))
case("hostile-password-command-substitution", "'$'", "name: lab\n" + NODE + sip("$(reboot)"))
case("hostile-password-semicolon", "';'", "name: lab\n" + NODE + sip("secret;reboot"))
case("hostile-password-xml", "'<'", "name: lab\n" + NODE + sip("<x>&amp;"))
case("hostile-password-backslash", "U+005C", "name: lab\n" + NODE + sip("ab\\cd"))
case("hostile-password-nul", "U+0000", "name: lab\n" + NODE + sip("ab\x00cd"))
case("hostile-password-ansi", "U+001B", "name: lab\n" + NODE + sip("\x1b[2Jabcd"))
case("hostile-password-non-ascii", "'\u00e4'", "name: lab\n" + NODE + sip("p\u00e4sswort"))
case("hostile-password-too-long", "65 characters long", "name: lab\n" + NODE + sip("x" * 65))
case("hostile-password-ini-section", "U+000A", "name: lab\n" + NODE + sip("pw\n[proxy_1]"))
case("hostile-sip-user-newline", "'alice\\n'", "name: lab\n" + NODE + sip(user="alice\n"))
case("hostile-sip-user-injection", "'alice)(uid=*'", "name: lab\n" + NODE + sip(user="alice)(uid=*"))
case("hostile-sip-domain-newline", "'voip.lab\\n'", "name: lab\n" + NODE + sip(domain="voip.lab\n"))
case("hostile-extension-trailing-newline", "'1001\\n'", "name: lab\n" + NODE + sip(ext="1001\n"))
case(
    "hostile-extension-arabic-digits",
    "'\u0661\u0660\u0660\u0661'",
    "name: lab\n" + NODE + sip(ext="\u0661\u0660\u0660\u0661"),
)
case("hostile-description-ansi", "U+001B", "name: lab\ndescription: " + q("\x1b[31mred") + "\n" + NODE)
case("hostile-description-newline", "U+000A", "name: lab\ndescription: " + q("one\ntwo") + "\n" + NODE)
case("hostile-description-nul", "U+0000", "name: lab\ndescription: " + q("a\x00b") + "\n" + NODE)
case("hostile-description-bidi", "U+202E", "name: lab\ndescription: " + q("\u202eevil") + "\n" + NODE)
case("hostile-description-too-long", "201 characters", "name: lab\ndescription: " + "d" * 201 + "\n" + NODE)
case("hostile-image-path-traversal", "'../../etc/passwd'", "name: lab\nnodes:\n  a: {image: ../../etc/passwd}\n")
case("hostile-image-nul", "'deb\\x00ian'", "name: lab\nnodes:\n  a: {image: " + q("deb\x00ian") + "}\n")
case("hostile-image-missing", "'debian99-lab'", "name: lab\nnodes:\n  a: {image: debian99-lab}\n")
case("hostile-defaults-image-missing", "'debian13-lab'", "name: lab\ndefaults: {image: debian13-lab}\n" + NODE)
case("hostile-demo-missing", "'no-such-demo'", "name: lab\n" + NODE + "demo: no-such-demo\n")
case("hostile-demo-absolute-path", "'/etc/passwd'", "name: lab\n" + NODE + "demo: /etc/passwd\n")
case("hostile-demo-command-substitution", "'$(id)'", "name: lab\n" + NODE + "demo: $(id)\n")
case(
    "hostile-addressing-newline",
    "'10.0.0.0/24\\n'",
    "name: lab\n" + NODE + "addressing: {loopback: " + q("10.0.0.0/24\n") + "}\n",
)


def main() -> None:
    for name, (culprit, body) in cases.items():
        (CORPUS / f"{name}.yaml").write_text(f"# culprit: {culprit}\n{body}", encoding="utf-8")
    print(f"wrote {len(cases)} hostile topologies in {CORPUS}")


if __name__ == "__main__":
    main()
