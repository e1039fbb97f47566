"""Read YAML into plain values while remembering the line of every value.

PyYAML silently keeps the last of duplicate keys and expands aliases without bound,
so documents are composed into nodes and converted here, where both are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labctl.errors import Problem, TopologyError

MAX_VALUES = 20_000
"""More values than this (after alias expansion) is refused: no real topology is that big."""

Key = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """A parsed document: plain Python values plus the line of each value by its key path."""

    path: Path
    value: Any
    lines: dict[Key, int] = field(default_factory=dict)

    def line(self, key: Key) -> int:
        """The line of the value at `key`, or of its nearest located parent."""
        while key not in self.lines and key:
            key = key[:-1]
        return self.lines.get(key, 1)


class _Converter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Key, int] = {}
        self.count = 0
        self.loader = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> TopologyError:
        return TopologyError([Problem(self.path, node.start_mark.line + 1, message)])

    def convert(self, node: yaml.Node, key: Key) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(node, f"document expands to more than {MAX_VALUES} values (alias bomb?)")
        self.lines[key] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, key)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, key + (i,)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, key: Key) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = self.loader.construct_object(key_node, deep=True)
            if not isinstance(name, (str, int, bool, float)) or name is None:
                raise self.fail(key_node, "mapping keys must be plain words")
            name = str(name) if not isinstance(name, str) else name
            if name in result:
                raise self.fail(key_node, f"duplicate key '{name}'")
            result[name] = self.convert(value_node, key + (name,))
        return result


def load_yaml(path: Path, text: str | None = None) -> SourceDoc:
    """Parse one YAML document from `path` (or from `text`, reported as `path`)."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TopologyError([Problem(path, 1, "file not found")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TopologyError([Problem(path, 1, f"cannot read file: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise TopologyError([Problem(path, line, f"invalid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise TopologyError([Problem(path, 1, f"invalid YAML: {exc}")]) from None
    if node is None:
        raise TopologyError([Problem(path, 1, "the file is empty; expected a mapping with 'name' and 'nodes'")])
    converter = _Converter(path)
    try:
        value = converter.convert(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise TopologyError([Problem(path, mark.line + 1 if mark else 1, f"invalid YAML: {exc.problem}")]) from None
    return SourceDoc(path=path, value=value, lines=converter.lines)
