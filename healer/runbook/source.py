"""YAML with positions: every value of a runbook file keeps the line and column it came from.

The parser's events (libyaml's, when PyYAML ships it) are built into `Node`s holding plain
values (str, int, float, bool, None, lists and dicts of `Node`s) and a `Position`, so the
loader can say `runbooks/x.yaml:12:7: ...` for any mistake, however deep. Scalars get
exactly the values `yaml.safe_load` would give. Duplicate keys, which YAML parsers usually
let the last one win, are errors here.

Neighbours: `loader` reads `Node`s; `errors.RunbookError` carries the positions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from healer.errors import RunbookError

# libyaml's parser is several times faster (start-up loads every runbook); PyYAML ships
# it in its wheels, the pure-Python parser is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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
        return _Builder(path).documents(yaml.parse(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        raise RunbookError(path, line, column, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise RunbookError(path, 1, 1, f"invalid YAML: {error}") from None


class _Builder:
    """Builds `Node`s straight from the parser's events, in one pass.

    PyYAML's composer would first build its own node tree and resolve every scalar's tag;
    here plain scalars are resolved (with PyYAML's own YAML 1.1 resolvers and
    constructors, so values are exactly what `yaml.safe_load` gives) and quoted ones are
    taken as strings. Anchors, aliases and `<<` merge keys are supported.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.anchors: dict[str, Node] = {}
        self.constructor = SafeConstructor()
        self.resolver = yaml.resolver.Resolver()

    def documents(self, events: Iterator[yaml.Event]) -> list[Node]:
        found: list[Node] = []
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                self.anchors.clear()
                document = self.node(next(events), events)
                if document.value is not None:  # an empty document (a stray ---) is skipped
                    found.append(document)
        return found

    def node(self, event: yaml.Event, events: Iterator[yaml.Event]) -> Node:
        mark = event.start_mark
        assert mark is not None  # the parser marks every event
        position = Position(self.path, mark.line + 1, mark.column + 1)
        if isinstance(event, yaml.ScalarEvent):
            result = self.scalar(event, position)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise position.error(f"unknown alias '*{event.anchor}'")
            return self.anchors[event.anchor]
        elif isinstance(event, yaml.SequenceStartEvent):
            items = []
            for item in events:
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                items.append(self.node(item, events))
            result = Node(items, position)
        elif isinstance(event, yaml.MappingStartEvent):
            result = self.mapping(position, events)
        else:  # DocumentEndEvent right after DocumentStart: an empty document
            return Node(None, position)
        anchor = getattr(event, "anchor", None)
        if anchor:
            self.anchors[anchor] = result
        return result

    def mapping(self, position: Position, events: Iterator[yaml.Event]) -> Node:
        pairs: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for event in events:
            if isinstance(event, yaml.MappingEndEvent):
                break
            key = self.node(event, events)
            value = self.node(next(events), events)
            if key.value == "<<" and isinstance(event, yaml.ScalarEvent) and not event.style:
                for source in value.value if isinstance(value.value, list) else [value]:
                    if not isinstance(source.value, dict):
                        raise source.position.error("a << merge takes a mapping or a list "
                                                    "of mappings")
                    merged = {**source.value, **merged}
                continue
            if not isinstance(key.value, str):
                raise key.position.error(f"keys must be strings, got {key.plain()!r}")
            if key.value in pairs:
                first = pairs[key.value][0].position
                raise key.position.error(f"duplicate key '{key.value}' (first at line "
                                         f"{first.line})")
            pairs[key.value] = (key, value)
        return Node({**merged, **pairs}, position)

    def scalar(self, event: yaml.ScalarEvent, position: Position) -> Node:
        quoted = event.style in ("'", '"')
        plain_text, _ = event.implicit
        tag = event.tag if event.tag not in (None, "!") else (
            self.resolver.resolve(yaml.ScalarNode, event.value,  # type: ignore[no-untyped-call]
                                  (plain_text, False))
            if plain_text else _STR_TAG)
        if tag in (_STR_TAG, _MERGE_TAG):  # a merge key stays "<<": `mapping` merges
            return Node(event.value, position, quoted)
        try:
            value = self.constructor.construct_object(
                yaml.ScalarNode(tag, event.value, style=event.style), deep=True)
        except ConstructorError as error:
            raise position.error(f"invalid value: {error.problem}") from None
        except ValueError:  # e.g. `!!int nope`
            raise position.error(f"invalid value for {tag.rsplit(':', 1)[-1]}: "
                                 f"{event.value!r}") from None
        if not isinstance(value, str | int | float | bool | type(None)):
            value = event.value  # timestamps, binary ...: kept as the text written
        return Node(value, position, quoted)
