"""labctl.topology.schema against hostile values: every string that reaches a config file, a shell,
a path or a terminal is held to a documented safe set, and numbers to what QEMU can run (issue 8 §2, §4).

tests/errors/hostile-*.yaml holds the refusals one by one; here are the edges that must still pass,
and the rules shown next to them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.suggest import quoted, visible
from labctl.topology.model import Topology
from labctl.topology.schema import (
    DURATION,
    LABEL,
    MEMORY_MAX_MIB,
    MEMORY_MIN_MIB,
    PASSWORD_SPECIALS,
    PERCENT,
    VCPUS_MAX,
    load_topology,
)


def load(text: str) -> Topology:
    return load_topology(Path("t.yaml"), text)


def refused(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load(text)
    return [p.message for p in caught.value.problems]


def with_password(password: str) -> str:
    return (
        "name: lab\nnodes:\n  a: {}\nsip:\n  domain: voip.lab\n  users:\n"
        f"    alice: {{password: {json.dumps(password)}, extension: 1001}}\n"
    )


def with_link(**netem: str) -> str:
    extra = "".join(f", {k}: {json.dumps(v)}" for k, v in netem.items())
    return "name: lab\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - {endpoints: [a, b]" + extra + "}\n"


def test_the_password_set_has_at_least_60_characters_and_each_passes() -> None:
    allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + PASSWORD_SPECIALS
    assert len(allowed) >= 60
    for char in allowed:
        topo = load(with_password(char * 4))
        assert topo.sip is not None and topo.sip.users[0].password == char * 4


@pytest.mark.parametrize("password", ["abcd", "x" * 64, "Alice-Secret_1.+=,~^"])
def test_passwords_at_the_edges_pass(password: str) -> None:
    topo = load(with_password(password))
    assert topo.sip is not None and topo.sip.users[0].password == password


@pytest.mark.parametrize(
    ("password", "fault"),
    [
        ("abc", "is 3 characters long"),
        ("", "must be a non-empty string"),
        ("pass\nword", "holds character U+000A"),
        ("pass word", "holds character U+0020"),
        ("pa%sword", "holds character '%' (U+0025)"),
        ("pa`id`ss", "holds character '`' (U+0060)"),
        ("pa&ss", "holds character '&' (U+0026)"),
        ("pass\u00a0word", "holds character U+00A0"),
    ],
)
def test_a_refused_password_names_the_character_but_never_echoes_the_password(password: str, fault: str) -> None:
    (message,) = refused(with_password(password))
    assert fault in message
    assert password not in message or not password


def test_a_trailing_newline_is_refused_where_dollar_would_let_it_in() -> None:
    for text in (
        "name: " + json.dumps("lab\n") + "\nnodes:\n  a: {}\n",
        "name: lab\ndomain: " + json.dumps("lab.test\n") + "\nnodes:\n  a: {}\n",
        with_link(delay="10ms\n"),
        with_link(loss="5%\n"),
    ):
        (message,) = refused(text)
        assert "\\n'" in message


@pytest.mark.parametrize("digit", ["\u0663", "\uff15", "\u09e8", "\u0e52"])
def test_non_ascii_digits_are_not_digits(digit: str) -> None:
    (message,) = refused(with_link(delay=f"{digit}0ms"))
    assert "is not valid (expected a duration" in message


@pytest.mark.parametrize("delay", ["0us", "1ms", "2.5ms", "60s", "59999ms", "60000000us"])
def test_durations_up_to_a_minute_pass(delay: str) -> None:
    assert load(with_link(delay=delay)).links[0].netem.delay == delay


@pytest.mark.parametrize("delay", ["60.001s", "61s", "60001ms", "999999999s"])
def test_durations_over_a_minute_are_refused(delay: str) -> None:
    assert refused(with_link(delay=delay)) == [f"delay '{delay}' is longer than 60s"]


@pytest.mark.parametrize("loss", ["0%", "100%", "100.000%", "0.5%", "99.999999%"])
def test_percentages_pass(loss: str) -> None:
    assert load(with_link(loss=loss)).links[0].netem.loss == loss


@pytest.mark.parametrize("loss", ["100.1%", "101%", "1.2345678%", "%", "1", "-1%"])
def test_bad_percentages_are_refused(loss: str) -> None:
    (message,) = refused(with_link(loss=loss))
    assert message.startswith(f"loss '{loss}' is not valid")


def test_memory_and_vcpus_at_their_bounds_pass() -> None:
    for memory, vcpus in ((MEMORY_MIN_MIB, 1), (MEMORY_MAX_MIB, VCPUS_MAX)):
        node = load(f"name: lab\nnodes:\n  a: {{memory: {memory}, vcpus: {vcpus}}}\n").nodes[0]
        assert (node.memory, node.vcpus) == (memory, vcpus)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("memory: 63", "memory (MiB) must be at least 64, not 63"),
        ("memory: 1048577", "memory (MiB) must be at most 1048576, not 1048577"),
        ("memory: 1000000000000000000000000000000", "memory (MiB) must be at most 1048576, not 100... (31 digits)"),
        ("vcpus: 65", "vcpus must be at most 64, not 65"),
        ("vcpus: 100000", "vcpus must be at most 64, not 100000"),
        ("vcpus: .inf", "vcpus must be a whole number, not 'inf'"),
        ("memory: .nan", "memory (MiB) must be a whole number, not 'nan'"),
    ],
)
def test_absurd_sizes_are_refused(setting: str, message: str) -> None:
    assert refused(f"name: lab\nnodes:\n  a: {{{setting}}}\n") == [message]


def test_a_description_is_stripped_and_may_hold_markup_and_unicode() -> None:
    topo = load("name: lab\ndescription: >\n  Lab [/red] [bold] \u00e9t\u00e9 \u2014 ok\nnodes:\n  a: {}\n")
    assert topo.description == "Lab [/red] [bold] \u00e9t\u00e9 \u2014 ok"


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\n", "\r", "\x7f", "\x85", "\u2028", "\u202e", "\u2066"])
def test_a_description_with_a_control_character_is_refused(char: str) -> None:
    (message,) = refused("name: lab\ndescription: " + json.dumps(f"a{char}b") + "\nnodes:\n  a: {}\n")
    assert message == (f"description must be one line of printable text; it holds control character U+{ord(char):04X}")


@pytest.mark.parametrize("name", ["debian12-lab", "a", "x-1", "a" + "0" * 63])
def test_image_names_pass(name: str) -> None:
    assert load(f"name: lab\nnodes:\n  a: {{image: '{name}'}}\n").nodes[0].image == name


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a b", "A", "x.yaml", "-x", "0abc", "x_1", "a" * 65, "a\n", "a\n;id"]
)
def test_image_and_demo_names_that_are_paths_or_words_are_refused(name: str) -> None:
    (message,) = refused(f"name: lab\nnodes:\n  a: {{image: {json.dumps(name)}}}\n")
    assert message.startswith("image ") and "is not valid" in message
    if name != "x.yaml":  # a demo may be a .yaml file beside the topology
        (message,) = refused(f"name: lab\nnodes:\n  a: {{}}\ndemo: {json.dumps(name)}\n")
        assert message.startswith("demo ") and "is not valid" in message


@pytest.mark.parametrize(
    "name", ["../x.yaml", "/etc/x.yaml", "a/../x.yaml", ".x.yaml", "a b.yaml", "x.yaml\n", "$(id).yaml"]
)
def test_demo_files_outside_the_topology_folder_are_refused(name: str) -> None:
    (message,) = refused(f"name: lab\nnodes:\n  a: {{}}\ndemo: {json.dumps(name)}\n")
    assert message.startswith("demo ") and "is not valid" in message


@pytest.mark.parametrize("name", ["x.yaml", "demos/my-demo.yml", "sipnet_demo.yaml"])
def test_demo_files_beside_the_topology_pass(name: str) -> None:
    assert load(f"name: lab\nnodes:\n  a: {{}}\ndemo: {json.dumps(name)}\n").demo == name


def test_domains_of_legal_length_pass_and_longer_are_refused() -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253
    assert load(f"name: lab\ndomain: {longest}\nnodes:\n  a: {{}}\n").domain == longest
    (message,) = refused(f"name: lab\ndomain: {longest}c\nnodes:\n  a: {{}}\n")
    assert "is too long (at most 253 characters, 63 between dots)" in message


def test_messages_show_user_values_on_one_line() -> None:
    assert quoted("a\nb\x1b[2J\u202e") == "'a\\nb\\x1b[2J\\u202e'"
    assert visible("x" * 100) == "x" * 57 + "..."
    assert visible("") == ""
    assert quoted(5) == "'5'"


@pytest.mark.parametrize("value", ["50ms\n", "50ms; reboot", "50ms\nx", "\uff15ms"])
def test_patterns_anchor_themselves_for_callers_that_use_match(value: str) -> None:
    """`labctl link set --delay` checks its values with DURATION.match: the pattern must cover the whole value."""
    assert DURATION.match(value) is None
    assert DURATION.search(value) is None
    assert PERCENT.match(value.replace("ms", "%")) is None
    assert LABEL.match("lab\n") is None and LABEL.search("x;lab") is None
