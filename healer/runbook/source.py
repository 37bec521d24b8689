"""YAML with positions: every value of a runbook file keeps the line and column it came from.

PyYAML's composer gives nodes with marks; this module turns them into `Node`s holding plain
values (str, int, float, bool, None, lists and dicts of `Node`s) and a `Position`, so the
loader can say `runbooks/x.yaml:12:7: ...` for any mistake, however deep. Duplicate keys,
which YAML parsers usually let the last one win, are errors here.

Neighbours: `loader` reads `Node`s; `errors.RunbookError` carries the positions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from healer.errors import RunbookError

# libyaml's composer keeps the same marks and is several times faster (start-up loads
# every runbook); PyYAML ships it in its wheels, the pure-Python one is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


class Position(NamedTuple):
    """Where a value starts. (Named tuples: a file has tens of thousands of these.)"""

    path: str
    line: int  # 1-based
    column: int  # 1-based

    def error(self, message: str, offset: int = 0) -> RunbookError:
        return RunbookError(self.path, self.line, self.column + offset, message)


class Node(NamedTuple):
    """A YAML value and where it starts. Mappings hold (key node, value node) pairs."""

    value: Any  # str | int | float | bool | None | list[Node] | dict[str, tuple[Node, Node]]
    position: Position
    quoted: bool = False  # a quoted scalar: its text starts one column after `position`

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_mapping or self.is_sequence)

    def text_position(self, offset: int) -> Position:
        """Where character `offset` of this scalar's text is (for errors inside a value)."""
        shift = offset + (1 if self.quoted else 0)
        return Position(self.position.path, self.position.line, self.position.column + shift)

    def plain(self) -> Any:
        """The value without positions (for hashing and messages)."""
        if isinstance(self.value, list):
            return [item.plain() for item in self.value]
        if isinstance(self.value, dict):
            return {key: value.plain() for key, (_, value) in self.value.items()}
        return self.value


def load_documents(text: str, path: str) -> list[Node]:
    """Every YAML document of `text`, as positioned nodes; RunbookError for broken YAML."""
    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        raise RunbookError(path, line, column, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise RunbookError(path, 1, 1, f"invalid YAML: {error}") from None
    constructor = SafeConstructor()
    return [_convert(document, path, constructor) for document in documents
            if document is not None]


def _position(node: yaml.Node, path: str) -> Position:
    return Position(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(node: yaml.Node, path: str, constructor: SafeConstructor) -> Node:
    position = _position(node, path)
    if isinstance(node, yaml.MappingNode):
        pairs: dict[str, tuple[Node, Node]] = {}
        constructor.flatten_mapping(node)  # resolves `<<` merge keys
        for key_node, value_node in node.value:
            key = _convert(key_node, path, constructor)
            if not isinstance(key.value, str):
                raise key.position.error(f"keys must be strings, got {key.plain()!r}")
            if key.value in pairs:
                first = pairs[key.value][0].position
                raise key.position.error(f"duplicate key '{key.value}' (first at line "
                                         f"{first.line})")
            pairs[key.value] = (key, _convert(value_node, path, constructor))
        return Node(pairs, position)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(item, path, constructor) for item in node.value], position)
    if node.tag == _STR_TAG:  # most scalars: no conversion needed
        return Node(node.value, position, quoted=getattr(node, "style", None) in ("'", '"'))
    try:
        value = constructor.construct_object(node, deep=True)
    except ConstructorError as error:
        raise position.error(f"invalid value: {error.problem}") from None
    if not isinstance(value, str | int | float | bool | type(None)):
        value = str(node.value)  # timestamps, binary ...: kept as the text written
    return Node(value, position, quoted=getattr(node, "style", None) in ("'", '"'))
