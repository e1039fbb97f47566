"""Strict readers for the file formats recipes write, as their own programs read them, for the tests
that render hostile values and read them back. Each returns the file as a flat list of items
(where, value) with every value unescaped, and raises ValueError on anything malformed."""

from __future__ import annotations

import base64
import configparser
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

Item = tuple[str, str]


# -- LDIF (RFC 2849) and DNs (RFC 4514) -----------------------------------------------------------
_LDIF_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]*(?:;[A-Za-z0-9-]+)*):(:?)(.*)", re.S)
_SAFE_STRING = re.compile(r"([\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*)?")


def ldif_records(text: str) -> list[list[tuple[str, str]]]:
    """Records of an LDIF file, each a list of (attribute, value); base64 values decoded."""
    if "\r" in text or "\0" in text:
        raise ValueError("LDIF with a CR or NUL")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    logical: list[str | None] = []  # None: a record separator
    in_comment = False
    for line in lines:
        if line.startswith(" "):
            if in_comment:
                continue
            if not logical or logical[-1] is None:
                raise ValueError(f"continuation line after nothing: {line!r}")
            logical[-1] += line[1:]
        elif line.startswith("#"):
            in_comment = True
        else:
            in_comment = False
            logical.append(line or None)
    records: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for entry in [*logical, None]:
        if entry is None:
            if current:
                records.append(current)
            current = []
            continue
        match = _LDIF_LINE.fullmatch(entry)
        if not match:
            raise ValueError(f"not an LDIF attribute line: {entry!r}")
        attr, b64, rest = match.groups()
        rest = rest.lstrip(" ")
        if b64:
            value = base64.b64decode(rest, validate=True).decode("utf-8")
        elif rest.startswith("<") or not _SAFE_STRING.fullmatch(rest):
            raise ValueError(f"not a SAFE-STRING: {entry!r}")
        else:
            value = rest
        current.append((attr.lower(), value))
    return records


def parse_dn(text: str) -> tuple[tuple[str, str], ...]:
    """(attribute, value) for each RDN, values unescaped; multi-valued RDNs and stray specials refused."""
    rdns: list[tuple[str, str]] = []
    i = 0
    while True:
        match = re.compile(r"([A-Za-z][A-Za-z0-9-]*)=").match(text, i)
        if not match:
            raise ValueError(f"not a DN: {text!r}")
        i = match.end()
        value = bytearray()
        while i < len(text) and text[i] != ",":
            char = text[i]
            if char == "\\":
                pair = text[i + 1 : i + 3]
                if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                    value.append(int(pair, 16))
                    i += 3
                    continue
                if i + 1 >= len(text):
                    raise ValueError(f"DN ends in a backslash: {text!r}")
                value += text[i + 1].encode()
                i += 2
                continue
            if char in '+";<>\0':
                raise ValueError(f"unescaped {char!r} in DN {text!r}")
            value += char.encode()
            i += 1
        decoded = value.decode("utf-8")
        if decoded.endswith(" ") and not text[:i].endswith("\\ "):
            raise ValueError(f"unescaped trailing space in DN {text!r}")
        rdns.append((match.group(1).lower(), decoded))
        if i == len(text):
            return tuple(rdns)
        i += 1


DN_ATTRIBUTES = {"dn", "olcsuffix", "olcrootdn"}


def ldif_items(text: str) -> list[Item]:
    out: list[Item] = []
    for n, record in enumerate(ldif_records(text)):
        for attr, value in record:
            if attr in DN_ATTRIBUTES:
                out += [(f"{n}/{attr}/{i}/{a}", v) for i, (a, v) in enumerate(parse_dn(value))]
            else:
                out.append((f"{n}/{attr}", value))
    return out


# -- XML --------------------------------------------------------------------------------------------
def xml_items(text: str) -> list[Item]:
    root = ET.fromstring(text)
    out: list[Item] = []

    def walk(element: ET.Element, where: str) -> None:
        for name, value in element.attrib.items():
            out.append((f"{where}@{name}", value))
        if element.text and element.text.strip():
            out.append((f"{where}#text", element.text))
        for i, child in enumerate(element):
            walk(child, f"{where}/{i}:{child.tag}")

    walk(root, root.tag)
    return out


# -- INI --------------------------------------------------------------------------------------------
def ini_items(text: str, quoted: bool = False) -> list[Item]:
    """linphonerc as configparser reads it (no interpolation, no inline comments). `quoted`: a value
    that starts with a quote is one "..." string (iniparser, Kamailio's ldap.cfg)."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    out: list[Item] = []
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            if quoted and value.startswith('"'):
                if not (len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]):
                    raise ValueError(f"[{section}] {key}: not one quoted string: {value!r}")
                value = value[1:-1]
            out.append((f"{section}/{key}", value))
    return out


# -- systemd units ------------------------------------------------------------------------------------
_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", " ": " "}


def _specifiers(value: str) -> str:
    """%% is %; any other specifier is kept visible as <%x>, so that it never equals plain text."""
    return re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else f"<%{m.group(1)}>", value)


def exec_argv(value: str) -> list[str]:
    """An Exec*= command line split as systemd does: quotes, C escapes, $$ for $ ($VAR refused)."""
    args: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in " \t":
            i += 1
        if i >= n:
            return args
        word: list[str] = []
        quote = ""
        while i < n:
            char = value[i]
            if quote and char == quote:
                quote, i = "", i + 1
                continue
            if not quote and char in " \t":
                break
            if not quote and char in "\"'":
                quote, i = char, i + 1
                continue
            if char == "\\":
                code = value[i + 1 : i + 2]
                if code == "x":
                    word.append(chr(int(value[i + 2 : i + 4], 16)))
                    i += 4
                elif code in _C_ESCAPES:
                    word.append(_C_ESCAPES[code])
                    i += 2
                else:
                    raise ValueError(f"unknown escape in {value!r}")
                continue
            if char == "$":
                if value[i + 1 : i + 2] != "$":
                    raise ValueError(f"environment variable in {value!r}")
                word.append("$")
                i += 2
                continue
            word.append(char)
            i += 1
        if quote:
            raise ValueError(f"unterminated quote in {value!r}")
        args.append("".join(word))


def unit_items(text: str) -> list[Item]:
    """(section/key, value) of a unit (or .network/.link) file; Exec*= split into arguments."""
    out: list[Item] = []
    section = ""
    for raw in re.sub(r"\\\n", " ", text).split("\n"):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9-]+", key.strip()):
            raise ValueError(f"not a unit setting: {raw!r}")
        key, value = key.strip(), value.strip()
        if key.startswith("Exec"):
            out += [(f"{section}/{key}/{i}", _specifiers(a)) for i, a in enumerate(exec_argv(value.lstrip("-@:+!")))]
        else:
            out.append((f"{section}/{key}", _specifiers(value)))
    return out


# -- DNS zone, named.conf, bird.conf, kamailio.cfg: token streams ----------------------------------------
def zone_items(text: str) -> list[Item]:
    """Fields of each line of a zone file (RFC 1035 5.1): \\DDD and \\X unescaped, ; comments dropped."""
    out: list[Item] = []
    for n, line in enumerate(text.split("\n")):
        if re.search(r"[\x00-\x08\x0a-\x1f\x7f\"]", line):
            raise ValueError(f"control character or quote in zone line {line!r}")
        tokens: list[bytearray] = []
        current: bytearray | None = None
        i = 0
        while i < len(line):
            char = line[i]
            if char == ";":
                break
            if char in " \t":
                if current is not None:
                    tokens.append(current)
                current, i = None, i + 1
                continue
            current = current if current is not None else bytearray()
            if char == "\\":
                digits = re.compile(r"[0-9]{3}").match(line, i + 1)
                if digits:
                    current.append(int(digits.group()))
                    i += 4
                    continue
                if i + 1 >= len(line):
                    raise ValueError(f"zone line ends in a backslash: {line!r}")
                current += line[i + 1].encode()
                i += 2
                continue
            current += char.encode()
            i += 1
        if current is not None:
            tokens.append(current)
        out += [(f"{n}/{i}", token.decode("utf-8")) for i, token in enumerate(tokens)]
    return out


def _token_items(text: str, string: str, comment: str) -> list[Item]:
    """Tokens of a config language: `string` (a regex, its group 1 the raw content) or punctuation or
    words, per line; `comment` starts a comment outside strings."""
    pattern = re.compile(rf"\s+|(?P<s>{string})|(?P<c>{comment}.*)|(?P<w>[^\s\"]+)")
    out: list[Item] = []
    for n, line in enumerate(text.split("\n")):
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line):
            raise ValueError(f"control character in line {line!r}")
        i, k = 0, 0
        while i < len(line):
            match = pattern.match(line, i)
            if not match or match.end() == i:
                raise ValueError(f"cannot read {line[i:]!r}")
            i = match.end()
            if match.group("s") is not None:
                out.append((f"{n}/{k}", match.group("s")))
                k += 1
            elif match.group("w") is not None:
                out.append((f"{n}/{k}", match.group("w")))
                k += 1
    return out


def _unescape_c(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _C_ESCAPES.get(m.group(1), m.group(1)), text)


def named_items(text: str) -> list[Item]:
    return [(w, v[1:-1] if v.startswith('"') else v) for w, v in _token_items(text, r'"[^"\\\n]*"', r"(?://|#)")]


def bird_items(text: str) -> list[Item]:
    return [(w, v[1:-1] if v.startswith('"') else v) for w, v in _token_items(text, r'"[^"\\\n]*"', r"#")]


def kamailio_items(text: str) -> list[Item]:
    """kamailio.cfg tokens: "strings" (C escapes), words; # comments but not #! directives."""
    items = _token_items(text, r'"(?:[^"\\\n]|\\.)*"', r"#(?!!)")
    return [(w, _unescape_c(v[1:-1]) if v.startswith('"') else v) for w, v in items]


def line_items(text: str) -> list[Item]:
    """Whitespace-separated fields of each line (hosts, resolv.conf, hostname); # comments dropped."""
    out: list[Item] = []
    for n, line in enumerate(text.split("\n")):
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line):
            raise ValueError(f"control character in line {line!r}")
        out += [(f"{n}/{i}", field) for i, field in enumerate(line.split("#", 1)[0].split())]
    return out


# -- shell --------------------------------------------------------------------------------------------
RECORD_END = "\x1e"
_PRELUDE = r"""
log() { printf '%s\0' "$@" $'\036' >>"$STUB_LOG"; }  # one write: the sides of a pipe run at once
command_not_found_handle() { log "$@"; return 0; }
test() { log test "$@"; return 0; }
echo() { log echo "$@"; }
exit() { log exit "$@"; return 0; }
"""


def sh_syntax(script: str) -> None:
    """`sh -n`: the script parses (dash, the guest's /bin/sh)."""
    result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"sh -n: {result.stderr.strip()}")


def shell_argv(script: str, workdir: Path) -> list[list[str]]:
    """Every command line the script runs, as the argv each program would get: bash with an empty
    PATH, so that every program (and test, echo, exit) only records its arguments."""
    log = workdir / "argv.log"
    log.write_bytes(b"")
    empty = workdir / "empty-path"
    empty.mkdir(exist_ok=True)
    subprocess.run(
        ["/bin/bash", "--noprofile", "--norc", "-c", _PRELUDE + "\n" + script, "script", "0"],
        env={"PATH": str(empty), "STUB_LOG": str(log), "LC_ALL": "C.UTF-8"},
        capture_output=True,
        check=False,
        timeout=20,
        cwd=workdir,
    )
    calls: list[list[str]] = []
    current: list[str] = []
    for arg in log.read_bytes().decode("utf-8", "surrogateescape").split("\0")[:-1]:
        if arg == RECORD_END:
            calls.append(current)
            current = []
        else:
            current.append(arg)
    return calls
