"""Hostile values in the plan (issue 8 §2): every role of every shipped lab, rendered after a value of
the compiled plan (a SIP password, a user, an extension, a domain label, a LAN or node name, a
secret) was replaced by a hostile string, bypassing validation on purpose (defence in depth).

Each rendered file is read back by a parser of its format (tests/unit/render/formats.py): LDIF with
base64 and continuation lines, XML with ElementTree, INI with configparser, unit files with systemd's
quoting and %-specifiers, zone files with RFC 1035 escapes, shell by running it under bash with every
program replaced by a recorder of its argv. The result must be exactly the normal render's, with the
hostile string where the original value was: no extra entry, section, element, user or argument,
and the value itself intact. A role may instead refuse the value with a RenderError naming the node
and the template (INI has no quoting, a dial string has no escapes), except that a SIP password is
never refused in LDAP: it is written as base64 there.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import urllib.parse
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from labctl.compile.plan import LabPlan
from labctl.compile.sip import base_dn
from labctl.render.escape import comment
from labctl.render.render import RenderError, RoleStep, context, render_node, render_step
from tests.unit.render import formats
from tests.unit.render.formats import Item
from tests.unit.render.golden import REPO, SECRETS, plan_of, recipes_for

HOSTILE = [
    "pw\ndn: uid=evil,ou=people,dc=voip,dc=lab\nobjectClass: inetOrgPerson\nuid: evil\nuserPassword: evil",
    "pw\n\ndn: uid=evil,ou=people,dc=voip,dc=lab\nobjectClass: inetOrgPerson\nuid: evil\ncn: evil\nsn: evil\n"
    "userPassword: evil",
    "pw\n[proxy_1]\nreg_proxy=<sip:evil.example:5060>",
    "cr\rlf\r\n",
    "nul\0byte",
    'double"quote',
    "single'quote",
    "<tag attr='x'>&amp;</tag>",
    "semi;colon # hash",
    "$(id)",
    "`id`",
    "${HOME}$${domain}$HOME",
    "100% %n%H%%",
    "back\\slash\\",
    "ünïcødé ☎ €",
    " lead and trail ",
    ":colon",
    "<less",
    "#hash",
    "]]>",
    "-- comment --",
    "tab\there",
    "a,b+c=d",
    "*?[]{}|^()",
    "del\x7f\x01ctl",
    "",
]
IDS = [f"h{i:02d}" for i in range(len(HOSTILE))]


@dataclasses.dataclass(frozen=True)
class Target:
    """A value of a shipped lab's plan (every whole-word occurrence of `token`), or of its secrets."""

    label: str
    topology: str
    token: str
    never_refused: frozenset[str] = frozenset()  # roles that must take any value


TARGETS = [
    Target("sip-password", "voip-demo", "alice-secret-1", frozenset({"ldap"})),
    Target("sip-user-and-node", "voip-demo", "alice"),
    Target("sip-extension", "voip-demo", "1002"),
    Target("sip-domain-label", "voip-demo", "voip"),
    Target("lan-name", "voip-demo", "phones"),
    Target("pbx-name", "voip-demo", "pbx"),
    Target("ldap-node-name", "voip-demo", "infra"),
    Target("router-name", "voip-demo", "r2"),
    Target("ldap-secret", "voip-demo", SECRETS["ldap_reader"]),
    Target("router-name", "ospf-dns", "r1"),
    Target("dns-node-name", "ospf-dns", "ns"),
    Target("zone-label", "ospf-dns", "ring"),
    Target("lan-name", "ospf-dns", "lan1"),
    Target("host-name", "line", "b"),
    Target("desktop-phone-name", "voip-desktop", "alice"),
    Target("desktop-sip-password", "voip-desktop", "alice-secret-1", frozenset({"ldap"})),
    Target("desktop-lab-domain-label", "voip-desktop", "desk"),
    Target("desktop-lab-lan-name", "voip-desktop", "lan"),
    Target("domain-label", "line", "line"),
]


def substitution(token: str, hostile: str) -> Callable[[str], str]:
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])")
    return lambda text: pattern.sub(lambda _: hostile, text)


def rewrite(value: Any, sub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return sub(value)
    if isinstance(value, tuple):
        return tuple(rewrite(v, sub) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: rewrite(getattr(value, f.name), sub) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def hostile_plan(plan: LabPlan, sub: Callable[[str], str]) -> LabPlan:
    """The plan with the value replaced everywhere, as compile would have made it (the LDAP base DN
    is computed from the SIP domain, escaped)."""
    changed: LabPlan = rewrite(plan, sub)
    if changed.sip is not None:
        base = base_dn(changed.sip.domain)
        changed = dataclasses.replace(
            changed, sip=dataclasses.replace(changed.sip, base_dn=base, people_dn=f"ou=people,{base}")
        )
    return changed


# -- reading a rendered step back -------------------------------------------------------------------
DN_START = ("cn=", "ou=", "uid=", "dc=")
URL_START = "ldap://sipsession/"


def expand(items: list[Item]) -> list[Item]:
    """DNs split into RDNs (escapes undone), LDAP URLs percent-decoded, dialplan regexes unescaped,
    so that the hostile and the normal render compare value by value."""
    out: list[Item] = []
    for where, value in items:
        if value.startswith(URL_START):
            dn, _, rest = value[len(URL_START) :].partition("?")
            dn = urllib.parse.unquote(dn, errors="strict")
            out += [(f"{where}/dn/{i}/{a}", v) for i, (a, v) in enumerate(formats.parse_dn(dn))]
            out.append((f"{where}/url?", rest))
        elif value.startswith(DN_START):
            out += [(f"{where}/dn/{i}/{a}", v) for i, (a, v) in enumerate(formats.parse_dn(value))]
        elif where.endswith("@expression"):
            re.compile(value)
            out.append((where, re.sub(r"\\(.)", r"\1", value)))
        else:
            out.append((where, value))
    return out


def python_heredoc(script: str) -> list[Item]:
    """String constants of the Python program a script feeds to python3 through <<'PY'."""
    if "<<'PY'" not in script:
        return []
    program = script.split("<<'PY'", 1)[1].split("\n", 1)[1].split("\nPY\n", 1)[0]
    constants = [n.value for n in ast.walk(ast.parse(program)) if isinstance(n, ast.Constant)]
    return [(f"py/{i}", v) for i, v in enumerate(constants) if isinstance(v, str)]


def shell_items(script: str, tmp: Path) -> list[Item]:
    formats.sh_syntax(script)
    calls = formats.shell_argv(script, tmp)
    return [(f"run/{n}/{i}", arg) for n, argv in enumerate(calls) for i, arg in enumerate(argv)] + python_heredoc(
        script
    )


def file_items(path: str, mode: str, text: str, tmp: Path) -> list[Item]:
    name = path.rsplit("/", 1)[-1]
    if path.endswith(".ldif"):
        return formats.ldif_items(text)
    if path.endswith(".xml"):
        return formats.xml_items(text)
    if name == "linphonerc.template":
        return formats.ini_items(text)
    if path == "/etc/kamailio/ldap.cfg":
        return formats.ini_items(text, quoted=True)
    units = (".service", ".socket", ".path", ".timer", ".mount", ".network", ".link", ".netdev")
    if path.endswith(units) or (path.startswith("/etc/systemd/") and path.endswith(".conf")):
        return formats.unit_items(text)
    if path.startswith("/etc/bind/db."):
        return formats.zone_items(text)
    if path.startswith("/etc/bind/named.conf"):
        return formats.named_items(text)
    if path == "/etc/bird/bird.conf":
        return formats.bird_items(text)
    if path == "/etc/kamailio/kamailio.cfg":
        return formats.kamailio_items(text)
    if path in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname"):
        return formats.line_items(text)
    if path == "/root/.labctl-root.chpasswd":  # user:hash lines; the hash is salted per node, so only users count
        return [(f"chpasswd/{n}", line.split(":", 1)[0]) for n, line in enumerate(text.splitlines())]
    if path.startswith("/etc/sysctl.d/"):
        return formats.line_items(text)
    if name == "reader.pw" or name.endswith(".py"):
        return [("content", text)]
    if mode == "0755":
        return shell_items(text, tmp)
    raise ValueError(f"no reader for {path}: add one to tests/unit/render/formats.py")


def parts(step: RoleStep) -> list[tuple[str, str, str]]:
    """(path, mode, content) of each file, then the commands and the ready probe as one script."""
    script = "\n".join(step.commands) + ("\n" + step.ready.command if step.ready else "") + "\n"
    return [*((f.path, f.mode, f.content) for f in step.files), ("(commands)", "0755", script)]


def part_items(part: tuple[str, str, str], owner: str, tmp: Path) -> list[Item]:
    path, mode, content = part
    if path == "(commands)":
        return expand(shell_items(content, tmp))
    return [("path", path), ("mode", mode), ("owner", owner), *expand(file_items(path, mode, content, tmp))]


@cache
def normal_render(topology: str) -> dict[str, dict[str, RoleStep]]:
    plan = plan_of(REPO / "topologies" / f"{topology}.yaml")
    recipes = recipes_for(plan)
    return {node.name: render_node(plan, node, recipes, SECRETS) for node in plan.nodes}


_NORMAL_ITEMS: dict[tuple[str, str, str, int], list[Item]] = {}


def normal_items(topology: str, node: str, role: str, index: int, tmp: Path) -> list[Item]:
    key = (topology, node, role, index)
    if key not in _NORMAL_ITEMS:
        step = normal_render(topology)[node][role]
        owner = step.files[index].owner if index < len(step.files) else ""
        _NORMAL_ITEMS[key] = part_items(parts(step)[index], owner, tmp)
    return _NORMAL_ITEMS[key]


def canonical(items: list[Item]) -> list[Item]:
    """Programs a script ran, in a stable order: the two sides of a pipe run (and are recorded) in
    either order, so calls are sorted by what they were given."""
    calls: dict[str, list[Item]] = {}
    rest: list[Item] = []
    for where, value in items:
        if where.startswith("run/"):
            n, _, tail = where[4:].partition("/")
            calls.setdefault(n, []).append((tail, value))
        else:
            rest.append((where, value))
    ordered = sorted(calls.values(), key=repr)
    return [(f"run/{n}/{tail}", value) for n, call in enumerate(ordered) for tail, value in call] + rest


def differences(target: Target, original: str, step: RoleStep, sub: Callable[[str], str], tmp: Path) -> list[str]:
    """What differs between the hostile step, read back, and the normal one with the value replaced."""
    normal = normal_render(target.topology)[original][step.role]
    found: list[str] = []
    assert len(parts(step)) == len(parts(normal)), f"{original}/{step.role}: files were added or lost"
    for index, (part, usual) in enumerate(zip(parts(step), parts(normal), strict=True)):
        if part == usual:
            continue
        owner = step.files[index].owner if index < len(step.files) else ""
        try:
            actual = canonical(part_items(part, owner, tmp))
        except (ValueError, SyntaxError) as exc:  # ElementTree's ParseError is a SyntaxError
            found.append(f"{original}/{step.role} {usual[0]}: unreadable: {exc}")
            continue
        expected = canonical([(w, sub(v)) for w, v in normal_items(target.topology, original, step.role, index, tmp)])
        if [w for w, _ in actual] != [w for w, _ in expected]:
            first = next((a, e) for a, e in zip([*actual, None], [*expected, None], strict=False) if a != e)
            found.append(f"{original}/{step.role} {usual[0]}: the structure changed, first at {first}")
            continue
        found += [
            f"{original}/{step.role} {usual[0]} {where}: {value!r} != {wanted!r}"
            for (where, value), (_, wanted) in zip(actual, expected, strict=True)
            if value != wanted
        ]
    return found


def render_hostile(target: Target, hostile: str) -> tuple[LabPlan, dict[str, str], Callable[[str], str]]:
    sub = substitution(target.token, hostile)
    plan = hostile_plan(plan_of(REPO / "topologies" / f"{target.topology}.yaml"), sub)
    secrets = {name: sub(value) for name, value in SECRETS.items()}
    return plan, secrets, sub


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
@pytest.mark.parametrize("target", TARGETS, ids=[f"{t.topology}-{t.label}" for t in TARGETS])
def test_every_role_reads_back_the_hostile_value_or_refuses_it(target: Target, hostile: str, tmp_path: Path) -> None:
    plan, secrets, sub = render_hostile(target, hostile)
    recipes = recipes_for(plan_of(REPO / "topologies" / f"{target.topology}.yaml"))
    normal = normal_render(target.topology)
    nodes = {sub(name): name for name in normal}
    assert sorted(nodes) == sorted(n.name for n in plan.nodes)
    found: list[str] = []
    for node_plan in plan.nodes:
        original = nodes[node_plan.name]
        for role in normal[original]:
            try:
                step = render_step(recipes[role], context(plan, node_plan, secrets))
            except RenderError as exc:
                assert role not in target.never_refused, f"{role} on {original} refused {hostile!r}: {exc}"
                message = str(exc)
                assert re.match(rf"{re.escape(str(recipes[role].folder.parent))}/[^:]+:\d+: ", message), message
                assert f": node {comment(node_plan.name)}: " in message, message
                assert "\n" not in message and "\r" not in message, message
                continue
            found += differences(target, original, step, sub, tmp_path)
    pending = [f for f in found if f.split(" ", 1)[0].endswith("/phone") and PHONE_PENDING]
    assert [f for f in found if f not in pending] == []
    if pending:
        pytest.xfail(f"{PHONE_PENDING}: {pending[0]}")


# The phone recipe is being rewritten by another helper (sipmedia); until linphonerc.j2 prints its
# values through the `ini` filter, a value INI cannot hold still reaches it unrefused.
PHONE_PENDING = (
    ""
    if "| ini(" in (REPO / "vm-recipes" / "phone" / "linphonerc.j2").read_text()
    else "vm-recipes/phone/linphonerc.j2 does not use the ini filter yet"
)


# -- the two injections the issue names, spelled out -------------------------------------------------
EVIL_LDIF = "x\ndn: uid=evil,ou=people,dc=voip,dc=lab\nobjectClass: inetOrgPerson\nuid: evil\nuserPassword: evil"
EVIL_INI = "x\n[proxy_1]\nreg_proxy=<sip:evil.example:5060>\nreg_sendregister=1"


def with_passwords(password: str) -> LabPlan:
    plan = plan_of(REPO / "topologies" / "voip-demo.yaml")
    assert plan.sip is not None
    sip = dataclasses.replace(
        plan.sip, accounts=tuple(dataclasses.replace(a, password=password) for a in plan.sip.accounts)
    )
    nodes = tuple(
        dataclasses.replace(n, phone=dataclasses.replace(n.phone, password=password)) if n.phone else n
        for n in plan.nodes
    )
    return dataclasses.replace(plan, sip=sip, nodes=nodes)


def rendered_file(plan: LabPlan, node: str, role: str, path: str, secrets: Mapping[str, str] = SECRETS) -> str:
    steps = render_node(plan, plan.node(node), recipes_for(plan), secrets)
    return next(f.content for f in steps[role].files if f.path == path)


def test_a_password_with_newlines_adds_no_ldap_user() -> None:
    plan = with_passwords(EVIL_LDIF)
    assert plan.sip is not None
    records = formats.ldif_records(rendered_file(plan, "infra", "ldap", "/etc/labctl/ldap/data.ldif"))
    people = [dict(r) for r in records if ("objectclass", "inetOrgPerson") in r]
    assert sorted(p["uid"] for p in people) == sorted(a.user for a in plan.sip.accounts)
    assert all(p["userpassword"] == EVIL_LDIF for p in people)
    assert len(records) == 3 + len(plan.sip.accounts)
    assert not any(dn == "uid=evil,ou=people,dc=voip,dc=lab" for r in records for a, dn in r if a == "dn")


def test_a_password_with_newlines_adds_no_proxy_to_a_phone() -> None:
    plan = with_passwords(EVIL_INI)
    try:
        text = rendered_file(plan, "alice", "phone", "/var/lib/labctl-phone/linphonerc.template")
    except RenderError as exc:
        assert re.match(r".*/phone/linphonerc\.j2:\d+: node alice: ", str(exc)), str(exc)
        return
    sections = [w.split("/")[0] for w, _ in formats.ini_items(text)]
    assert "proxy_1" not in sections
    assert dict(formats.ini_items(text))["auth_info_0/passwd"] == EVIL_INI


def test_every_role_of_every_shipped_lab_meets_a_hostile_value() -> None:
    """The targets above reach every role that renders anything, in every shipped lab."""
    shipped = {p.stem for p in (REPO / "topologies").glob("*.yaml")}
    assert {t.topology for t in TARGETS} == shipped
    for topology in sorted(shipped):
        recipes = recipes_for(plan_of(REPO / "topologies" / f"{topology}.yaml"))
        unreached = {
            (node, role)
            for node, steps in normal_render(topology).items()
            for role, step in steps.items()
            if step.files or step.commands
        }
        for target in (t for t in TARGETS if t.topology == topology):
            plan, secrets, sub = render_hostile(target, "x\ny")
            for node_plan in plan.nodes:
                original = next(n for n in normal_render(topology) if sub(n) == node_plan.name)
                for role in list(normal_render(topology)[original]):
                    try:
                        step = render_step(recipes[role], context(plan, node_plan, secrets))
                    except RenderError:
                        unreached.discard((original, role))
                        continue
                    if step != normal_render(topology)[original][role]:
                        unreached.discard((original, role))
        assert unreached == set(), topology
