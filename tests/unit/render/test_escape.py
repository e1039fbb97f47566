"""labctl.render.escape: each filter leaves ordinary values alone, gives back exactly a hostile value
through the parser of its format, refuses what the format cannot hold, and copes with empty and
non-string input. The renderer's part (finalize, XML autoescape, RenderError) is tested at the end."""

from __future__ import annotations

import base64
import configparser
import re
import shlex
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from markupsafe import Markup

from labctl.compile.plan import LabPlan
from labctl.render import escape
from labctl.render.escape import UnsafeValue
from labctl.render.recipe import load_recipe
from labctl.render.render import RenderError, context, render_step
from tests.unit.render import formats
from tests.unit.render.golden import REPO, plan_of

NORMAL = ["alice", "voip.lab", "10.0.0.1", "10.0.0.0/24", "1001", "r1-core", "dc=voip,dc=lab", "test-secret_x"]
HOSTILE = [
    "a\nb",
    "a\r\nb",
    'q"uote',
    "q'uote",
    "<&>",
    "semi;colon",
    "$(id)",
    "`id`",
    "%n%%",
    "back\\slash",
    "ünï ☎",
    " spaced ",
    ":colon",
    "<less",
    "#hash",
    "\ndn: uid=evil,ou=people,dc=voip,dc=lab",
]


# -- LDIF ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", NORMAL)
def test_ldif_writes_a_safe_value_as_is(value: str) -> None:
    assert escape.ldif(value, "cn") == f"cn: {value}"


@pytest.mark.parametrize("value", [*HOSTILE, "", "ends ", "tab\there", "nul\0", "\x7f"])
def test_ldif_gives_back_any_password_in_one_line(value: str) -> None:
    line = escape.ldif(value, "userPassword")
    assert "\n" not in line and "\r" not in line and "\0" not in line
    assert formats.ldif_records(f"dn: cn=x\n{line}\n") == [[("dn", "cn=x"), ("userpassword", value)]]


@pytest.mark.parametrize("value", ["a\nb", " lead", ":colon", "<less", "ünï", "ends ", "tab\t"])
def test_ldif_uses_base64_for_an_unsafe_value(value: str) -> None:
    line = escape.ldif(value, "sn")
    assert line.startswith("sn:: ") and base64.b64decode(line[5:]).decode() == value


def test_ldif_takes_non_strings_and_refuses_a_bad_attribute_or_none() -> None:
    assert escape.ldif(1001, "telephoneNumber") == "telephoneNumber: 1001"
    for attr in ("", "a b", "x:", "1abc", "cn\n"):
        with pytest.raises(UnsafeValue, match="attribute"):
            escape.ldif("v", attr)
    with pytest.raises(UnsafeValue, match="missing"):
        escape.ldif(None, "cn")


@pytest.mark.parametrize("value", [*HOSTILE, " ", "#x", "x ", "a,b+c=d", "nul\0", "cr\r\n"])
def test_rdn_round_trips_through_a_dn_parser(value: str) -> None:
    assert formats.parse_dn(f"uid={escape.rdn(value)},ou=people,dc=voip") == (
        ("uid", value),
        ("ou", "people"),
        ("dc", "voip"),
    )


def test_rdn_escapes_controls_in_hex_and_refuses_an_empty_value() -> None:
    assert escape.rdn("alice") == "alice" and escape.rdn("a\r\n") == "a\\0d\\0a"
    with pytest.raises(UnsafeValue, match="empty"):
        escape.rdn("")


def test_dn_passes_a_well_formed_dn_and_refuses_empty_or_unescaped_values() -> None:
    for good in ("dc=voip,dc=lab", "uid=a\\,b,ou=people,dc=x", "uid=a\\0ab,dc=x", "cn=a=b,dc=x"):
        assert escape.dn(good) == good
    for bad in ("", "dc=,dc=lab", "dc=voip,", "uid=a,b", "uid=a\nb,dc=x", "uid=a+cn=b,dc=x", 'cn="x",dc=y', "novalue"):
        with pytest.raises(UnsafeValue, match="not a DN"):
            escape.dn(bad)


def test_ldif_refuses_an_empty_value_except_for_a_password() -> None:
    assert escape.ldif("", "userPassword") == "userPassword: "
    with pytest.raises(UnsafeValue, match="telephoneNumber: an empty value"):
        escape.ldif("", "telephoneNumber")


def test_ldif_inline_passes_a_dn_and_refuses_quotes_and_controls() -> None:
    assert escape.ldif_inline("dc=voip,dc=lab") == "dc=voip,dc=lab"
    for bad in ('a"b', "a\nb", "a\\b", "ünï"):
        with pytest.raises(UnsafeValue):
            escape.ldif_inline(bad)


# -- INI ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", [*NORMAL, 'q"uote', "semi;colon # not a comment", "$(id)", "%n%%", "[proxy_1]", "ünï", ""]
)
def test_ini_gives_back_a_value_configparser_reads_the_same(value: str) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(f"[auth_info_0]\npasswd={escape.ini(value, 'passwd')}\n")
    assert parser["auth_info_0"]["passwd"] == value and parser.sections() == ["auth_info_0"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a\n[proxy_1]\nreg_proxy=<sip:evil>", "newline"),
        ("a\rb", "carriage return"),
        ("a\0b", "NUL"),
        (" lead", "white space"),
        ("trail ", "white space"),
        ("a\x01b", "control"),
    ],
)
def test_ini_refuses_what_it_cannot_hold_naming_the_key(value: str, why: str) -> None:
    with pytest.raises(UnsafeValue, match=rf"^passwd: .*{why}"):
        escape.ini(value, "passwd")


def test_ini_quoted_wraps_and_refuses_a_quote() -> None:
    assert escape.ini_quoted("cn=sip-reader,dc=voip,dc=lab", "ldap_bind_dn") == '"cn=sip-reader,dc=voip,dc=lab"'
    with pytest.raises(UnsafeValue, match=r'ldap_bind_password: .*"'):
        escape.ini_quoted('a"b', "ldap_bind_password")


# -- XML ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [*NORMAL, *HOSTILE, "", "tab\tx", "]]>", "-->"])
def test_xml_round_trips_in_an_attribute_and_in_text(value: str) -> None:
    escaped = escape.xml(value)
    assert isinstance(escaped, Markup)
    root = ET.fromstring(f"<a v=\"{escaped}\" w='{escaped}'>{escaped}</a>")
    assert root.get("v") == value and root.get("w") == value
    assert (root.text or "") == value
    assert list(root) == []


def test_xml_leaves_normal_values_and_markup_alone_and_refuses_what_xml_cannot_hold() -> None:
    assert [str(escape.xml(v)) for v in NORMAL] == NORMAL
    assert escape.xml(Markup("<b/>")) == "<b/>"
    for bad in ("nul\0", "bell\x07", "\ufffe", "\ud800"):
        with pytest.raises(UnsafeValue, match=r"XML 1\.0"):
            escape.xml(bad)


@pytest.mark.parametrize("value", ["--", "a--b", "-->", "x-", "a\nb", "<&>", "ok-name"])
def test_xml_comment_keeps_the_comment_well_formed(value: str) -> None:
    root = ET.fromstring(f"<a><!-- {escape.xml_comment(value)}--></a>")
    assert root.tag == "a" and list(root) == []
    assert escape.xml_comment("long-names") == "long-names"


def test_freeswitch_filters_refuse_variables_and_dial_string_syntax() -> None:
    assert escape.freeswitch("voip.lab") == "voip.lab" and escape.freeswitch("a<b") == "a&lt;b"
    assert escape.freeswitch_token("alice") == "alice"
    for bad in ("$${domain}", "${x}", "a$b"):
        with pytest.raises(UnsafeValue, match=r"\$"):
            escape.freeswitch(bad)
    for bad in ("a,b", "a|b", "[x]", "{x}", "a b", "", "ünï", "a^b", "a:b"):
        with pytest.raises(UnsafeValue, match="dial string"):
            escape.freeswitch_token(bad)


@pytest.mark.parametrize("value", ["alice", "1001", "a.b", "a|.*", "(x)", "^$", "a\\b", "[z]", "{2}", "a+b?"])
def test_regex_matches_exactly_the_literal(value: str) -> None:
    pattern = re.compile(f"^({escape.regex(value)}|1001)$")
    assert pattern.fullmatch(value) and pattern.fullmatch("1001")
    assert not pattern.fullmatch(value + "x") and not pattern.fullmatch("evil")
    assert escape.regex("alice") == "alice"


def test_cdata_refuses_its_end_marker_and_controls() -> None:
    assert escape.cdata("voip.lab") == "voip.lab"
    for bad in ("a]]>b", "a\nb", "a\rb"):
        with pytest.raises(UnsafeValue):
            escape.cdata(bad)


# -- SIP --------------------------------------------------------------------------------------------
def test_sip_user_and_host_pass_plain_names_and_refuse_the_rest() -> None:
    assert escape.sip_user("alice") == "alice" and escape.sip_user(1001) == "1001"
    assert escape.sip_host("voip.lab") == "voip.lab" and escape.sip_host("10.0.0.4") == "10.0.0.4"
    for bad in ["", "a b", "a@b", "a:b", "a;b", "a>b", 'a"b', "[call_id]", "a%41", "ünï", "a\r\nVia: x"]:
        with pytest.raises(UnsafeValue, match="SIP URI"):
            escape.sip_user(bad)
    for bad in ["", "-a.lab", "a.lab.", "a..", "a b.lab", "a_b.lab", "a;x=y", "[::1]", "a\nb"]:
        with pytest.raises(UnsafeValue, match="SIP URI"):
            escape.sip_host(bad)


# -- Kamailio -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [*NORMAL, 'q"uote', "back\\slash", "ünï", "", "a # b"])
def test_kamailio_string_round_trips(value: str) -> None:
    line = f"alias={escape.kamailio(value)}"
    assert formats.kamailio_items(line) == [("0/0", "alias="), ("0/1", value)]
    assert escape.kamailio("voip.lab") == '"voip.lab"'


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\0b", "$fU", "$(avp)"])
def test_kamailio_refuses_newlines_and_pseudo_variables(value: str) -> None:
    with pytest.raises(UnsafeValue):
        escape.kamailio(value)


def test_kamailio_token_and_ldap_url() -> None:
    assert escape.kamailio_token("10.0.0.4") == "10.0.0.4"
    for bad in ("10.0.0.4 x", "a;b", "", "a\nb"):
        with pytest.raises(UnsafeValue):
            escape.kamailio_token(bad)
    assert escape.ldap_url("ou=people,dc=voip,dc=lab") == "ou=people,dc=voip,dc=lab"
    encoded = escape.ldap_url('ou=people,dc=a?b$c"d e\\,f ü')
    assert re.fullmatch(r"[A-Za-z0-9=,._%-]+", encoded)
    from urllib.parse import unquote

    assert unquote(encoded, errors="strict") == 'ou=people,dc=a?b$c"d e\\,f ü'


# -- shell --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [*NORMAL, *HOSTILE, "", "-n", "a b\tc"])
def test_shell_gives_one_word_and_shell_dq_one_string(value: str, tmp_path: Path) -> None:
    script = f"printf '%s\\0' {escape.shell(value)} \"<{escape.shell_dq(value)}>\"\n"
    formats.sh_syntax(script)
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout.decode()
    assert out.split("\0")[:-1] == [value, f"<{value}>"]
    assert shlex.split(escape.shell(value)) == [value]


def test_shell_leaves_safe_words_bare_and_refuses_nul() -> None:
    assert [escape.shell(v) for v in NORMAL] == NORMAL
    for f in (escape.shell, escape.shell_dq):
        with pytest.raises(UnsafeValue, match="NUL"):
            f("a\0b")


def test_operand_is_a_quoted_word_that_is_never_an_option() -> None:
    assert escape.operand("alice.voip.lab") == "alice.voip.lab" and escape.operand("a b") == "'a b'"
    for bad in ("-x", "--help", "-- comment --"):
        with pytest.raises(UnsafeValue, match="option"):
            escape.operand(bad)


def test_dns_refuses_labels_and_names_too_long_for_dns() -> None:
    assert escape.dns("a" * 63 + ".lab") == "a" * 63 + ".lab"
    for bad in ("a" * 64 + ".lab", "ü" * 32, ".".join(["abcdefg"] * 32)):
        with pytest.raises(UnsafeValue, match="over"):
            escape.dns(bad)


@pytest.mark.parametrize("value", [*HOSTILE, "", "\nPY\n"])
def test_python_literal_round_trips(value: str) -> None:
    import ast

    literal = escape.python(value)
    assert "\n" not in literal and ast.literal_eval(literal) == value


# -- DNS, named.conf, bird ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["alice", "_sip._udp", "a b", "a;b", "a\nb", "a(b)", '"q"', "ünï", "a\\b", "@", "$ORIGIN"]
)
def test_dns_names_stay_one_field_and_read_back(value: str) -> None:
    line = f"{escape.dns(value)}\tIN\tA\t10.0.0.1"
    assert formats.zone_items(line) == [("0/0", value), ("0/1", "IN"), ("0/2", "A"), ("0/3", "10.0.0.1")]


def test_dns_refuses_an_empty_name_or_label_and_knows_its_record_types() -> None:
    for bad in ("", "a..b", ".a"):
        with pytest.raises(UnsafeValue, match="domain name"):
            escape.dns(bad)
    assert escape.dns_rdata("10 0 5060 proxy.voip.lab.", "SRV") == "10 0 5060 proxy.voip.lab."
    assert escape.dns_rdata("10 0 5060 a b.lab.", "SRV") == "10 0 5060 a\\032b.lab."
    assert escape.dns_rdata("10.0.0.1", "A") == "10.0.0.1"
    with pytest.raises(UnsafeValue, match="record type"):
        escape.dns_rdata("x", "TXT\n")


def test_named_and_bird_strings() -> None:
    assert escape.named("voip.lab") == '"voip.lab"'
    assert escape.bird("eth0") == '"eth0"'
    for bad in ('a"b', "a\\b", "a\nb"):
        with pytest.raises(UnsafeValue):
            escape.named(bad)
    for bad in ('a"b', "a\\b", "a\nb", "eth*", "p2p?"):
        with pytest.raises(UnsafeValue):
            escape.bird(bad)
    assert escape.bird_word("10.0.0.1") == "10.0.0.1" and escape.bird_word(10) == "10"
    for bad in ("1; protocol x", "", "a b"):
        with pytest.raises(UnsafeValue):
            escape.bird_word(bad)


# -- line files and systemd ---------------------------------------------------------------------------
def test_ifname_passes_interface_names_and_refuses_the_rest() -> None:
    assert escape.ifname("p2p0") == "p2p0" and escape.ifname("lan-1.x_y") == "lan-1.x_y"
    for bad in ("", "eth%d", "a b", "a/b", "a:b", "sixteen-chars-xx", "..", "a\nb", "ünï"):
        with pytest.raises(UnsafeValue, match="interface name"):
            escape.ifname(bad)


def test_token_comment_and_filename() -> None:
    assert escape.token("alice.voip.lab") == "alice.voip.lab"
    for bad in ("", "a b", "a\tb", "a\nb", "a#b", "a;b"):
        with pytest.raises(UnsafeValue):
            escape.token(bad)
    assert escape.comment("a\nb\r\0") == "a\\nb\\r\\x00"
    assert escape.filename("voip.lab") == "voip.lab"
    for bad in ("", ".", "..", "a/b", "../x", "a\0b", "a\nb"):
        with pytest.raises(UnsafeValue, match="file name"):
            escape.filename(bad)


@pytest.mark.parametrize("value", ["voip.lab", "100%", "%n%H", "a$b", "q\"u'o", "ünï ☎", "a;b"])
def test_systemd_setting_round_trips(value: str) -> None:
    assert formats.unit_items(f"[Unit]\nDescription={escape.systemd(value)}\n") == [("Unit/Description", value)]


@pytest.mark.parametrize("value", ["a\nb", "a\rb", " lead", "trail ", "cont\\", "a\0b"])
def test_systemd_setting_refuses_what_a_unit_file_changes(value: str) -> None:
    with pytest.raises(UnsafeValue):
        escape.systemd(value)


@pytest.mark.parametrize("value", [*NORMAL, *HOSTILE, "", ";", "a b", "$HOME", "${x}", "%d/x", "tab\tx", "\x01"])
def test_systemd_arg_is_one_argument(value: str) -> None:
    line = f"ExecStart=/bin/prog --opt {escape.systemd_arg(value)} --last"
    args = [v for _, v in formats.unit_items(f"[Service]\n{line}\n")]
    assert args == ["/bin/prog", "--opt", value, "--last"]
    assert [escape.systemd_arg(v) for v in NORMAL] == NORMAL


def test_systemd_arg_refuses_nul() -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        escape.systemd_arg("a\0b")


# -- what a template prints without a filter ------------------------------------------------------------
def test_plain_passes_text_and_markup_and_refuses_control_characters() -> None:
    assert escape.plain("voip.lab") == "voip.lab" and escape.plain(5) == "5"
    assert escape.plain(Markup("'a\nb'")) == "'a\nb'"
    for bad in ("a\nb", "a\rb", "a\0b", "a\tb", "\x1b[31m"):
        with pytest.raises(UnsafeValue, match="filter"):
            escape.plain(bad)
    with pytest.raises(UnsafeValue, match="missing"):
        escape.plain(None)


def test_every_filter_is_registered() -> None:
    public = {
        name
        for name, value in vars(escape).items()
        if callable(value) and not name.startswith("_") and value.__module__ == escape.__name__
    }
    assert public - {"UnsafeValue", "plain"} == set(escape.FILTERS)


# -- the renderer -------------------------------------------------------------------------------------
def write_recipe(root: Path, role: str, manifest: str, templates: dict[str, str]) -> None:
    (root / role).mkdir(parents=True)
    (root / role / "recipe.yaml").write_text(manifest)
    for name, text in templates.items():
        (root / role / name).write_text(text)


def render_with(tmp_path: Path, template: str, name: str, plan: LabPlan, node: str = "r1") -> str:
    write_recipe(tmp_path, "router", f"files:\n  - {{path: /etc/x, template: {name}}}\n", {name: template})
    step = render_step(load_recipe("router", tmp_path), context(plan, plan.node(node), {"s": "a\nb"}))
    return step.files[0].content


def test_a_value_printed_without_a_filter_cannot_carry_a_newline(tmp_path: Path) -> None:
    plan = plan_of(REPO / "topologies" / "ospf-dns.yaml")
    assert render_with(tmp_path / "1", "{{ node.name }}\n", "ok.j2", plan) == "r1\n"
    with pytest.raises(RenderError) as caught:
        render_with(tmp_path / "2", "first\nsecret={{ secrets.s }}\n", "bad.j2", plan)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/2/router/bad.j2:2: node r1: ")
    assert "'a\\nb'" in message and "\n" not in message


def test_an_xml_template_escapes_every_value_by_itself(tmp_path: Path) -> None:
    plan = plan_of(REPO / "topologies" / "ospf-dns.yaml")
    text = render_with(tmp_path, '<a v="{{ secrets.s ~ \'"<&\' }}">{{ node.name }}</a>\n', "x.xml.j2", plan)
    root = ET.fromstring(text)
    assert root.get("v") == 'a\nb"<&' and root.text == "r1"


def test_a_filter_error_names_node_template_and_line(tmp_path: Path) -> None:
    plan = plan_of(REPO / "topologies" / "ospf-dns.yaml")
    with pytest.raises(RenderError, match=rf"^{re.escape(str(tmp_path))}/router/t\.j2:3: node r1: passwd: .*newline"):
        render_with(tmp_path, "a\nb\npasswd={{ secrets.s | ini('passwd') }}\n", "t.j2", plan)
