"""vm-recipes/freeswitch rendered for real labs: every XML file parses, the configuration is
offline-safe (no STUN, no default password), SIP listens on the node's address, the dialplan reaches
every account by user name and by extension, and the directory is bound to the LDAP service."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labctl.render.recipe import load_recipe
from tests.unit.freeswitch.conftest import CONF, LABS, RECIPE, SECRETS, Rendered, rendered

PRE = re.compile(r"\$\$\{([a-z0-9_]+)\}")


@pytest.fixture(params=sorted(LABS))
def fs(request: pytest.FixtureRequest) -> Rendered:
    return rendered(str(request.param))


def parse(fs: Rendered, path: str) -> ET.Element:
    return ET.fromstring(fs.text(path))


def preprocess_vars(fs: Rendered) -> dict[str, str]:
    """The $${...} variables vars.xml sets."""
    found = {}
    for item in parse(fs, CONF + "vars.xml").iter("X-PRE-PROCESS"):
        assert item.get("cmd") == "set"
        name, _, value = str(item.get("data")).partition("=")
        found[name] = value
    return found


def expand(fs: Rendered, value: str) -> str:
    """A value as FreeSWITCH reads it: $${var} replaced, and every var must exist."""
    variables = preprocess_vars(fs)
    for _ in range(3):
        value = PRE.sub(lambda m: variables[m.group(1)], value)
    assert "$${" not in value
    return value


def params(element: ET.Element) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in element.iter("param")}


# -- the recipe --------------------------------------------------------------------------------
def test_the_role_waits_for_ldap_and_is_skippable() -> None:
    recipe = load_recipe("freeswitch")
    assert "ldap" in recipe.after
    assert recipe.skip_when is not None
    assert recipe.ready is not None and "fs_cli" in recipe.ready.command and "sofia status" in recipe.ready.command


def test_every_xml_file_parses(fs: Rendered) -> None:
    xml = [path for path in fs.files if path.endswith(".xml")]
    assert len(xml) >= 9
    for path in xml:
        try:
            ET.fromstring(fs.text(path))
        except ET.ParseError as exc:
            pytest.fail(f"{path}: {exc}")


def test_the_main_file_includes_exactly_the_rendered_files(fs: Rendered) -> None:
    root = parse(fs, CONF + "freeswitch.xml")
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    includes = [str(x.get("data")) for x in root.iter("X-PRE-PROCESS") if x.get("cmd") == "include"]
    assert not [i for i in includes if "*" in i]  # no wildcard can pull in a packaged example
    written = {path.removeprefix(CONF) for path in fs.files if path.startswith(CONF) and path.endswith(".xml")}
    assert set(includes) == written - {"freeswitch.xml"}
    sections = {str(s.get("name")) for s in root.findall("section")}
    assert sections == {"configuration", "dialplan"}  # the directory comes only from mod_xml_curl


def test_no_stun_and_no_default_password_anywhere(fs: Rendered) -> None:
    for path in fs.files:
        if path.startswith(CONF):
            text = fs.text(path).lower()
            assert "stun:" not in text and "1234" not in text, path
            for element in ET.fromstring(fs.text(path)).iter():
                values = " ".join([*element.attrib.values(), element.text or ""]).lower()
                assert "stun" not in values and "default_password" not in values, f"{path}: {element.attrib}"


def test_vars_point_external_addresses_at_the_node(fs: Rendered) -> None:
    variables = preprocess_vars(fs)
    assert fs.plan.sip is not None
    assert variables["domain"] == fs.plan.sip.domain
    assert variables["external_rtp_ip"] == variables["external_sip_ip"] == fs.node.address
    assert "default_password" not in variables


def test_the_sip_profile_binds_the_node_address_and_challenges_everything(fs: Rendered) -> None:
    root = parse(fs, CONF + "autoload_configs/sofia.conf.xml")
    assert root.get("name") == "sofia.conf"
    profiles = root.findall("profiles/profile")
    assert [p.get("name") for p in profiles] == ["internal"]
    settings = {name: expand(fs, value) for name, value in params(profiles[0]).items()}
    assert fs.plan.sip is not None
    assert settings["sip-ip"] == settings["rtp-ip"] == fs.node.address
    assert settings["ext-sip-ip"] == settings["ext-rtp-ip"] == fs.node.address
    assert settings["sip-port"] == "5060"
    assert settings["auth-calls"] == "true"
    assert settings["challenge-realm"] == settings["force-register-domain"] == fs.plan.sip.domain
    assert (settings["context"], settings["dialplan"]) == ("default", "XML")
    assert not [v for v in settings.values() if v.startswith(("auto", "stun"))]


def test_the_node_address_is_what_phones_register_to(fs: Rendered) -> None:
    phones = [n.phone for n in fs.plan.nodes if n.phone is not None and n.phone.registrar == fs.node.name]
    assert phones
    assert {p.registrar_address for p in phones} == {fs.node.address}


def subscriber(fs: Rendered) -> tuple[str, str, str]:
    """(destination guard regex, user check field, bridge target) of the dialplan's one extension."""
    root = parse(fs, CONF + "dialplan/labctl.xml")
    contexts = root.findall("context")
    assert [c.get("name") for c in contexts] == ["default"]
    [extension] = contexts[0].findall("extension")
    guard, exists = extension.findall("condition")
    assert guard.get("field") == "destination_number" and not list(guard)  # no action: it only gates
    assert exists.get("expression") == "^true$"
    [bridge] = [a.get("data") for a in exists.findall("action") if a.get("application") == "bridge"]
    return str(guard.get("expression")), expand(fs, str(exists.get("field"))), expand(fs, str(bridge))


def test_the_dialplan_has_no_per_user_routing(fs: Rendered) -> None:
    """Who exists and where each is homed is the directory's (LDAP's) business, not the dialplan's."""
    assert fs.plan.sip is not None
    text = fs.text(CONF + "dialplan/labctl.xml")
    for account in fs.plan.sip.accounts:
        assert not re.search(rf"\b({re.escape(account.user)}|{re.escape(account.extension)})\b", text), account
    _, exists, bridge = subscriber(fs)
    assert exists == "${user_exists(id ${destination_number} " + fs.plan.sip.domain + ")}"
    assert bridge == f"user/${{destination_number}}@{fs.plan.sip.domain}"


def test_every_account_passes_the_dialplans_guard_by_user_and_by_extension(fs: Rendered) -> None:
    assert fs.plan.sip is not None
    guard, _, _ = subscriber(fs)
    for account in fs.plan.sip.accounts:
        assert re.search(guard, account.user) and re.search(guard, account.extension), account


@pytest.mark.parametrize(
    "destination",
    ["", "*", "a b", "a,sofia/internal/x@evil", "{x=1}alice", "${x}", "[x]a", "a|b", "a\n", "-a", "x" * 65],
)
def test_destinations_that_could_rewrite_the_bridge_never_reach_it(fs: Rendered, destination: str) -> None:
    """The destination goes into `bridge user/...`: commas, braces, brackets, pipes or variables there
    would change what is dialed, so the guard stops them before the directory is even asked."""
    guard, _, _ = subscriber(fs)
    assert not re.search(guard.replace("$", "\\Z"), destination)


def test_the_lab_sip_servers_are_trusted_to_hand_over_calls(fs: Rendered) -> None:
    """The ACL lists every address of every other SIP server of the lab, and only those."""
    assert fs.plan.sip is not None
    acl = parse(fs, CONF + "autoload_configs/acl.conf.xml")
    [listed] = acl.iter("list")
    assert (listed.get("name"), listed.get("default")) == ("lab-sip-servers", "deny")
    allowed = {(n.get("type"), n.get("cidr")) for n in listed.iter("node")}
    others = [s for s in fs.plan.sip.servers if s.node != fs.node.name]
    assert allowed == {("allow", f"{a}/32") for s in others for a in s.addresses}
    settings = params(parse(fs, CONF + "autoload_configs/sofia.conf.xml").find(".//settings"))  # type: ignore[arg-type]
    assert settings["apply-inbound-acl"] == "lab-sip-servers"
    assert settings["multiple-registrations"] == "contact"  # sipp's un-REGISTER must not drop the phone's
    assert "acl.conf.xml" in fs.text(CONF + "freeswitch.xml")


def test_the_rtp_port_range_is_even_at_both_ends(fs: Rendered) -> None:
    """FreeSWITCH rounds an odd end port down, with a warning at every start ("Rounding odd end port")."""
    settings = params(parse(fs, CONF + "autoload_configs/switch.conf.xml"))
    start, end = int(settings["rtp-start-port"]), int(settings["rtp-end-port"])
    assert start % 2 == end % 2 == 0 and 1024 < start < end <= 65534


def test_modules_load_xml_curl_before_sofia(fs: Rendered) -> None:
    root = parse(fs, CONF + "autoload_configs/modules.conf.xml")
    modules = [str(m.get("module")) for m in root.iter("load")]
    for needed in ("mod_xml_curl", "mod_sofia", "mod_event_socket", "mod_dialplan_xml", "mod_dptools", "mod_commands"):
        assert needed in modules
    assert modules.index("mod_xml_curl") < modules.index("mod_sofia")
    assert "mod_signalwire" not in modules  # it calls home


def test_xml_curl_binds_the_directory_to_the_local_service(fs: Rendered) -> None:
    root = parse(fs, CONF + "autoload_configs/xml_curl.conf.xml")
    assert root.get("name") == "xml_curl.conf"
    bindings = root.findall("bindings/binding")
    assert [b.get("name") for b in bindings] == ["directory"]
    url = next(p for p in bindings[0].iter("param") if p.get("name") == "gateway-url")
    assert url.get("bindings") == "directory"
    listen = fs.option("labctl-fs-directory.service", "--listen")
    assert url.get("value") == f"http://{listen}/directory"
    assert listen.startswith("127.0.0.1:")


def test_the_event_socket_for_fs_cli_is_local_only(fs: Rendered) -> None:
    settings = params(parse(fs, CONF + "autoload_configs/event_socket.conf.xml"))
    assert settings["listen-ip"] == "127.0.0.1"


def test_the_directory_service_reads_ldap_as_the_service_account(fs: Rendered) -> None:
    sip = fs.plan.sip
    assert sip is not None
    unit = "labctl-fs-directory.service"
    assert fs.unit_args(unit)[:2] == ["/usr/bin/python3", "/usr/local/lib/labctl/ldap_directory.py"]
    assert fs.option(unit, "--ldap-url") == f"ldap://{sip.ldap_address}:389/"
    assert fs.option(unit, "--bind-dn") == f"cn=sip-reader,{sip.base_dn}"
    assert fs.option(unit, "--people-dn") == sip.people_dn
    assert fs.option(unit, "--domain") == sip.domain
    secret = fs.files["/etc/labctl/freeswitch/reader.pw"]
    assert (secret.content, secret.mode, secret.owner) == (SECRETS["ldap_reader"], "0600", "root:root")
    text = fs.text(f"/etc/systemd/system/{unit}")
    assert f"LoadCredential=ldap-reader:{secret.path}\n" in text
    assert fs.option(unit, "--password-file") == "%d/ldap-reader"
    assert SECRETS["ldap_reader"] not in text


def test_the_directory_script_is_shipped_as_written(fs: Rendered) -> None:
    script = fs.files["/usr/local/lib/labctl/ldap_directory.py"]
    assert script.content == (RECIPE / "ldap_directory.py").read_text()
    assert script.mode == "0755"


def test_freeswitch_starts_after_the_directory_answers(fs: Rendered) -> None:
    commands = list(fs.step.commands)
    directory = next(i for i, c in enumerate(commands) if "restart labctl-fs-directory" in c)
    wait = next(i for i, c in enumerate(commands) if "labctl-wait-fs-directory" in c)
    start = next(i for i, c in enumerate(commands) if "restart labctl-freeswitch" in c)
    assert directory < wait < start
    unit = fs.text("/etc/systemd/system/labctl-freeswitch.service")
    assert "After=network.target labctl-fs-directory.service" in unit
    args = fs.unit_args("labctl-freeswitch.service")
    assert args[0] == "/usr/bin/freeswitch" and "-nonat" in args and ("-nc" in args or "-ncwait" in args)


def test_the_wait_script_is_valid_shell_with_valid_python(fs: Rendered, tmp_path: Path) -> None:
    script = fs.text("/usr/local/sbin/labctl-wait-fs-directory")
    subprocess.run(["sh", "-n", "-c", script], check=True)
    python = script.split("<<'PY'", 1)[1].split("\n", 1)[1].split("\nPY\n", 1)[0]
    compile(python, "wait-directory", "exec")
    listen = fs.option("labctl-fs-directory.service", "--listen")
    assert f"http://{listen}/directory" in python


# -- skip_when and the ready probe, run in a shell ---------------------------------------------
def fake_bin(tmp_path: Path, name: str, output: str = "") -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return folder


def shell(command: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env={"PATH": path})


def test_skip_when_gives_the_reason_without_freeswitch_and_lets_it_run_with(tmp_path: Path) -> None:
    skip = load_recipe("freeswitch").skip_when
    assert skip is not None
    without = shell(skip, "/usr/bin:/bin")
    assert without.returncode == 0, "without FreeSWITCH the role must be skipped"
    reason = without.stdout.strip()
    assert reason.startswith("FreeSWITCH is not installed")
    for hint in ("LABCTL_SIGNALWIRE_TOKEN", "LABCTL_FREESWITCH_DEBS", "labctl image build"):
        assert hint in reason
    assert "\n" not in reason
    with_it = shell(skip, f"{fake_bin(tmp_path, 'freeswitch')}:/usr/bin:/bin")
    assert (with_it.returncode, with_it.stdout) == (1, "")


SOFIA_STATUS = """\
                     Name\t   Type\t                                      Data\tState
=================================================================================================
            {host}\t  alias\t                                  internal\tALIASED
            internal\tprofile\t           sip:mod_sofia@{host}:5060\t{state}
=================================================================================================
1 profile 1 alias
"""


@pytest.mark.parametrize(("state", "ready"), [("RUNNING (0)", True), ("DOWN", False), (None, False)])
def test_the_ready_probe_judges_sofia_status(tmp_path: Path, state: str | None, ready: bool) -> None:
    probe = load_recipe("freeswitch").ready
    assert probe is not None
    output = SOFIA_STATUS.format(host="10.0.0.5", state=state) if state else "-ERR no reply\n"
    result = shell(probe.command, f"{fake_bin(tmp_path, 'fs_cli', output)}:/usr/bin:/bin")
    assert (result.returncode == 0) is ready
