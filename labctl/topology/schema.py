"""Turn a parsed YAML document into a Topology, or a TopologyError naming every culprit by line."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl.errors import TopologyError
from labctl.roles import Catalogue, catalogue
from labctl.suggest import did_you_mean, is_unsafe_char, quoted, unknown, visible
from labctl.topology import graph
from labctl.topology.model import (
    SIP_REGISTRAR,
    Addressing,
    DesktopSpec,
    LanSpec,
    LinkSpec,
    Netem,
    NodeSpec,
    PhoneSpec,
    SipSpec,
    SipUser,
    Topology,
)
from labctl.versions import FORMAT_KEY, Migration
from labctl.yamlsource import Key, ProblemReader, SourceDoc, check_version, kind, load_yaml

TOPOLOGY_FORMAT = 1
"""The topology format this labctl writes and reads (`format:` at the top; none means 1)."""
TOPOLOGY_MIGRATIONS: dict[int, Migration] = {}
"""n -> the function that turns a format-n topology mapping into format n+1 (none yet)."""

# Every pattern is anchored with \A...\Z (`$` lets a trailing newline in), so match, search and
# fullmatch all test the whole value, and spells digits [0-9] (`\d` matches non-ASCII digits too).
# Values that pass reach config files, shells, paths and terminals.
LABEL = re.compile(r"\A[a-z][a-z0-9-]*\Z")
DOMAIN = re.compile(r"\A[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+\Z")
DOMAIN_MAX = 253
DOMAIN_LABEL_MAX = 63
DURATION = re.compile(r"\A(?P<number>[0-9]{1,9}(\.[0-9]{1,6})?)(?P<unit>us|ms|s)\Z")
DURATION_MAX_S = 60
PERCENT = re.compile(r"\A(100(\.0{1,6})?|[0-9]{1,2}(\.[0-9]{1,6})?)%\Z")
EXTENSION = re.compile(r"\A[0-9]{2,10}\Z")
RECIPE_NAME = re.compile(r"\A[a-z][a-z0-9-]{0,63}\Z")  # image and demo names: files in the project
RECIPE_NAME_RULE = "a lowercase letter, then up to 63 lowercase letters, digits or '-'"
DEMO_FILE = re.compile(r"\A(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}/){0,8}[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\.ya?ml\Z")
"""A topology's own demo file, relative to the topology's folder: no `..`, no absolute path."""
DEMO_REF = re.compile(f"{RECIPE_NAME.pattern}|{DEMO_FILE.pattern}")
PASSWORD_SPECIALS = "-_.+=,~^"
PASSWORD = re.compile(r"\A[A-Za-z0-9" + re.escape(PASSWORD_SPECIALS) + r"]{4,64}\Z")
PASSWORD_RULE = f"4 to 64 characters, each a letter A-Z or a-z, a digit or one of {PASSWORD_SPECIALS}"
DESCRIPTION_MAX = 200
MEMORY_MIN_MIB = 64
MEMORY_MAX_MIB = 1 << 20  # 1 TiB; the host's own RAM is checked before `up` (see runnable.py)
VCPUS_MAX = 64
LAB_NAME_MAX = 16
NODE_NAME_MAX = 24
LAN_NAME_MAX = 15  # LAN names become interface names inside nodes (IFNAMSIZ)
LAN_PREFIX = 24
P2P_PREFIX = 30
LAN_MEMBERS_MAX = 2 ** (32 - LAN_PREFIX) - 2

TOP_KEYS = (
    FORMAT_KEY,
    "name",
    "description",
    "domain",
    "defaults",
    "nodes",
    "links",
    "lans",
    "addressing",
    "sip",
    "demo",
)
DEFAULT_KEYS = ("memory", "vcpus", "image")
NODE_KEYS = ("roles", "memory", "vcpus", "image", "phone", "desktop")
DESKTOP_KEYS = ("sound",)
DESKTOP_SOUNDS = ("spice", "file")
DESKTOP_ROLE = "desktop"
"""The role a desktop node gets after its own (vm-recipes/desktop: the session, the Linphone GUI)."""
DESKTOP_IMAGE = "debian12-desktop"
"""A desktop node's image when the node names none (the topology's default image is headless)."""
PHONE_KEYS = ("user", "registrar")
NETEM_KEYS = ("delay", "jitter", "loss")
LINK_KEYS = ("endpoints", *NETEM_KEYS)
LAN_KEYS = ("nodes", *NETEM_KEYS)
ADDRESSING_KEYS = ("loopback", "p2p", "lan")
SIP_KEYS = ("domain", "users")
SIP_USER_KEYS = ("password", "extension")
UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
BUILTIN_DEFAULTS: dict[str, Any] = {"memory": None, "vcpus": 1, "image": "debian12-lab"}
"""memory None: a node's memory is its own, else the topology's default, else the largest its roles
declare (their recipe's `memory:`), else BUILTIN_MEMORY_MIB."""
BUILTIN_MEMORY_MIB = 384


class _Checker(ProblemReader):
    """Collects problems while reading the document; every read names its key path."""

    def __init__(self, doc: SourceDoc, roles: Catalogue) -> None:
        super().__init__(doc)
        self.roles = roles

    def present(self, key: Key) -> bool:
        return key in self.doc.lines

    def as_written(self, value: Any, key: Key) -> Any:
        """The scalar's own text where YAML would change it: node 'no' is not False, extension 0100 not 64."""
        text = self.doc.text(key)
        return value if text is None or isinstance(value, (dict, list)) else text

    def label(self, value: Any, key: Key, what: str, limit: int) -> bool:
        if not isinstance(value, str) or not LABEL.fullmatch(value):
            self.problem(
                key, f"{what} {kind(value)} must be a DNS label: a lowercase letter, then letters, digits or '-'"
            )
            return False
        if len(value) > limit:
            self.problem(key, f"{what} {quoted(value)} is {len(value)} characters long; at most {limit} are allowed")
            return False
        return True

    def bounded_int(self, value: Any, key: Key, what: str, minimum: int, maximum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"{what} must be a whole number, not {kind(value)}")
            return None
        if value < minimum:
            self.problem(key, f"{what} must be at least {minimum}, not {value}")
            return None
        if value > maximum:
            shown = str(value) if len(str(value)) <= 12 else f"{str(value)[:3]}... ({len(str(value))} digits)"
            self.problem(key, f"{what} must be at most {maximum}, not {shown}")
            return None
        return value

    def string(self, value: Any, key: Key, what: str) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
            self.problem(key, f"{what} must be a non-empty string, not {kind(value)}")
            return None
        return str(value)

    def matching(self, value: Any, key: Key, what: str, pattern: re.Pattern[str], expected: str) -> str | None:
        text = self.string(value, key, what)
        if text is not None and not pattern.fullmatch(text):
            self.problem(key, f"{what} {quoted(text)} is not valid (expected {expected})")
            return None
        return text

    def domain(self, value: Any, key: Key, what: str) -> str | None:
        text = self.matching(
            value, key, what, DOMAIN, "a domain such as 'voip.lab': lowercase letters, digits, '-' and dots"
        )
        if text is None:
            return None
        if len(text) > DOMAIN_MAX or any(len(label) > DOMAIN_LABEL_MAX for label in text.split(".")):
            self.problem(
                key,
                f"{what} {quoted(text)} is too long (at most {DOMAIN_MAX} characters, {DOMAIN_LABEL_MAX} between dots)",
            )
            return None
        return text

    def netem(self, spec: dict[str, Any], key: Key) -> Netem:
        values = {
            name: self.matching(spec[name], key + (name,), name, *NETEM_CHECKS[name])
            for name in NETEM_KEYS
            if name in spec
        }
        for name in ("delay", "jitter"):
            too_long = netem_too_long(name, values.get(name) or "")
            if too_long:
                self.problem(key + (name,), too_long)
        if "jitter" in spec and "delay" not in spec:
            self.problem(key + ("jitter",), f"jitter {kind(spec['jitter'])} needs a delay as well")
        return Netem(**values)


NETEM_CHECKS: dict[str, tuple[re.Pattern[str], str]] = {
    "delay": (DURATION, "a duration such as '50ms'"),
    "jitter": (DURATION, "a duration such as '5ms'"),
    "loss": (PERCENT, "a percentage from 0% to 100%, such as '1%'"),
}


def netem_too_long(name: str, text: str) -> str | None:
    """The problem with a delay or jitter longer than DURATION_MAX_S, or None."""
    match = DURATION.fullmatch(text) if name in ("delay", "jitter") else None
    if match and float(match["number"]) * UNIT_SECONDS[match["unit"]] > DURATION_MAX_S:
        return f"{name} {quoted(text)} is longer than {DURATION_MAX_S}s"
    return None


def netem_problem(name: str, text: str) -> str | None:
    """What is wrong with one netem value (delay, jitter or loss) given as text, or None: the checks a
    topology's links and LANs get, for callers with a single value (`labctl link set`)."""
    pattern, expected = NETEM_CHECKS[name]
    if not pattern.fullmatch(text):
        return f"{name} {quoted(text)} is not valid (expected {expected})"
    return netem_too_long(name, text)


def parse_topology(doc: SourceDoc, roles: Catalogue | None = None) -> Topology:
    """Validate `doc` completely, raising one TopologyError with every problem found.

    Role names and what each role requires come from `roles` (the vm-recipes catalogue by default)."""
    check = _Checker(doc, roles or catalogue())
    if not isinstance(doc.value, dict):
        check.problem((), f"a topology must be a mapping with 'name' and 'nodes', not {kind(doc.value)}")
        raise TopologyError(check.problems)
    doc = check.doc = check_version(doc, "this topology", TOPOLOGY_FORMAT, TOPOLOGY_MIGRATIONS, TopologyError)
    top = check.mapping(doc.value, (), TOP_KEYS, "the topology")
    for required in ("name", "nodes"):
        if required not in top:
            check.problem((), f"missing required key {quoted(required)}")

    name = top.get("name", "lab")
    if "name" in top:
        check.label(name, ("name",), "lab name", LAB_NAME_MAX)
    domain = top.get("domain", f"{name}.lab")
    if "domain" in top:
        check.domain(domain, ("domain",), "domain")
    description = ""
    if top.get("description") is not None:
        description = _description(check, top["description"])

    defaults = _defaults(check, top.get("defaults"))
    nodes = _nodes(check, top.get("nodes"), defaults)
    node_names = {n.name for n in nodes}
    links = _links(check, top.get("links"), node_names)
    lans = _lans(check, top.get("lans"), node_names)
    addressing = _addressing(check, top.get("addressing"), len(nodes), len(links), lans)
    sip = _sip(check, top.get("sip"))
    demo = None
    if top.get("demo") is not None:
        demo = check.matching(
            top["demo"],
            ("demo",),
            "demo",
            DEMO_REF,
            f"a demo name in demos/ ({RECIPE_NAME_RULE}), or a .yaml file beside the topology (no '..')",
        )

    topo = Topology(
        name=str(name),
        description=description,
        domain=str(domain),
        nodes=tuple(nodes),
        links=tuple(links),
        lans=tuple(lans),
        addressing=addressing,
        sip=sip,
        demo=demo,
        source=doc.path,
        lines=doc.lines,
    )
    _cross_checks(check, topo)
    if check.problems:
        raise TopologyError(check.problems)
    return topo


def _description(check: _Checker, value: Any) -> str:
    """Free text, shown on terminals: one line of printable characters."""
    text = check.string(value, ("description",), "description")
    if text is None:
        return ""
    text = text.strip()
    bad = next((c for c in text if is_unsafe_char(c)), None)
    if bad is not None:
        check.problem(
            ("description",),
            f"description must be one line of printable text; it holds control character U+{ord(bad):04X}",
        )
        return ""
    if len(text) > DESCRIPTION_MAX:
        check.problem(("description",), f"description is {len(text)} characters long; at most {DESCRIPTION_MAX}")
        return ""
    return text


def _defaults(check: _Checker, value: Any) -> dict[str, Any]:
    spec = check.mapping(value, ("defaults",), DEFAULT_KEYS, "defaults")
    result = dict(BUILTIN_DEFAULTS)
    for name in DEFAULT_KEYS:
        if name in spec:
            result[name] = _node_attr(check, name, spec[name], ("defaults", name))
    return result


def _node_attr(check: _Checker, name: str, value: Any, key: Key) -> Any:
    if name == "memory":
        return check.bounded_int(value, key, "memory (MiB)", MEMORY_MIN_MIB, MEMORY_MAX_MIB)
    if name == "vcpus":
        return check.bounded_int(value, key, "vcpus", 1, VCPUS_MAX)
    return check.matching(value, key, "image", RECIPE_NAME, f"an image recipe name: {RECIPE_NAME_RULE}")


def _nodes(check: _Checker, value: Any, defaults: dict[str, Any]) -> list[NodeSpec]:
    if value is None:
        return []
    if not isinstance(value, dict) or not value:
        check.problem(("nodes",), "'nodes' must be a mapping of node names to their settings")
        return []
    result = []
    for name, raw in value.items():
        key: Key = ("nodes", name)
        check.label(name, key, "node name", NODE_NAME_MAX)
        spec = check.mapping(raw, key, NODE_KEYS, f"node {quoted(name)}")
        roles = _roles(check, spec.get("roles", ["host"]), key + ("roles",))
        desktop = _desktop(check, spec["desktop"], key + ("desktop",)) if "desktop" in spec else None
        if desktop is not None and DESKTOP_ROLE not in roles:
            roles = (*roles, DESKTOP_ROLE)
        attrs = {
            attr: _node_attr(check, attr, spec[attr], key + (attr,)) if attr in spec else defaults[attr]
            for attr in DEFAULT_KEYS
        }
        if desktop is not None and "image" not in spec:
            attrs["image"] = DESKTOP_IMAGE
        if attrs["memory"] is None:
            attrs["memory"] = _role_memory(check, roles)
        phone = None
        if "phone" in spec:
            phone_spec = check.mapping(spec["phone"], key + ("phone",), PHONE_KEYS, f"phone of {quoted(name)}")
            for required in PHONE_KEYS:
                if required not in phone_spec:
                    check.problem(key + ("phone",), f"phone of {quoted(name)} is missing {quoted(required)}")
            fields = {
                field: check.string(
                    check.as_written(phone_spec[field], key + ("phone", field)),
                    key + ("phone", field),
                    f"{field} of phone {quoted(name)}",
                )
                for field in PHONE_KEYS
                if field in phone_spec
            }
            user, registrar = fields.get("user"), fields.get("registrar")
            if user is not None and registrar is not None:
                phone = PhoneSpec(user=user, registrar=registrar)
        result.append(
            NodeSpec(
                name=str(name),
                roles=roles,
                memory=attrs["memory"] or 1,
                vcpus=attrs["vcpus"] or 1,
                image=attrs["image"] or "",
                phone=phone,
                desktop=desktop,
            )
        )
    return result


def _desktop(check: _Checker, value: Any, key: Key) -> DesktopSpec | None:
    """`desktop: true` (sound to the SPICE client), `false`, or a mapping such as `{sound: file}`."""
    if isinstance(value, bool):
        return DesktopSpec() if value else None
    if not isinstance(value, dict):
        check.problem(
            key, f"desktop of {quoted(key[1])} is true, false or a mapping such as {{sound: file}}, not {kind(value)}"
        )
        return None
    spec = check.mapping(value, key, DESKTOP_KEYS, f"desktop of {quoted(key[1])}")
    sound = spec.get("sound", "spice")
    if sound not in DESKTOP_SOUNDS:
        check.problem(key + ("sound",), unknown("sound", str(sound), DESKTOP_SOUNDS))
        return DesktopSpec()
    return DesktopSpec(sound=str(sound))


def _role_memory(check: _Checker, roles: tuple[str, ...]) -> int:
    """The largest memory the node's roles declare; BUILTIN_MEMORY_MIB when none does."""
    declared = [check.roles.role(r).memory for r in roles if r in check.roles]
    return max((m for m in declared if m is not None), default=BUILTIN_MEMORY_MIB)


def _roles(check: _Checker, value: Any, key: Key) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if value == []:
        check.problem(key, f"roles of {quoted(key[1])} is an empty list; leave 'roles' out for a plain host")
        return ("host",)
    if not isinstance(value, list):
        check.problem(key, f"roles of {quoted(key[1])} must be a list of roles, not {kind(value)}")
        return ("host",)
    roles: list[str] = []
    for i, role in enumerate(value):
        if not isinstance(role, str):
            check.problem(key + (i,), f"expected a role name, not {kind(role)}")
        elif role not in check.roles:
            check.problem(key + (i,), unknown("role", role, check.roles.names()))
        elif role in roles:
            check.problem(key + (i,), f"role {quoted(role)} is listed twice")
        else:
            roles.append(role)
    return tuple(roles) or ("host",)


def _member(check: _Checker, value: Any, key: Key, nodes: set[str], where: str) -> str | None:
    value = check.as_written(value, key)
    if not isinstance(value, str):
        check.problem(key, f"expected a node name in {where}, not {kind(value)}")
        return None
    if value not in nodes:
        check.problem(key, unknown("node", value, nodes, where=f"in {where}"))
        return None
    return str(value)


def _links(check: _Checker, value: Any, nodes: set[str]) -> list[LinkSpec]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.problem(("links",), f"'links' must be a list of node pairs, not {kind(value)}")
        return []
    result: list[LinkSpec] = []
    seen: set[frozenset[str]] = set()
    for i, raw in enumerate(value):
        key: Key = ("links", i)
        netem = Netem()
        if isinstance(raw, dict):
            spec = check.mapping(raw, key, LINK_KEYS, "link")
            netem = check.netem(spec, key)
            raw = spec.get("endpoints")
            key = key + ("endpoints",)
        if not isinstance(raw, list):
            check.problem(key, f"a link needs exactly two nodes, not {kind(raw)}")
            continue
        if len(raw) != 2:
            listed = ", ".join(visible(str(check.as_written(v, key + (j,)))) for j, v in enumerate(raw))
            found = f"{len(raw)} ({listed})" if raw else "none"
            hint = "; a LAN joins more" if len(raw) > 2 else ""
            check.problem(key, f"a link needs exactly two nodes, not {found}{hint}")
            continue
        a, b = (_member(check, raw[j], key + (j,), nodes, "link") for j in (0, 1))
        if a is None or b is None:
            continue
        if a == b:
            check.problem(key, f"link from {quoted(a)} to itself; a link joins two distinct nodes")
            continue
        pair = frozenset((a, b))
        if pair in seen:
            check.problem(key, f"link between {quoted(a)} and {quoted(b)} is listed twice")
            continue
        seen.add(pair)
        result.append(LinkSpec(a=a, b=b, netem=netem))
    return result


def _lans(check: _Checker, value: Any, nodes: set[str]) -> list[LanSpec]:
    if value is None:
        return []
    if not isinstance(value, dict):
        check.problem(("lans",), "'lans' must be a mapping of LAN names to lists of nodes")
        return []
    result = []
    for name, raw in value.items():
        key: Key = ("lans", name)
        if not check.label(name, key, "LAN name", LAN_NAME_MAX):
            continue
        if name in nodes:
            check.problem(key, f"LAN {quoted(name)} has the name of a node; give it another name")
            continue
        if graph.is_reserved_interface(name):
            check.problem(key, f"LAN name {quoted(name)} is taken by an interface every node already has")
            continue
        netem = Netem()
        if isinstance(raw, dict):
            spec = check.mapping(raw, key, LAN_KEYS, f"LAN {quoted(name)}")
            netem = check.netem(spec, key)
            raw = spec.get("nodes")
        if not isinstance(raw, list) or not raw:
            check.problem(key, f"LAN {quoted(name)} must list its nodes, not {kind(raw)}")
            continue
        members: list[str] = []
        for i, member in enumerate(raw):
            node = _member(check, member, key + (i,), nodes, f"LAN {quoted(name)}")
            if node is None:
                continue
            if node in members:
                check.problem(key + (i,), f"node {quoted(node)} is listed twice in LAN {quoted(name)}")
                continue
            members.append(node)
        if len(members) > LAN_MEMBERS_MAX:
            check.problem(
                key, f"LAN {quoted(name)} has {len(members)} nodes; a /{LAN_PREFIX} holds at most {LAN_MEMBERS_MAX}"
            )
        result.append(LanSpec(name=str(name), members=tuple(members), netem=netem))
    return result


def _addressing(check: _Checker, value: Any, n_nodes: int, n_links: int, lans: list[LanSpec]) -> Addressing:
    spec = check.mapping(value, ("addressing",), ADDRESSING_KEYS, "addressing")
    defaults = Addressing()
    pools: dict[str, ipaddress.IPv4Network] = {}
    for name in ADDRESSING_KEYS:
        raw = spec.get(name, getattr(defaults, name))
        key: Key = ("addressing", name)
        if not isinstance(raw, str):
            check.problem(key, f"address pool {name} must be a network such as '10.0.0.0/24', not {kind(raw)}")
            continue
        try:
            pools[name] = ipaddress.IPv4Network(raw, strict=True)
        except ValueError as exc:
            check.problem(key, f"address pool {name} {quoted(raw)} is not an IPv4 network: {visible(str(exc))}")
    needs: dict[str, tuple[Callable[[ipaddress.IPv4Network], int], int, str]] = {
        "loopback": (_host_count, n_nodes, f"{n_nodes} nodes (one /32 each)"),
        "p2p": (lambda net: _subnet_count(net, P2P_PREFIX), n_links, f"{n_links} links (one /30 each)"),
        "lan": (lambda net: _subnet_count(net, LAN_PREFIX), len(lans), f"{len(lans)} LANs (one /24 each)"),
    }
    for name, net in list(pools.items()):
        unusable = _unusable(net)
        if unusable:
            check.problem(("addressing", name), f"address pool {name} {net} is {unusable}, not usable in a lab")
            del pools[name]
    for name, net in pools.items():
        capacity, need, what = needs[name]
        if capacity(net) < need:
            check.problem(("addressing", name), f"address pool {name} {net} is too small for {what}")
    names = list(pools)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if pools[first].overlaps(pools[second]):
                check.problem(
                    ("addressing", second),
                    f"address pool {second} {pools[second]} overlaps pool {first} {pools[first]}",
                )
    return Addressing(**{name: str(net) for name, net in pools.items()})


def _unusable(net: ipaddress.IPv4Network) -> str | None:
    kinds = {
        "loopback": net.is_loopback,
        "multicast": net.is_multicast,
        "link-local": net.is_link_local,
        "reserved": net.is_reserved,
        "this-network": net.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")),
    }
    return next((f"{kind} address space" for kind, found in kinds.items() if found), None)


def _host_count(net: ipaddress.IPv4Network) -> int:
    """Usable addresses, as ipaddress.hosts() yields them (a /31 has two, a /32 one)."""
    return net.num_addresses if net.prefixlen >= 31 else net.num_addresses - 2


def _subnet_count(net: ipaddress.IPv4Network, prefix: int) -> int:
    return 0 if net.prefixlen > prefix else 2 ** (prefix - net.prefixlen)


def _sip(check: _Checker, value: Any) -> SipSpec | None:
    if value is None:
        return None
    spec = check.mapping(value, ("sip",), SIP_KEYS, "sip")
    domain = check.domain(spec.get("domain"), ("sip", "domain"), "sip domain") or "sip.lab"
    raw_users = spec.get("users")
    if not isinstance(raw_users, dict) or not raw_users:
        check.problem(("sip", "users"), "sip needs 'users': a mapping of user names to password and extension")
        return SipSpec(domain=domain, users=())
    users: list[SipUser] = []
    extensions: dict[str, str] = {}
    for name, raw in raw_users.items():
        key: Key = ("sip", "users", name)
        check.label(name, key, "SIP user name", 32)
        user = check.mapping(raw, key, SIP_USER_KEYS, f"SIP user {quoted(name)}")
        password = check.string(user.get("password"), key + ("password",), f"password of SIP user {quoted(name)}")
        extension = check.matching(
            check.as_written(user.get("extension"), key + ("extension",)),
            key + ("extension",),
            f"extension of SIP user {quoted(name)}",
            EXTENSION,
            "2 to 10 digits, such as '1001'",
        )
        if password is not None and not PASSWORD.fullmatch(password):
            check.problem(key + ("password",), f"password of SIP user {quoted(name)} {_password_fault(password)}")
            password = None
        if extension is not None:
            if extension in extensions:
                check.problem(
                    key + ("extension",),
                    f"extension {extension} of {quoted(name)} is already used by {quoted(extensions[extension])}",
                )
            extensions[extension] = str(name)
        users.append(SipUser(name=str(name), password=password or "", extension=extension or ""))
    return SipSpec(domain=domain, users=tuple(users))


def _password_fault(password: str) -> str:
    """Why a password is refused, naming the first bad character but never echoing the password."""
    bad = next((c for c in password if not PASSWORD.fullmatch(c * 4)), None)
    if bad is not None:
        code = f"U+{ord(bad):04X}"
        what = f"character {quoted(bad)} ({code})" if bad.isprintable() and not bad.isspace() else f"character {code}"
        return f"holds {what}; use {PASSWORD_RULE}"
    return f"is {len(password)} characters long; use {PASSWORD_RULE}"


def _cross_checks(check: _Checker, topo: Topology) -> None:
    """Rules that relate several parts of the topology to each other."""
    by_name = {n.name: n for n in topo.nodes}
    sip_users = {u.name for u in topo.sip.users} if topo.sip else set()
    registrar_roles = check.roles.providers(SIP_REGISTRAR)
    sip_servers = [n.name for n in topo.nodes if any(n.has(r) for r in registrar_roles)]
    homes: dict[str, str] = {}  # SIP user -> the registrar its first phone names: the user's home server
    for node in topo.nodes:
        key: Key = ("nodes", node.name)
        if node.phone and not node.has("phone"):
            check.problem(key + ("phone",), f"node {quoted(node.name)} has a phone block but not the 'phone' role")
        if node.has("phone"):
            if topo.sip is None:
                check.problem(key + ("roles",), f"phone {quoted(node.name)} needs a 'sip:' section with its user")
            if node.phone is None:
                if not check.present(key + ("phone",)):
                    check.problem(key, f"phone {quoted(node.name)} needs a 'phone:' block with 'user' and 'registrar'")
            else:
                if topo.sip is not None and node.phone.user not in sip_users:
                    check.problem(key + ("phone", "user"), unknown("SIP user", node.phone.user, sip_users))
                home = homes.setdefault(node.phone.user, node.phone.registrar)
                if home != node.phone.registrar:
                    check.problem(
                        key + ("phone", "registrar"),
                        f"SIP user {quoted(node.phone.user)} is homed on {quoted(home)} by another phone; "
                        f"its phones must name one registrar, not {quoted(node.phone.registrar)}",
                    )
                registrar = by_name.get(node.phone.registrar)
                if registrar is None or not any(registrar.has(r) for r in registrar_roles):
                    hint = did_you_mean(node.phone.registrar, sip_servers)
                    what = f"a node with role {_either(registrar_roles)}" if registrar_roles else "no role provides one"
                    check.problem(
                        key + ("phone", "registrar"),
                        f"registrar {quoted(node.phone.registrar)} of phone {quoted(node.name)} is not a SIP registrar "
                        f"({what}){hint}",
                    )
        _requirements(check, topo, node)
    if not check.problems:
        _interface_names(check, topo)
    if not check.problems:
        for name, message in graph.unreachable_nodes(topo):
            check.problem(("nodes", name), message)


def _either(words: tuple[str, ...]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return " or ".join(filter(None, (", ".join(words[:-1]), *words[-1:])))


SECTION_PRESENT: dict[str, Callable[[Topology], bool]] = {"sip": lambda topo: topo.sip is not None}
"""Whether the topology has each section a role can require (labctl.roles.SECTIONS)."""


def _requirements(check: _Checker, topo: Topology, node: NodeSpec) -> None:
    """What each of the node's roles declares it requires of the topology."""
    for role in (r for r in node.roles if r in check.roles):  # the default 'host' may have no folder
        requires = check.roles.role(role).requires
        for needed in requires.roles:
            if not topo.with_role(needed):
                check.problem(
                    ("nodes", node.name, "roles"),
                    f"{role} on {quoted(node.name)} needs a node with the {quoted(needed)} role",
                )
        for section in requires.sections:
            if not SECTION_PRESENT[section](topo):
                check.problem(
                    ("nodes", node.name, "roles"),
                    f"{role} on {quoted(node.name)} needs a {quoted(section + ':')} section",
                )


def _interface_names(check: _Checker, topo: Topology) -> None:
    """Interface names must be unique on each node, and their DNS names (<node>-<iface>) across the lab."""
    owners = {n.name: f"node {quoted(n.name)}" for n in topo.nodes}
    for node in topo.nodes:
        key: Key = ("nodes", node.name)
        seen: dict[str, str] = {}
        for label, seg in graph.interfaces_of(topo, node.name):
            where = (
                f"LAN {quoted(seg.name)}" if seg.kind == "lan" else f"the link to {quoted(graph.peer(node.name, seg))}"
            )
            if label in seen:
                check.problem(
                    key,
                    f"node {quoted(node.name)} would have two interfaces named {quoted(label)} "
                    f"({seen[label]} and {where})",
                )
                continue
            seen[label] = where
            dns_name = f"{node.name}-{label}"
            if dns_name in owners:
                check.problem(
                    key,
                    f"DNS name {quoted(dns_name)} of the interface of {quoted(node.name)} on {where} "
                    f"is already taken by {owners[dns_name]}",
                )
            owners[dns_name] = f"the interface of {quoted(node.name)} on {where}"


def load_topology(path: Path, text: str | None = None, roles: Catalogue | None = None) -> Topology:
    """Load and validate a topology file."""
    return parse_topology(load_yaml(path, text), roles)
