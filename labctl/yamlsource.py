"""Read YAML into plain values while remembering the line of every value.

PyYAML silently keeps the last of duplicate keys, expands aliases without bound and recurses
once per nesting level, so documents are composed into nodes and converted here, where all three
are refused. Only regular files of bounded size are read: a FIFO or /dev/zero would hang.
Mapping keys keep their text as written: a node called `no` stays 'no', not False.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labctl.errors import FileError, Problem, SourceError
from labctl.suggest import quoted, unknown
from labctl.versions import FORMAT_KEY, Migration, is_version, newer, upgrade

MAX_VALUES = 20_000
"""More values than this (after alias expansion) is refused: no real topology is that big."""

MAX_DEPTH = 64
"""Deeper nesting than this is refused: a topology is a few levels deep, and PyYAML recurses per level."""
MAX_BYTES = 1 << 20
"""Larger files than this (1 MiB) are refused unread: a topology is a few kilobytes."""

MERGE_TAG = "tag:yaml.org,2002:merge"
COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")

Key = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """A parsed document: plain Python values plus the line of each value by its key path.

    A mapping entry is located at its key, so a block value reports the line that names it.
    """

    path: Path
    value: Any
    lines: dict[Key, int] = field(default_factory=dict)
    texts: dict[Key, str] = field(default_factory=dict)

    def line(self, key: Key) -> int:
        """The line of the value at `key`, or of its nearest located parent."""
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key, 1)

    def text(self, key: Key) -> str | None:
        """The text as written of a plain scalar YAML read as something else: `no` (False), `0100` (64)."""
        return self.texts.get(key)


class _Converter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Key, int] = {}
        self.texts: dict[Key, str] = {}
        self.count = 0
        self.loader = yaml.SafeLoader("")
        self.merged: dict[int, list[tuple[yaml.Node, yaml.Node]]] = {}

    def fail(self, node: yaml.Node, message: str) -> SourceError:
        return SourceError([Problem(self.path, node.start_mark.line + 1, message)])

    def convert(self, node: yaml.Node, key: Key, line: int | None = None) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(node, f"the document expands to more than {MAX_VALUES} values (an alias bomb?)")
        if len(key) > MAX_DEPTH:  # aliases can nest deeper than the text does: blame the top-level entry
            raise SourceError([Problem(self.path, self.lines.get(key[:1], 1), _too_deep())])
        self.lines[key] = line or node.start_mark.line + 1
        if isinstance(node, yaml.CollectionNode) and node.tag not in COLLECTION_TAGS:
            raise self.fail(node, f"invalid YAML: tag '{node.tag}' is not supported")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, key)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, key + (i,)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if not isinstance(value, str) and isinstance(node, yaml.ScalarNode) and node.style is None and node.value:
            self.texts[key] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, key: Key) -> dict[str, Any]:
        own = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
        first_line: dict[str, int] = {}
        for key_node, _ in own:
            name = self._key_text(key_node)
            if name in first_line:
                raise self.fail(key_node, f"duplicate key '{name}' (first on line {first_line[name]})")
            first_line[name] = key_node.start_mark.line + 1
        pairs = [(k, v) for k, v in self._merged_pairs(node) if self._key_text(k) not in first_line] + own
        result: dict[str, Any] = {}
        for key_node, value_node in pairs:
            name = self._key_text(key_node)
            result[name] = self.convert(value_node, key + (name,), key_node.start_mark.line + 1)
        return result

    def _key_text(self, key_node: yaml.Node) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            raise self.fail(key_node, "mapping keys must be plain words, not a list or a mapping")
        return str(key_node.value)

    def _merged_pairs(self, node: yaml.MappingNode, depth: int = 0) -> list[tuple[yaml.Node, yaml.Node]]:
        """Entries brought in by `<<: *anchor`, earlier sources winning, as YAML's merge key says.

        Memoised per node, so nested merges cost their size, not their expansion.
        """
        if id(node) in self.merged:
            return self.merged[id(node)]
        if depth > MAX_DEPTH:
            raise self.fail(node, _too_deep())
        self.merged[id(node)] = []  # a merge cycle contributes nothing
        sources: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag != MERGE_TAG:
                continue
            items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for item in items:
                if not isinstance(item, yaml.MappingNode):
                    raise self.fail(item, "'<<' must merge a mapping or a list of mappings")
                sources.append(item)
        pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for source in sources:
            resolved = {self._key_text(k): (k, v) for k, v in self._merged_pairs(source, depth + 1)}
            resolved.update((self._key_text(k), (k, v)) for k, v in source.value if k.tag != MERGE_TAG)
            for name, pair in resolved.items():
                pairs.setdefault(name, pair)
        self.merged[id(node)] = list(pairs.values())
        return self.merged[id(node)]


def _too_deep() -> str:
    return f"the document nests more than {MAX_DEPTH} levels deep"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH before its recursion can overflow."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _TooDeep(mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def read_text(path: Path) -> str:
    """The text of a regular file of at most MAX_BYTES, or a SourceError saying why not.

    The type is checked before opening, and again on the open file (opened non-blocking,
    so a FIFO swapped in meanwhile cannot block), and reading stops after MAX_BYTES.
    """
    try:
        kind = _not_regular(os.stat(path).st_mode)
        if kind:
            raise SourceError([Problem(path, 1, f"cannot read {kind}; expected a regular YAML file")])
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as handle:
            kind = _not_regular(os.fstat(handle.fileno()).st_mode)
            if kind:
                raise SourceError([Problem(path, 1, f"cannot read {kind}; expected a regular YAML file")])
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SourceError([Problem(path, 1, "file not found")]) from None
    except OSError as exc:
        raise SourceError([Problem(path, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    if len(data) > MAX_BYTES:
        raise SourceError([Problem(path, 1, f"the file is larger than {MAX_BYTES >> 20} MiB; refused unread")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError([Problem(path, 1, f"cannot read file: not UTF-8 text ({exc.reason})")]) from None


def _not_regular(mode: int) -> str | None:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in kinds.items() if test(mode)), "a file that is not a regular file")


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "unreadable"
    if exc.context and exc.context.startswith("expected"):
        problem = f"{exc.context}, {problem}"
    if "'\\t'" in problem:
        problem = "found a tab; YAML indents with spaces only"
    return f"invalid YAML: {problem}"


def load_yaml(path: Path, text: str | None = None) -> SourceDoc:
    """Parse one YAML document from `path` (or from `text`, reported as `path`)."""
    if text is None:
        text = read_text(path)
    elif len(text) > MAX_BYTES:
        raise SourceError([Problem(path, 1, f"the file is larger than {MAX_BYTES >> 20} MiB; refused unread")])
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _TooDeep as exc:
        raise SourceError([Problem(path, exc.line, _too_deep())]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceError([Problem(path, line, _yaml_message(exc))]) from None
    except yaml.YAMLError as exc:
        raise SourceError([Problem(path, 1, f"invalid YAML: {exc}")]) from None
    empty = SourceError([Problem(path, 1, "the file is empty; expected a mapping with 'name' and 'nodes'")])
    if node is None:
        raise empty
    converter = _Converter(path)
    try:
        value = converter.convert(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise SourceError([Problem(path, mark.line + 1 if mark else 1, f"invalid YAML: {exc.problem}")]) from None
    if value is None:
        raise empty
    return SourceDoc(path=path, value=value, lines=converter.lines, texts=converter.texts)


FORMAT_RULE = "a whole number from 1 up (the labctl format the file is written for)"


def check_version(
    doc: SourceDoc, what: str, current: int, migrations: Mapping[int, Migration], error: type[FileError]
) -> SourceDoc:
    """`doc` with its top-level `format:` checked and brought up to format `current` by `migrations`
    (n -> n+1; labctl.versions.upgrade). No `format:` is format 1, the files written before the key.
    A bad or newer version is refused at its line as `error` (the stage's own error type), on its own:
    a newer file is read by the rules of its own format, so nothing else in it is judged here."""
    if not isinstance(doc.value, dict):
        return doc  # the loader refuses the shape
    found = doc.value.get(FORMAT_KEY, 1)
    key: Key = (FORMAT_KEY,)
    if not is_version(found):
        raise error([Problem(doc.path, doc.line(key), f"format must be {FORMAT_RULE}, not {_shown(doc, key, found)}")])
    if found > current:
        raise error([Problem(doc.path, doc.line(key), newer(what, found, current))])
    if found == current:
        return doc
    try:
        value = upgrade(doc.value, found, current, migrations)
    except ValueError as exc:
        raise error([Problem(doc.path, doc.line(key), f"cannot read {what} in format {found}: {exc}")]) from None
    return dataclasses.replace(doc, value=value)


def _shown(doc: SourceDoc, key: Key, value: Any) -> str:
    """A refused value as the user wrote it: `true`, not True; "1" (quoted) as the string '1'."""
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    text = doc.text(key)
    if value is None and text is None:
        return "empty"
    return quoted(text if text is not None else value)


def kind(value: Any) -> str:
    """A value as a problem names it: 'a list', 'an empty mapping', 'empty', or the value quoted."""
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if value is None:
        return "empty"
    return quoted(value)


class ProblemReader:
    """Reads a document, collecting every problem at its key's line (shared by the file formats'
    validators, so that each reports all it finds, in the same words)."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, key: Key, message: str) -> None:
        self.problems.append(Problem(self.doc.path, self.doc.line(key), message))

    def mapping(self, value: Any, key: Key, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
        """`value` as a mapping ({} when absent or not a mapping); each unknown key is a problem."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"{what} must be a mapping, not {kind(value)}")
            return {}
        for name in value:
            if name not in allowed:
                self.problem(key + (name,), unknown("key", name, allowed, where=f"in {what}"))
        return value
