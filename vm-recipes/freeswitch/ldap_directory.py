#!/usr/bin/python3
"""FreeSWITCH's user directory, read from LDAP: answers mod_xml_curl `directory` requests.

FreeSWITCH posts the lookup as a form (section, user, domain, action, ...). A user is found by uid
or by telephoneNumber (the extension) with ldapsearch, bound as the SIP servers' service account;
the answer carries the clear-text SIP password, which digest authentication needs, and a dial string
that routes calls by the user's home server (labeledURI): a user homed here is called at its
registered contacts, a user homed on another SIP server of the lab is called through that server.
A user homed elsewhere cannot authenticate here (it registers and calls at home). Anything else
gets the "not found" document, and an LDAP failure gets HTTP 503, so no answer is ever made up.
"""

from __future__ import annotations

import argparse
import base64
import re
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOT_FOUND = b'<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>'
LOCAL_DIAL = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=UID@${dialed_domain}}${sofia_contact(*/UID@${dialed_domain})}"
)
REMOTE_DIAL = "sofia/internal/UID@HOST"  # the home server relays the call to the user's phones
SAFE_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # what a dial string can hold as is
HOME_URI = re.compile(r"sip:([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?)\Z")
LDAP_TIMEOUT = 5.0
DOLLAR = "\ue024"  # stands for a $ of a user's value until the document is written, as &#36;


@dataclass(frozen=True)
class Settings:
    ldap_url: str
    bind_dn: str
    password_file: str
    people_dn: str
    domain: str
    home: str  # this server's own sip: URI, as the users homed here carry it in labeledURI


@dataclass(frozen=True)
class User:
    uid: str
    name: str
    extension: str
    password: str
    home: str  # the sip: URI of the user's home server, "" when the directory names none


class DirectoryUnavailable(Exception):
    """LDAP did not answer; FreeSWITCH should not take that for "no such user"."""


def escape_filter(value: str) -> str:
    """RFC 4515 escaping of a value inside an LDAP filter."""
    return "".join(f"\\{ord(c):02x}" if c in "\\*()\0" else c for c in value)


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Entries of ldapsearch -LLL output: attribute -> values (base64 values decoded)."""
    entries: list[dict[str, list[str]]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines: list[str] = []
        for line in block.split("\n"):
            if line.startswith(" ") and lines:
                lines[-1] += line[1:]
            elif line and not line.startswith("#"):
                lines.append(line)
        entry: dict[str, list[str]] = {}
        for line in lines:
            attr, sep, value = line.partition(":")
            if not sep:
                continue
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
            else:
                value = value.strip()
            entry.setdefault(attr.strip().lower(), []).append(value)
        if entry:
            entries.append(entry)
    return entries


def find_user(settings: Settings, key: str) -> User | None:
    """The LDAP user whose uid or extension is `key`, if any."""
    wanted = escape_filter(key)
    argv = [
        "ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-o", f"nettimeout={LDAP_TIMEOUT:g}",
        "-H", settings.ldap_url, "-D", settings.bind_dn, "-y", settings.password_file,
        "-b", settings.people_dn, "-s", "one",
        f"(&(objectClass=inetOrgPerson)(|(uid={wanted})(telephoneNumber={wanted})))",
        "uid", "cn", "telephoneNumber", "userPassword", "labeledURI",
    ]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=LDAP_TIMEOUT + 2)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DirectoryUnavailable(str(exc)) from None
    if result.returncode == 32:  # noSuchObject: the people OU is not there
        return None
    if result.returncode != 0:
        raise DirectoryUnavailable(f"ldapsearch exited {result.returncode}: {result.stderr.strip()[:200]}")
    for entry in parse_ldif(result.stdout):
        uid, password = entry.get("uid", [""])[0], entry.get("userpassword", [""])[0]
        extensions = entry.get("telephonenumber", [])
        if uid and password and (key == uid or key in extensions):
            home = entry.get("labeleduri", [""])[0].split(" ")[0]  # a labeledURI may carry a label after the URI
            return User(uid, entry.get("cn", [uid])[0], extensions[0] if extensions else "", password, home)
    return None


def homed_here(settings: Settings, user: User) -> bool:
    return not user.home or user.home.lower() == settings.home.lower()


def dial_string(settings: Settings, user: User) -> str | None:
    """How FreeSWITCH calls the user: at its registered contacts when homed here, through its home
    server otherwise; None when the uid or the home URI cannot go into a dial string as they are."""
    if not SAFE_UID.match(user.uid):
        return None
    if homed_here(settings, user):
        return LOCAL_DIAL.replace("UID", user.uid)
    home = HOME_URI.match(user.home)
    return REMOTE_DIAL.replace("UID", user.uid).replace("HOST", home.group(1)) if home else None


def user_document(domain: str, user: User, dial: str) -> bytes:
    """The user's directory entry. A $ in its values is written as &#36;: FreeSWITCH's preprocessor
    expands $${...} in the raw text of a fetched document, before the XML parser decodes references.
    (The dial string's own ${...} are for FreeSWITCH to expand when it calls the user.)"""
    values = (user.uid, user.name, user.extension, user.password, user.home)
    user = User(*(value.replace("$", DOLLAR) for value in values))
    document = ET.Element("document", type="freeswitch/xml")
    section = ET.SubElement(document, "section", name="directory")
    dom = ET.SubElement(section, "domain", name=domain)
    users = ET.SubElement(ET.SubElement(ET.SubElement(dom, "groups"), "group", name="default"), "users")
    attrs = {"id": user.uid, **({"number-alias": user.extension} if user.extension else {})}
    entry = ET.SubElement(users, "user", attrs)
    user_params = ET.SubElement(entry, "params")
    ET.SubElement(user_params, "param", name="password", value=user.password)
    ET.SubElement(user_params, "param", name="dial-string", value=dial)
    variables = ET.SubElement(entry, "variables")
    for name, value in (
        ("user_context", "default"),
        ("effective_caller_id_name", user.name),
        ("effective_caller_id_number", user.extension or user.uid),
    ):
        ET.SubElement(variables, "variable", name=name, value=value)
    return ET.tostring(document, encoding="unicode").replace(DOLLAR, "&#36;").encode()


def answer(settings: Settings, params: dict[str, str]) -> tuple[int, bytes, str]:
    """(HTTP status, body, what to log) for one lookup."""
    user, domain = params.get("user", "").strip(), params.get("domain", "").strip()
    if params.get("section") != "directory" or not user:
        return 200, NOT_FOUND, "not a user lookup"
    if domain and domain.lower() != settings.domain.lower():
        return 200, NOT_FOUND, f"{user}@{domain}: not our domain"
    try:
        found = find_user(settings, user)
    except DirectoryUnavailable as exc:
        return 503, b"", f"{user}: LDAP unavailable: {exc}"
    if found is None:
        return 200, NOT_FOUND, f"{user}: not found"
    if params.get("action") == "sip_auth" and not homed_here(settings, found):
        return 200, NOT_FOUND, f"{user}: homed on {found.home}, not here: may not authenticate here"
    dial = dial_string(settings, found)
    if dial is None:
        return 200, NOT_FOUND, f"{user}: uid {found.uid!r} or home {found.home!r} unusable in a dial string"
    where = "here" if homed_here(settings, found) else f"on {found.home}"
    return 200, user_document(settings.domain, found, dial), f"{user}: found uid={found.uid}, homed {where}"


def handler(settings: Settings) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "labctl-fs-directory"

        def do_GET(self) -> None:
            self.reply(urllib.parse.urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.reply(self.rfile.read(length).decode("utf-8", "replace"))

        def reply(self, form: str) -> None:
            if urllib.parse.urlsplit(self.path).path.rstrip("/") != "/directory":
                self.send_error(404)
                return
            params = {k: v[0] for k, v in urllib.parse.parse_qs(form, keep_blank_values=True).items()}
            status, body, note = answer(settings, params)
            self.log_message("%s %s: %s", params.get("action", "-"), status, note)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", default="127.0.0.1:8040", help="address:port (port 0 picks a free one)")
    parser.add_argument("--ldap-url", required=True)
    parser.add_argument("--bind-dn", required=True)
    parser.add_argument("--password-file", required=True, help="the bind password, for ldapsearch -y")
    parser.add_argument("--people-dn", required=True)
    parser.add_argument("--domain", required=True, help="the SIP domain the users belong to")
    parser.add_argument("--home", required=True, help="this server's sip: URI, as users homed here have it")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    settings = Settings(args.ldap_url, args.bind_dn, args.password_file, args.people_dn, args.domain, args.home)
    server = ThreadingHTTPServer((host, int(port)), handler(settings))
    print(f"listening on {host}:{server.server_port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
