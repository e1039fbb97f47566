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

from labctl.compile.plan import SipAccount
from tests.unit.freeswitch.conftest import SECRETS, Rendered, rendered

UNIT = "labctl-fs-directory.service"
BAD_HOMES = ("http://far.lab", "sip:far.lab;transport=tcp", "sip:far.lab,sofia/internal/x@evil", "sip:${x}")
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
              for v in re.findall(r"\\((?:uid|telephoneNumber)=([^)]*)\\)", args[-6])]
    for entry in json.loads(os.environ["FAKE_LDAP_ENTRIES"]):
        if entry["uid"] in wanted or entry["ext"] in wanted:
            pw = entry["password"]
            line = ("userPassword:: " + base64.b64encode(pw.encode()).decode()) if not pw.isascii() \\
                else "userPassword: " + pw
            home = f"labeledURI: {{entry['home']}}\\n" if entry.get("home") else ""
            print(f"dn: uid={{entry['uid']}},{{opt('-b')}}\\nuid: {{entry['uid']}}\\ncn: {{entry['uid']}}\\n"
                  f"telephoneNumber: {{entry['ext']}}\\n{{line}}\\n{{home}}")
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
    entries = [
        {"uid": a.user, "ext": a.extension, "password": a.password, "home": f"sip:{a.home_fqdn}" if a.home else ""}
        for a in sip.accounts
    ]
    entries.append({"uid": "odd", "ext": "4242", "password": ODD_PASSWORD})  # no home: homed anywhere
    entries.append({"uid": "dollar", "ext": "4243", "password": DOLLAR_PASSWORD})
    entries.append({"uid": "labelled", "ext": "4244", "password": "pw", "home": "sip:far.lab:5080 SIP home server"})
    entries += [
        {"uid": f"bad{i}", "ext": f"435{i}", "password": "pw", "home": home} for i, home in enumerate(BAD_HOMES)
    ]
    entries.append({"uid": "a,b", "ext": "4360", "password": "pw"})  # a comma would split a dial string
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


def homed_here(service: Service) -> list[SipAccount]:
    sip = service.lab.plan.sip
    assert sip is not None
    here = [a for a in sip.accounts if a.home == service.lab.node.name]
    assert here, "no user is homed on the FreeSWITCH node"
    return here


def homed_elsewhere(service: Service) -> list[SipAccount]:
    sip = service.lab.plan.sip
    assert sip is not None
    return [a for a in sip.accounts if a.home is not None and a.home != service.lab.node.name]


def test_a_known_user_gets_its_ldap_password(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    for account in homed_here(service):
        status, body = service.ask(**sip_auth(service, account.user))
        assert status == 200
        domain, user = user_of(body)
        assert domain.get("name") == sip.domain
        assert (user.get("id"), user.get("number-alias")) == (account.user, account.extension)
        assert params(user, "params/param") == {
            "password": account.password,
            "dial-string": "{^^:sip_invite_domain=${dialed_domain}:presence_id="
            f"{account.user}@${{dialed_domain}}}}${{sofia_contact(*/{account.user}@${{dialed_domain}})}}",
        }  # for bridge user/<user or extension>: the registered contacts of the uid
        variables = {str(v.get("name")): str(v.get("value")) for v in user.findall("variables/variable")}
        assert variables["user_context"] == "default"


def test_the_service_knows_its_own_home_from_its_unit(service: Service) -> None:
    assert service.lab.option(UNIT, "--home") == f"sip:{service.lab.node.fqdn}"


def test_a_user_homed_elsewhere_is_called_through_its_home_and_cannot_authenticate_here(service: Service) -> None:
    """By user name and by extension: the dial string sends the call to the home server, which
    relays it to the user's phones; a REGISTER or a call as that user belongs at home."""
    sip = service.lab.plan.sip
    assert sip is not None
    elsewhere = homed_elsewhere(service)
    assert elsewhere or service.lab.plan.lab == "campus"
    for account in elsewhere:
        for key in (account.user, account.extension):
            status, body = service.ask(section="directory", action="user_call", user=key, domain=sip.domain)
            _, user = user_of(body)
            assert params(user, "params/param")["dial-string"] == f"sofia/internal/{account.user}@{account.home_fqdn}"
        status, body = service.ask(**sip_auth(service, account.user))
        assert status == 200 and is_not_found(body), account.user


def test_a_labelled_home_uri_is_read_up_to_its_label(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    status, body = service.ask(section="directory", action="user_call", user="labelled", domain=sip.domain)
    assert status == 200
    assert params(user_of(body)[1], "params/param")["dial-string"] == "sofia/internal/labelled@far.lab:5080"


@pytest.mark.parametrize("key", [*(f"435{i}" for i in range(len(BAD_HOMES))), "4360"])
def test_a_home_or_uid_that_would_not_stay_one_dial_string_is_not_found(service: Service, key: str) -> None:
    """Garbage in LDAP (another scheme, URI parameters, a comma, a variable, a comma in the uid) never
    becomes part of a dial string: the user is not found, and the log says why."""
    sip = service.lab.plan.sip
    assert sip is not None
    status, body = service.ask(section="directory", action="user_call", user=key, domain=sip.domain)
    assert status == 200 and is_not_found(body)


def test_a_known_extension_gets_the_same_user(service: Service) -> None:
    sip = service.lab.plan.sip
    assert sip is not None
    for account in homed_here(service):
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
    first = homed_here(service)[0].user
    status, body = service.ask("GET", **sip_auth(service, first))
    assert status == 200 and user_of(body)[1].get("id") == first


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
    filters = [call[-6] for call in service.ldapsearch_calls()]
    assert filters[0].endswith("(|(uid=\\2a)(telephoneNumber=\\2a)))")
    assert all(f.count("(") == f.count(")") == 5 for f in filters)


def test_passwords_survive_base64_ldif_and_xml_escaping(service: Service) -> None:
    status, body = service.ask(**sip_auth(service, "odd"))
    assert status == 200
    _, user = user_of(body)
    assert params(user, "params/param")["password"] == ODD_PASSWORD
    assert base64.b64encode(ODD_PASSWORD.encode()).decode() not in body


def test_a_dollar_in_a_password_is_never_raw_text_for_freeswitch_to_expand(service: Service) -> None:
    status, body = service.ask(**sip_auth(service, "dollar"))
    assert status == 200
    _, user = user_of(body)
    assert params(user, "params/param")["password"] == DOLLAR_PASSWORD
    assert "$${" not in body and "${x}" not in body and "&#36;&#36;{domain}" in body
    assert "${dialed_domain}" in params(user, "params/param")["dial-string"]  # expanded by FreeSWITCH at call time


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
