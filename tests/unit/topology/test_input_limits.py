"""labctl.yamlsource limits: deep nesting, non-regular files and huge files are refused
with one located line, never a RecursionError or a hang (issue 8 §4)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.errors import FileError
from labctl.yamlsource import MAX_BYTES, MAX_DEPTH, load_yaml


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A hang is a failure, not a stuck test run."""

    def fail(signum: int, frame: object) -> None:
        raise TimeoutError("load_yaml hung")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def refusal(path: Path, text: str | None = None) -> str:
    with pytest.raises(FileError) as caught:
        load_yaml(path, text)
    (line,) = caught.value.lines()
    return line


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
def test_deep_flow_nesting_is_refused_at_its_line(depth: int) -> None:
    text = "name: x\nnodes:\n  a: " + "[" * depth + "]" * depth + "\n"
    assert refusal(Path("deep.yaml"), text) == f"deep.yaml:3: the document nests more than {MAX_DEPTH} levels deep"


def test_deep_block_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x\n"
    assert refusal(Path("deep.yaml"), text).endswith(f"nests more than {MAX_DEPTH} levels deep")


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = MAX_DEPTH - 1
    doc = load_yaml(Path("ok.yaml"), "a: " + "[" * depth + "]" * depth + "\n")
    value = doc.value["a"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_aliases_cannot_nest_deeper_than_the_text() -> None:
    text = "".join(f"x{i}: &x{i} [{'*x' + str(i - 1) if i else 0}]\n" for i in range(300))
    assert refusal(Path("alias.yaml"), text).startswith("alias.yaml:")
    assert refusal(Path("alias.yaml"), text).endswith(f"nests more than {MAX_DEPTH} levels deep")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "lab.yaml"
    os.mkfifo(fifo)
    assert refusal(fifo) == f"{fifo}:1: cannot read a FIFO (named pipe); expected a regular YAML file"


def test_dev_zero_is_refused() -> None:
    assert refusal(Path("/dev/zero")) == "/dev/zero:1: cannot read a character device; expected a regular YAML file"


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "lab.yaml"
    link.symlink_to("/dev/zero")
    assert refusal(link) == f"{link}:1: cannot read a character device; expected a regular YAML file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "lab.yaml"
    folder.mkdir()
    assert refusal(folder) == f"{folder}:1: cannot read a directory; expected a regular YAML file"


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    assert refusal(huge) == f"{huge}:1: the file is larger than 1 MiB; refused unread"


def test_a_huge_text_is_refused() -> None:
    assert refusal(Path("huge.yaml"), "#" * (MAX_BYTES + 1)).endswith("larger than 1 MiB; refused unread")


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES - 6) + b"\n")
    assert load_yaml(path).value == {"a": 1}


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    assert refusal(path).startswith(f"{path}:1: cannot read file: not UTF-8 text")


def test_a_raw_nul_is_refused_as_yaml() -> None:
    assert refusal(Path("nul.yaml"), "name: a\x00b\n").startswith("nul.yaml:1: invalid YAML:")
