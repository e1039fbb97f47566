"""The FreeSWITCH directory service (vm-recipes/freeswitch/ldap_directory.py), run for real on
127.0.0.1 with the arguments its rendered systemd unit gives it. Only ldapsearch is fake: a script
first on PATH that checks the bind (DN and password file) and prints canned LDIF for the entries
the filter selects, so what is tested is the service's answers as mod_xml_curl would get them."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.unit.freeswitch.conftest import SECRETS, Rendered, rendered

UNIT = "labctl-fs-directory.service"
ODD_PASSWORD = "pässwörd <&\"'> x"  # ldapsearch prints it base64-encoded; XML must escape it
DOLLAR_PASSWORD = "a$${domain}b${x}$"  # FreeSWITCH's preprocessor would expand $${domain} in raw text

FAKE_LDAPSEARCH = textwrap.dedent(
    """\
    #!{python}
    import base64, json, os, re, sys

    args = sys.argv[1:]
    with open(os.environ["FAKE_LDAP_CALLS"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if os.environ.get("FAKE_LDAP_DOWN"):
        print("ldap_sasl_bind(SIMPLE): Can't contact LDAP server (-1)", file=sys.stderr)
        sys.exit(255)
    opt = lambda name: args[args.index(name) + 1]
    with open(opt("-y")) as secret:
        if opt("-D") != os.environ["FAKE_LDAP_DN"] or secret.read() != os.environ["FAKE_LDAP_PASSWORD"]:
            print("ldap_bind: Invalid credentials (49)", file=sys.stderr)
            sys.exit(49)
    if opt("-b") != os.environ["FAKE_LDAP_BASE"]:
        sys.exit(32)
    wanted = [re.sub(r"\\\\([0-9a-f]{{2}})", lambda m: chr(int(m.group(1), 16)), v)
              for v in re.findall(r"\\((?:uid|telephoneNumber)=([^)]*)\\)", args[-5])]
    for entry in json.loads(os.environ["FAKE_LDAP_ENTRIES"]):
        if entry["uid"] in wanted or entry["ext"] in wanted:
            pw = entry["password"]
            line = ("userPassword:: " + base64.b64encode(pw.encode()).decode()) if not pw.isascii() \\
                else "userPassword: " + pw
            print(f"dn: uid={{entry['uid']}},{{opt('-b')}}\\nuid: {{entry['uid']}}\\ncn: {{entry['uid']}}\\n"
                  f"telephoneNumber: {{entry['ext']}}\\n{{line}}\\n")
    """
)


@dataclass
class Service:
    url: str
    calls: Path
    lab: Rendered

    def ask(self, method: str = "POST", **form: str) -> tuple[int, str]:
        data = urllib.parse.urlencode(form)
        if method == "POST":
            request = urllib.request.Request(self.url, data=data.encode(), method="POST")
        else:
            request = urllib.request.Request(f"{self.url}?{data}")
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ldapsearch_calls(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]


def start(tmp_path: Path, lab: Rendered, environment: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Run the rendered script with its unit's arguments, on a free port and a test password file."""
    script = tmp_path / "ldap_directory.py"
    script.write_text(lab.text("/usr/local/lib/labctl/ldap_directory.py"))
    args = lab.unit_args(UNIT)[2:]
    args[args.index("--listen") + 1] = "127.0.0.1:0"
    secret = tmp_path / "reader.pw"
    secret.write_text(lab.text("/etc/labctl/freeswitch/reader.pw"))
    secret.chmod(0o600)
    args[args.index("--password-file") + 1] = str(secret)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args], stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("listening on 127.0.0.1:"), first
    return proc, f"http://127.0.0.1:{first.rsplit(':', 1)[1].strip()}/directory"


@pytest.fixture(params=["voip-demo", "campus"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    lab = rendered(str(request.param))
    sip = lab.plan.sip
    assert sip is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ldapsearch"
    fake.write_text(FAKE_LDAPSEARCH.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    entries = [{"uid": a.user, "ext": a.extension, "password": a.password} for a in sip.accounts]
    entries.append({"uid": "odd", "ext": "4242", "password": ODD_PASSWORD})
    entries.append({"uid": "dollar", "ext": "4243", "password": DOLLAR_PASSWORD})
    calls = tmp_path / "ldapsearch-calls.jsonl"
    environment = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_LDAP_CALLS": str(calls),
        "FAKE_LDAP_DN": f"cn=sip-reader,{sip.base_dn}",
        "FAKE_LDAP_PASSWORD": SECRETS["ldap_reader"],
        "FAKE_LDAP_BASE": sip.people_dn,
        "FAKE_LDAP_ENTRIES": json.dumps(entries),
        **({"FAKE_LDAP_DOWN": "1"} if "ldap_down" in request.fixturenames else {}),
    }
    proc, url = start(tmp_path, lab, environment)
    try:
        yield Service(url, calls, lab)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def sip_auth(service: Service, user: str, domain: str | None = None) -> dict[str, str]:
    """The form mod_sofia's REGISTER challenge makes mod_xml_curl post."""
    sip = service.lab.plan.sip
    assert sip is not None
    domain = domain or sip.domain
    return {
        "hostname": "pbx",
        "section": "directory",
        "tag_name": "domain",
        "key_name": "name",
        "key_value": domain,
        "Event-Name": "REQUEST_PARAMS",
        "action": "sip_auth",
        "sip_profile": "internal",
        "sip_auth_username": user,
        "sip_auth_realm": domain,
        "sip_auth_method": "REGISTER",
        "user": user,
        "domain": domain,
        "ip": "10.10.2.4",
    }


def user_of(body: str) -> tuple[ET.Element, ET.Element]:
    """(domain, user) of a directory answer, checking its shape on the way."""
    root = ET.fromstring(body)
    assert (root.tag, root.get("type")) == ("document", "freeswitch/xml")
    sections = root.findall("section")
    assert [s.get("name") for s in sections] == ["directory"]
    domains = sections[0].findall("domain")
    assert len(domains) == 1
    users = domains[0].findall("groups/group/users/user") + domains[0].findall("user")
    assert len(users) == 1
    return domains[0], users[0]


def params(element: ET.Element, path: str) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in element.findall(path)}


def is_not_found(body: str) -> bool:
    root = ET.fromstring(body)
    results = root.findall("section/result")
    return (
        (root.tag, root.get("type")) == ("document", "freeswitch/xml")
        and [s.get("name") for s in root.findall("section")] == ["result"]
        and [r.get("status") for r in results] == ["not found"]
    )


def test_a_known_user_gets_its_ldap_password(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    for account in sip.accounts:
        status, body = service.ask(**sip_auth(service, account.user))
        assert status == 200
        domain, user = user_of(body)
        assert domain.get("name") == sip.domain
        assert (user.get("id"), user.get("number-alias")) == (account.user, account.extension)
        assert params(user, "params/param") == {"password": account.password}
        variables = {str(v.get("name")): str(v.get("value")) for v in user.findall("variables/variable")}
        assert variables["user_context"] == "default"
        assert "sofia_contact(" in params(domain, "params/param")["dial-string"]  # for bridge user/...


def test_a_known_extension_gets_the_same_user(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    for account in sip.accounts:
        status, body = service.ask(section="directory", action="user_call", user=account.extension, domain=sip.domain)
        assert status == 200
        _, user = user_of(body)
        assert (user.get("id"), user.get("number-alias")) == (account.user, account.extension)
        assert params(user, "params/param")["password"] == account.password


def test_an_unknown_user_or_extension_is_not_found(service: Service) -> None:
    for user in ("nobody", "9999", "alice-x"):
        status, body = service.ask(**sip_auth(service, user))
        assert status == 200 and is_not_found(body), user
    assert len(service.ldapsearch_calls()) == 3  # each was really looked up


def test_get_requests_are_answered_too(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    status, body = service.ask("GET", **sip_auth(service, sip.accounts[0].user))
    assert status == 200 and user_of(body)[1].get("id") == sip.accounts[0].user


def test_ldap_is_asked_as_the_service_account_under_the_people_ou(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    service.ask(**sip_auth(service, sip.accounts[0].user))
    [call] = service.ldapsearch_calls()
    option = {call[i]: call[i + 1] for i in range(len(call) - 1) if call[i].startswith("-") and len(call[i]) == 2}
    assert option["-H"] == f"ldap://{sip.ldap_address}:389/"
    assert option["-D"] == f"cn=sip-reader,{sip.base_dn}"
    assert option["-b"] == sip.people_dn
    assert "-x" in call and "-y" in call and "-w" not in call  # the password is never an argument
    assert SECRETS["ldap_reader"] not in json.dumps(call)


def test_other_domains_and_other_sections_are_not_found_without_asking_ldap(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    user = sip.accounts[0].user
    for form in (
        sip_auth(service, user, domain="elsewhere.example"),
        {**sip_auth(service, user), "section": "configuration"},
        {"section": "directory", "tag_name": "domain", "key_name": "name", "key_value": sip.domain},
    ):
        status, body = service.ask(**form)
        assert status == 200 and is_not_found(body), form
    assert service.ldapsearch_calls() == []


def test_filter_metacharacters_are_escaped(service: Service) -> None:
    for user in ("*", "a*)(uid=*", "x)(|(uid=*"):
        status, body = service.ask(**sip_auth(service, user))
        assert status == 200 and is_not_found(body), user
    filters = [call[-5] for call in service.ldapsearch_calls()]
    assert filters[0].endswith("(|(uid=\\2a)(telephoneNumber=\\2a)))")
    assert all(f.count("(") == f.count(")") == 5 for f in filters)


def test_passwords_survive_base64_ldif_and_xml_escaping(service: Service) -> None:
    status, body = service.ask(**sip_auth(service, "odd"))
    assert status == 200
    _, user = user_of(body)
    assert params(user, "params/param") == {"password": ODD_PASSWORD}
    assert base64.b64encode(ODD_PASSWORD.encode()).decode() not in body


def test_a_dollar_in_a_password_is_never_raw_text_for_freeswitch_to_expand(service: Service) -> None:
    status, body = service.ask(**sip_auth(service, "dollar"))
    assert status == 200
    domain, user = user_of(body)
    assert params(user, "params/param") == {"password": DOLLAR_PASSWORD}
    assert "$${" not in body and "${x}" not in body and "&#36;&#36;{domain}" in body
    assert "${dialed_user}" in params(domain, "params/param")["dial-string"]  # expanded by FreeSWITCH at call time


@pytest.fixture
def ldap_down() -> None:
    """Asked for by a test, it makes the fake ldapsearch fail as when the server is unreachable."""


@pytest.mark.usefixtures("ldap_down")
def test_ldap_failure_is_an_http_error_not_a_missing_user(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    status, body = service.ask(**sip_auth(service, sip.accounts[0].user))
    assert status == 503 and "document" not in body


def test_other_paths_are_404(service: Service) -> None:
    request = urllib.request.Request(service.url.replace("/directory", "/configuration"), data=b"section=x")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
