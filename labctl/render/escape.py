"""Escaping for each configuration format a recipe writes: the Jinja filters of every template.

Validation restricts what a topology may say; these filters make sure that whatever reaches a file
still means only what it says there (defence in depth). A value the format can hold is escaped so
that the file's own parser gives back exactly the value; a value it cannot hold (a newline in an
INI value, a NUL anywhere) raises UnsafeValue, which the renderer reports naming node and template.
Every filter leaves ordinary values (names, domains, addresses, generated secrets) unchanged.
Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable
from typing import Any

from markupsafe import Markup


class UnsafeValue(ValueError):
    """A value that the target format cannot hold."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: Any) -> str:
    if value is None:
        raise UnsafeValue("a value is missing (None)")
    return str(value)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _matching(value: Any, pattern: re.Pattern[str], refusal: str) -> str:
    """The value as text when `pattern` matches it, else UnsafeValue: "<value shown> <refusal>"."""
    text = _text(value)
    if not pattern.match(text):
        raise UnsafeValue(f"{_shown(text)} {refusal}")
    return text


def _refuse_control(text: str, where: str) -> None:
    bad = _CONTROL.search(text)
    if bad:
        raise UnsafeValue(f"{_shown(text)} holds the control character {bad.group()!r}, which {where} cannot hold")


# -- LDIF (RFC 2849) ----------------------------------------------------------------------------
_ATTR = re.compile(r"[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*\Z")
_SAFE_STRING = re.compile(r"([\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*)?\Z")  # RFC 2849's, without controls
_MAY_BE_EMPTY = {"userpassword"}  # an octet string; the other attributes written have string syntaxes


def ldif(value: Any, attr: str) -> str:
    """One LDIF attribute line: `attr: value` for a SAFE-STRING of printable ASCII, else `attr:: base64`.

    A value ending in a space is base64 too (RFC 2849 says it SHOULD be: parsers strip it)."""
    if not _ATTR.match(attr):
        raise UnsafeValue(f"{_shown(attr)} is not an LDIF attribute name")
    text = _text(value)
    if not text and attr.lower() not in _MAY_BE_EMPTY:
        raise UnsafeValue(f"{attr}: an empty value, which LDAP refuses for this attribute")
    if _SAFE_STRING.match(text) and not text.endswith(" "):
        return f"{attr}: {text}"
    return f"{attr}:: {base64.b64encode(text.encode()).decode()}"


def ldif_inline(value: Any) -> str:
    """A value inside a longer LDIF value, quoted in an slapd ACL (`dn.exact="..."`): only
    characters that need neither base64 nor ACL quoting."""
    text = _text(value)
    if not _SAFE_STRING.match(text) or '"' in text or "\\" in text:
        raise UnsafeValue(f'{_shown(text)} cannot be written inside a quoted LDIF value (control, ", \\ or non-ASCII)')
    return text


_DN_SPECIAL = set('\\,+"<>;=')
_DN_VALUE = r'(?:[^,+"\\<>;\x00-\x1f\x7f]|\\[,+"\\<>;=# ]|\\[0-9A-Fa-f]{2})+'
_DN = re.compile(rf"[A-Za-z][A-Za-z0-9-]*={_DN_VALUE}(?:,[A-Za-z][A-Za-z0-9-]*={_DN_VALUE})*\Z")


def dn(value: Any) -> str:
    """A whole DN, checked (RFC 4514): every RDN `attr=value` with a non-empty, escaped value."""
    return _matching(value, _DN, "is not a DN (an empty or unescaped value)")


def rdn(value: Any) -> str:
    """An attribute value inside a DN (RFC 4514 section 2.4): `uid={{ user | rdn }},ou=...`. Control
    characters are hex-escaped too (slapd trims a raw CR or LF at the end of a value)."""
    text = _text(value)
    if not text:
        raise UnsafeValue("an empty value, which a DN cannot hold")
    out = []
    for i, char in enumerate(text):
        if _CONTROL.match(char):
            out.append(f"\\{ord(char):02x}")
        elif char in _DN_SPECIAL or (i == 0 and char in " #") or (i == len(text) - 1 and char == " "):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


# -- INI (linphonerc) ---------------------------------------------------------------------------
def ini(value: Any, key: str) -> str:
    """A value of linphone's INI: there is no quoting, so a value it cannot hold is refused."""
    text = _text(value)
    for char, name in (("\n", "a newline"), ("\r", "a carriage return"), ("\0", "a NUL")):
        if char in text:
            raise UnsafeValue(f"{key}: the value holds {name}, which an INI value cannot hold (INI has no quoting)")
    if text != text.strip():
        raise UnsafeValue(f"{key}: the value starts or ends with white space, which an INI file drops")
    bad = _CONTROL.search(text)
    if bad:
        raise UnsafeValue(f"{key}: the value holds the control character {bad.group()!r}, which INI cannot hold")
    return text


def ini_quoted(value: Any, key: str) -> str:
    """A value inside double quotes of an iniparser file (Kamailio's ldap.cfg): no escapes exist."""
    text = ini(value, key)
    if '"' in text:
        raise UnsafeValue(f'{key}: the value holds ", which a quoted INI value cannot hold')
    return f'"{text}"'


# -- XML (FreeSWITCH, sipp) ---------------------------------------------------------------------
_XML_REFS = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&apos;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml(value: Any) -> Markup:
    """Text or an attribute value: & < > " ' and white-space controls as references (an attribute's
    newline would otherwise be read back as a space). XML 1.0 cannot hold other controls."""
    if isinstance(value, Markup):
        return value
    text = _text(value)
    bad = _NOT_XML.search(text)
    if bad:
        raise UnsafeValue(f"{_shown(text)} holds {bad.group()!r}, which XML 1.0 cannot hold")
    return Markup("".join(_XML_REFS.get(c, c) for c in text))


def xml_comment(value: Any) -> Markup:
    """Text inside <!-- -->: no `--` and no trailing `-` (XML forbids them there), controls shown."""
    text = _NOT_XML.sub("?", comment(value))
    while "--" in text:
        text = text.replace("--", "- -")
    return Markup(text + " " if text.endswith("-") else text)


def freeswitch(value: Any) -> Markup:
    """An XML value FreeSWITCH reads: also no `$` (its preprocessor expands `$${...}` anywhere in a
    file, and `${...}` at call time)."""
    text = _text(value)
    if "$" in text:
        raise UnsafeValue(f"{_shown(text)} holds $, which FreeSWITCH expands as a variable")
    return xml(text)


_FS_TOKEN = re.compile(r"[A-Za-z0-9._+-]+\Z")


def freeswitch_token(value: Any) -> Markup:
    """A user or domain inside a FreeSWITCH dial string (`user/<user>@<domain>`), where , | : [ ] {} ^
    and white space all mean something: only plain characters."""
    return xml(
        _matching(value, _FS_TOKEN, "cannot be written into a FreeSWITCH dial string (only A-Z a-z 0-9 . _ + -)")
    )


def regex(value: Any) -> str:
    """A literal inside a PCRE (FreeSWITCH dialplan conditions)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", _text(value))


def cdata(value: Any) -> Markup:
    """Text inside <![CDATA[ ]]> (sipp scenarios): no `]]>`, no control characters."""
    text = _text(value)
    if "]]>" in text:
        raise UnsafeValue(f"{_shown(text)} holds ]]>, which ends a CDATA section")
    _refuse_control(text, "a CDATA line")
    return Markup(text)


# -- SIP (linphonerc, sipp scenarios) -----------------------------------------------------------
_SIP_USER = re.compile(r"[A-Za-z0-9._~+-]+\Z")
_SIP_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


def sip_user(value: Any) -> str:
    """The user part of a SIP URI (and a display name beside it): plain characters only, so that
    neither the URI, the header, nor a sipp [keyword] can be changed by it."""
    return _matching(value, _SIP_USER, "cannot be the user of a SIP URI (only A-Z a-z 0-9 . _ ~ + -)")


def sip_host(value: Any) -> str:
    """The host of a SIP URI: a domain name or an IPv4 address (a host part has no escapes)."""
    return _matching(value, _SIP_HOST, "cannot be the host of a SIP URI (a domain name or an address)")


# -- Kamailio -----------------------------------------------------------------------------------
def kamailio(value: Any) -> str:
    """A double-quoted string of kamailio.cfg, quotes included. No controls (a #!define ends at
    the line's end), no `$` (function parameters are pseudo-variable formats)."""
    text = _text(value)
    _refuse_control(text, "a kamailio.cfg string")
    if "$" in text:
        raise UnsafeValue(f"{_shown(text)} holds $, which Kamailio reads as a pseudo-variable")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_KAMAILIO_TOKEN = re.compile(r"[A-Za-z0-9._-]+\Z")


def kamailio_token(value: Any) -> str:
    """A bare word of kamailio.cfg, such as the address in `listen=udp:<address>:5060`."""
    return _matching(value, _KAMAILIO_TOKEN, "is not a bare kamailio.cfg word (only A-Z a-z 0-9 . _ -)")


def ldap_url(value: Any) -> str:
    """A DN inside an LDAP URL (RFC 4516): percent-encoded, so no `?`, `$`, `"` or space is left."""
    return "".join(
        c if re.match(r"[A-Za-z0-9=,._-]", c) else "".join(f"%{b:02X}" for b in c.encode()) for c in _text(value)
    )


# -- shell --------------------------------------------------------------------------------------
def shell(value: Any) -> Markup:
    """One shell word (shlex.quote); safe words are left bare. A newline stays inside the quotes."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue(f"{_shown(text)} holds a NUL, which a shell word cannot hold")
    return Markup(shlex.quote(text))


def operand(value: Any) -> Markup:
    """A shell word that a program reads as an operand (`hostname NAME`, `dig NAME`): quoted, and
    never starting with `-`, which the program would take for an option."""
    text = _text(value)
    if text.startswith("-"):
        raise UnsafeValue(f"{_shown(text)} starts with -, which a command reads as an option")
    return shell(text)


def shell_dq(value: Any) -> Markup:
    """Text inside "double quotes" of a shell script: \\ $ ` " escaped; a newline stays literal."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue(f"{_shown(text)} holds a NUL, which a shell word cannot hold")
    return Markup(re.sub(r'([\\$`"])', r"\\\1", text))


def python(value: Any) -> str:
    """A Python string literal (for scripts written by a recipe)."""
    return repr(_text(value))


# -- DNS, bind, bird ----------------------------------------------------------------------------
_DNS_PLAIN = re.compile(r"[A-Za-z0-9_*.-]")


def dns(value: Any) -> str:
    """A domain name (or one field of record data) in a zone file (RFC 1035 section 5.1): any byte
    but a letter, digit, _ * . or - becomes \\DDD; dots stay label separators. An empty name would
    mean "the previous owner" there, and an empty label is no name at all: both are refused, and so
    are the lengths DNS cannot hold."""
    text = _text(value)
    if not text or ".." in text or text.startswith("."):
        raise UnsafeValue(f"{_shown(text)} is not a domain name (empty, or an empty label)")
    if len(text.encode()) > 253 or any(len(label.encode()) > 63 for label in text.split(".")):
        raise UnsafeValue(f"{_shown(text)} is not a domain name (a label over 63 bytes, or over 253 in all)")
    return "".join(c if _DNS_PLAIN.match(c) else "".join(f"\\{b:03d}" for b in c.encode()) for c in text)


_RDATA_FIELDS = {"A": 1, "AAAA": 1, "CNAME": 1, "NS": 1, "PTR": 1, "MX": 2, "SRV": 4}


def dns_rdata(value: Any, rtype: str) -> str:
    """Record data of type `rtype`, made of space-separated fields (SRV: `0 0 5060 proxy.lab.`), each
    escaped as a name; the last field takes the rest, so a space in a name stays in that name."""
    if rtype not in _RDATA_FIELDS:
        raise UnsafeValue(f"{_shown(str(rtype))} is not a record type labctl writes")
    return " ".join(dns(field) for field in _text(value).split(" ", _RDATA_FIELDS[rtype] - 1))


def named(value: Any) -> str:
    """A double-quoted string of named.conf, quotes included (no escapes needed: " and \\ refused)."""
    text = _text(value)
    _refuse_control(text, "a named.conf string")
    if '"' in text or "\\" in text:
        raise UnsafeValue(f'{_shown(text)} holds " or \\, which labctl does not write into named.conf')
    return f'"{text}"'


def bird(value: Any) -> str:
    """A double-quoted string of bird.conf (an interface pattern), quotes included. Bird strings
    have no escapes, and * ? are wildcards there."""
    text = _text(value)
    _refuse_control(text, "a bird.conf string")
    for char in '"\\*?':
        if char in text:
            raise UnsafeValue(f"{_shown(text)} holds {char}, which a bird interface pattern cannot hold")
    return f'"{text}"'


_BIRD_WORD = re.compile(r"[A-Za-z0-9./:_-]+\Z")


def bird_word(value: Any) -> str:
    """A bare word of bird.conf: a number, an address or a prefix."""
    return _matching(value, _BIRD_WORD, "is not a bare bird.conf word (a number, an address or a prefix)")


# -- plain line-oriented files (hostname, hosts, resolv.conf, systemd) ---------------------------
def token(value: Any) -> str:
    """One field of a whitespace-separated line (/etc/hosts, resolv.conf, /etc/hostname)."""
    text = _text(value)
    if not text or re.search(r"[\s#;]", text) or _CONTROL.search(text):
        raise UnsafeValue(f"{_shown(text)} is not one field of a line (empty, white space, control, # or ;)")
    return text


_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")


def ifname(value: Any) -> str:
    """A Linux interface name: at most 15 plain characters (the kernel reads `%d` in a new name as
    a pattern, and udev's .link files and `ip` each read other characters their own way)."""
    text = _text(value)
    if not _IFNAME.match(text) or text in (".", ".."):
        raise UnsafeValue(f"{_shown(text)} is not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)")
    return text


def comment(value: Any) -> str:
    """Text inside a one-line comment: control characters are shown escaped, never written."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], _text(value))


def filename(value: Any) -> str:
    """One path component."""
    text = _text(value)
    if not text or "/" in text or text in (".", "..") or _CONTROL.search(text):
        raise UnsafeValue(f"{_shown(text)} is not a file name (empty, /, . or .., or a control character)")
    return text


def systemd(value: Any) -> str:
    """A unit file setting (Description=...): % doubled (specifiers); no controls, no surrounding
    white space (systemd strips it), no trailing backslash (a continuation line)."""
    text = _text(value)
    _refuse_control(text, "a systemd setting")
    if text != text.strip() or text.endswith("\\"):
        raise UnsafeValue(f"{_shown(text)} starts or ends with white space or a backslash, which a unit file changes")
    return text.replace("%", "%%")


_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def systemd_arg(value: Any) -> str:
    """One argument of an Exec*= command line: % and $ doubled, quoted with C escapes if needed."""
    text = _text(value)
    if "\0" in text:
        raise UnsafeValue(f"{_shown(text)} holds a NUL, which a systemd command line cannot hold")
    text = text.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_PLAIN.match(text) and text != ";":
        return text
    escaped = "".join(_C_ESCAPES.get(c) or (f"\\x{ord(c):02x}" if _CONTROL.match(c) else c) for c in text)
    return f'"{escaped}"'


def plain(value: Any) -> Any:
    """What a text template prints without a filter: never a control character. A value escaped by
    a filter above (markupsafe.Markup) passes; so a forgotten filter cannot let a newline through."""
    if isinstance(value, Markup):
        return value
    text = _text(value)
    bad = _CONTROL.search(text)
    if bad:
        raise UnsafeValue(
            f"{_shown(text)} holds {bad.group()!r}; a template must print such a value through the filter of its"
            " file's format (labctl/render/escape.py)"
        )
    return text


FILTERS: dict[str, Callable[..., Any]] = {
    "ldif": ldif,
    "ldif_inline": ldif_inline,
    "rdn": rdn,
    "dn": dn,
    "ini": ini,
    "ini_quoted": ini_quoted,
    "xml": xml,
    "xml_comment": xml_comment,
    "freeswitch": freeswitch,
    "freeswitch_token": freeswitch_token,
    "regex": regex,
    "cdata": cdata,
    "sip_user": sip_user,
    "sip_host": sip_host,
    "kamailio": kamailio,
    "kamailio_token": kamailio_token,
    "ldap_url": ldap_url,
    "shell": shell,
    "shell_dq": shell_dq,
    "operand": operand,
    "python": python,
    "dns": dns,
    "dns_rdata": dns_rdata,
    "named": named,
    "bird": bird,
    "bird_word": bird_word,
    "token": token,
    "ifname": ifname,
    "comment": comment,
    "filename": filename,
    "systemd": systemd,
    "systemd_arg": systemd_arg,
}
