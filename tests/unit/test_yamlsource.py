"""labctl.yamlsource: values with their lines, and refusals PyYAML would not make."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from labctl.errors import SourceError
from labctl.yamlsource import MAX_VALUES, SourceDoc, load_yaml


def load(text: str) -> SourceDoc:
    return load_yaml(Path("doc.yaml"), textwrap.dedent(text))


def refusal(text: str) -> str:
    with pytest.raises(SourceError) as caught:
        load(text)
    (line,) = caught.value.lines()
    return line


def test_lines_of_nested_values() -> None:
    doc = load(
        """\
        name: lab
        nodes:
          r1: {roles: [router], memory: 512}
          r2:
            roles:
              - router
              - dns
        lans:
          core: [r1,
                 r2]
        """
    )
    assert doc.line(("name",)) == 1
    assert doc.line(("nodes",)) == 2
    assert doc.line(("nodes", "r1")) == 3
    assert doc.line(("nodes", "r1", "memory")) == 3
    assert doc.line(("nodes", "r2")) == 4
    assert doc.line(("nodes", "r2", "roles")) == 5
    assert doc.line(("nodes", "r2", "roles", 1)) == 7
    assert doc.line(("lans", "core", 1)) == 10


def test_missing_key_falls_back_to_nearest_located_parent() -> None:
    doc = load("nodes:\n  r1:\n    memory: 1\n")
    assert doc.line(("nodes", "r1", "vcpus")) == 2
    assert doc.line(("nothing", "here")) == 1


def test_values_are_plain_python() -> None:
    doc = load("a: 1\nb: [x, 2.5, true]\nc: {d: null}\n")
    assert doc.value == {"a": 1, "b": ["x", 2.5, True], "c": {"d": None}}


def test_keys_keep_their_written_text() -> None:
    doc = load("no: 1\n1: 2\non: 3\n")
    assert list(doc.value) == ["no", "1", "on"]


def test_reinterpreted_scalars_keep_their_written_text() -> None:
    doc = load("a: [no, 'no', off]\next: 0100\nquoted: '0100'\nempty:\n")
    assert doc.value["a"] == [False, "no", False]
    assert doc.text(("a", 0)) == "no"
    assert doc.text(("a", 1)) is None
    assert doc.text(("a", 2)) == "off"
    assert doc.value["ext"] == 64
    assert doc.text(("ext",)) == "0100"
    assert doc.text(("quoted",)) is None
    assert doc.text(("empty",)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: 2\na: 3\n", "doc.yaml:3: duplicate key 'a' (first on line 1)"),
        ("top:\n  x: 1\n  y: 2\n  x: 1\n", "doc.yaml:4: duplicate key 'x' (first on line 2)"),
        ("l: [{k: 1, k: 2}]\n", "doc.yaml:1: duplicate key 'k' (first on line 1)"),
        ("yes: 1\n'yes': 2\n", "doc.yaml:2: duplicate key 'yes' (first on line 1)"),
    ],
)
def test_duplicate_keys_are_refused(text: str, expected: str) -> None:
    assert refusal(text) == expected


def test_merge_keys_let_explicit_keys_win() -> None:
    doc = load(
        """\
        base: &base {memory: 256, vcpus: 1}
        big: &big {memory: 1024, image: large}
        a: {<<: *base, memory: 512}
        b: {<<: [*big, *base]}
        c:
          <<: *base
          vcpus: 2
        """
    )
    assert doc.value["a"] == {"memory": 512, "vcpus": 1}
    assert doc.value["b"] == {"memory": 1024, "image": "large", "vcpus": 1}
    assert doc.value["c"] == {"memory": 256, "vcpus": 2}
    assert doc.line(("c", "vcpus")) == 7


def test_merge_of_a_scalar_is_refused() -> None:
    assert refusal("a: {<<: [1]}\n") == "doc.yaml:1: '<<' must merge a mapping or a list of mappings"


def test_non_scalar_keys_are_refused() -> None:
    assert refusal("? [a, b]\n: 1\n") == "doc.yaml:1: mapping keys must be plain words, not a list or a mapping"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_documents_get_a_sentence(text: str) -> None:
    assert refusal(text) == "doc.yaml:1: the file is empty; expected a mapping with 'name' and 'nodes'"


def test_syntax_errors_carry_the_line() -> None:
    assert refusal("a: 1\nb: [1, 2\nc: 3\n").startswith("doc.yaml:3: invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!python/name:os.system\n", "could not determine a constructor for the tag"),
        ("a: !!python/object:os.system {}\n", "tag 'tag:yaml.org,2002:python/object:os.system' is not supported"),
        ("a: !custom [1]\n", "tag '!custom' is not supported"),
    ],
)
def test_unsafe_or_unknown_tags_are_refused(text: str, expected: str) -> None:
    line = refusal(text)
    assert line.startswith("doc.yaml:1: invalid YAML: ")
    assert expected in line


def billion_laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast() -> None:
    start = time.perf_counter()
    line = refusal(billion_laughs(10))
    assert time.perf_counter() - start < 1.0
    assert f"more than {MAX_VALUES} values" in line


def test_merge_bomb_is_cheap() -> None:
    text = "m0: &m0 {a: 1, b: 2}\n" + "".join(
        f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: {i}}}\n" for i in range(1, 12)
    )
    start = time.perf_counter()
    try:
        load(text)
    except SourceError as exc:
        assert "more than" in exc.lines()[0]
    assert time.perf_counter() - start < 1.0


def test_a_few_aliases_are_fine() -> None:
    doc = load(billion_laughs(3))
    assert len(doc.value["l2"]) == 9
    assert doc.value["l2"][8] == [["lol"] * 9] * 9


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        load_yaml(tmp_path / "absent.yaml")
    assert caught.value.lines() == [f"{tmp_path / 'absent.yaml'}:1: file not found"]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SourceError) as caught:
        load_yaml(binary)
    assert caught.value.lines()[0].startswith(f"{binary}:1: cannot read file: ")
